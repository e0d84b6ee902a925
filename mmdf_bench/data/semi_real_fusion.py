"""`wafer-defocus-composites`: multi-focus stacks whose blur is real optics, only the layout synthetic.

Each sample is a 256x256 window of one `wafer-defocus` field, cut into N
regions (N = 2 or 3, alternating) by a smooth random layout: region j is
imagined at depth j, plane k is focused at depth k. Plane k shows region k
from the field's **in-focus** plane and every other region j from a **real
defocused plane** of the same field: the registered plane whose z is
closest to ``(j - k) * step_um`` (default 10 µm per depth step; above focus
for deeper regions, below for shallower ones, the nearest available plane
when the field lacks one there). The reference is the in-focus window.

So every pixel of the reference appears, unchanged, in exactly one plane:
a fuser that picks the right plane everywhere reproduces the reference
exactly (PSNR infinite, SSIM 1), and everything else measures how well a
method recognises real defocus. The layout is the samples' true depth map
(region j at depth j, plane k focused at depth k), given to the
``oracle-depth`` upper bound. What the layout cannot reproduce: in a
real scene, a defocused region spills its blur across the boundary into
its in-focus neighbour; here the boundaries are sharp cuts.

Registration: every defocused plane used is registered to the in-focus
plane (`mmdf_bench.data.registration`, shift removed before cutting), so
the regions line up. Windows: the ``crops_per_field`` most structured cells
of the 256-pixel grid of the in-focus plane (`field_crops`). Layouts follow
from the sample id alone. Every sample's group is its field; all samples
are test samples.
"""

import hashlib
from typing import ClassVar

import numpy as np

from mmdf_bench.data.field_dataset import FieldDataset, interleave, option_number, registered_plane
from mmdf_bench.data.wafer_defocus import WAFER_CITATION, WaferDefocus, read_wafer_fields
from mmdf_bench.errors import InvalidInputError

__all__ = ["WaferDefocusComposites", "region_layout"]

#: Planes closer to focus than this (µm) are not used as defocused regions: on
#: `wafer-defocus` a plane 1.8 µm away is only slightly softer than the focal plane.
MIN_DEFOCUS_UM = 4.0
#: Smallest share of the window each region must cover.
MIN_REGION_SHARE = 0.12
#: Smoothness of the layout: standard deviation of the random fields whose argmax it is,
#: as a fraction of the window's side (43 px for 256 px).
LAYOUT_SMOOTHNESS = 1 / 6


def _digest(*parts):
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


def region_layout(shape, num_regions, *, rng, smoothness=LAYOUT_SMOOTHNESS, min_share=MIN_REGION_SHARE,
                  attempts=50):
    """A smooth random partition of an image into `num_regions` regions.

    The argmax of `num_regions` Gaussian-smoothed white-noise fields
    (standard deviation `smoothness` times the shorter side): blobby regions
    with smooth boundaries, each covering at least `min_share` of the image
    (layouts are drawn again until they do).

    Returns
    -------
    labels : ndarray of int, shape `shape`
        Region index of every pixel.
    """
    from scipy.ndimage import gaussian_filter

    for _ in range(attempts):
        fields = np.stack([gaussian_filter(rng.standard_normal(shape), smoothness * min(shape), mode="wrap")
                           for _ in range(num_regions)])
        labels = np.argmax(fields, axis=0)
        shares = np.bincount(labels.ravel(), minlength=num_regions) / labels.size
        if shares.min() >= min_share:
            return labels
    raise InvalidInputError(f"could not draw a layout of {num_regions} regions each covering {min_share:.0%} "
                            f"of a {shape} image in {attempts} attempts")


