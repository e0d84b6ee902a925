"""Classical deblurring methods of the deblur task, as registered methods.

Thin wrappers around `mmdf_bench.baselines.deconvolution` (non-blind: the PSF is given)
and `mmdf_bench.baselines.blind_motion` (blind: straight-line motion estimated from the
cepstrum) and `mmdf_bench.baselines.richardson_lucy`. The free parameters of each method
(Wiener balance and edge handling, Richardson-Lucy iterations and prior
weight, the blind method's balance and detection threshold) is chosen in `fit` by a grid search that maximises the
mean PSNR on the first `CALIBRATION_SAMPLES` train samples, read in one
pass; `calibration` keeps what was measured. Without `fit`, or on a dataset
with no train split, the documented defaults apply. `ENTRY_POINTS` lists the
registry names for ``pyproject.toml``.
"""

import numpy as np

from mmdf_bench.baselines.blind_motion import (DEFAULT_MAX_LENGTH, DEFAULT_MIN_LENGTH, DEFAULT_MIN_STRENGTH,
                                    blind_motion_deconvolution, estimate_linear_motion, kernel_fits, motion_kernel)
from mmdf_bench.baselines.deconvolution import DEFAULT_BALANCE, EDGE_MODES, REGULARIZERS, unsupervised_wiener, wiener_deconvolution
from mmdf_bench.baselines.richardson_lucy import DEFAULT_NUM_ITER, MAX_TV_WEIGHT, richardson_lucy, richardson_lucy_iterates
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image
from mmdf_bench.metrics.full_reference import psnr
from mmdf_bench.tasks.deblur import DeblurMethod

__all__ = [
    "BALANCE_GRID",
    "BlindMotionWienerDeblur",
    "CALIBRATION_SAMPLES",
    "ENTRY_POINTS",
    "ITERATION_TOLERANCE",
    "IdentityDeblur",
    "NUM_ITER_GRID",
    "RichardsonLucyDeblur",
    "RichardsonLucyTVDeblur",
    "STRENGTH_GRID",
    "TV_WEIGHT_GRID",
    "UnsupervisedWienerDeblur",
    "WienerDeblur",
]

#: How many train samples (the first ones) calibration reads.
CALIBRATION_SAMPLES = 20
#: Candidate Wiener balances (Laplacian regulariser), log-spaced.
BALANCE_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Candidate Richardson-Lucy iteration counts (one run per sample reads them all).
NUM_ITER_GRID = (3, 5, 7, 10, 15, 20, 30, 50, 100)
#: Richardson-Lucy calibration keeps the fewest iterations scoring within this
#: many dB of the best (the difference is below the noise of the estimate).
ITERATION_TOLERANCE = 0.05
#: Candidate weights of the total-variation prior of `RichardsonLucyTVDeblur`.
TV_WEIGHT_GRID = (0.002, 0.005, 0.01)
#: Prior weight of `RichardsonLucyTVDeblur` before `fit`.
DEFAULT_TV_WEIGHT = 0.005
#: Candidate detection thresholds of the blind method (1 = always deconvolve).
STRENGTH_GRID = (1.0, 1.2, 1.35, 1.5, 1.75, 2.0)
#: Edge handlings the Wiener calibration compares. "periodic" is left out on
#: purpose: the synthetic frames have a dark border all round (the field stop),
#: so they are nearly periodic and it would score about as well there, but on
#: a frame whose scene runs past the border it rings over the whole image.
CALIBRATED_EDGES = ("taper", "pad")

ENTRY_POINTS = {
    "identity": "mmdf_bench.baselines.deblur:IdentityDeblur",
    "wiener": "mmdf_bench.baselines.deblur:WienerDeblur",
    "richardson-lucy": "mmdf_bench.baselines.deblur:RichardsonLucyDeblur",
    "richardson-lucy-tv": "mmdf_bench.baselines.deblur:RichardsonLucyTVDeblur",
    "unsupervised-wiener": "mmdf_bench.baselines.deblur:UnsupervisedWienerDeblur",
    "blind-motion-wiener": "mmdf_bench.baselines.deblur:BlindMotionWienerDeblur",
}
"""Registry name -> ``"mmdf_bench.baselines.deblur:ClassName"``, for ``pyproject.toml``."""

_ORIEUX_2010 = ("F. Orieux, J.-F. Giovannelli and T. Rodet, Bayesian estimation of regularization and point "
                "spread function parameters for Wiener-Hunt deconvolution, JOSA A 27(7), 1593-1607, 2010")


