"""Classical focus classifiers: focus-measure operators and an SVM on blur features.

`FocusMeasureClassifier` turns one operator of
`mmdf_bench.baselines.focus_measures.FOCUS_MEASURES` into a focus method: `fit`
computes the operator on every train patch, puts it on a log scale when it
spans decades, and fits a one-dimensional logistic regression of
P(out of focus) on it, which is the operator's threshold calibrated on the
train split. One registered subclass per operator is generated below
(``fm-<operator>``, e.g. ``fm-variance-of-laplacian`` ->
`FocusMeasureVarianceOfLaplacian`); `ENTRY_POINTS` lists them for
``pyproject.toml``.

`SVMFocusClassifier` (``svm-focus-measures``) feeds several operators from
different families to an RBF support vector machine.

scikit-learn is imported inside `fit` so that listing the registry stays cheap.
"""

from typing import ClassVar

import numpy as np

from mmdf_bench.baselines.focus_measures import FAMILIES, FOCUS_MEASURES, HIGHER_IS_SHARPER
from mmdf_bench.errors import InvalidInputError, MmdfBenchError, UnknownNameError
from mmdf_bench.tasks.focus import OUT_OF_FOCUS, FocusMethod, FocusPrediction, patch_samples

__all__ = ["ENTRY_POINTS", "FocusMeasureClassifier", "NotFittedError", "SVMFocusClassifier", "focus_scores"]

PERTUZ_2013 = ("S. Pertuz, D. Puig and M. A. Garcia, \"Analysis of focus measure operators for "
               "shape-from-focus\", Pattern Recognition 46(5), 1415-1432, 2013")

# operator -> (what it measures, its original reference); the summary line and
# citation of each generated class.
_OPERATORS = {
    "tenengrad": ("mean squared Sobel gradient magnitude", "Krotkov, Focusing, IJCV 1(3), 1988"),
    "tenengrad-variance": ("variance of the squared Sobel gradient magnitude",
                           "Pech-Pacheco et al., Diatom autofocusing in brightfield microscopy, ICPR 2000"),
    "gaussian-derivative": ("mean squared Gaussian-derivative gradient",
                            "Geusebroek et al., Robust autofocusing in microscopy, Cytometry 39(1), 2000"),
    "variance-of-laplacian": ("variance of the 4-neighbour Laplacian",
                              "Pech-Pacheco et al., Diatom autofocusing in brightfield microscopy, ICPR 2000"),
    "modified-laplacian": ("mean |d2I/dx2| + |d2I/dy2| (sum-modified-Laplacian)",
                           "Nayar and Nakagawa, Shape from focus, IEEE TPAMI 16(8), 1994"),
    "diagonal-laplacian": ("modified Laplacian with the two diagonal directions",
                           "Thelen et al., IEEE Transactions on Image Processing 18(1), 2009"),
    "wavelet-detail-energy": ("energy of the first-level wavelet detail bands",
                              "Yang and Nelson, Wavelet-based autofocusing, IEEE/RSJ IROS 2003"),
    "wavelet-ratio": ("wavelet detail energy over approximation energy",
                      "Xie, Rong and Sun, Wavelet-based focus measure, IEEE/RSJ IROS 2006"),
    "gray-level-variance": ("variance of the grey levels", "Krotkov, Focusing, IJCV 1(3), 1988"),
    "normalized-variance": ("grey-level variance over the mean",
                            "Groen, Young and Ligthart, Cytometry 6(2), 1985"),
    "histogram-entropy": ("entropy of the 256-bin grey-level histogram", "Krotkov, Focusing, IJCV 1(3), 1988"),
    "cellprofiler-focus-score": ("CellProfiler FocusScore (normalized variance)",
                                 ("Sun, Duthaler and Nelson, Microscopy Research and Technique 65(3), 2004; "
                                  "Carpenter et al., CellProfiler, Genome Biology 7:R100, 2006")),
    "dct-energy-ratio": ("AC-to-DC energy ratio of 8x8 block DCTs",
                         "Shen and Chen, Robust focus measure for low-contrast images, ICCE 2006"),
    "dct-reduced-energy-ratio": ("five low AC coefficients over DC in 8x8 block DCTs",
                                 "Lee et al., Reduced energy-ratio measure, IEEE Signal Processing Letters 16(2), 2009"),
    "brenner": ("mean squared difference of pixels two apart",
                "Brenner et al., J. Histochemistry & Cytochemistry 24(1), 1976"),
    "vollath-f4": ("Vollath F4 autocorrelation (lag 1 minus lag 2)",
                   "Vollath, Automatic focusing by correlative methods, J. Microscopy 147(3), 1987"),
    "vollath-f5": ("Vollath F5 autocorrelation (lag 1 minus squared mean)",
                   "Vollath, J. Microscopy 151(2), 1988"),
    "spatial-frequency": ("spatial frequency sqrt(RF^2 + CF^2)",
                          "Eskicioglu and Fisher, IEEE Transactions on Communications 43(12), 1995"),
    "helmli-mean-ratio": ("Helmli-Scherer mean ratio max(U/I, I/U)",
                          "Helmli and Scherer, Adaptive shape from focus, ISPA 2001"),
    "power-log-log-slope": ("CellProfiler PowerLogLogSlope: slope of the log-log radial power spectrum",
                            ("Bray et al., J. Biomolecular Screening 17(2), 2012; "
                             "Carpenter et al., CellProfiler, Genome Biology 7:R100, 2006")),
}

