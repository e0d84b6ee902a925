"""The deblur task: restore a sharp image from a fast-scan blurred one.

A sample is a blurred image, its sharp target (``reference``, so the
full-reference metrics apply unchanged) and, when known, the PSF that blurred
it. Methods of the *non-blind* track receive the PSF; *blind* methods do not.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.bit_depth import check_bits
from mmdf_bench.images import quantise, validate_image, write_image
from mmdf_bench.tasks.base import Method, Task

TRACKS = ("non-blind", "blind")


def validate_psf(psf, *, source=None):
    """Check a PSF: 2-D, odd-sized, finite, non-negative, summing to 1 (within 1e-3)."""
    where = f" in {source}" if source else ""
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2 or psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
        raise InvalidInputError(f"a PSF must be a 2-D array of odd size, got shape {psf.shape}{where}")
    if not np.all(np.isfinite(psf)) or np.any(psf < 0):
        raise InvalidInputError(f"a PSF must be finite and non-negative{where}")
    if not np.isclose(psf.sum(), 1.0, atol=1e-3):
        raise InvalidInputError(f"a PSF must sum to 1, got {psf.sum():.4f}{where}")
    return psf


@dataclass
class DeblurSample:
    """One blurred image with its sharp target.

    Parameters
    ----------
    blurred : ndarray, shape (H, W) or (H, W, 3)
    reference : ndarray
        The sharp target, same shape as `blurred`.
    sample_id : str
    psf : ndarray, optional
        The kernel that blurred the image (odd-sized, sums to 1).
    group : str, optional
        The source image; bootstrap and splits use it.
    metadata : dict
    source : str, optional
        File the pair was read from, for error messages.
    bit_depth : int, optional
        Bits per sample the blurred image was stored with: restored images
        are stored and scored at it.
    """

    blurred: np.ndarray
    reference: np.ndarray
    sample_id: str
    psf: np.ndarray | None = None
    group: str | None = None
    metadata: dict = field(default_factory=dict)
    source: str | None = None
    bit_depth: int = 8

    def __post_init__(self):
        where = self.source or self.sample_id
        self.bit_depth = check_bits(self.bit_depth, source=where)
        self.blurred = validate_image(self.blurred, source=f"{where} (blurred)")
        self.reference = validate_image(self.reference, source=f"{where} (sharp)")
        if self.blurred.shape != self.reference.shape:
            raise InvalidInputError(
                f"blurred shape {self.blurred.shape} differs from sharp shape "
                f"{self.reference.shape} in {where}")
        if self.psf is not None:
            self.psf = validate_psf(self.psf, source=where)
        if self.group is None:
            self.group = self.sample_id


class DeblurMethod(Method):
    """Base class of deblurring methods: implement ``restore(blurred, psf=None) -> image``.

    Attributes
    ----------
    track : {"non-blind", "blind"}
        Non-blind methods need the PSF and receive it; blind methods never see it.
    """

    task: ClassVar[str] = "deblur"
    track: ClassVar[str] = "blind"

    def restore(self, blurred: np.ndarray, psf: np.ndarray | None = None) -> np.ndarray:
        """Return the restored image, shaped like `blurred`, float32 in [0, 1]."""
        raise NotImplementedError


def predict(method, sample):
    """Run `method` on `sample` (giving the PSF only to non-blind methods) and check the output.

    The restored image is rounded to the grid of a ``sample.bit_depth``-bit
    file (`mmdf_bench.images.quantise`), so that what is scored is what is stored.
    """
    where = f"output of {method.name or type(method).__name__} on {sample.sample_id}"
    if getattr(method, "track", "blind") == "non-blind":
        if sample.psf is None:
            raise InvalidInputError(f"{method.name} needs the PSF, but sample {sample.sample_id} has none")
        restored = method.restore(sample.blurred, psf=sample.psf)
    else:
        restored = method.restore(sample.blurred)
    restored = np.asarray(restored)
    if restored.shape != sample.blurred.shape:
        raise InvalidInputError(f"restored image has shape {restored.shape}, expected "
                                f"{sample.blurred.shape} ({where})")
    if not np.all(np.isfinite(restored)):
        raise InvalidInputError(f"restored image contains NaN or infinite values ({where})")
    restored = validate_image(np.clip(restored, 0.0, 1.0), source=where)
    return quantise(restored, bits=sample.bit_depth)


def save_output(restored, path, *, bit_depth=8):
    """Write the restored image as ``<path>.png`` at `bit_depth` bits (16-bit PNG above 8)."""
    write_image(f"{path}.png", restored, bits=bit_depth)


def describe_sample(sample):
    """Per-sample facts the runner keeps in ``samples.csv``."""
    return {"blur": sample.metadata.get("blur", ""), "has_psf": sample.psf is not None}


TASK = Task(
    name="deblur",
    method_base=DeblurMethod,
    predict=predict,
    save_output=save_output,
    default_datasets=("synthetic-brightfield-deblur",),
    primary_metrics=("psnr", "ssim"),
    description="restoration of fast-scan (motion / defocus) blurred images",
    describe_sample=describe_sample,
    baseline_method="identity",
    gain_metrics=("psnr", "ssim"),
    method_call="restore",
)
