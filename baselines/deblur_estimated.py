"""Non-blind deconvolutions on an estimated PSF: classical methods of the blind track.

`wiener`, `richardson-lucy` and `unsupervised-wiener` receive the exact
kernel that made the blur (``psf-oracle`` in the leaderboard), which no
deep method has. For a fair blind-versus-blind comparison the same
deconvolutions run here on a kernel estimated without the truth:

``richardson-lucy-cepstrum``
    Richardson-Lucy on the straight-line motion estimated per image from
    the cepstrum (`mmdf_bench.baselines.blind_motion.estimate_linear_motion`,
    as in ``blind-motion-wiener``); the iteration count and the detection
    threshold are calibrated on the train split with the *estimated* kernels.
``unsupervised-wiener-cepstrum``
    Unsupervised Wiener-Hunt (Gibbs-sampled noise and prior levels) on the
    same estimate; nothing is tuned (`DEFAULT_MIN_STRENGTH` threshold).
``wiener-gaussian``
    Wiener deconvolution with one isotropic Gaussian PSF for every image,
    its width and the Wiener balance chosen on the train split: a
    parametric kernel family fitted on train data instead of per image.

An image whose cepstrum singles out no direction (detection strength below
the threshold) is returned unchanged by the cepstrum methods: a wrong kernel
costs more than no deconvolution.

References
----------
.. [1] M. Cannon, "Blind deconvolution of spatially invariant image blurs
       with phase", IEEE Trans. ASSP 24(1), 58-63, 1976.
.. [2] W. H. Richardson, JOSA 62(1), 55-59, 1972; L. B. Lucy, The
       Astronomical Journal 79(6), 745-754, 1974.
.. [3] F. Orieux, J.-F. Giovannelli and T. Rodet, JOSA A 27(7), 1593-1607,
       2010.
"""

import numpy as np

from mmdf_bench.baselines.blind_motion import (DEFAULT_MAX_LENGTH, DEFAULT_MIN_LENGTH, DEFAULT_MIN_STRENGTH,
                                               estimate_linear_motion, kernel_fits, motion_kernel)
from mmdf_bench.baselines.deblur import (BALANCE_GRID, ITERATION_TOLERANCE, STRENGTH_GRID, _best,
                                         _check_choice, _check_positive, calibration_samples)
from mmdf_bench.baselines.deconvolution import EDGE_MODES
from mmdf_bench.baselines.deconvolution import DEFAULT_BALANCE, unsupervised_wiener, wiener_deconvolution
from mmdf_bench.baselines.richardson_lucy import DEFAULT_NUM_ITER, richardson_lucy, richardson_lucy_iterates
from mmdf_bench.data.blur_kernels import gaussian_kernel
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image
from mmdf_bench.metrics.full_reference import psnr
from mmdf_bench.tasks.deblur import DeblurMethod

__all__ = ["ENTRY_POINTS", "GaussianWienerDeblur", "RichardsonLucyCepstrumDeblur", "SIGMA_GRID",
           "UnsupervisedWienerCepstrumDeblur", "estimated_motion_kernel"]

#: Iteration counts compared by `RichardsonLucyCepstrumDeblur.fit` (one run reads them all).
CEPSTRUM_NUM_ITER_GRID = (3, 5, 10, 20, 30, 50)
#: Widths (pixels) of the Gaussian PSF compared by `GaussianWienerDeblur.fit`.
SIGMA_GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
#: `GaussianWienerDeblur`'s width before `fit` (the MMDF paper's small Gaussian kernel).
DEFAULT_SIGMA = 1.0

ENTRY_POINTS = {
    "richardson-lucy-cepstrum": "mmdf_bench.baselines.deblur_estimated:RichardsonLucyCepstrumDeblur",
    "unsupervised-wiener-cepstrum": "mmdf_bench.baselines.deblur_estimated:UnsupervisedWienerCepstrumDeblur",
    "wiener-gaussian": "mmdf_bench.baselines.deblur_estimated:GaussianWienerDeblur",
}
"""Registry name -> ``"module:ClassName"``, for ``pyproject.toml``."""

_CEPSTRUM = ("M. Cannon, Blind deconvolution of spatially invariant image blurs with phase, IEEE Trans. ASSP "
             "24(1), 1976 (linear-motion estimate)")