SVM_FEATURES = ("variance-of-laplacian", "tenengrad", "modified-laplacian", "brenner", "wavelet-detail-energy",
                "dct-energy-ratio", "normalized-variance", "histogram-entropy", "vollath-f5",
                "power-log-log-slope")
"""Operators of the SVM feature vector: two to three per family, edge and contrast measures."""


class NotFittedError(MmdfBenchError, RuntimeError):
    """`predict` was called before `fit`."""


def focus_scores(samples, operators):
    """Compute operators on every sample, iterating `samples` once.

    Parameters
    ----------
    samples : iterable of FocusSample
        May be lazy; each sample is loaded once and only its scores are kept.
        z-stack samples (`FocusStackSample`) are skipped.
    operators : sequence of str
        Names in `FOCUS_MEASURES`.

    Returns
    -------
    scores : ndarray of float64, shape (n_samples, n_operators)
    labels : ndarray of int, shape (n_samples,)
    """
    functions = [FOCUS_MEASURES[name] for name in operators]
    scores, labels = [], []
    for sample in patch_samples(samples):
        scores.append([function(sample.patch) for function in functions])
        labels.append(int(sample.label))
    return np.asarray(scores, dtype=np.float64).reshape(len(labels), len(functions)), np.asarray(labels)


def _check_labels(labels, name):
    if labels.size == 0:
        raise InvalidInputError(f"{name}: the train split is empty; calibration needs labelled patches")
    if np.unique(labels).size < 2:
        raise InvalidInputError(f"{name}: the train split has only label {labels[0]}; "
                                "calibration needs both in-focus and out-of-focus patches")


class _ScoreScaler:
    """Log-scale (columns spanning decades), clip to the train range and standardise.

    Non-negative scores whose 5th and 95th percentiles differ by more than a
    factor 10 are logged (zeros are raised to half the smallest positive
    score). Values are then clipped to the train range, so that infinite
    scores (a blank patch gives -inf for the power log-log slope) and
    extrapolation far beyond the train data stay at the train extremes.
    """

    def fit(self, scores, operators):
        scores = np.asarray(scores, dtype=np.float64)
        self.log, self.floor, self.low, self.high = [], [], [], []
        for column, name in zip(scores.T, operators):
            if np.any(np.isnan(column)):
                raise InvalidInputError(f"operator {name} returned NaN on a train patch")
            finite = column[np.isfinite(column)]
            if finite.size == 0:
                raise InvalidInputError(f"operator {name} gave no finite score on the train split")
            positive = finite[finite > 0]
            use_log = bool(finite.min() >= 0 and positive.size > 0)
            floor = float(positive.min()) / 2 if use_log else 0.0
            if use_log:
                low, high = np.percentile(np.maximum(finite, floor), [5, 95])
                use_log = high > 10 * low
            self.log.append(use_log)
            self.floor.append(floor)
            transformed = self._logged(finite, len(self.log) - 1)
            self.low.append(float(transformed.min()))
            self.high.append(float(transformed.max()))
        clipped = self._clipped(scores)
        self.mean = clipped.mean(axis=0)
        deviation = clipped.std(axis=0)
        self.scale = np.where(deviation > 0, deviation, 1.0)
        return (clipped - self.mean) / self.scale

    def _logged(self, values, index):
        return np.log(np.maximum(values, self.floor[index])) if self.log[index] else values

    def _clipped(self, scores):
        columns = [np.clip(self._logged(column, index), self.low[index], self.high[index])
                   for index, column in enumerate(np.asarray(scores, dtype=np.float64).T)]
        return np.stack(columns, axis=-1)

    def transform(self, scores):
        return (self._clipped(np.atleast_2d(scores)) - self.mean) / self.scale


