"""Classification metrics of the focus task: binary decisions and defocus levels.

A focus method says whether a patch is out of focus (the positive class,
label 1) and, if it knows levels, gives a distribution over the defocus
levels 0..K-1. Binary decisions are scored by accuracy, balanced accuracy
and F1; level distributions by the ranked probability score and the
within-one-level accuracy.

Balanced accuracy and F1 are not means of per-sample values: the registered
metrics return each sample's contribution to the confusion counts as
components, and their `aggregate` computes the metric from the pooled counts
(see `mmdf_bench.metrics.base.Metric`). Where a metric is undefined (a class
absent, 0/0) the functions return NaN rather than a convention such as 0.

References
----------
.. [1] M. Sokolova and G. Lapalme, "A systematic analysis of performance
       measures for classification tasks", Information Processing &
       Management 45(4), 2009, pp. 427-437.
.. [2] K. H. Brodersen, C. S. Ong, K. E. Stephan and J. M. Buhmann, "The
       balanced accuracy and its posterior distribution", ICPR 2010.
.. [3] E. S. Epstein, "A scoring system for probability forecasts of ranked
       categories", Journal of Applied Meteorology 8(6), 1969, pp. 985-987.
.. [4] S. J. Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
"""

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.base import Metric

# Level distributions must sum to 1 within this tolerance (as the focus task checks).
_SUM_TOLERANCE = 1e-4


def _binary(values, name):
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        bad = array[~np.isin(array, (0, 1))][:3].tolist()
        raise InvalidInputError(f"{name} must hold binary labels 0 or 1, got e.g. {bad}")
    return array.astype(np.int64)


def _pair(labels, predicted):
    labels = _binary(labels, "labels")
    predicted = _binary(predicted, "predicted")
    if labels.shape != predicted.shape:
        raise InvalidInputError(
            f"labels and predicted must have the same length, got {labels.size} and "
            f"{predicted.size}"
        )
    if labels.size == 0:
        raise InvalidInputError("no labels to score")
    return labels, predicted


def _ratio(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numerator, dtype=np.float64) / np.asarray(denominator, dtype=np.float64)


def _float_or_array(value):
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value


def confusion_counts(labels, predicted, *, positive=1):
    """Counts of true/false positives and negatives of binary decisions.

    Parameters
    ----------
    labels, predicted : array_like of int, shape (n,)
        True and predicted labels, 0 or 1.
    positive : {0, 1}, optional
        The positive class; 1 (out of focus) in the focus task.

    Returns
    -------
    counts : dict
        ``{"tp": int, "fp": int, "fn": int, "tn": int}``.
    """
    if positive not in (0, 1):
        raise InvalidInputError(f"positive must be 0 or 1, got {positive!r}")
    labels, predicted = _pair(labels, predicted)
    actual, said = labels == positive, predicted == positive
    return {"tp": int(np.sum(actual & said)), "fp": int(np.sum(~actual & said)),
            "fn": int(np.sum(actual & ~said)), "tn": int(np.sum(~actual & ~said))}


def balanced_accuracy_from_counts(tp, fn, tn, fp):
    """Mean of the true-positive and true-negative rates; NaN where a class is absent.

    Vectorised: the counts may be arrays (e.g. per bootstrap resample).
    """
    return _float_or_array(0.5 * (_ratio(tp, np.add(tp, fn)) + _ratio(tn, np.add(tn, fp))))


def f1_from_counts(tp, fp, fn):
    """``2 tp / (2 tp + fp + fn)``; NaN when there are no positives at all (0/0).

    Vectorised like `balanced_accuracy_from_counts`.
    """
    return _float_or_array(_ratio(np.multiply(2, tp), np.multiply(2, tp) + np.add(fp, fn)))


def accuracy(labels, predicted):
    """Fraction of correct binary decisions.

    Parameters
    ----------
    labels, predicted : array_like of int, shape (n,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    accuracy : float

    References
    ----------
    .. [1] M. Sokolova and G. Lapalme, Information Processing & Management
           45(4), 2009.
    """
    labels, predicted = _pair(labels, predicted)
    return float(np.mean(labels == predicted))