def estimated_motion_kernel(image, *, max_length=DEFAULT_MAX_LENGTH):
    """The cepstrum's straight-line motion kernel of `image` and its detection strength.

    Returns
    -------
    kernel : ndarray or None
        None when the kernel would be more than half the image (see `kernel_fits`).
    strength : float
        `mmdf_bench.baselines.blind_motion.LinearMotion.strength`.
    """
    longest = min(float(max_length), min(image.shape[:2]) / 2 - 1)
    if longest <= DEFAULT_MIN_LENGTH:
        raise InvalidInputError(f"an image of shape {image.shape} is too small to search for a motion longer "
                                f"than {DEFAULT_MIN_LENGTH:g} pixels")
    motion = estimate_linear_motion(image, max_length=longest)
    kernel = motion_kernel(*motion)
    return (kernel if kernel_fits(kernel, image) else None), float(motion.strength)


class RichardsonLucyCepstrumDeblur(DeblurMethod):
    """Richardson-Lucy on the cepstrum's linear-motion kernel estimate (blind).

    Parameters
    ----------
    num_iter : int, optional
        By default chosen by `fit` from `CEPSTRUM_NUM_ITER_GRID`.
    min_strength : float, optional
        Detection threshold; by default chosen by `fit` from `STRENGTH_GRID`.
    edges : {"taper", "pad", "periodic"}, optional
    """

    name = "richardson-lucy-cepstrum"
    track = "blind"
    summary = "Richardson-Lucy on a cepstrum linear-motion kernel estimate; iterations and threshold calibrated on train"
    citation = f"{_CEPSTRUM}; Richardson, JOSA 62(1), 1972; Lucy, AJ 79(6), 1974"

    def __init__(self, *, num_iter=None, min_strength=None, edges="taper"):
        self.num_iter = _check_positive("num_iter", num_iter, integer=True)
        self.min_strength = _check_positive("min_strength", min_strength)
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.calibration = None
        self._num_iter = DEFAULT_NUM_ITER if num_iter is None else int(num_iter)
        self._min_strength = DEFAULT_MIN_STRENGTH if min_strength is None else float(min_strength)

    def fit(self, train_samples, *, seed=0):
        """Choose iterations and threshold maximising mean PSNR on the first train samples, with estimated kernels."""
        counts = CEPSTRUM_NUM_ITER_GRID if self.num_iter is None else (int(self.num_iter),)
        thresholds = STRENGTH_GRID if self.min_strength is None else (float(self.min_strength),)
        samples = calibration_samples(train_samples, need_psf=False)
        if not samples or len(counts) * len(thresholds) == 1:
            return self
        strengths, unchanged, restored = [], [], {count: [] for count in counts}
        for sample in samples:
            image = validate_image(sample.blurred)
            kernel, strength = estimated_motion_kernel(image)
            strengths.append(strength)
            unchanged.append(psnr(image, sample.reference))
            if kernel is None:
                for count in counts:
                    restored[count].append(unchanged[-1])
                continue
            for count, result in richardson_lucy_iterates(image, kernel, counts, edges=self.edges):
                restored[count].append(psnr(result, sample.reference))
        strengths, unchanged = np.array(strengths), np.array(unchanged)
        scores = {(count, threshold): float(np.mean(np.where(strengths >= threshold, restored[count], unchanged)))
                  for count in counts for threshold in thresholds}
        best = max(scores.values())
        # fewest iterations within the tolerance of the best, then the best threshold for it
        self._num_iter, self._min_strength = min(
            (candidate for candidate, score in scores.items() if score >= best - ITERATION_TOLERANCE),
            key=lambda candidate: (candidate[0], -scores[candidate]))
        self.calibration = {
            "num_samples": len(samples), "num_iter": self._num_iter, "min_strength": self._min_strength,
            "mean_psnr_blurred": round(float(unchanged.mean()), 4),
            "mean_psnr": {f"num_iter={count},min_strength={threshold:g}": round(score, 4)
                          for (count, threshold), score in scores.items()},
        }
        return self

    def restore(self, blurred, psf=None):
        image = validate_image(blurred)
        kernel, strength = estimated_motion_kernel(image)
        if kernel is None or strength < self._min_strength:
            return image.copy()
        return richardson_lucy(image, kernel, num_iter=self._num_iter, edges=self.edges)


