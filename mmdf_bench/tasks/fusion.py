"""The multi-focus fusion task.

A sample is a registered stack of N >= 2 images of one scene focused at
different depths; a method fuses it into one all-in-focus image.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.bit_depth import check_bits
from mmdf_bench.images import quantise, validate_image, validate_stack, write_image
from mmdf_bench.tasks.base import Method, Task


@dataclass
class FusionSample:
    """One multi-focus stack.

    Parameters
    ----------
    stack : ndarray, shape (N, H, W) or (N, H, W, 3)
        Registered images, float32 in [0, 1], N >= 2.
    sample_id : str
        Unique within its dataset and split.
    reference : ndarray, optional
        The all-in-focus image, shaped like one plane of the stack.
    group : str, optional
        The specimen the stack comes from; bootstrap resamples groups.
        Defaults to `sample_id`.
    metadata : dict
        Anything else worth keeping (depth map statistics, source file, ...).
    source : str, optional
        File or folder the stack was read from, for error messages.
    bit_depth : int, optional
        Bits per sample the stack was stored with (8 for 8-bit files, 12 for
        12-bit data, ...): fused images are stored and scored at it.
    depth_map : ndarray, shape (H, W), optional
        The true relief of the specimen (synthetic data only), in the units
        of `plane_depths`. Only oracle methods (``information`` holding
        ``"depth-oracle"``) are given it.
    plane_depths : sequence of float, optional
        The focal depth of each plane, same units as `depth_map`.
    """

    stack: np.ndarray
    sample_id: str
    reference: np.ndarray | None = None
    group: str | None = None
    metadata: dict = field(default_factory=dict)
    source: str | None = None
    bit_depth: int = 8
    depth_map: np.ndarray | None = None
    plane_depths: tuple | None = None

    def __post_init__(self):
        where = self.source or self.sample_id
        self.bit_depth = check_bits(self.bit_depth, source=where)
        self.stack = validate_stack(self.stack, source=where)
        if self.reference is not None:
            self.reference = validate_image(self.reference, source=f"{where} (reference)")
            if self.reference.shape != self.stack.shape[1:]:
                raise InvalidInputError(
                    f"reference shape {self.reference.shape} differs from plane shape "
                    f"{self.stack.shape[1:]} in {where}"
                )
        if (self.depth_map is None) != (self.plane_depths is None):
            raise InvalidInputError(f"a depth map needs the plane depths and the reverse, in {where}")
        if self.depth_map is not None:
            self.depth_map = np.asarray(self.depth_map, dtype=np.float32)
            self.plane_depths = tuple(float(value) for value in np.ravel(self.plane_depths))
            if self.depth_map.shape != self.stack.shape[1:3] or not np.all(np.isfinite(self.depth_map)):
                raise InvalidInputError(f"depth map of shape {self.depth_map.shape} does not match planes of "
                                        f"shape {self.stack.shape[1:3]} or is not finite, in {where}")
            if len(self.plane_depths) != self.num_planes:
                raise InvalidInputError(f"{len(self.plane_depths)} plane depths for {self.num_planes} planes "
                                        f"in {where}")
        if self.group is None:
            self.group = self.sample_id

    @property
    def num_planes(self) -> int:
        return self.stack.shape[0]


class FusionMethod(Method):
    """Base class of fusion methods: implement ``fuse(stack) -> image``."""

    task: ClassVar[str] = "fusion"

    def fuse(self, stack: np.ndarray) -> np.ndarray:
        """Fuse a stack ``(N, H, W[, 3])`` into one image ``(H, W[, 3])``, float32 in [0, 1]."""
        raise NotImplementedError


DEPTH_ORACLE = "depth-oracle"


def predict(method, sample):
    """Run `method` on `sample`, check the fused image and store it at the stack's bit depth.

    Only methods whose ``information`` holds ``"depth-oracle"`` (upper
    bounds) receive the true depth map and plane depths, as keywords. The
    fused image is rounded to the grid of a ``sample.bit_depth``-bit file
    (`mmdf_bench.images.quantise`): what is scored is what a user who saves
    it gets, and a saved output scores exactly what ``scores.csv`` says.
    """
    name = method.name or type(method).__name__
    if DEPTH_ORACLE in getattr(method, "information", ()):
        if sample.depth_map is None:
            raise InvalidInputError(f"{name} needs the true depth map, but sample {sample.sample_id} "
                                    f"({sample.source or 'no source'}) has none")
        fused = method.fuse(sample.stack, depth_map=sample.depth_map, plane_depths=sample.plane_depths)
    else:
        fused = method.fuse(sample.stack)
    fused = np.asarray(fused)
    where = f"output of {name} on {sample.sample_id}"
    if fused.shape != sample.stack.shape[1:]:
        raise InvalidInputError(
            f"fused image has shape {fused.shape}, expected {sample.stack.shape[1:]} ({where})"
        )
    if not np.all(np.isfinite(fused)):
        raise InvalidInputError(f"fused image contains NaN or infinite values ({where})")
    fused = validate_image(np.clip(fused, 0.0, 1.0), source=where)
    return quantise(fused, bits=sample.bit_depth)


def save_output(fused, path, *, bit_depth=8):
    """Write the fused image as ``<path>.png`` at `bit_depth` bits (16-bit PNG above 8)."""
    write_image(f"{path}.png", fused, bits=bit_depth)


def describe_sample(sample):
    """Per-sample facts the runner keeps in ``samples.csv``."""
    return {"num_planes": sample.num_planes, "has_reference": sample.reference is not None}


TASK = Task(
    name="fusion",
    method_base=FusionMethod,
    predict=predict,
    save_output=save_output,
    default_datasets=("synthetic-brightfield-fusion",),
    primary_metrics=("ssim", "qabf", "brisque"),
    description="multi-focus fusion of a z-stack into one all-in-focus image",
    describe_sample=describe_sample,
    # the MMDF question: does a learned fusion beat plain averaging of the planes?
    baseline_method="average",
    gain_metrics=("ssim", "qabf", "brisque"),
    method_call="fuse",
)
