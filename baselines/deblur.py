"""Classical deblurring methods of the deblur task, as registered methods.

Thin wrappers around `baselines.deconvolution` (non-blind: the PSF is given)
and `baselines.blind_motion` (blind: straight-line motion estimated from the
cepstrum). The free parameter of each method (Wiener balance and edge
handling, Richardson-Lucy iterations, the blind method's balance and
detection threshold) is chosen in `fit` by a grid search that maximises the
mean PSNR on the first `CALIBRATION_SAMPLES` train samples, read in one
pass; `calibration` keeps what was measured. Without `fit`, or on a dataset
with no train split, the documented defaults apply. `ENTRY_POINTS` lists the
registry names for ``pyproject.toml``.
"""

import numpy as np

from baselines.blind_motion import (DEFAULT_MAX_LENGTH, DEFAULT_MIN_STRENGTH, blind_motion_deconvolution,
                                    estimate_linear_motion, motion_kernel)
from baselines.deconvolution import (DEFAULT_BALANCE, DEFAULT_NUM_ITER, EDGE_MODES, REGULARIZERS,
                                     richardson_lucy, richardson_lucy_iterates, unsupervised_wiener,
                                     wiener_deconvolution)
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image
from mmdf_bench.metrics.full_reference import psnr
from mmdf_bench.tasks.deblur import DeblurMethod

__all__ = [
    "BALANCE_GRID",
    "BlindMotionWienerDeblur",
    "CALIBRATION_SAMPLES",
    "ENTRY_POINTS",
    "IdentityDeblur",
    "NUM_ITER_GRID",
    "RichardsonLucyDeblur",
    "STRENGTH_GRID",
    "UnsupervisedWienerDeblur",
    "WienerDeblur",
]

#: How many train samples (the first ones) calibration reads.
CALIBRATION_SAMPLES = 20
#: Candidate Wiener balances (Laplacian regulariser), log-spaced.
BALANCE_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Candidate Richardson-Lucy iteration counts.
NUM_ITER_GRID = (5, 10, 20, 30, 50)
#: Candidate detection thresholds of the blind method (1 = always deconvolve).
STRENGTH_GRID = (1.0, 1.2, 1.35, 1.5, 1.75, 2.0)
#: Edge handlings the Wiener calibration compares ("periodic" is never better).
CALIBRATED_EDGES = ("pad", "taper")

ENTRY_POINTS = {
    "identity": "baselines.deblur:IdentityDeblur",
    "wiener": "baselines.deblur:WienerDeblur",
    "richardson-lucy": "baselines.deblur:RichardsonLucyDeblur",
    "unsupervised-wiener": "baselines.deblur:UnsupervisedWienerDeblur",
    "blind-motion-wiener": "baselines.deblur:BlindMotionWienerDeblur",
}
"""Registry name -> ``"baselines.deblur:ClassName"``, for ``pyproject.toml``."""

_ORIEUX_2010 = ("F. Orieux, J.-F. Giovannelli and T. Rodet, Bayesian estimation of regularization and point "
                "spread function parameters for Wiener-Hunt deconvolution, JOSA A 27(7), 1593-1607, 2010")


def calibration_samples(train_samples, *, need_psf, limit=CALIBRATION_SAMPLES):
    """Read at most `limit` samples from one pass over `train_samples`.

    With `need_psf`, samples without a PSF are skipped (they still count
    against nothing: the pass stops once `limit` usable samples are read).
    """
    chosen = []
    if limit <= 0:
        return chosen
    for sample in train_samples:
        if need_psf and sample.psf is None:
            continue
        chosen.append(sample)
        if len(chosen) >= limit:
            break
    return chosen


def _best(mean_psnr):
    """The candidate with the highest mean PSNR (the first one on ties)."""
    return max(mean_psnr, key=lambda candidate: (mean_psnr[candidate], -list(mean_psnr).index(candidate)))


def _check_choice(name, value, choices, *, allow_none=True):
    if (value is None and allow_none) or value in choices:
        return value
    raise InvalidInputError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def _check_positive(name, value, *, integer=False):
    if value is None:
        return None
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise InvalidInputError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")
    return value


def _require_psf(method, psf):
    if psf is None:
        raise InvalidInputError(f"{method.name} is a non-blind method and needs the PSF")
    return psf


class IdentityDeblur(DeblurMethod):
    """Return the blurred input unchanged: the no-restoration baseline every method must beat."""

    name = "identity"
    track = "blind"
    summary = "the blurred input itself (no restoration)"
    citation = "baseline: the degraded input, as scored in deblurring benchmarks"

    def restore(self, blurred, psf=None):
        return validate_image(blurred).copy()