class FocusMeasureClassifier(FocusMethod):
    """A focus-measure operator with a logistic threshold calibrated on the train split.

    Parameters
    ----------
    operator : str
        A name in `FOCUS_MEASURES`; fixed in the generated subclasses.

    Notes
    -----
    `fit` keeps only the scores of the train patches. The logistic
    regression weighs the two classes equally (the train split need not be
    balanced, the test split is), so the 0.5 threshold maximises balanced
    accuracy rather than raw accuracy on the train distribution.
    """

    name = "focus-measure"
    summary = "a focus-measure operator with a threshold calibrated by logistic regression"
    citation = PERTUZ_2013
    operator: ClassVar[str] = None

    def __init__(self, operator=None):
        fixed = type(self).operator
        operator = operator or fixed
        if fixed is not None and operator != fixed:
            raise InvalidInputError(f"{self.name} computes the operator {fixed!r}, not {operator!r}")
        if operator not in FOCUS_MEASURES:
            raise UnknownNameError(f"unknown focus-measure operator {operator!r}; "
                                   f"known: {', '.join(sorted(FOCUS_MEASURES))}")
        self.operator = operator
        self._scaler = None

    @property
    def higher_is_sharper(self):
        """True when a larger operator score means a sharper patch."""
        return HIGHER_IS_SHARPER[self.operator]

    @property
    def log_scaled(self):
        """Whether `fit` put the operator on a log scale (its train scores span decades)."""
        self._check_fitted()
        return self._scaler.log[0]

    @property
    def slope(self):
        """Change of the log-odds of being out of focus per train standard deviation of the score."""
        self._check_fitted()
        return self._slope

    def fit(self, train_samples, *, seed=0):
        """Compute the operator on the train patches (one pass) and fit the logistic threshold."""
        from sklearn.linear_model import LogisticRegression

        scores, labels = focus_scores(train_samples, [self.operator])
        _check_labels(labels, self.name)
        scaler = _ScoreScaler()
        features = scaler.fit(scores, [self.operator])
        model = LogisticRegression(class_weight="balanced", random_state=seed).fit(features, labels)
        # Keep the two numbers only: predicting through scikit-learn costs
        # more per patch than most operators.
        column = list(model.classes_).index(OUT_OF_FOCUS)
        sign = 1.0 if column == 1 else -1.0
        self._slope = sign * float(model.coef_[0, 0])
        self._intercept = sign * float(model.intercept_[0])
        self._scaler = scaler
        return self

    def decision_threshold(self):
        """The operator score at which P(out of focus) = 0.5 (None if the fit is flat)."""
        self._check_fitted()
        if self._slope == 0:
            return None
        feature = -self._intercept / self._slope * self._scaler.scale[0] + self._scaler.mean[0]
        return float(np.exp(feature)) if self._scaler.log[0] else float(feature)

    def _check_fitted(self):
        if self._scaler is None:
            raise NotFittedError(f"{self.name}: call fit(train_samples) before predict; the decision "
                                 "threshold of the operator is calibrated on the train split")

    def focus_score(self, image):
        """The raw operator on the whole image (signed so that larger is sharper).

        Autofocus compares planes of one stack, so it needs no calibrated
        threshold: this works before `fit` and is what an autofocus built
        on the operator would maximise.
        """
        score = float(FOCUS_MEASURES[self.operator](image))
        if np.isnan(score):
            raise InvalidInputError(f"{self.name}: the operator returned NaN on this image")
        return score if self.higher_is_sharper else -score

    def predict(self, patch):
        """Return P(out of focus) of one patch from its operator score."""
        self._check_fitted()
        score = FOCUS_MEASURES[self.operator](patch)
        if np.isnan(score):
            raise InvalidInputError(f"{self.name}: the operator returned NaN on this patch")
        feature = float(self._scaler.transform([[score]])[0, 0])
        logit = self._slope * feature + self._intercept
        return FocusPrediction(float(0.5 * (1.0 + np.tanh(0.5 * logit))))


def _class_name(operator):
    return "FocusMeasure" + "".join(part.capitalize() for part in operator.split("-"))


def _make_operator_class(operator):
    description, reference = _OPERATORS[operator]
    direction = "higher" if HIGHER_IS_SHARPER[operator] else "lower"
    attributes = {
        "__module__": __name__,
        "__qualname__": _class_name(operator),
        "__doc__": (f"Focus classifier on the {operator} operator ({FAMILIES[operator]} family): "
                    f"{description}; {direction} is sharper, threshold calibrated on the train split."),
        "name": f"fm-{operator}",
        "operator": operator,
        "summary": f"{description} ({FAMILIES[operator]}), logistic threshold fitted on the train split",
        "citation": f"{reference}; operator survey: {PERTUZ_2013}",
    }
    return type(_class_name(operator), (FocusMeasureClassifier,), attributes)


ENTRY_POINTS = {}
"""Registry name -> ``"mmdf_bench.baselines.focus:ClassName"``, for ``pyproject.toml``."""

for _operator in FOCUS_MEASURES:
    _component = _make_operator_class(_operator)
    globals()[_component.__name__] = _component
    __all__.append(_component.__name__)
    ENTRY_POINTS[_component.name] = f"{__name__}:{_component.__name__}"