def balanced_accuracy(labels, predicted):
    """Mean of the recall of each class, ``(TPR + TNR) / 2``.

    Unlike accuracy it is 0.5 for any constant decision, whatever the class
    balance. It is undefined (NaN) when one class is absent from `labels`;
    scikit-learn instead averages over the classes present, which silently
    turns it into plain accuracy there.

    Parameters
    ----------
    labels, predicted : array_like of int, shape (n,)
        True and predicted labels, 0 or 1.

    Returns
    -------
    balanced_accuracy : float

    References
    ----------
    .. [1] K. H. Brodersen et al., "The balanced accuracy and its posterior
           distribution", ICPR 2010.
    """
    counts = confusion_counts(labels, predicted)
    return balanced_accuracy_from_counts(counts["tp"], counts["fn"], counts["tn"], counts["fp"])


def f1_score(labels, predicted, *, positive=1):
    """Harmonic mean of precision and recall of the positive class.

    Parameters
    ----------
    labels, predicted : array_like of int, shape (n,)
        True and predicted labels, 0 or 1.
    positive : {0, 1}, optional
        The positive class; 1 = out of focus.

    Returns
    -------
    f1 : float
        NaN when the positive class is neither present nor predicted (0/0;
        scikit-learn's ``zero_division=np.nan``).

    References
    ----------
    .. [1] C. J. van Rijsbergen, "Information Retrieval", 2nd ed.,
           Butterworths, 1979, chapter 7.
    """
    counts = confusion_counts(labels, predicted, positive=positive)
    return f1_from_counts(counts["tp"], counts["fp"], counts["fn"])


def _levels(distribution, level):
    distribution = np.asarray(distribution, dtype=np.float64)
    if distribution.ndim < 1 or distribution.shape[-1] < 2:
        raise InvalidInputError(
            f"a level distribution needs at least 2 levels on its last axis, got shape "
            f"{distribution.shape}"
        )
    if not np.all(np.isfinite(distribution)) or np.any(distribution < 0) \
            or not np.allclose(distribution.sum(axis=-1), 1.0, atol=_SUM_TOLERANCE):
        raise InvalidInputError("a level distribution must be finite, non-negative and sum to 1")
    count = distribution.shape[-1]
    level = np.asarray(level)
    if not np.all(np.mod(level, 1) == 0) or np.any(level < 0) or np.any(level >= count):
        raise InvalidInputError(
            f"defocus level(s) {np.unique(level)[:5].tolist()} outside the {count} levels "
            f"0..{count - 1} of the distribution"
        )
    try:
        np.broadcast_shapes(level.shape, distribution.shape[:-1])
    except ValueError:
        raise InvalidInputError(
            f"levels of shape {level.shape} do not match distributions of shape "
            f"{distribution.shape}"
        ) from None
    return distribution, level.astype(np.int64)


def ranked_probability_score(distribution, level):
    """Ranked probability score of a distribution over ordered defocus levels.

    The mean, over the K - 1 thresholds between levels, of the squared
    difference between the predicted and the observed cumulative
    distributions. It is 0 for all the mass on the true level, 1 for all the
    mass on the level farthest from a true extreme level, and unlike a
    per-level score it charges a wrong level by its distance to the truth.

    Parameters
    ----------
    distribution : array_like of float, shape (..., K)
        Probabilities of levels 0..K-1 (non-negative, summing to 1).
    level : int or array_like of int, shape (...)
        True level(s), 0 <= level < K.

    Returns
    -------
    score : float or ndarray
        Lower is better; in [0, 1].

    References
    ----------
    .. [1] E. S. Epstein, "A scoring system for probability forecasts of
           ranked categories", J. Applied Meteorology 8(6), 1969.
    .. [2] S. J. Yang et al., "Assessing microscope image focus quality with
           deep learning", BMC Bioinformatics 19:77, 2018 (used as the loss).

    Examples
    --------
    >>> ranked_probability_score([0.0, 1.0, 0.0], 1)
    0.0
    >>> ranked_probability_score([0.0, 0.0, 1.0], 0)
    1.0
    """
    distribution, level = _levels(distribution, level)
    count = distribution.shape[-1]
    predicted = np.cumsum(distribution, axis=-1)[..., :-1]
    # The observed cumulative distribution steps from 0 to 1 at the true level.
    observed = (np.arange(count - 1) >= level[..., None]).astype(np.float64)
    return _float_or_array(np.mean((predicted - observed) ** 2, axis=-1))


def within_one_accuracy(distribution, level):
    """1 when the most probable level is within one level of the truth, else 0.

    Parameters
    ----------
    distribution : array_like of float, shape (..., K)
        Probabilities of levels 0..K-1; ties go to the lowest level.
    level : int or array_like of int, shape (...)
        True level(s).

    Returns
    -------
    hit : float or ndarray
        The mean over samples is the within-one-level accuracy.

    References
    ----------
    .. [1] S. J. Yang et al., BMC Bioinformatics 19:77, 2018 (the defocus
           levels this tolerance is counted in).
    """
    distribution, level = _levels(distribution, level)
    return _float_or_array(np.abs(np.argmax(distribution, axis=-1) - level) <= 1)


