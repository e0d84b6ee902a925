"""The defocus PSF that best explains a real (sharp, blurred) pair: a disc or a Gaussian.

Real defocus pairs come without a PSF, yet the non-blind deconvolutions of
the deblur task need one. `fit_defocus_psf` gives them the best kernel of
two one-parameter families, fitted to the registered pair itself:

* a uniform **disc** of radius r (geometric optics: a point out of focus
  spreads over a disc whose radius grows with the defocus);
* a **Gaussian** of standard deviation sigma (the usual approximation when
  aberrations and diffraction round the disc off).

The fit minimises ``sum |B - g K S|^2`` over the frequencies of a window of
the pair (means removed, both multiplied by the same Tukey window), with
the gain g solved in closed form: a coarse grid of the parameter, then a
finer one around the best value. Because it reads the sharp image, the
kernel is an *oracle*, like the exact kernel of the synthetic sets; a
dataset that hands it to methods says so.

References
----------
.. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., section 8.8
       (the out-of-focus image of a point).
.. [2] J. W. Goodman, *Introduction to Fourier Optics*, 3rd ed., 2005
       (the transfer function of a circular blur, 2 J1(x) / x).
"""

from dataclasses import dataclass

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

__all__ = ["FittedPSF", "disc_kernel", "fit_defocus_psf"]

#: Largest disc radius / Gaussian sigma (pixels) the fit considers.
MAX_RADIUS = 60.0
_COARSE_STEP, _FINE_STEP = 1.0, 0.1


@dataclass(frozen=True)
class FittedPSF:
    """The fitted kernel and how well it explains the pair.

    Attributes
    ----------
    model : {"disc", "gaussian"}
    parameter : float
        Disc radius or Gaussian sigma, pixels.
    gain : float
        Fitted exposure ratio blurred / sharp (of the mean-removed images).
    residual : float
        Fraction of the blurred image's variance the fit leaves unexplained.
    """

    model: str
    parameter: float
    gain: float
    residual: float

    def kernel(self):
        """The kernel as an odd-sized array summing to 1."""
        if self.model == "disc":
            return disc_kernel(self.parameter)
        from mmdf_bench.data.blur_kernels import gaussian_kernel

        return gaussian_kernel(max(self.parameter, 1e-3))

    def describe(self):
        name = "radius" if self.model == "disc" else "sigma"
        return {"model": self.model, f"{name}_px": round(self.parameter, 3), "gain": round(self.gain, 4),
                "unexplained_variance": round(self.residual, 4)}


def disc_kernel(radius, *, oversample=8):
    """A uniform disc of `radius` pixels, pixel areas integrated by `oversample`² sub-samples.

    Returns
    -------
    kernel : ndarray of float64, shape (2 ceil(radius) + 1,) * 2, summing to 1
    """
    if not radius > 0:
        raise InvalidInputError(f"a disc kernel needs a positive radius, got {radius}")
    half = int(np.ceil(radius))
    offsets = (np.arange(oversample) + 0.5) / oversample - 0.5
    axis = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).ravel()
    inside = (axis[:, None] ** 2 + axis[None, :] ** 2) <= radius ** 2
    size = 2 * half + 1
    kernel = inside.reshape(size, oversample, size, oversample).mean(axis=(1, 3)).astype(np.float64)
    if kernel.sum() == 0:  # a disc smaller than a sub-sample
        kernel[half, half] = 1.0
    return kernel / kernel.sum()


def _otf(model, parameter, rho):
    from scipy.special import j1

    if model == "gaussian":
        return np.exp(-2.0 * (np.pi * parameter * rho) ** 2)
    argument = 2.0 * np.pi * parameter * rho
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(argument > 0, 2.0 * j1(argument) / argument, 1.0)
    return values


def _tukey(length, alpha=0.2):
    from scipy.signal.windows import tukey

    return tukey(length, alpha)


def fit_defocus_psf(sharp, blurred, *, models=("disc", "gaussian"), max_radius=MAX_RADIUS):
    """Fit a disc and a Gaussian PSF to a registered pair; return the better one.

    Parameters
    ----------
    sharp, blurred : ndarray, shape (H, W) or (H, W, 3)
        The in-focus and the defocused plane (or the same window of each),
        registered. A window of a few hundred pixels with structure is
        enough; the whole of a large frame is slower and no better.
    models : sequence of {"disc", "gaussian"}, optional
    max_radius : float, optional

    Returns
    -------
    FittedPSF
    """
    sharp = to_gray(np.asarray(sharp, dtype=np.float64))
    blurred = to_gray(np.asarray(blurred, dtype=np.float64))
    if sharp.shape != blurred.shape:
        raise InvalidInputError(f"cannot fit a PSF to images of shapes {sharp.shape} and {blurred.shape}")
    window = np.outer(_tukey(sharp.shape[0]), _tukey(sharp.shape[1]))
    sharp_spectrum = np.fft.rfft2((sharp - sharp.mean()) * window)
    blurred_spectrum = np.fft.rfft2((blurred - blurred.mean()) * window)
    rows = np.fft.fftfreq(sharp.shape[0])[:, None]
    cols = np.fft.rfftfreq(sharp.shape[1])[None, :]
    rho = np.hypot(rows, cols)
    # rfft2 keeps half the spectrum: weigh the columns that stand for two
    weight = np.full(rho.shape, 2.0)
    weight[:, 0] = 1.0
    if sharp.shape[1] % 2 == 0:
        weight[:, -1] = 1.0
    energy = float((weight * np.abs(blurred_spectrum) ** 2).sum())
    if energy == 0:
        raise InvalidInputError("cannot fit a PSF: the blurred image is flat")

    def residual(model, parameter):
        predicted = _otf(model, parameter, rho) * sharp_spectrum
        power = float((weight * np.abs(predicted) ** 2).sum())
        if power == 0:
            return 1.0, 0.0
        gain = float((weight * (np.conj(predicted) * blurred_spectrum).real).sum()) / power
        return (energy - gain ** 2 * power) / energy, gain

    best = None
    for model in models:
        if model not in ("disc", "gaussian"):
            raise InvalidInputError(f"unknown PSF model {model!r}; use 'disc' or 'gaussian'")
        coarse = np.arange(_COARSE_STEP, max_radius + _COARSE_STEP / 2, _COARSE_STEP)
        start = coarse[int(np.argmin([residual(model, value)[0] for value in coarse]))]
        fine = np.arange(max(start - _COARSE_STEP, _FINE_STEP), start + _COARSE_STEP + _FINE_STEP / 2, _FINE_STEP)
        scores = [residual(model, value) for value in fine]
        index = int(np.argmin([score[0] for score in scores]))
        candidate = FittedPSF(model, float(fine[index]), scores[index][1], float(scores[index][0]))
        if best is None or candidate.residual < best.residual:
            best = candidate
    return best
