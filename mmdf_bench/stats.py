"""Bootstrap confidence intervals of means, of pooled statistics, and of paired differences.

Benchmark scores are summaries over a few dozen samples, so every number in a
leaderboard comes with an interval. All functions return a
`ConfidenceInterval` from a bias-corrected and accelerated (BCa) bootstrap
computed by `scipy.stats.bootstrap`.

Most scores are means of per-sample values (`bootstrap_mean`,
`paired_difference`). Others, such as balanced accuracy or F1, are functions
of *pooled* per-sample components (confusion counts): `bootstrap_statistic`
and `paired_statistic_difference` resample the samples, sum their components
and evaluate the statistic on the sums. A mean is the one-component case.

When several samples come from one specimen (patches of one slide, planes of
one stack) they are not independent; passing ``groups`` makes the bootstrap
resample whole groups (a cluster bootstrap): each group contributes its
component sums and its size, so the estimate is the same pooled number as
without groups but its interval is honest, usually wider.

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
from types import SimpleNamespace

import numpy as np
from scipy import stats

from mmdf_bench.errors import InvalidInputError

__all__ = ["ConfidenceInterval", "bootstrap_mean", "bootstrap_statistic", "paired_difference",
           "paired_statistic_difference"]

# Resampled unit indices per block (int64 elements, ~32 MB; a few such arrays at a time).
_MAX_BLOCK_ELEMENTS = 4_000_000
_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class ConfidenceInterval:
    """An estimate with its two-sided confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate (a mean, a pooled statistic, or a difference);
        NaN or infinite when the statistic is undefined on these data.
    low, high : float
        Interval bounds; NaN when no interval can be computed.
    confidence : float
        Nominal coverage, e.g. 0.95.
    method : str
        ``"BCa"``; ``"percentile"`` when BCa was undefined for these data;
        ``"degenerate"`` when every resample gives the same value (the
        interval is that value); ``"none"`` when there are fewer than two
        units; ``"undefined"`` when the statistic itself is not finite on the
        data (e.g. balanced accuracy of a single-class set).
    n : int
        Number of resampled units: groups when groups are given, else samples.
    undefined_resamples : int
        Resamples on which the statistic was not finite (e.g. no positive
        sample drawn for F1); they are left out of the bootstrap distribution,
        so the interval is conditional on the statistic being defined.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: int
    undefined_resamples: int = 0

    def contains(self, value):
        """True when ``low <= value <= high``; False when the bounds are NaN."""
        return bool(self.low <= value <= self.high)


def _check_finite(array, name):
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


def _as_values(values, name):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    return _check_finite(array, name)


