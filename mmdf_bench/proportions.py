"""Intervals for proportions of exactly 0 or 1, where the bootstrap has nothing to resample.

A method right on every sample has an accuracy of 1 on every bootstrap
resample too, so the bootstrap interval is the single point 1: it says the
method is never wrong, which a few dozen samples cannot show. For such a
*proportion* (a metric whose per-sample components are all 0 or 1: accuracy,
within-one accuracy, and the confusion counts of balanced accuracy and F1)
at exactly 0 or 1, `boundary_proportion_interval` returns the Wilson score
interval instead, computed on the *effective number of groups*.

Effective number of groups. Samples of one group (specimen) are not
independent; when a proportion is 0 or 1 the within-group correlation cannot
be estimated, so each group is taken as one observation, weighted by its
number of samples ``m_g``, and counted with Kish's effective sample size of
those weights::

    n_eff = (sum_g m_g) ** 2 / sum_g m_g ** 2

which is the number of groups when they are equally large and less when
they are not (one large group dominates). For a pooled metric the groups are
counted on the samples of its scarcest non-zero component (e.g. the
positive samples for an F1 of 1): the statistic knows no more than those.

References
----------
.. [1] E. B. Wilson, "Probable inference, the law of succession, and
       statistical inference", Journal of the American Statistical
       Association 22(158), 209-212, 1927.
.. [2] L. Kish, "Survey Sampling", Wiley, 1965, section 11.7 (effective
       sample size of a weighted or clustered sample).
.. [3] L. D. Brown, T. T. Cai and A. DasGupta, "Interval estimation for a
       binomial proportion", Statistical Science 16(2), 101-133, 2001.
"""

import math

import numpy as np
from scipy import stats

from mmdf_bench.stats import ConfidenceInterval

__all__ = ["WILSON", "boundary_proportion_interval", "effective_groups", "wilson_interval"]

#: The ``method`` of a `ConfidenceInterval` made here.
WILSON = "Wilson"


def effective_groups(groups):
    """Kish's effective number of groups ``(sum m_g)^2 / sum m_g^2`` of a label per sample.

    Parameters
    ----------
    groups : array_like, shape (n,)

    Returns
    -------
    float
        0 for no samples; the number of groups when they are equally large.

    Examples
    --------
    >>> effective_groups(["a", "a", "b", "b"])
    2.0
    >>> round(effective_groups(["a"] * 6 + ["b", "c"]), 3)  # 8**2 / (36 + 1 + 1)
    1.684
    """
    _, sizes = np.unique(np.asarray(groups), return_counts=True)
    if sizes.size == 0:
        return 0.0
    return float(sizes.sum() ** 2 / np.sum(sizes.astype(np.float64) ** 2))


def wilson_interval(proportion, n, *, confidence=0.95):
    """Wilson score interval of a binomial proportion observed on `n` (possibly fractional) trials.

    Parameters
    ----------
    proportion : float
        In [0, 1].
    n : float
        Positive.
    confidence : float

    Returns
    -------
    low, high : float

    Examples
    --------
    >>> low, high = wilson_interval(1.0, 12)
    >>> round(low, 3), high
    (0.758, 1.0)
    """
    if not 0 <= proportion <= 1 or not n > 0:
        raise ValueError(f"need a proportion in [0, 1] and n > 0, got {proportion} and {n}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    denominator = 1 + z * z / n
    centre = (proportion + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def boundary_proportion_interval(components, groups, result):
    """The Wilson interval replacing a zero-width bootstrap interval of a proportion at 0 or 1.

    Parameters
    ----------
    components : array_like, shape (n, k)
        The per-sample values (k = 1) or components the statistic was computed from.
    groups : array_like, shape (n,)
    result : ConfidenceInterval
        The bootstrap interval of those samples.

    Returns
    -------
    ConfidenceInterval or None
        None (keep `result`) unless every component is 0 or 1, the estimate
        is exactly 0 or 1 and the bootstrap interval has no width.
    """
    components = np.asarray(components, dtype=np.float64)
    if components.ndim == 1:
        components = components[:, None]
    if (result.estimate not in (0.0, 1.0) or components.shape[0] < 1
            or not np.isin(components, (0.0, 1.0)).all()):
        return None
    if result.method not in ("degenerate", "none") and result.low < result.high:
        return None
    groups = np.asarray(groups)
    supports = [column.astype(bool) for column in components.T if column.any()]
    if components.shape[1] > 1 and supports:
        chosen = min(supports, key=lambda support: effective_groups(groups[support]))
    else:
        chosen = np.ones(components.shape[0], dtype=bool)
    n_effective = effective_groups(groups[chosen])
    low, high = wilson_interval(result.estimate, n_effective, confidence=result.confidence)
    return ConfidenceInterval(result.estimate, low, high, result.confidence, WILSON, result.n,
                              result.undefined_resamples)
