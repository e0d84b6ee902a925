import math

import numpy as np
import pytest
from sklearn import metrics as skm

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.classification import (
    F1, Accuracy, BalancedAccuracy, RankedProbabilityScore, WithinOneAccuracy, accuracy,
    balanced_accuracy, confusion_counts, f1_score, ranked_probability_score,
    within_one_accuracy)
from mmdf_bench.tasks.focus import FocusPrediction, FocusSample

PATCH = np.zeros((4, 4), np.float32)


def random_decisions(seed, n=57, positive_rate=0.3, error_rate=0.2):
    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=n) < positive_rate).astype(int)
    flips = rng.uniform(size=n) < error_rate
    return labels, np.where(flips, 1 - labels, labels)


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_agree_with_sklearn(seed):
    labels, predicted = random_decisions(seed)
    assert accuracy(labels, predicted) == pytest.approx(skm.accuracy_score(labels, predicted))
    assert balanced_accuracy(labels, predicted) == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted))
    assert f1_score(labels, predicted) == pytest.approx(skm.f1_score(labels, predicted))
    assert f1_score(labels, predicted, positive=0) == pytest.approx(
        skm.f1_score(labels, predicted, pos_label=0))
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    assert confusion_counts(labels, predicted) == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def test_closed_form_cases():
    labels, predicted = [1, 1, 0, 0], [1, 0, 1, 0]  # tp = fp = fn = tn = 1
    assert accuracy(labels, predicted) == 0.5
    assert f1_score(labels, predicted) == 0.5
    # Precision 2/3, recall 1: F1 = 2 * (2/3) / (5/3) = 0.8.
    assert f1_score([1, 1, 0], [1, 1, 1]) == pytest.approx(0.8)
    # A constant decision is at chance on balanced accuracy, whatever the balance.
    imbalanced = [1] * 9 + [0]
    assert accuracy(imbalanced, [1] * 10) == 0.9
    assert balanced_accuracy(imbalanced, [1] * 10) == 0.5
    assert balanced_accuracy(imbalanced, imbalanced) == 1.0


def test_undefined_values_are_nan_not_a_convention():
    # One class only: no true-negative rate. (scikit-learn averages over the present class.)
    assert math.isnan(balanced_accuracy([1, 1, 1], [1, 0, 1]))
    # No positive anywhere: F1 is 0/0, as scikit-learn's zero_division=np.nan.
    assert math.isnan(f1_score([0, 0], [0, 0]))
    assert math.isnan(skm.f1_score([0, 0], [0, 0], zero_division=np.nan))
    # Positives present but never predicted: F1 is defined and 0.
    assert f1_score([1, 0], [0, 0]) == 0.0


def test_bad_labels_are_rejected():
    with pytest.raises(InvalidInputError, match="binary"):
        accuracy([0, 2], [0, 1])
    with pytest.raises(InvalidInputError, match="same length"):
        f1_score([0, 1], [0])
    with pytest.raises(InvalidInputError, match="no labels"):
        balanced_accuracy([], [])


def test_ranked_probability_score_closed_forms():
    assert ranked_probability_score(np.eye(11)[4], 4) == 0.0
    # All mass on the opposite extreme: every threshold is wrong.
    assert ranked_probability_score(np.eye(11)[10], 0) == 1.0
    assert ranked_probability_score(np.eye(11)[0], 10) == 1.0
    # One level off costs one threshold out of K - 1.
    assert ranked_probability_score(np.eye(11)[5], 4) == pytest.approx(1 / 10)
    assert ranked_probability_score(np.eye(11)[7], 4) == pytest.approx(3 / 10)
    # Uniform prediction, true level 0: sum_{j=1}^{K-1} (j/K)^2 / (K-1) = (2K-1) / (6K).
    for count in (2, 5, 11):
        uniform = np.full(count, 1 / count)
        assert ranked_probability_score(uniform, 0) == pytest.approx((2 * count - 1) / (6 * count))


def test_ranked_probability_score_of_two_levels_is_the_brier_score():
    rng = np.random.default_rng(3)
    p_one = rng.uniform(size=40)
    levels = (rng.uniform(size=40) < 0.5).astype(int)
    scores = ranked_probability_score(np.stack([1 - p_one, p_one], axis=1), levels)
    assert scores.shape == (40,)
    assert scores.mean() == pytest.approx(skm.brier_score_loss(levels, p_one))