def _as_components(components, name):
    array = np.asarray(components, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InvalidInputError(
            f"{name} must be an (n samples, k components) array, got shape {array.shape}"
        )
    return _check_finite(array, name)


def _group_sums(components, groups):
    """Per-group component sums (units, k) and sizes (units,); ungrouped: one unit per row."""
    if groups is None:
        return components, np.ones(components.shape[0])
    groups = np.asarray(groups)
    if groups.shape != components.shape[:1]:
        raise InvalidInputError(
            f"groups must give one label per value: {groups.shape[0] if groups.ndim else 0} "
            f"labels for {components.shape[0]} values"
        )
    _, index = np.unique(groups, return_inverse=True)
    index = index.reshape(-1)
    sums = np.stack([np.bincount(index, weights=column) for column in components.T], axis=1)
    counts = np.bincount(index).astype(np.float64)
    return sums, counts


def _mean_statistic(sums, counts):
    # The ratio estimator: resampling groups keeps each group's values together.
    return sums[..., 0] / counts


def _check_options(confidence, n_resamples):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")


def _evaluate(statistic, sums, counts):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(statistic(sums, counts), dtype=np.float64)


def _on_units(statistic, sums, counts):
    """The statistic as scipy wants it, evaluated on resampled unit *indices*.

    scipy resamples the index vector ``0..units-1``; a resample's column sums
    are its index multiplicities times the per-unit sums, one matrix product
    instead of gathering and summing every component (several times faster).
    """
    table = np.column_stack([sums, counts])
    units, k = sums.shape

    def on_units(index, axis=-1):
        index = np.asarray(index, dtype=np.intp)
        lead, width = index.shape[:-1], index.shape[-1]
        rows = int(np.prod(lead, dtype=np.int64))
        offsets = np.arange(rows, dtype=np.intp)[:, None] * units
        multiplicity = np.bincount((index.reshape(rows, width) + offsets).ravel(),
                                   minlength=rows * units).reshape(rows, units)
        totals = (multiplicity @ table).reshape(*lead, k + 1)
        return _evaluate(statistic, totals[..., :k], totals[..., k])

    return on_units


def _constant(values):
    """True when the values differ only by rounding."""
    values = np.asarray(values, dtype=np.float64)
    return bool(np.ptp(values) <= 16 * _EPS * np.max(np.abs(values)))


def _interval(components, groups, statistic, confidence, n_resamples, seed):
    _check_options(confidence, n_resamples)
    sums, counts = _group_sums(components, groups)
    units = sums.shape[0]
    if units == 0:
        return ConfidenceInterval(math.nan, math.nan, math.nan, confidence, "none", 0)
    estimate = float(_evaluate(statistic, sums.sum(axis=0), counts.sum()))
    if not math.isfinite(estimate):
        return ConfidenceInterval(estimate, math.nan, math.nan, confidence, "undefined", units)
    if units == 1:
        return ConfidenceInterval(estimate, math.nan, math.nan, confidence, "none", 1)

    # Units with equal component means make every resample's statistic equal
    # (it depends on the means only): no interval to estimate.
    unit_means = sums / counts[:, None]
    if all(_constant(column) for column in unit_means.T):
        return ConfidenceInterval(estimate, estimate, estimate, confidence, "degenerate", units)

    # Resampling the unit indices draws the same units as resampling the
    # values themselves (scipy makes the same generator calls), so a mean
    # gets the interval scipy would give for the values.
    data = (np.arange(units),)
    options = dict(
        statistic=_on_units(statistic, sums, counts),
        vectorized=True,
        axis=-1,
        confidence_level=confidence,
        batch=max(1, min(int(n_resamples), _MAX_BLOCK_ELEMENTS // units)),
    )
    undefined = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.bootstrap(data, n_resamples=int(n_resamples), method="BCa",
                                 rng=np.random.default_rng(seed), **options)
        distribution = result.bootstrap_distribution
        finite = np.isfinite(distribution)
        if not finite.all():
            # Resamples where the statistic is undefined (e.g. F1 of a
            # resample without positives) say nothing about its spread: drop
            # them, with the warnings their NaNs caused, and redo the interval.
            undefined = int((~finite).sum())
            del caught[:]
            distribution = distribution[finite]
            if distribution.size < 2:
                return ConfidenceInterval(estimate, math.nan, math.nan, confidence, "none",
                                          units, undefined)
            result = stats.bootstrap(
                data, n_resamples=0, method="BCa",
                bootstrap_result=SimpleNamespace(bootstrap_distribution=distribution), **options,
            )
        if _constant(distribution):
            return ConfidenceInterval(estimate, estimate, estimate, confidence, "degenerate",
                                      units, undefined)
        low, high = result.confidence_interval
        method = "BCa"
        if math.isnan(low) or math.isnan(high):
            # BCa's acceleration or bias correction is undefined for these data
            # (scipy says so with a DegenerateDataWarning, numpy with a 0/0
            # RuntimeWarning); the percentile interval of the same bootstrap
            # distribution is still defined, so those warnings are handled here.
            result = stats.bootstrap(
                data, n_resamples=0, method="percentile",
                bootstrap_result=SimpleNamespace(bootstrap_distribution=distribution), **options,
            )
            low, high = result.confidence_interval
            method = "percentile"
            handled = (stats.DegenerateDataWarning, RuntimeWarning)
            caught = [w for w in caught if not issubclass(w.category, handled)]
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return ConfidenceInterval(estimate, float(low), float(high), confidence, method, units,
                              undefined)


def bootstrap_statistic(components, *, statistic, groups=None, confidence=0.95,
                        n_resamples=9999, seed=0):
    """Bootstrap confidence interval of a statistic of pooled per-sample components.

    Parameters
    ----------
    components : array_like of float, shape (n, k)
        Per-sample component values (e.g. a sample's true-positive,
        false-positive and false-negative indicators); must be finite. A 1-D
        array is one component.
    statistic : callable
        ``statistic(sums, counts) -> value`` with `sums` of shape ``(..., k)``
        (the components summed over a set of samples) and `counts` of shape
        ``(...)`` (the number of samples in each set); returns shape ``(...)``.
        It must be vectorised, return NaN where undefined, and depend on the
        component means only (``statistic(c * sums, c * counts)`` equal to
        ``statistic(sums, counts)``), as a mean, a rate or F1 do.
    groups : array_like, shape (n,), optional
        A label per sample (e.g. the specimen id). When given, whole groups are
        resampled: each carries its component sums and its size.
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
        ``estimate`` is the statistic of the column sums over all samples.
        No units gives NaN everywhere; one unit, the estimate with NaN bounds;
        a non-finite estimate, method ``"undefined"``; a statistic that is the
        same on every resample, a zero-width interval (``"degenerate"``).
        Resamples with a non-finite statistic are dropped and counted in
        ``undefined_resamples``.

    Raises
    ------
    InvalidInputError
        When components are not finite or groups do not match them
        (a subclass of ValueError).

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapters 14.3 and 15.4.
    .. [2] A. C. Davison and D. V. Hinkley, "Bootstrap Methods and their
           Application", Cambridge University Press, 1997, section 3.8.

    Examples
    --------
    >>> rate = lambda sums, counts: sums[..., 0] / (sums[..., 0] + sums[..., 1])
    >>> hits = [[1, 0]] * 8 + [[0, 1]] * 2
    >>> bootstrap_statistic(hits, statistic=rate, n_resamples=999).estimate
    0.8
    """
    return _interval(_as_components(components, "components"), groups, statistic,
                     confidence, n_resamples, seed)


def paired_statistic_difference(components_a, components_b, *, statistic, groups=None,
                                confidence=0.95, n_resamples=9999, seed=0):
    """Bootstrap confidence interval of ``statistic(A) - statistic(B)`` on matched samples.

    Row i of both arrays describes the same sample scored by two methods (or
    two runs); each resample draws the same samples (groups) for both, so the
    variation the two share (hard samples) cancels.

    Parameters
    ----------
    components_a, components_b : array_like of float, shape (n, k)
        Per-sample components of the two methods, rows aligned by the caller.
    statistic : callable
        As in `bootstrap_statistic`, applied to each method's sums.
    groups : array_like, shape (n,), optional
        A label per sample pair; whole groups are resampled.
    confidence, n_resamples, seed
        As in `bootstrap_statistic`.

    Returns
    -------
    interval : ConfidenceInterval
        The difference is significant at level ``1 - confidence`` when the
        interval excludes 0; method ``"undefined"`` when either statistic is
        not finite on these samples.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapters 14.3 and 16.
    """
    a = _as_components(components_a, "components_a")
    b = _as_components(components_b, "components_b")
    if a.shape != b.shape:
        raise InvalidInputError(
            f"paired samples must have the same length and components, got shapes "
            f"{a.shape} and {b.shape}"
        )
    k = a.shape[1]

    def difference(sums, counts):
        return statistic(sums[..., :k], counts) - statistic(sums[..., k:], counts)

    return _interval(np.hstack([a, b]), groups, difference, confidence, n_resamples, seed)


def bootstrap_mean(values, *, groups=None, confidence=0.95, n_resamples=9999, seed=0):
    """Bootstrap confidence interval of the mean of `values`.

    The one-component case of `bootstrap_statistic`, with the statistic
    ``sum / count``.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        Per-sample scores; must be finite.
    groups : array_like, shape (n,), optional
        A label per value (e.g. the specimen id). When given, whole groups are
        resampled and the estimate is the pooled mean ``sum(values) / n``.
    confidence, n_resamples, seed
        As in `bootstrap_statistic`.

    Returns
    -------
    interval : ConfidenceInterval
        As in `bootstrap_statistic`; units that all have the same mean give a
        zero-width interval.

    Raises
    ------
    InvalidInputError
        When values are not finite or groups do not match values.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapter 14.3.

    Examples
    --------
    >>> interval = bootstrap_mean([0.8, 0.82, 0.79, 0.85, 0.81], n_resamples=999)
    >>> round(interval.estimate, 3), interval.method
    (0.814, 'BCa')
    """
    values = _as_values(values, "values")
    return _interval(values[:, None], groups, _mean_statistic, confidence, n_resamples, seed)


def paired_difference(a, b, *, groups=None, confidence=0.95, n_resamples=9999, seed=0):
    """Bootstrap confidence interval of ``mean(a - b)`` over matched samples.

    Pairing removes the between-sample variation the two score lists share
    (some images are hard for every method), so a small but consistent
    difference is resolved where two separate intervals would overlap. It is
    the mean case of `paired_statistic_difference`: a difference of pooled
    means is the pooled mean of the differences, bootstrapped as one component.

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
    return _interval((a - b)[:, None], groups, _mean_statistic, confidence, n_resamples, seed)