class WaferDefocusComposites(FieldDataset):
    """Semi-real multi-focus stacks: regions cut from real defocused planes of one wafer field.

    Parameters
    ----------
    root : str or Path, optional
        The ``wafer-defocus`` folder; default ``$MMDF_BENCH_DATA/wafer-defocus``.
    seed : int, optional
        Unused: layouts depend on the sample id only.
    crop_size : int, optional
    crops_per_field : int, optional
    step_um : float, optional
        Defocus per depth step between regions.
    fields : str or sequence of str, optional
        Only these fields (see `FieldDataset`).
    """

    name: ClassVar[str] = "wafer-defocus-composites"
    task: ClassVar[str] = "fusion"
    realism: ClassVar[str] = "semi-real"
    # the layout is the true depth map: region j at depth j, plane k focused at depth k
    provides: ClassVar[tuple] = ("depth-oracle",)
    summary: ClassVar[str] = ("2-3 plane stacks whose regions come from real defocused planes of one wafer field "
                              "(registered), with the field's in-focus plane as the reference")
    citation: ClassVar[str] = WAFER_CITATION
    licence: ClassVar[str] = WaferDefocus.licence
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "wafer-defocus"
    card: ClassVar[str] = "wafer-defocus-composites.md"

    def __init__(self, *, root=None, seed=0, crop_size=256, crops_per_field=4, step_um=10.0, fields=None):
        super().__init__(root=root, seed=seed, fields=fields)
        self.crop_size = int(option_number(crop_size, "crop_size", self.name, positive=True))
        self.crops_per_field = int(option_number(crops_per_field, "crops_per_field", self.name, positive=True))
        self.step_um = option_number(step_um, "step_um", self.name, positive=True)
        self._windows = {}

    def read_fields(self, root):
        return read_wafer_fields(root, dataset=self.name)

    def build_index(self):
        # window k of a field holds 2 planes when k is even, 3 when it is odd
        groups = [[(name, row, col, 2 + rank % 2) for rank, (row, col) in enumerate(self.crops(name))]
                  for name in self.fields()]
        return {f"{name}-y{row}x{col}-n{planes}": (name, row, col, planes)
                for name, row, col, planes in interleave(groups)}

    def defocused_plane(self, name, depth_offset):
        """Index of the plane of field `name` standing for a region `depth_offset` depth steps from focus."""
        field = self.fields()[name]
        defocus = field.defocus_um
        usable = np.flatnonzero(np.abs(defocus) >= MIN_DEFOCUS_UM)
        if usable.size == 0:
            raise InvalidInputError(f"{self.name}: field {name} has no plane {MIN_DEFOCUS_UM} µm or more from focus")
        target = depth_offset * self.step_um
        return int(usable[np.argmin(np.abs(defocus[usable] - target))])

    def _registered_windows(self, name):
        # every plane a composite of the field may use, registered once and cut into its windows
        if name not in self._windows:
            field = self.fields()[name]
            sharp = field.read_plane(field.focus_index)
            size = self.crop_size
            planes = {self.defocused_plane(name, offset) for offset in (-2, -1, 1, 2)}
            windows, shifts = {}, {}
            for plane in sorted(planes):
                registered, shifts[plane] = registered_plane(field, plane, sharp)
                windows[plane] = {(r, c): registered[r:r + size, c:c + size].copy() for r, c in self.crops(name)}
            windows[field.focus_index] = {(r, c): sharp[r:r + size, c:c + size].copy() for r, c in self.crops(name)}
            self._windows[name] = (windows, shifts)
        return self._windows[name]

    def load(self, sample_id):
        from mmdf_bench.tasks.fusion import FusionSample

        name, row, col, num_planes = self.entry(sample_id)
        field = self.fields()[name]
        windows, shifts = self._registered_windows(name)
        labels = region_layout((self.crop_size, self.crop_size), num_planes,
                               rng=np.random.default_rng(_digest("layout", sample_id)))
        reference = windows[field.focus_index][(row, col)]
        planes, used = [], []
        for focused in range(num_planes):
            plane = np.empty_like(reference)
            sources = []
            for region in range(num_planes):
                source = field.focus_index if region == focused else self.defocused_plane(name, region - focused)
                inside = labels == region
                plane[inside] = windows[source][(row, col)][inside]
                sources.append(round(float(field.defocus_um[source]), 4))
            planes.append(plane)
            used.append(sources)
        metadata = {"field": name, "row": row, "col": col, "layout_shares":
                    [round(float(share), 4) for share in np.bincount(labels.ravel(), minlength=num_planes)
                     / labels.size],
                    "region_defocus_um": used,
                    "registration": {str(round(float(field.defocus_um[plane]), 4)): shift.describe()
                                     for plane, shift in shifts.items()},
                    **field.metadata}
        return FusionSample(stack=np.stack(planes), sample_id=sample_id, reference=reference, group=name,
                            metadata=metadata, source=f"{self.name}: field {name}",
                            depth_map=labels.astype(np.float32), plane_depths=tuple(range(num_planes)))

    def describe(self):
        description = super().describe()
        description["options"] = {"crop_size": self.crop_size, "crops_per_field": self.crops_per_field,
                                   "step_um": self.step_um, "min_defocus_um": MIN_DEFOCUS_UM}
        description["fields"] = {name: {"windows": len(self.crops(name)),
                                        "planes_um": {str(offset): round(float(
                                            self.fields()[name].defocus_um[self.defocused_plane(name, offset)]), 4)
                                            for offset in (-2, -1, 1, 2)}}
                                 for name in self.fields()}
        return description