class WienerDeblur(DeblurMethod):
    """Wiener deconvolution with the true PSF (`wiener_deconvolution`).

    Parameters
    ----------
    balance : float, optional
        Regularisation weight; by default chosen from `BALANCE_GRID` by
        `fit` (`DEFAULT_BALANCE` until then).
    regularizer : {"laplacian", "identity"}, optional
    edges : {"pad", "taper", "periodic"}, optional
        Border handling; by default chosen by `fit` between "pad" and
        "taper" ("pad" until then).
    """

    name = "wiener"
    track = "non-blind"
    summary = "Wiener (regularised least-squares) deconvolution with edge handling; balance calibrated on train"
    citation = ("N. Wiener, Extrapolation, Interpolation, and Smoothing of Stationary Time Series, MIT Press, "
                "1949; R. C. Gonzalez and R. E. Woods, Digital Image Processing, 3rd ed., 2008, ch. 5")

    def __init__(self, *, balance=None, regularizer="laplacian", edges=None):
        self.balance = _check_positive("balance", balance)
        self.regularizer = _check_choice("regularizer", regularizer, REGULARIZERS, allow_none=False)
        self.edges = _check_choice("edges", edges, EDGE_MODES)
        self.calibration = None
        self._balance = DEFAULT_BALANCE if balance is None else balance
        self._edges = "pad" if edges is None else edges

    def fit(self, train_samples, *, seed=0):
        """Choose the balance and edge handling maximising mean PSNR on the first train samples."""
        balances = BALANCE_GRID if self.balance is None else (self.balance,)
        edges = CALIBRATED_EDGES if self.edges is None else (self.edges,)
        if len(balances) * len(edges) == 1:
            return self
        samples = calibration_samples(train_samples, need_psf=True)
        if not samples:
            return self
        scores = {(balance, edge): np.mean([
            psnr(wiener_deconvolution(sample.blurred, sample.psf, balance=balance,
                                      regularizer=self.regularizer, edges=edge), sample.reference)
            for sample in samples]) for balance in balances for edge in edges}
        self._balance, self._edges = _best(scores)
        self.calibration = {
            "num_samples": len(samples), "balance": self._balance, "edges": self._edges,
            "mean_psnr": {f"balance={balance:g},edges={edge}": round(float(score), 4)
                          for (balance, edge), score in scores.items()},
        }
        return self

    def restore(self, blurred, psf=None):
        return wiener_deconvolution(blurred, _require_psf(self, psf), balance=self._balance,
                                    regularizer=self.regularizer, edges=self._edges)


class RichardsonLucyDeblur(DeblurMethod):
    """Richardson-Lucy deconvolution with the true PSF (`richardson_lucy`).

    Parameters
    ----------
    num_iter : int, optional
        By default chosen from `NUM_ITER_GRID` by `fit` (`DEFAULT_NUM_ITER`
        until then).
    edges : {"pad", "taper", "periodic"}, optional
    """

    name = "richardson-lucy"
    track = "non-blind"
    summary = "Richardson-Lucy deconvolution (FFT, edge handling); iteration count calibrated on train"
    citation = ("W. H. Richardson, JOSA 62(1), 55-59, 1972; L. B. Lucy, The Astronomical Journal 79(6), "
                "745-754, 1974")

    def __init__(self, *, num_iter=None, edges="pad"):
        self.num_iter = _check_positive("num_iter", num_iter, integer=True)
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.calibration = None
        self._num_iter = DEFAULT_NUM_ITER if num_iter is None else int(num_iter)

    def fit(self, train_samples, *, seed=0):
        """Choose the iteration count maximising mean PSNR on the first train samples (one run each)."""
        if self.num_iter is not None:
            return self
        samples = calibration_samples(train_samples, need_psf=True)
        if not samples:
            return self
        totals = dict.fromkeys(NUM_ITER_GRID, 0.0)
        for sample in samples:
            for count, restored in richardson_lucy_iterates(sample.blurred, sample.psf, NUM_ITER_GRID,
                                                            edges=self.edges):
                totals[count] += psnr(restored, sample.reference)
        scores = {count: total / len(samples) for count, total in totals.items()}
        self._num_iter = int(_best(scores))
        self.calibration = {"num_samples": len(samples), "num_iter": self._num_iter,
                            "mean_psnr": {str(count): round(float(score), 4) for count, score in scores.items()}}
        return self

    def restore(self, blurred, psf=None):
        return richardson_lucy(blurred, _require_psf(self, psf), num_iter=self._num_iter, edges=self.edges)