def calibration_samples(train_samples, *, need_psf, limit=CALIBRATION_SAMPLES):
    """Read at most `limit` samples from one pass over `train_samples`.

    With `need_psf`, samples without a PSF are skipped and do not count
    towards `limit`.
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


def _check_tv_weight(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 <= value < MAX_TV_WEIGHT:
        raise InvalidInputError(f"tv_weight must be a number in [0, {MAX_TV_WEIGHT}), got {value!r}")
    return float(value)


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
    edges : {"taper", "pad", "periodic"}, optional
        Border handling; by default chosen by `fit` between "taper" and
        "pad" ("taper" until then).
    """

    name = "wiener"
    track = "non-blind"
    information = ("psf-oracle",)  # given the exact kernel that made the blur
    summary = "Wiener (regularised least-squares) deconvolution with edge handling; balance calibrated on train"
    citation = ("N. Wiener, Extrapolation, Interpolation, and Smoothing of Stationary Time Series, MIT Press, "
                "1949; R. C. Gonzalez and R. E. Woods, Digital Image Processing, 3rd ed., 2008, ch. 5")

    def __init__(self, *, balance=None, regularizer="laplacian", edges=None):
        self.balance = _check_positive("balance", balance)
        self.regularizer = _check_choice("regularizer", regularizer, REGULARIZERS, allow_none=False)
        self.edges = _check_choice("edges", edges, EDGE_MODES)
        self.calibration = None
        self._balance = DEFAULT_BALANCE if balance is None else balance
        self._edges = "taper" if edges is None else edges

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
    tv_weight : float or None, optional
        Weight of the total-variation prior (see `richardson_lucy`); 0
        (default) is plain Richardson-Lucy, None lets `fit` choose it from
        the class's `tv_weight_grid`.
    edges : {"taper", "pad", "periodic"}, optional
    """

    name = "richardson-lucy"
    track = "non-blind"
    information = ("psf-oracle",)  # given the exact kernel that made the blur
    summary = "Richardson-Lucy deconvolution (FFT, edge taper); iteration count calibrated on train"
    citation = ("W. H. Richardson, JOSA 62(1), 55-59, 1972; L. B. Lucy, The Astronomical Journal 79(6), "
                "745-754, 1974")
    #: Candidate `tv_weight` values of `fit` when `tv_weight` is None, and the weight used before `fit`.
    tv_weight_grid = (0.0,)
    default_tv_weight = 0.0

    def __init__(self, *, num_iter=None, tv_weight=0.0, edges="taper"):
        self.num_iter = _check_positive("num_iter", num_iter, integer=True)
        self.tv_weight = _check_tv_weight(tv_weight)
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.calibration = None
        self._num_iter = DEFAULT_NUM_ITER if num_iter is None else int(num_iter)
        self._tv_weight = self.default_tv_weight if tv_weight is None else self.tv_weight

    def fit(self, train_samples, *, seed=0):
        """Choose the iteration count (and prior weight) maximising mean PSNR on the first train samples.

        Each sample is deconvolved once per prior weight, up to the largest
        count of `NUM_ITER_GRID`; every smaller count is read on the way.
        The fewest iterations scoring within `ITERATION_TOLERANCE` of the
        best mean PSNR are kept.
        """
        counts = NUM_ITER_GRID if self.num_iter is None else (self.num_iter,)
        weights = self.tv_weight_grid if self.tv_weight is None else (self.tv_weight,)
        if len(counts) * len(weights) == 1:
            return self
        samples = calibration_samples(train_samples, need_psf=True)
        if not samples:
            return self
        totals = dict.fromkeys(((weight, count) for weight in weights for count in counts), 0.0)
        for sample in samples:
            for weight in weights:
                for count, restored in richardson_lucy_iterates(sample.blurred, sample.psf, counts,
                                                                tv_weight=weight, edges=self.edges):
                    totals[weight, count] += psnr(restored, sample.reference)
        scores = {candidate: total / len(samples) for candidate, total in totals.items()}
        # Each iteration costs time; a longer run must earn more than the tolerance.
        best = max(scores.values())
        self._tv_weight, self._num_iter = min((candidate for candidate, score in scores.items()
                                               if score >= best - ITERATION_TOLERANCE),
                                              key=lambda candidate: (candidate[1], -scores[candidate]))
        self.calibration = {
            "num_samples": len(samples), "num_iter": self._num_iter, "tv_weight": self._tv_weight,
            "mean_psnr": {f"tv_weight={weight:g},num_iter={count}": round(float(score), 4)
                          for (weight, count), score in scores.items()},
        }
        return self

    def restore(self, blurred, psf=None):
        return richardson_lucy(blurred, _require_psf(self, psf), num_iter=self._num_iter,
                               tv_weight=self._tv_weight, edges=self.edges)


class RichardsonLucyTVDeblur(RichardsonLucyDeblur):
    """Richardson-Lucy with a total-variation prior (Dey et al.), weight and count calibrated on train.

    Same options as `RichardsonLucyDeblur`, except that `tv_weight`
    defaults to None: `fit` chooses it from `TV_WEIGHT_GRID` together with
    the iteration count.
    """

    name = "richardson-lucy-tv"
    summary = "Richardson-Lucy with a total-variation prior (edge taper); weight and iterations calibrated on train"
    citation = ("N. Dey et al., Richardson-Lucy algorithm with total variation regularization for 3D confocal "
                "microscope deconvolution, Microscopy Research and Technique 69(4), 260-266, 2006")
    tv_weight_grid = TV_WEIGHT_GRID
    default_tv_weight = DEFAULT_TV_WEIGHT

    def __init__(self, *, num_iter=None, tv_weight=None, edges="taper"):
        super().__init__(num_iter=num_iter, tv_weight=tv_weight, edges=edges)


class UnsupervisedWienerDeblur(DeblurMethod):
    """Unsupervised Wiener-Hunt deconvolution with the true PSF (`unsupervised_wiener`).

    Nothing is tuned: the Gibbs sampler estimates the noise and prior
    levels of every image. `fit` only records the run seed; each image is
    restored with a generator seeded by it, so results do not depend on
    the order in which images come.

    Parameters
    ----------
    edges : {"taper", "pad", "periodic"}, optional
    estimate : {"conditional", "samples"}, optional
        See `unsupervised_wiener`.
    """

    name = "unsupervised-wiener"
    track = "non-blind"
    information = ("psf-oracle",)  # given the exact kernel that made the blur
    summary = "Wiener-Hunt deconvolution with noise and prior levels sampled by Gibbs (no tuning), seeded"
    citation = _ORIEUX_2010

    def __init__(self, *, edges="taper", estimate="conditional"):
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.estimate = _check_choice("estimate", estimate, ("conditional", "samples"), allow_none=False)
        self._seed = 0

    def fit(self, train_samples, *, seed=0):
        """Keep the run seed (the train samples are not read)."""
        self._seed = int(seed)
        self.fitted_choices = {"sampler seed": "the run seed (no sample read)"}
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
    edges : {"taper", "pad", "periodic"}, optional
    """

    name = "blind-motion-wiener"
    track = "blind"
    summary = "cepstrum estimate of a linear motion kernel (length, angle), then Wiener; calibrated on train"
    citation = ("R. Rom, On the cepstrum of two-dimensional functions, IEEE Trans. Inf. Theory 21(2), 214-217, "
                "1975; M. Cannon, Blind deconvolution of spatially invariant image blurs with phase, IEEE "
                "Trans. ASSP 24(1), 58-63, 1976")

    def __init__(self, *, balance=None, min_strength=None, max_length=DEFAULT_MAX_LENGTH, edges="taper"):
        self.balance = _check_positive("balance", balance)
        self.min_strength = _check_positive("min_strength", min_strength)
        self.max_length = _check_positive("max_length", max_length)
        self.edges = _check_choice("edges", edges, EDGE_MODES, allow_none=False)
        self.calibration = None
        self._balance = DEFAULT_BALANCE if balance is None else balance
        self._min_strength = DEFAULT_MIN_STRENGTH if min_strength is None else min_strength

    def _max_length(self, image):
        # The cepstral search must stay inside half the smaller side.
        longest = min(float(self.max_length), min(image.shape[:2]) / 2 - 1)
        if longest <= DEFAULT_MIN_LENGTH:
            raise InvalidInputError(f"{self.name}: an image of shape {image.shape} is too small to search for a "
                                    f"motion longer than {DEFAULT_MIN_LENGTH:g} pixels")
        return longest

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
            fits = kernel_fits(kernel, image)
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
