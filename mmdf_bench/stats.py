"""Bootstrap confidence intervals of a mean and of a paired difference.

Benchmark scores are means over a few dozen samples, so every number in a
leaderboard comes with an interval. Both functions return a
`ConfidenceInterval` from a bias-corrected and accelerated (BCa) bootstrap
computed by `scipy.stats.bootstrap`.

When several samples come from one specimen (patches of one slide, planes of
one stack) they are not independent; passing ``groups`` makes the bootstrap
resample whole groups (a cluster bootstrap) and estimate the pooled mean
``sum(values) / count``, which is the same number as the plain mean of the
values but with an honest, usually wider, interval.

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993, chapters 14.3 (BCa) and 15.4 (jackknife
       acceleration).
.. [2] A. C. Davison and D. V. Hinkley, "Bootstrap Methods and their
       Application", Cambridge University Press, 1997, section 3.8
       (resampling clustered data).
.. [3] https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.bootstrap.html
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mmdf_bench.errors import InvalidInputError

__all__ = ["ConfidenceInterval", "bootstrap_mean", "paired_difference"]

# Largest resample block held in memory at once (float64 elements, ~32 MB).
_MAX_BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class ConfidenceInterval:
    """An estimate with its two-sided confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate (a mean, or a mean difference).
    low, high : float
        Interval bounds; NaN when no interval can be computed (fewer than two
        resampling units).
    confidence : float
        Nominal coverage, e.g. 0.95.
    method : str
        ``"BCa"``; ``"percentile"`` when BCa was undefined for these data;
        ``"degenerate"`` when every unit has the same value (the interval is
        that value); ``"none"`` when there are fewer than two units.
    n : int
        Number of resampled units: groups when groups are given, else values.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: int

    def contains(self, value):
        """True when ``low <= value <= high``; False when the bounds are NaN."""
        return bool(self.low <= value <= self.high)


def _as_values(values, name):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if np.isinf(array).any():
        raise InvalidInputError(
            f"{name} contains {int(np.isinf(array).sum())} infinite value(s); a mean of "
            "infinite scores has no confidence interval (clip or drop them first)"
        )
    if np.isnan(array).any():
        raise InvalidInputError(
            f"{name} contains {int(np.isnan(array).sum())} NaN value(s); drop them first"
        )
    return array


def _group_sums(values, groups):
    """Per-group sums and counts; each value is its own group when groups is None."""
    if groups is None:
        return values, np.ones_like(values)
    groups = np.asarray(groups)
    if groups.shape != values.shape:
        raise InvalidInputError(
            f"groups must give one label per value: {groups.shape[0] if groups.ndim else 0} "
            f"labels for {values.shape[0]} values"
        )
    _, index = np.unique(groups, return_inverse=True)
    index = index.reshape(-1)
    sums = np.bincount(index, weights=values)
    counts = np.bincount(index).astype(np.float64)
    return sums, counts


def _pooled_mean(sums, counts, axis=-1):
    # The ratio estimator: resampling groups keeps each group's values together.
    return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)


def _check_options(confidence, n_resamples):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")


