"""Sub-pixel registration of two planes of one field (translation only).

The planes of a real z-stack are taken by moving the stage or the
objective, and each move can shift the image by a fraction of a pixel (the
`wafer-defocus` planes were registered to whole pixels only). A restored
image scored against the in-focus plane would pay for that shift in PSNR
and SSIM although no method could know it, so every real pair and
composite is registered first: `estimate_shift` measures the translation
and `shift_image` removes it.

The estimate is the peak of the plain cross-correlation of the two images
(means removed, edges tapered by a Tukey window; no phase normalisation), searched within ``max_shift``
pixels of no shift and refined to 1/20 pixel by evaluating the
correlation on a finer grid around the peak with a matrix-multiply DFT
(Guizar-Sicairos et al.), which is exact however broad the peak. Why plain: a defocus
blur multiplies the spectrum by an optical transfer function that changes
sign at high frequencies, which scrambles the phase there, while the low
frequencies that dominate the plain cross-correlation pass with a positive
gain, so a symmetric blur does not bias the peak. Why a search window: the
planes of a real stack are taken without moving the stage sideways (those
of `wafer-defocus` were also registered to whole pixels), so a shift of
more than a few pixels is a false peak. Far from focus the peak is as broad
as the blur, and the estimate less certain. When the largest correlation lies on the
border of the window there is no peak to trust (it happens with unstained
cells, whose contrast inverts between the two sides of focus): the
estimate says so, and callers leave the planes as recorded.

References
----------
.. [1] M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient
       subpixel image registration algorithms", Optics Letters 33(2):
       156-158, 2008.
"""

from dataclasses import dataclass

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

__all__ = ["MAX_SHIFT", "ShiftEstimate", "estimate_shift", "shift_image"]

#: Largest shift (pixels) searched for between two planes of one field.
MAX_SHIFT = 6
#: Registration precision: 1 / UPSAMPLE_FACTOR pixel.
UPSAMPLE_FACTOR = 20


@dataclass(frozen=True)
class ShiftEstimate:
    """A translation estimate.

    Attributes
    ----------
    shift : ndarray of float, shape (2,)
        ``(rows, cols)`` that `shift_image` must apply to the moving image;
        zero when not `found`.
    found : bool
        False when the correlation has no peak inside the search window.
    """

    shift: np.ndarray
    found: bool

    def describe(self):
        return {"shift_px": [round(float(value), 3) for value in self.shift], "found": self.found}


def _refine(product, peak, upsample_factor):
    """The correlation (inverse DFT of `product`) on a 1/upsample_factor grid of +-1 pixel around `peak`."""
    offsets = peak[:, None] + np.arange(-upsample_factor, upsample_factor + 1)[None, :] / upsample_factor
    kernels = [np.exp(2j * np.pi * np.fft.fftfreq(size)[:, None] * offsets[axis][None, :])
               for axis, size in enumerate(product.shape)]
    values = (kernels[0].T @ product @ kernels[1]).real
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return np.array([offsets[0][row], offsets[1][col]])


def estimate_shift(reference, moving, *, max_shift=MAX_SHIFT, upsample_factor=UPSAMPLE_FACTOR):
    """The translation that aligns `moving` with `reference` (see the module notes).

    Parameters
    ----------
    reference, moving : ndarray, shape (H, W) or (H, W, 3)
        Same shape; compared through their luminance, means removed.
    max_shift : int, optional
        Half-width of the search window (pixels).
    upsample_factor : int, optional
        Precision 1 / `upsample_factor` pixel.

    Returns
    -------
    ShiftEstimate

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((64, 64))
    >>> estimate = estimate_shift(image, np.roll(image, (2, -1), axis=(0, 1)))
    >>> estimate.found, [round(float(value), 3) for value in estimate.shift]
    (True, [-2.0, 1.0])
    """
    reference = to_gray(np.asarray(reference, dtype=np.float64))
    moving = to_gray(np.asarray(moving, dtype=np.float64))
    if reference.shape != moving.shape:
        raise InvalidInputError(f"cannot register images of shapes {reference.shape} and {moving.shape}")
    radius = int(max_shift)
    if radius < 1 or 2 * radius + 1 > min(reference.shape):
        raise InvalidInputError(f"max_shift must be at least 1 and fit in the image, got {max_shift}")
    # a window tapers the frame edges, which are where the (implicitly periodic) images
    # jump and which do not move with the content: left in, they pull the peak to zero
    from scipy.signal.windows import tukey

    window = np.outer(tukey(reference.shape[0], 0.25), tukey(reference.shape[1], 0.25))
    product = (np.fft.fft2((reference - reference.mean()) * window)
               * np.conj(np.fft.fft2((moving - moving.mean()) * window)))
    correlation = np.fft.ifft2(product).real
    # correlation[k] peaks where moving shifted by k matches reference; gather k in [-radius, radius]
    offsets = np.arange(-radius, radius + 1)
    window = correlation[np.ix_(offsets % reference.shape[0], offsets % reference.shape[1])]
    row, col = np.unravel_index(int(np.argmax(window)), window.shape)
    if row in (0, 2 * radius) or col in (0, 2 * radius):
        return ShiftEstimate(np.zeros(2), False)
    shift = _refine(product, np.array([offsets[row], offsets[col]], dtype=np.float64), int(upsample_factor))
    return ShiftEstimate(shift, True)


def shift_image(image, shift):
    """Translate `image` by `shift` ``(rows, cols)`` pixels, sub-pixel, by the Fourier shift theorem.

    The image is treated as periodic: up to ``ceil(|shift|)`` pixels at each
    border wrap around, so crops taken afterwards must keep that far from
    the edges.

    Returns
    -------
    shifted : ndarray of float32, same shape, clipped to [0, 1]
    """
    from scipy.ndimage import fourier_shift

    image = np.asarray(image, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    if not np.any(shift):
        return image.astype(np.float32)
    if image.ndim == 3:
        channels = [shift_image(image[..., channel], shift) for channel in range(image.shape[-1])]
        return np.stack(channels, axis=-1)
    moved = np.fft.ifft2(fourier_shift(np.fft.fft2(image), shift)).real
    return np.clip(moved, 0.0, 1.0).astype(np.float32)
