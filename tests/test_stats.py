import math
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.stats import ConfidenceInterval, bootstrap_mean, paired_difference


def width(interval):
    return interval.high - interval.low


def test_interval_covers_true_mean_with_normal_theory_width():
    sigma, n = 0.5, 2000
    values = np.random.default_rng(11).normal(2.0, sigma, n)
    interval = bootstrap_mean(values, n_resamples=1999, seed=3)
    assert interval.method == "BCa" and interval.n == n
    assert interval.low < 2.0 < interval.high
    assert interval.estimate == pytest.approx(values.mean())
    expected = 2 * 1.96 * sigma / math.sqrt(n)
    assert width(interval) == pytest.approx(expected, rel=0.2)


def test_ungrouped_interval_is_scipy_bca_with_the_same_generator():
    values = np.random.default_rng(5).gamma(2.0, 1.0, 40)
    ours = bootstrap_mean(values, n_resamples=999, seed=7)
    reference = scipy_stats.bootstrap(
        (values,), np.mean, n_resamples=999, method="BCa", rng=np.random.default_rng(7)
    ).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high), rel=1e-12)
    # A skewed sample gives a skewed BCa interval, longer on the right.
    assert ours.high - ours.estimate > ours.estimate - ours.low


def test_same_seed_same_interval_other_seed_other_interval():
    values = np.random.default_rng(0).normal(size=30)
    first = bootstrap_mean(values, n_resamples=499, seed=1)
    assert bootstrap_mean(values, n_resamples=499, seed=1) == first
    assert bootstrap_mean(values, n_resamples=499, seed=2).low != first.low


@pytest.mark.parametrize("groups", [None, [0, 0, 1, 1, 1, 2]])
def test_constant_values_give_zero_width_interval(groups):
    interval = bootstrap_mean(np.full(6, 0.37), groups=groups)
    assert interval.method == "degenerate"
    assert interval.low == interval.high == interval.estimate == pytest.approx(0.37)


def test_too_few_units_give_nan_bounds():
    empty = bootstrap_mean([])
    assert empty.n == 0 and math.isnan(empty.estimate) and math.isnan(empty.low)
    single = bootstrap_mean([0.4])
    assert single.estimate == 0.4 and single.method == "none"
    assert math.isnan(single.low) and math.isnan(single.high) and not single.contains(0.4)
    one_group = bootstrap_mean([0.1, 0.5], groups=["a", "a"])
    assert one_group.n == 1 and one_group.estimate == pytest.approx(0.3)
    assert math.isnan(one_group.high)


def test_undefined_bca_falls_back_to_percentile_without_warnings():
    values = [0.0] * 9 + [1e-200]  # jackknife moments underflow: BCa acceleration is 0/0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = bootstrap_mean(values, n_resamples=999)
    assert interval.method == "percentile"
    assert interval.low <= interval.estimate <= interval.high
    assert interval.high > 0


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_values_are_rejected(bad):
    with pytest.raises(ValueError, match="infinite|NaN"):
        bootstrap_mean([0.1, bad, 0.3])


def test_groups_must_match_values():
    with pytest.raises(InvalidInputError, match="one label per value"):
        bootstrap_mean([0.1, 0.2, 0.3], groups=[1, 2])


def test_correlated_duplicates_widen_the_grouped_interval():
    base = np.random.default_rng(2).normal(0.0, 1.0, 20)
    values = np.repeat(base, 5)  # five perfectly correlated copies per specimen
    groups = np.repeat(np.arange(20), 5)
    naive = bootstrap_mean(values, n_resamples=1999)
    grouped = bootstrap_mean(values, groups=groups, n_resamples=1999)
    assert grouped.n == 20 and naive.n == 100
    assert grouped.estimate == pytest.approx(naive.estimate)
    # Copies carry no new information: about sqrt(5) wider, as wide as 20 values.
    assert width(grouped) > 1.8 * width(naive)
    assert width(grouped) == pytest.approx(width(bootstrap_mean(base, n_resamples=1999)), rel=1e-9)


def test_unequal_groups_estimate_the_pooled_mean():
    rng = np.random.default_rng(4)
    sizes = rng.integers(1, 6, 15)
    groups = np.repeat(np.arange(15), sizes)
    values = rng.normal(1.0, 0.2, groups.size) + 0.5 * rng.normal(size=15)[groups]
    interval = bootstrap_mean(values, groups=groups, n_resamples=999)
    # The pooled (ratio) mean, not the mean of group means.
    assert interval.estimate == pytest.approx(values.mean())
    assert interval.method == "BCa" and interval.n == 15
    assert interval.low < interval.estimate < interval.high


def test_large_groups_weigh_more_in_the_grouped_interval():
    rng = np.random.default_rng(6)
    sizes = np.array([10] * 10 + [1] * 10)
    groups = np.repeat(np.arange(20), sizes)
    values = np.where(sizes[groups] == 10, 1.0, 0.0) + rng.normal(0.0, 0.05, groups.size)
    interval = bootstrap_mean(values, groups=groups, n_resamples=1999)
    group_means = np.bincount(groups, weights=values) / sizes
    # Pooled mean ~ 100/110; the mean of group means (~0.5) is another estimator.
    assert interval.contains(values.mean())
    assert not interval.contains(group_means.mean())


def test_pairing_resolves_a_small_consistent_difference():
    rng = np.random.default_rng(8)
    a = rng.normal(0.0, 1.0, 30)  # large between-sample variance
    b = a + 0.1 + rng.normal(0.0, 0.01, 30)
    paired = paired_difference(a, b, n_resamples=1999)
    assert paired.estimate == pytest.approx(np.mean(a - b))
    assert paired.contains(-0.1) and not paired.contains(0.0)
    assert width(paired) < 0.02
    # The same scores without their pairing cannot tell the methods apart.
    unpaired = paired_difference(a, rng.permutation(b), n_resamples=1999)
    assert unpaired.contains(0.0)


def test_paired_difference_of_identical_scores_is_zero():
    a = np.random.default_rng(1).uniform(size=12)
    interval = paired_difference(a, a.copy())
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert interval.contains(0.0)


def test_paired_difference_needs_aligned_samples():
    with pytest.raises(InvalidInputError, match="same length"):
        paired_difference([0.1, 0.2], [0.1, 0.2, 0.3])


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean([0.1, 0.2], confidence=95)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean([0.1, 0.2], n_resamples=0)


def test_interval_is_frozen():
    interval = ConfidenceInterval(1.0, 0.5, 1.5, 0.95, "BCa", 10)
    with pytest.raises(AttributeError):
        interval.low = 0.0