del _operator, _component


class SVMFocusClassifier(FocusMethod):
    """RBF support vector machine on a vector of focus measures (``svm-focus-measures``).

    Each train patch is described by the operators of `features` (log-scaled
    where they span decades, clipped to the train range and standardised);
    an RBF SVC (classes weighed equally) is fitted on them and its decision
    values are turned into probabilities by Platt scaling on
    cross-validated predictions.

    This is not the model the MMDF paper compared with. Hsu and Chen
    (2008) train an SVM to estimate the blur extent of a photograph, then
    split blurred images into local and global blur and estimate a PSF to
    tell camera shake from defocus; none of that is computed here. No
    published model matches this one: it is a standard kernel classifier
    over the focus-measure families of Pertuz et al. (2013), registered
    under a name that says so (it was ``svm-blur-features``).

    Parameters
    ----------
    features : sequence of str, optional
        Operators in `FOCUS_MEASURES`; by default `SVM_FEATURES`.
    C : float, optional
        SVM regularisation.
    max_train_samples : int, optional
        Train on a random subset (drawn from the seed) of at most this many
        patches: kernel SVM training grows quadratically with their number.

    References
    ----------
    .. [1] C. Cortes and V. Vapnik, "Support-vector networks", Machine
           Learning 20(3), 273-297, 1995.
    .. [2] J. C. Platt, "Probabilistic outputs for support vector machines
           and comparisons to regularized likelihood methods", Advances in
           Large Margin Classifiers, MIT Press, 61-74, 2000.
    .. [3] S. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
           operators for shape-from-focus", Pattern Recognition 46(5),
           1415-1432, 2013.
    .. [4] P. Hsu and B.-Y. Chen, "Blurred image detection and
           classification", MMM 2008, LNCS 4903, 277-286 (the model the
           MMDF paper used, which this is not).
    """

    name = "svm-focus-measures"
    summary = "RBF SVM with Platt scaling on ten log-scaled focus-measure operators (no published counterpart)"
    citation = ("C. Cortes and V. Vapnik, Support-vector networks, Machine Learning 20(3), 1995; J. C. Platt, "
                "Probabilistic outputs for support vector machines, Advances in Large Margin Classifiers, 2000; "
                f"operators: {PERTUZ_2013}")
    deviations = "not the Hsu and Chen (2008) blur-extent SVM of the MMDF paper"

    def __init__(self, *, features=SVM_FEATURES, C=1.0, max_train_samples=4000):
        unknown = [name for name in features if name not in FOCUS_MEASURES]
        if unknown or not features:
            raise UnknownNameError(f"unknown or no SVM feature operator(s) {unknown}; "
                                   f"known: {', '.join(sorted(FOCUS_MEASURES))}")
        if not C > 0 or int(max_train_samples) < 2:
            raise InvalidInputError(f"{self.name}: C must be positive and max_train_samples at least 2")
        self.features = list(features)
        self.C = float(C)
        self.max_train_samples = int(max_train_samples)
        self._model = None

    def fit(self, train_samples, *, seed=0):
        """Compute the features on the train patches (one pass) and fit the SVM."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        scores, labels = focus_scores(train_samples, self.features)
        _check_labels(labels, self.name)
        if labels.size > self.max_train_samples:
            keep = np.random.default_rng(seed).choice(labels.size, self.max_train_samples, replace=False)
            scores, labels = scores[keep], labels[keep]
            _check_labels(labels, self.name)
        scaler = _ScoreScaler()
        features = scaler.fit(scores, self.features)
        # Platt scaling fitted on 5-fold cross-validated decision values, then
        # one SVM on all the data (what SVC(probability=True) did before
        # scikit-learn 1.9 deprecated it). The folds are stratified, unshuffled.
        svm = SVC(C=self.C, kernel="rbf", gamma="scale", class_weight="balanced", random_state=seed)
        model = CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=False)
        self._model = model.fit(features, labels)
        self._column = list(model.classes_).index(OUT_OF_FOCUS)
        self._scaler = scaler
        return self

    def predict(self, patch):
        """Return P(out of focus) of one patch from its feature vector."""
        if self._model is None:
            raise NotFittedError(f"{self.name}: call fit(train_samples) before predict; the SVM is "
                                 "trained on the train split")
        scores = np.array([FOCUS_MEASURES[name](patch) for name in self.features])
        if np.any(np.isnan(scores)):
            raise InvalidInputError(f"{self.name}: a feature operator returned NaN on this patch")
        probability = self._model.predict_proba(self._scaler.transform(scores))[0, self._column]
        return FocusPrediction(float(np.clip(probability, 0.0, 1.0)))


ENTRY_POINTS[SVMFocusClassifier.name] = f"{__name__}:{SVMFocusClassifier.__name__}"