def _decision(output):
    """The predicted label of a focus output (P(out of focus) >= 0.5)."""
    return int(output.label)


class _DecisionMetric(Metric):
    """Scores the binary decision on a labelled patch (z-stack samples have none)."""

    def applies_to(self, sample):
        return getattr(sample, "label", None) is not None

    def applies_to_output(self, output):
        return getattr(output, "probability", None) is not None


class Accuracy(_DecisionMetric):
    """Accuracy of the in-focus / out-of-focus decision."""

    name = "accuracy"
    value_range = "0..1"
    proportion = True  # 0/1 per sample
    tasks = ("focus",)
    higher_is_better = True
    summary = "fraction of patches classified correctly (decision threshold P = 0.5)"
    citation = (
        "Sokolova & Lapalme (2009), A systematic analysis of performance measures for "
        "classification tasks, Information Processing & Management 45(4)"
    )

    def compute(self, output, sample):
        return float(_decision(output) == sample.label)


class BalancedAccuracy(_DecisionMetric):
    """Balanced accuracy, pooled from per-sample confusion counts."""

    name = "balanced-accuracy"
    value_range = "0..1"
    proportion = True  # 0/1 per sample
    tasks = ("focus",)
    higher_is_better = True
    components = ("tp", "fn", "tn", "fp")
    summary = "mean of the in-focus and out-of-focus recalls (0.5 = chance, any balance)"
    citation = (
        "Brodersen, Ong, Stephan & Buhmann (2010), The balanced accuracy and its posterior "
        "distribution, ICPR"
    )

    def compute(self, output, sample):
        counts = confusion_counts([sample.label], [_decision(output)])
        return {key: float(counts[key]) for key in self.components}

    @staticmethod
    def aggregate(sums, count):
        return balanced_accuracy_from_counts(sums["tp"], sums["fn"], sums["tn"], sums["fp"])


class F1(_DecisionMetric):
    """F1 score of the out-of-focus class, pooled from per-sample confusion counts."""

    name = "f1"
    value_range = "0..1"
    proportion = True  # 0/1 per sample
    tasks = ("focus",)
    higher_is_better = True
    components = ("tp", "fp", "fn")
    summary = "harmonic mean of precision and recall of the out-of-focus class"
    citation = "van Rijsbergen (1979), Information Retrieval, 2nd ed., Butterworths"

    def compute(self, output, sample):
        counts = confusion_counts([sample.label], [_decision(output)])
        return {key: float(counts[key]) for key in self.components}

    @staticmethod
    def aggregate(sums, count):
        return f1_from_counts(sums["tp"], sums["fp"], sums["fn"])


class _LevelMetric(Metric):
    """Scores a level distribution: needs a sample level and a method that gives levels."""

    tasks = ("focus",)

    def applies_to(self, sample):
        return getattr(sample, "level", None) is not None

    def applies_to_output(self, output):
        return getattr(output, "levels", None) is not None


class RankedProbabilityScore(_LevelMetric):
    """Ranked probability score of the predicted defocus-level distribution."""

    name = "rps"
    value_range = "0..1"
    higher_is_better = False
    summary = ("ranked probability score of the defocus-level distribution (0 = all mass on "
               "the true level; level-aware methods only)")
    citation = (
        "Epstein (1969), A scoring system for probability forecasts of ranked categories, "
        "J. Applied Meteorology 8(6); Yang et al. (2018), Assessing microscope image focus "
        "quality with deep learning, BMC Bioinformatics 19:77"
    )

    def compute(self, output, sample):
        return ranked_probability_score(output.levels, sample.level)


class WithinOneAccuracy(_LevelMetric):
    """Fraction of patches whose most probable level is within one of the truth."""

    name = "within-one-accuracy"
    value_range = "0..1"
    proportion = True  # 0/1 per sample
    higher_is_better = True
    summary = "most probable defocus level within one level of the truth (level-aware methods)"
    citation = (
        "Yang et al. (2018), Assessing microscope image focus quality with deep learning, "
        "BMC Bioinformatics 19:77 (defocus levels)"
    )

    def compute(self, output, sample):
        return within_one_accuracy(output.levels, sample.level)