class UnsupervisedWienerCepstrumDeblur(DeblurMethod):
    """Unsupervised Wiener-Hunt on the cepstrum's linear-motion kernel estimate (blind, nothing tuned).

    Parameters
    ----------
    min_strength : float, optional
        Detection threshold (the documented `DEFAULT_MIN_STRENGTH`).
    edges : {"taper", "pad", "periodic"}, optional
    """

    name = "unsupervised-wiener-cepstrum"
    track = "blind"
    summary = "unsupervised Wiener-Hunt (Gibbs) on a cepstrum linear-motion kernel estimate; no tuning, seeded"
    citation = (f"{_CEPSTRUM}; F. Orieux, J.-F. Giovannelli and T. Rodet, JOSA A 27(7), 1593-1607, 2010")

    def __init__(self, *, min_strength=DEFAULT_MIN_STRENGTH, edges="taper"):
        self.min_strength = float(_check_positive("min_strength", min_strength))
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self._seed = 0

    def fit(self, train_samples, *, seed=0):
        """Keep the run seed (the train samples are not read)."""
        self._seed = int(seed)
        self.fitted_choices = {"sampler seed": "the run seed (no sample read)"}
        return self

    def restore(self, blurred, psf=None):
        image = validate_image(blurred)
        kernel, strength = estimated_motion_kernel(image)
        if kernel is None or strength < self.min_strength:
            return image.copy()
        return unsupervised_wiener(image, kernel, rng=np.random.default_rng(self._seed), edges=self.edges)


class GaussianWienerDeblur(DeblurMethod):
    """Wiener deconvolution with one Gaussian PSF whose width is chosen on the train split (blind).

    Parameters
    ----------
    sigma : float, optional
        Gaussian standard deviation (pixels); by default chosen by `fit`
        from `SIGMA_GRID` (`DEFAULT_SIGMA` until then).
    balance : float, optional
        Wiener regularisation; by default chosen by `fit` from `BALANCE_GRID`.
    edges : {"taper", "pad", "periodic"}, optional
    """

    name = "wiener-gaussian"
    track = "blind"
    summary = "Wiener with one Gaussian PSF for all images, its width and balance chosen on train"
    citation = ("N. Wiener, Extrapolation, Interpolation, and Smoothing of Stationary Time Series, MIT Press, "
                "1949; Gaussian PSF family fitted on the train split")

    def __init__(self, *, sigma=None, balance=None, edges="taper"):
        self.sigma = _check_positive("sigma", sigma)
        self.balance = _check_positive("balance", balance)
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.calibration = None
        self._sigma = DEFAULT_SIGMA if sigma is None else float(sigma)
        self._balance = DEFAULT_BALANCE if balance is None else float(balance)

    def fit(self, train_samples, *, seed=0):
        """Choose the width and balance maximising mean PSNR on the first train samples."""
        sigmas = SIGMA_GRID if self.sigma is None else (float(self.sigma),)
        balances = BALANCE_GRID if self.balance is None else (float(self.balance),)
        samples = calibration_samples(train_samples, need_psf=False)
        if not samples or len(sigmas) * len(balances) == 1:
            return self
        scores = {(sigma, balance): float(np.mean([
            psnr(wiener_deconvolution(sample.blurred, gaussian_kernel(sigma), balance=balance, edges=self.edges),
                 sample.reference) for sample in samples])) for sigma in sigmas for balance in balances}
        self._sigma, self._balance = _best(scores)
        self.calibration = {
            "num_samples": len(samples), "sigma": self._sigma, "balance": self._balance,
            "mean_psnr": {f"sigma={sigma:g},balance={balance:g}": round(score, 4)
                          for (sigma, balance), score in scores.items()},
        }
        return self

    def restore(self, blurred, psf=None):
        image = validate_image(blurred)
        kernel = gaussian_kernel(self._sigma)
        if not kernel_fits(kernel, image):
            return image.copy()
        return wiener_deconvolution(image, kernel, balance=self._balance, edges=self.edges)
