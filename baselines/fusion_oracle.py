"""The depth oracle: fusion told the true depth of every pixel, an upper bound.

`OracleDepthFusion` takes each pixel from the plane focused nearest to the
specimen's true depth, which only synthetic data knows. No method can choose
better planes from the same stack, so on `synthetic-brightfield-fusion`,
whose reference is defined as exactly this selection, it scores the maximum
and marks how far every real method is from perfect fusion. It is shown in
every table as an upper bound, never ranked or bolded, and it is reported
unavailable on datasets that carry no depth map.
"""

from mmdf_bench.data.synthetic_fusion import nearest_plane_fusion
from mmdf_bench.baselines._fusion_utils import checked_stack, finish
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.fusion import DEPTH_ORACLE, FusionMethod


class OracleDepthFusion(FusionMethod):
    """Per pixel, the plane focused nearest to the true depth (`nearest_plane_fusion`); an upper bound."""

    name = "oracle-depth"
    summary = "upper bound: each pixel from the plane nearest to the true depth (needs the depth map)"
    citation = "oracle selection with the ground-truth depth map of the synthetic data (no publication)"
    upper_bound = True
    information = (DEPTH_ORACLE,)

    def fuse(self, stack, *, depth_map=None, plane_depths=None):
        """Fuse `stack` with the true `depth_map` and the focal depth of each plane (same units)."""
        if depth_map is None or plane_depths is None:
            raise InvalidInputError(f"{self.name} needs the true depth map and the plane depths")
        stack = checked_stack(stack)
        if len(plane_depths) != stack.shape[0] or tuple(depth_map.shape) != stack.shape[1:3]:
            raise InvalidInputError(f"{self.name}: depth map {tuple(depth_map.shape)} and {len(plane_depths)} "
                                    f"plane depths do not match a stack of shape {stack.shape}")
        return finish(nearest_plane_fusion(stack, depth_map, plane_depths))