def test_ranked_probability_score_is_vectorised_like_a_loop():
    rng = np.random.default_rng(1)
    distributions = rng.dirichlet(np.ones(6), size=(3, 4))
    levels = rng.integers(0, 6, size=(3, 4))
    batch = ranked_probability_score(distributions, levels)
    assert batch.shape == (3, 4)
    for index in np.ndindex(3, 4):
        single = ranked_probability_score(distributions[index], levels[index])
        assert batch[index] == pytest.approx(single)


def test_within_one_accuracy():
    distribution = np.array([0.1, 0.2, 0.6, 0.1])  # mode at level 2
    assert [within_one_accuracy(distribution, level) for level in range(4)] == [0.0, 1.0, 1.0, 1.0]
    assert within_one_accuracy([0.5, 0.0, 0.0, 0.5], 2) == 0.0  # ties go to the lowest level


def test_level_inputs_are_checked():
    with pytest.raises(InvalidInputError, match="outside"):
        ranked_probability_score(np.full(10, 0.1), 10)
    with pytest.raises(InvalidInputError, match="sum to 1"):
        ranked_probability_score([0.5, 0.6], 0)
    with pytest.raises(InvalidInputError, match="at least 2 levels"):
        within_one_accuracy([1.0], 0)


def focus_set(seed, n=40):
    """Samples and predictions of a noisy classifier."""
    labels, predicted = random_decisions(seed, n=n, positive_rate=0.6)
    samples = [FocusSample(PATCH, int(label), f"s{i}") for i, label in enumerate(labels)]
    outputs = [FocusPrediction(0.9 if p else 0.1) for p in predicted]
    return samples, outputs, labels, predicted


@pytest.mark.parametrize("metric_class, function", [
    (BalancedAccuracy, balanced_accuracy), (F1, f1_score)])
def test_pooled_components_give_the_metric_of_the_whole_set(metric_class, function):
    samples, outputs, labels, predicted = focus_set(4)
    metric = metric_class()
    rows = [metric.compute(output, sample) for output, sample in zip(outputs, samples)]
    assert all(set(row) == set(metric_class.components) for row in rows)
    sums = {key: np.array(sum(row[key] for row in rows)) for key in metric_class.components}
    expected = function(labels, predicted)
    assert metric_class.aggregate(sums, np.array(len(rows))) == pytest.approx(expected)
    # Vectorised over resamples, NaN without a warning where undefined.
    stacked = {key: np.array([value, 0.0]) for key, value in sums.items()}
    with np.errstate(all="raise"):
        values = metric_class.aggregate(stacked, np.array([len(rows), 0]))
    assert values[0] == pytest.approx(expected) and math.isnan(values[1])


def test_accuracy_is_the_mean_of_per_sample_hits():
    samples, outputs, labels, predicted = focus_set(5)
    hits = [Accuracy().compute(output, sample) for output, sample in zip(outputs, samples)]
    assert np.mean(hits) == pytest.approx(skm.accuracy_score(labels, predicted))
    # The decision threshold is P(out of focus) >= 0.5.
    assert Accuracy().compute(FocusPrediction(0.5), FocusSample(PATCH, 1, "edge")) == 1.0


def test_level_metrics_apply_only_with_levels_on_both_sides():
    with_level = FocusSample(PATCH, 1, "a", level=3)
    artefact = FocusSample(PATCH, 1, "b", subset="dust")
    levels = FocusPrediction(0.9, np.eye(11)[3])
    for metric in (RankedProbabilityScore(), WithinOneAccuracy()):
        assert metric.applies_to(with_level) and not metric.applies_to(artefact)
        assert metric.applies_to_output(levels)
        assert not metric.applies_to_output(FocusPrediction(0.9))
    assert RankedProbabilityScore().compute(levels, with_level) == 0.0
    assert WithinOneAccuracy().compute(levels, FocusSample(PATCH, 1, "c", level=5)) == 0.0
    assert not RankedProbabilityScore.higher_is_better and WithinOneAccuracy.higher_is_better
    # Plain metrics apply to every output.
    assert Accuracy().applies_to_output(FocusPrediction(0.2))


def test_registered_metrics_describe_themselves():
    for metric_class in (Accuracy, BalancedAccuracy, F1, RankedProbabilityScore, WithinOneAccuracy):
        assert metric_class.tasks == ("focus",)
        assert metric_class.name and metric_class.summary and metric_class.citation
    assert Accuracy.components == () and RankedProbabilityScore.components == ()
