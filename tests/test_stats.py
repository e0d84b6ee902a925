import math
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import f1_score

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.stats import (ConfidenceInterval, bootstrap_mean, bootstrap_statistic,
                              paired_difference, paired_statistic_difference)


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


def mean_statistic(sums, counts):
    return sums[..., 0] / counts


def f1_statistic(sums, counts):
    # Components tp, fp, fn; NaN (0/0) when a resample holds no positive at all.
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    return 2 * tp / (2 * tp + fp + fn)


def f1_components(labels, predicted):
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    return np.stack([labels & predicted, (1 - labels) & predicted, labels & (1 - predicted)],
                    axis=1).astype(float)


def classifier(seed, n=80, error_rate=0.15):
    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=n) < 0.5).astype(int)
    return labels, np.where(rng.uniform(size=n) < error_rate, 1 - labels, labels)


@pytest.mark.parametrize("groups", [None, np.repeat(np.arange(10), 4), np.arange(40) % 7])
def test_mean_statistic_is_bootstrap_mean(groups):
    values = np.random.default_rng(9).gamma(2.0, 1.0, 40)
    general = bootstrap_statistic(values[:, None], statistic=mean_statistic, groups=groups,
                                  n_resamples=999, seed=4)
    mean = bootstrap_mean(values, groups=groups, n_resamples=999, seed=4)
    assert general.method == mean.method == "BCa" and general.n == mean.n
    assert (general.estimate, general.low, general.high) == pytest.approx(
        (mean.estimate, mean.low, mean.high), rel=1e-12)


def test_f1_interval_contains_sklearn_f1():
    labels, predicted = classifier(1)
    interval = bootstrap_statistic(f1_components(labels, predicted), statistic=f1_statistic,
                                   n_resamples=1999)
    reference = f1_score(labels, predicted)
    assert interval.estimate == pytest.approx(reference)
    assert interval.method == "BCa" and interval.low < reference < interval.high
    # Roughly the binomial width of a proportion near 0.85 on ~40 positives.
    assert 0.08 < width(interval) < 0.35


def test_perfect_classifier_gives_a_degenerate_f1_interval():
    labels = np.array([0, 1] * 3)  # few samples: some resamples draw no positive (F1 = 0/0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = bootstrap_statistic(f1_components(labels, labels), statistic=f1_statistic,
                                       n_resamples=999)
    assert interval.method == "degenerate"
    assert interval.low == interval.high == interval.estimate == 1.0
    # (1/2)^6 of the resamples hold no positive; they are dropped and counted.
    assert 0 < interval.undefined_resamples < 50


def test_undefined_statistic_is_reported_not_raised():
    negatives_only = f1_components([0, 0, 0, 0], [0, 0, 0, 0])
    interval = bootstrap_statistic(negatives_only, statistic=f1_statistic)
    assert interval.method == "undefined" and math.isnan(interval.estimate)
    assert math.isnan(interval.low) and not interval.contains(0.0)


def test_grouped_statistic_resamples_whole_groups():
    labels, predicted = classifier(2, n=30)
    base = f1_components(labels, predicted)
    copies = np.repeat(base, 4, axis=0)  # four identical patches per specimen
    groups = np.repeat(np.arange(30), 4)
    naive = bootstrap_statistic(copies, statistic=f1_statistic, n_resamples=1999)
    grouped = bootstrap_statistic(copies, statistic=f1_statistic, groups=groups,
                                  n_resamples=1999)
    assert grouped.n == 30 and naive.n == 120
    assert grouped.estimate == pytest.approx(naive.estimate)
    # Copies add no information: the grouped interval is the one of the 30 originals.
    alone = bootstrap_statistic(base, statistic=f1_statistic, n_resamples=1999)
    assert (grouped.low, grouped.high) == pytest.approx((alone.low, alone.high), rel=1e-9)
    assert width(grouped) > 1.6 * width(naive)


def test_paired_statistic_difference_resolves_a_consistent_gain():
    labels, worse = classifier(3, n=120, error_rate=0.25)
    # The better method fixes a third of the worse one's errors and adds none.
    wrong = np.flatnonzero(worse != labels)
    better = worse.copy()
    better[wrong[::3]] = labels[wrong[::3]]
    a, b = f1_components(labels, better), f1_components(labels, worse)
    paired = paired_statistic_difference(a, b, statistic=f1_statistic, n_resamples=1999)
    assert paired.estimate == pytest.approx(f1_score(labels, better) - f1_score(labels, worse))
    assert paired.method == "BCa" and paired.low > 0
    # Unpaired, the same two score sets cannot be told apart.
    separate = [bootstrap_statistic(c, statistic=f1_statistic, n_resamples=1999) for c in (a, b)]
    assert separate[1].high > separate[0].low
    same = paired_statistic_difference(a, a.copy(), statistic=f1_statistic)
    assert same.method == "degenerate" and (same.low, same.high) == (0.0, 0.0)


def test_paired_statistic_difference_of_means_is_paired_difference():
    rng = np.random.default_rng(12)
    a = rng.normal(0.0, 1.0, 25)
    b = a + 0.05 + rng.normal(0.0, 0.02, 25)
    groups = np.arange(25) // 2
    general = paired_statistic_difference(a[:, None], b[:, None], statistic=mean_statistic,
                                          groups=groups, n_resamples=999)
    mean = paired_difference(a, b, groups=groups, n_resamples=999)
    assert (general.estimate, general.low, general.high) == pytest.approx(
        (mean.estimate, mean.low, mean.high), rel=1e-9)


def test_paired_statistic_difference_needs_matching_shapes():
    with pytest.raises(InvalidInputError, match="same length"):
        paired_statistic_difference(np.ones((3, 2)), np.ones((4, 2)), statistic=mean_statistic)
    with pytest.raises(InvalidInputError, match="NaN"):
        bootstrap_statistic([[0.1, np.nan]], statistic=mean_statistic)


def test_grouped_and_pooled_intervals_match_a_direct_scipy_bootstrap():
    rng = np.random.default_rng(13)
    # Unequal groups, mean statistic: scipy's paired bootstrap of (group sums, group sizes).
    sizes = rng.integers(1, 5, 12)
    groups = np.repeat(np.arange(12), sizes)
    values = rng.normal(size=groups.size)
    sums, counts = np.bincount(groups, weights=values), sizes.astype(float)
    reference = scipy_stats.bootstrap(
        (sums, counts), lambda s, c, axis: s.sum(axis) / c.sum(axis), paired=True,
        vectorized=True, n_resamples=999, rng=np.random.default_rng(5)).confidence_interval
    ours = bootstrap_mean(values, groups=groups, n_resamples=999, seed=5)
    assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high), rel=1e-12)
    # F1 (not a mean) of pooled counts, with scipy evaluating it on the resampled rows.
    labels, predicted = classifier(6, n=60)
    components = f1_components(labels, predicted)
    reference = scipy_stats.bootstrap(
        tuple(components.T), lambda tp, fp, fn, axis: f1_statistic(
            np.stack([tp.sum(axis), fp.sum(axis), fn.sum(axis)], axis=-1), None),
        paired=True, vectorized=True, n_resamples=999,
        rng=np.random.default_rng(8)).confidence_interval
    ours = bootstrap_statistic(components, statistic=f1_statistic, n_resamples=999, seed=8)
    assert ours.undefined_resamples == 0
    assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high), rel=1e-12)
