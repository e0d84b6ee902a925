"""The multi-focus fusion task.

A sample is a registered stack of N >= 2 images of one scene focused at
different depths; a method fuses it into one all-in-focus image.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image, validate_stack, write_image
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
    """

    stack: np.ndarray
    sample_id: str
    reference: np.ndarray = None
    group: str = None
    metadata: dict = field(default_factory=dict)
    source: str = None

    def __post_init__(self):
        where = self.source or self.sample_id
        self.stack = validate_stack(self.stack, source=where)
        if self.reference is not None:
            self.reference = validate_image(self.reference, source=f"{where} (reference)")
            if self.reference.shape != self.stack.shape[1:]:
                raise InvalidInputError(
                    f"reference shape {self.reference.shape} differs from plane shape "
                    f"{self.stack.shape[1:]} in {where}"
                )
        if self.group is None:
            self.group = self.sample_id

    @property
    def num_planes(self):
        return self.stack.shape[0]


class FusionMethod(Method):
    """Base class of fusion methods: implement ``fuse(stack) -> image``."""

    task: ClassVar[str] = "fusion"

    def fuse(self, stack):
        """Fuse a stack ``(N, H, W[, 3])`` into one image ``(H, W[, 3])``, float32 in [0, 1]."""
        raise NotImplementedError


def predict(method, sample):
    """Run `method` on `sample` and check that the fused image is usable."""
    fused = np.asarray(method.fuse(sample.stack))
    where = f"output of {method.name or type(method).__name__} on {sample.sample_id}"
    if fused.shape != sample.stack.shape[1:]:
        raise InvalidInputError(
            f"fused image has shape {fused.shape}, expected {sample.stack.shape[1:]} ({where})"
        )
    if not np.all(np.isfinite(fused)):
        raise InvalidInputError(f"fused image contains NaN or infinite values ({where})")
    return validate_image(np.clip(fused, 0.0, 1.0), source=where)


def save_output(fused, path):
    """Write the fused image as ``<path>.png``."""
    write_image(f"{path}.png", fused)


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
)