def _interval(values, groups, confidence, n_resamples, seed):
    _check_options(confidence, n_resamples)
    sums, counts = _group_sums(values, groups)
    units = sums.shape[0]
    if units == 0:
        return ConfidenceInterval(math.nan, math.nan, math.nan, confidence, "none", 0)
    estimate = float(_pooled_mean(sums, counts))
    if units == 1:
        return ConfidenceInterval(estimate, math.nan, math.nan, confidence, "none", 1)

    unit_means = sums / counts
    spread = float(np.ptp(unit_means))
    # Equal unit means make every resample equal (up to rounding): no interval to estimate.
    if spread <= 16 * np.finfo(np.float64).eps * float(np.max(np.abs(unit_means))):
        return ConfidenceInterval(estimate, estimate, estimate, confidence, "degenerate", units)

    if np.all(counts == counts[0]):
        # Equal group sizes: the pooled mean is the plain mean of the unit
        # means, and the one-sample form draws the same indices at half the cost.
        data, statistic, paired = (unit_means,), np.mean, False
    else:
        data, statistic, paired = (sums, counts), _pooled_mean, True
    options = dict(
        statistic=statistic,
        paired=paired,
        vectorized=True,
        confidence_level=confidence,
        batch=max(1, min(int(n_resamples), _MAX_BLOCK_ELEMENTS // units)),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.bootstrap(
            data,
            n_resamples=int(n_resamples),
            method="BCa",
            rng=np.random.default_rng(seed),
            **options,
        )
    low, high = result.confidence_interval
    method = "BCa"
    if math.isnan(low) or math.isnan(high):
        # BCa's acceleration or bias correction is undefined for these data
        # (scipy says so with a DegenerateDataWarning, numpy with a 0/0
        # RuntimeWarning); the percentile interval of the same bootstrap
        # distribution is still defined, so those warnings are handled here.
        result = stats.bootstrap(
            data, n_resamples=0, method="percentile",
            bootstrap_result=result, **options,
        )
        low, high = result.confidence_interval
        method = "percentile"
        handled = (stats.DegenerateDataWarning, RuntimeWarning)
        caught = [w for w in caught if not issubclass(w.category, handled)]
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return ConfidenceInterval(estimate, float(low), float(high), confidence, method, units)


def bootstrap_mean(values, *, groups=None, confidence=0.95, n_resamples=9999, seed=0):
    """Bootstrap confidence interval of the mean of `values`.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        Per-sample scores; must be finite.
    groups : array_like, shape (n,), optional
        A label per value (e.g. the specimen id). When given, whole groups are
        resampled and the estimate is the pooled mean ``sum(values) / n``.
    confidence : float, optional
        Two-sided coverage of the interval.
    n_resamples : int, optional
        Bootstrap resamples.
    seed : int, optional
        Seed of the resampling generator; the same inputs and seed give the
        same interval.

    Returns
    -------
    interval : ConfidenceInterval
        With ``n`` the number of resampled units (groups or values). No
        units gives NaN everywhere; one unit gives the estimate with NaN
        bounds; units that all have the same mean give a zero-width interval.

    Raises
    ------
    InvalidInputError
        When values are not finite or groups do not match values
        (a subclass of ValueError).

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapter 14.3.
    .. [2] A. C. Davison and D. V. Hinkley, "Bootstrap Methods and their
           Application", Cambridge University Press, 1997, section 3.8.

    Examples
    --------
    >>> interval = bootstrap_mean([0.8, 0.82, 0.79, 0.85, 0.81], n_resamples=999)
    >>> round(interval.estimate, 3), interval.method
    (0.814, 'BCa')
    """
    return _interval(_as_values(values, "values"), groups, confidence, n_resamples, seed)


def paired_difference(a, b, *, groups=None, confidence=0.95, n_resamples=9999, seed=0):
    """Bootstrap confidence interval of ``mean(a - b)`` over matched samples.

    Pairing removes the between-sample variation the two score lists share
    (some images are hard for every method), so a small but consistent
    difference is resolved where two separate intervals would overlap.

    Parameters
    ----------
    a, b : array_like of float, shape (n,)
        Scores of two methods (or two runs) on the same samples, in the same
        order; aligning them is the caller's job.
    groups : array_like, shape (n,), optional
        A label per sample pair; whole groups are resampled.
    confidence, n_resamples, seed
        As in `bootstrap_mean`.

    Returns
    -------
    interval : ConfidenceInterval
        The difference is significant at level ``1 - confidence`` when the
        interval excludes 0.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapters 14.3 and 16.
    """
    a = _as_values(a, "a")
    b = _as_values(b, "b")
    if a.shape != b.shape:
        raise InvalidInputError(
            f"paired samples must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )
    return _interval(a - b, groups, confidence, n_resamples, seed)
