import importlib

import numpy as np
import pytest
from skimage import data

from mmdf_bench.baselines import focus
from mmdf_bench.baselines.focus import (
    ENTRY_POINTS,
    FocusMeasureClassifier,
    NotFittedError,
    SVMFocusClassifier,
)
from mmdf_bench.baselines.focus_measures import FOCUS_MEASURES, HIGHER_IS_SHARPER
from mmdf_bench.data.optics import add_sensor_noise, blur, defocus_psf
from mmdf_bench.errors import InvalidInputError, UnknownNameError
from mmdf_bench.tasks.focus import FocusMethod, FocusPrediction, FocusSample, predict

SIZE, STRIDE = 84, 28
BLURRED_MICRONS = (10, 20, 40)  # beyond the ~9 µm depth of field of the default optics


def method_class(name):
    module, _, attribute = ENTRY_POINTS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.fixture(scope="module")
def splits():
    """Sharp and defocused noisy RGB crops; train from the top half of the slide, test from the bottom."""
    slide = (data.immunohistochemistry() / 255.0).astype(np.float32)
    planes = {0: slide, **{microns: blur(slide, defocus_psf(microns * 1e-6)) for microns in BLURRED_MICRONS}}
    rng = np.random.default_rng(0)

    def crops(first_row, last_row, group):
        samples = []
        for top in range(first_row, last_row - SIZE + 1, STRIDE):
            for left in range(0, slide.shape[1] - SIZE + 1, STRIDE):
                for label, microns in ((0, 0), (1, int(rng.choice(BLURRED_MICRONS)))):
                    patch = add_sensor_noise(planes[microns][top:top + SIZE, left:left + SIZE], rng=rng,
                                             photons=20000)
                    samples.append(FocusSample(patch, label, f"{group}-{top}-{left}-{microns}", group=group,
                                               level=microns // 10))
        return samples

    return crops(0, 256, "top"), crops(256, 512, "bottom")


class OneShot:
    """Train samples that can be iterated once only, like a stream."""

    def __init__(self, samples):
        self._samples = samples
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        if self.passes > 1:
            raise AssertionError("the train samples were iterated twice")
        return iter(self._samples)


def accuracy(method, samples):
    predictions = [predict(method, sample) for sample in samples]
    assert all(isinstance(p, FocusPrediction) and 0.0 <= p.probability <= 1.0 for p in predictions)
    return np.mean([p.label == sample.label for p, sample in zip(predictions, samples)])


def test_one_registered_class_per_operator_plus_the_svm():
    assert set(ENTRY_POINTS) == {f"fm-{operator}" for operator in FOCUS_MEASURES} | {"svm-focus-measures"}
    for name in ENTRY_POINTS:
        component = method_class(name)
        assert component.__name__.isidentifier() and component.__qualname__ == component.__name__
        assert component.name == name and issubclass(component, FocusMethod)
        assert component.summary and component.citation and component.needs_training()
        expected = {"operator": name[3:]} if name.startswith("fm-") else {"features", "C", "max_train_samples"}
        config = component().config()
        assert (config if name.startswith("fm-") else set(config)) == expected
    assert method_class("fm-variance-of-laplacian") is focus.FocusMeasureVarianceOfLaplacian
    assert method_class("fm-vollath-f4").__name__ == "FocusMeasureVollathF4"


@pytest.mark.parametrize("name", ["fm-variance-of-laplacian", "svm-focus-measures"])
def test_predict_before_fit_is_a_clear_error(name, splits):
    with pytest.raises(NotFittedError, match=r"fit\(train_samples\) before predict"):
        method_class(name)().predict(splits[1][0].patch)


@pytest.mark.parametrize("name", ["fm-variance-of-laplacian", "svm-focus-measures"])
def test_sharp_and_blurred_patches_are_told_apart(name, splits):
    train, test = splits
    train_stream = OneShot(train)
    method = method_class(name)().fit(train_stream, seed=0)
    assert train_stream.passes == 1
    assert accuracy(method, test) > 0.9


@pytest.mark.parametrize("operator", sorted(FOCUS_MEASURES))
def test_every_operator_is_calibrated_in_its_direction(operator, splits):
    train, test = splits
    method = method_class(f"fm-{operator}")().fit(OneShot(train), seed=0)
    # A sharper score must lower P(out of focus).
    assert np.sign(method.slope) == (-1 if HIGHER_IS_SHARPER[operator] else 1)
    assert accuracy(method, test) > 0.6
    scores = {label: np.median([FOCUS_MEASURES[operator](s.patch) for s in train if s.label == label])
              for label in (0, 1)}
    assert min(scores.values()) < method.decision_threshold() < max(scores.values())


def test_scores_spanning_decades_are_log_scaled(splits):
    train = splits[0]
    assert method_class("fm-tenengrad-variance")().fit(train).log_scaled
    assert not method_class("fm-histogram-entropy")().fit(train).log_scaled


@pytest.mark.parametrize("name", ["fm-variance-of-laplacian", "fm-power-log-log-slope", "svm-focus-measures"])
def test_a_blank_patch_is_out_of_focus(name, splits):
    method = method_class(name)().fit(splits[0], seed=0)
    for level in (0.0, 0.4, 1.0):
        probability = method.predict(np.full((SIZE, SIZE, 3), level, dtype=np.float32)).probability
        assert 0.5 < probability <= 1.0


def test_generic_class_matches_the_generated_one(splits):
    train, test = splits
    generic = FocusMeasureClassifier("brenner").fit(train)
    generated = focus.FocusMeasureBrenner().fit(train)
    for sample in test[:20]:
        assert generic.predict(sample.patch).probability == generated.predict(sample.patch).probability


def test_svm_is_deterministic_for_a_seed(splits):
    train, test = splits
    first = SVMFocusClassifier(max_train_samples=150).fit(train, seed=3)
    second = SVMFocusClassifier(max_train_samples=150).fit(train, seed=3)
    patches = [sample.patch for sample in test[:20]]
    assert [first.predict(p).probability for p in patches] == [second.predict(p).probability for p in patches]


def test_calibration_needs_both_labels(splits):
    in_focus = [sample for sample in splits[0] if sample.label == 0]
    with pytest.raises(InvalidInputError, match="both in-focus and out-of-focus"):
        focus.FocusMeasureTenengrad().fit(in_focus)
    with pytest.raises(InvalidInputError, match="empty"):
        SVMFocusClassifier().fit([])


def test_unknown_operators_are_rejected():
    with pytest.raises(UnknownNameError, match="variance-of-laplacian"):
        FocusMeasureClassifier("variance-of-laplacien")
    with pytest.raises(InvalidInputError, match="brenner"):
        focus.FocusMeasureBrenner("tenengrad")
    with pytest.raises(UnknownNameError, match="unknown"):
        SVMFocusClassifier(features=["tenengrad", "sharpness"])