class UnsupervisedWienerDeblur(DeblurMethod):
    """Unsupervised Wiener-Hunt deconvolution with the true PSF (`unsupervised_wiener`).

    Nothing is tuned: the Gibbs sampler estimates the noise and prior
    levels of every image. `fit` only records the run seed; each image is
    restored with a generator seeded by it, so results do not depend on
    the order in which images come.

    Parameters
    ----------
    edges : {"pad", "taper", "periodic"}, optional
    estimate : {"conditional", "samples"}, optional
        See `unsupervised_wiener`.
    """

    name = "unsupervised-wiener"
    track = "non-blind"
    summary = "Wiener-Hunt deconvolution with noise and prior levels sampled by Gibbs (no tuning), seeded"
    citation = _ORIEUX_2010

    def __init__(self, *, edges="pad", estimate="conditional"):
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.estimate = _check_choice("estimate", estimate, ("conditional", "samples"), allow_none=False)
        self._seed = 0

    def fit(self, train_samples, *, seed=0):
        """Keep the run seed (the train samples are not read)."""
        self._seed = int(seed)
        return self

    def restore(self, blurred, psf=None):
        return unsupervised_wiener(blurred, _require_psf(self, psf), rng=np.random.default_rng(self._seed),
                                   edges=self.edges, estimate=self.estimate)


class BlindMotionWienerDeblur(DeblurMethod):
    """Blind: estimate a straight-line motion from the cepstrum, then Wiener (`blind_motion_deconvolution`).

    Images whose cepstrum shows no clear motion direction (detection
    strength below `min_strength`) are returned unchanged.

    Parameters
    ----------
    balance : float, optional
        Wiener regularisation; by default chosen from `BALANCE_GRID` by
        `fit` (`DEFAULT_BALANCE` until then).
    min_strength : float, optional
        Detection threshold; by default chosen from `STRENGTH_GRID` by `fit`
        (`DEFAULT_MIN_STRENGTH` until then).
    max_length : float, optional
        Longest motion searched, in pixels (capped below half the image side).
    edges : {"pad", "taper", "periodic"}, optional
    """

    name = "blind-motion-wiener"
    track = "blind"
    summary = "cepstrum estimate of a linear motion kernel (length, angle), then Wiener; calibrated on train"
    citation = ("R. Rom, On the cepstrum of two-dimensional functions, IEEE Trans. Inf. Theory 21(2), 214-217, "
                "1975; M. Cannon, Blind deconvolution of spatially invariant image blurs with phase, IEEE "
                "Trans. ASSP 24(1), 58-63, 1976")

    def __init__(self, *, balance=None, min_strength=None, max_length=DEFAULT_MAX_LENGTH, edges="pad"):
        self.balance = _check_positive("balance", balance)
        self.min_strength = _check_positive("min_strength", min_strength)
        self.max_length = _check_positive("max_length", max_length)
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.calibration = None
        self._balance = DEFAULT_BALANCE if balance is None else balance
        self._min_strength = DEFAULT_MIN_STRENGTH if min_strength is None else min_strength

    def _max_length(self, image):
        # The cepstral search must stay inside half the smaller side.
        return min(float(self.max_length), min(image.shape[:2]) / 2 - 1)

    def fit(self, train_samples, *, seed=0):
        """Choose balance and threshold maximising mean PSNR on the first train samples.

        The motion is estimated once per sample; a sample scores its
        restored PSNR when its detection strength reaches the threshold and
        its blurred PSNR otherwise.
        """
        balances = BALANCE_GRID if self.balance is None else (self.balance,)
        thresholds = STRENGTH_GRID if self.min_strength is None else (self.min_strength,)
        if len(balances) * len(thresholds) == 1:
            return self
        samples = calibration_samples(train_samples, need_psf=False)
        if not samples:
            return self
        strengths, unchanged, restored = [], [], {balance: [] for balance in balances}
        for sample in samples:
            image = validate_image(sample.blurred)
            motion = estimate_linear_motion(image, max_length=self._max_length(image))
            strengths.append(motion.strength)
            unchanged.append(psnr(image, sample.reference))
            kernel = motion_kernel(*motion)
            fits = kernel.shape[0] <= image.shape[0] and kernel.shape[1] <= image.shape[1]
            for balance in balances:
                restored[balance].append(psnr(wiener_deconvolution(image, kernel, balance=balance, edges=self.edges),
                                              sample.reference) if fits else unchanged[-1])
        strengths, unchanged = np.array(strengths), np.array(unchanged)
        scores = {(balance, threshold): float(np.mean(np.where(strengths >= threshold, restored[balance], unchanged)))
                  for balance in balances for threshold in thresholds}
        self._balance, self._min_strength = _best(scores)
        self.calibration = {
            "num_samples": len(samples), "balance": self._balance, "min_strength": self._min_strength,
            "mean_psnr_blurred": round(float(unchanged.mean()), 4),
            "mean_psnr": {f"balance={balance:g},min_strength={threshold:g}": round(score, 4)
                          for (balance, threshold), score in scores.items()},
        }
        return self

    def restore(self, blurred, psf=None):
        image = validate_image(blurred)
        restored, _ = blind_motion_deconvolution(image, balance=self._balance, max_length=self._max_length(image),
                                                 min_strength=self._min_strength, edges=self.edges)
        return restored
