"""Tuning reads train and validation, never a scored sample (issue 10, point 4)."""

import inspect
import json
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from mmdf_bench.data.base import SPLITS, Dataset, split_ids
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.runner import run
from mmdf_bench.tasks.focus import FocusMethod, FocusPrediction, FocusSample
from mmdf_bench.training import checkpoint_path, fit_or_load
from mmdf_bench.tuning import SplitSamples, TestSampleError, accepts_validation, fit_method

COUNTS = {"train": 24, "validation": 8, "test": 12}
SIGMAS = (0.0, 1.5, 3.0)  # level 0 in focus, levels 1 and 2 blurred


def make_patch(sample_id):
    """A textured 84x84 patch, Gaussian-blurred by its level; ids ``<split>-<index>``."""
    index = int(sample_id.rsplit("-", 1)[1])
    level = index % len(SIGMAS)
    rng = np.random.default_rng(zlib.crc32(sample_id.encode()))
    texture = ndimage.gaussian_filter(rng.random((84, 84)), 1.0)
    texture = (texture - texture.min()) / np.ptp(texture)
    if SIGMAS[level]:
        texture = ndimage.gaussian_filter(texture, SIGMAS[level])
    return texture.astype(np.float32), level


class RecordingPatches(Dataset):
    """Focus patches that record every id they load and whether the evaluation loop asked.

    A load is an *evaluation* load when `mmdf_bench.evaluation.load_chunk`
    (the runner's evaluation loader) is on the call stack; anything else is
    a tuning path reading data.
    """

    name = "recording-patches"
    task = "focus"
    loads = []

    def sample_ids(self, split):
        return [f"{split}-{index:02d}" for index in range(COUNTS[split])]

    def load(self, sample_id):
        evaluating = any(frame.function == "load_chunk" for frame in inspect.stack())
        RecordingPatches.loads.append((sample_id, "evaluation" if evaluating else "tuning"))
        patch, level = make_patch(sample_id)
        index = int(sample_id.rsplit("-", 1)[1])
        return FocusSample(patch, int(level > 0), sample_id, group=f"{sample_id.split('-')[0]}-s{index // 4}",
                           level=level)


class TrainOnly(RecordingPatches):
    """A dataset plugin written before validation splits: it rejects the name."""

    name = "train-only-patches"

    def sample_ids(self, split):
        if split not in ("train", "test"):
            raise InvalidInputError(f"{self.name}: unknown split {split!r}; use 'train' or 'test'")
        return super().sample_ids(split)


class LeakyPatches(RecordingPatches):
    """A broken plugin whose train split lists two test samples."""

    name = "leaky-patches"

    def sample_ids(self, split):
        ids = super().sample_ids(split)
        return ids + ["test-00", "test-01"] if split == "train" else ids


class SeesValidation(FocusMethod):
    """Records what `fit` received; predicts the validation-chosen threshold of the mean intensity."""

    name = "toy-sees-validation"
    received = {}

    def fit(self, train_samples, *, seed=0, validation_samples=None):
        SeesValidation.received = {
            "train": [sample.sample_id for sample in train_samples],
            "validation": None if validation_samples is None
            else [sample.sample_id for sample in validation_samples]}
        self.fitted_choices = {"threshold": "validation"}
        return self

    def predict(self, patch):
        return FocusPrediction(0.5)


class TrainOnlyFit(FocusMethod):
    """An older method: `fit` without the validation keyword."""

    name = "toy-train-only-fit"

    def fit(self, train_samples, *, seed=0):
        self.count = len(train_samples)
        return self

    def predict(self, patch):
        return FocusPrediction(0.5)


@pytest.fixture
def recording(scratch_registrations):
    for component in (RecordingPatches, TrainOnly, LeakyPatches):
        scratch_registrations("datasets", component)
    for component in (SeesValidation, TrainOnlyFit):
        scratch_registrations("methods", component)
    RecordingPatches.loads = []
    SeesValidation.received = {}
    yield RecordingPatches


def test_splits_are_train_validation_test():
    assert SPLITS == ("train", "validation", "test")


def test_a_dataset_rejecting_validation_has_none():
    assert split_ids(TrainOnly(), "validation") == []
    assert TrainOnly().describe()["splits"] == {"train": 24, "validation": 0, "test": 12}
    with pytest.raises(InvalidInputError, match="unknown split 'tests'"):
        split_ids(TrainOnly(), "tests")


def test_accepts_validation_reads_the_signature():
    assert accepts_validation(SeesValidation())
    assert not accepts_validation(TrainOnlyFit())

    class Anything(FocusMethod):
        def fit(self, train_samples, **options):
            return self

    assert accepts_validation(Anything())


def test_split_samples_refuse_scored_ids():
    dataset = RecordingPatches()
    with pytest.raises(TestSampleError, match=r"recording-patches: 1 sample id\(s\) of the train split.*test-03"):
        SplitSamples(dataset, ["train-00", "test-03"], split="train", forbidden=dataset.sample_ids("test"))
    with pytest.raises(TestSampleError, match="without the ids it is scored on"):
        SplitSamples(dataset, ["test-03"], split="test")


def test_fit_method_passes_validation_only_to_fits_that_take_it(recording):
    dataset = RecordingPatches()
    train = SplitSamples(dataset, dataset.sample_ids("train"))
    validation = SplitSamples(dataset, dataset.sample_ids("validation"), split="validation")
    assert fit_method(SeesValidation(), train, validation_samples=validation) == {"train": 24, "validation": 8}
    assert SeesValidation.received["validation"] == dataset.sample_ids("validation")
    older = TrainOnlyFit()
    assert fit_method(older, train, validation_samples=validation) == {"train": 24}
    assert older.count == 24


def test_runner_passes_validation_and_records_the_split_of_each_choice(recording, tmp_path):
    result = run("focus", methods=["toy-sees-validation", "toy-train-only-fit"],
                 datasets=["recording-patches", "train-only-patches"], metrics=["accuracy"],
                 out_dir=tmp_path, progress=False)
    assert result.ok
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    seen = manifest["methods"]["toy-sees-validation"]["training"]
    assert seen["recording-patches"]["splits"] == {"train": 24, "validation": 8}
    assert seen["recording-patches"]["choices"] == {"threshold": "validation"}
    assert seen["train-only-patches"]["splits"] == {"train": 24, "validation": 0}
    older = manifest["methods"]["toy-train-only-fit"]["training"]["recording-patches"]
    assert older["splits"] == {"train": 24} and older["choices"] == {"fitted parameters": "train"}
    assert manifest["datasets"]["recording-patches"]["splits"] == {"train": 24, "validation": 8, "test": 12}


def test_a_train_split_holding_test_samples_is_refused_and_the_run_goes_on(recording, tmp_path):
    result = run("focus", methods=["toy-sees-validation", "fm-brenner"], datasets=["leaky-patches"],
                 metrics=["accuracy"], out_dir=tmp_path, progress=False)
    builds = result.failures[result.failures["stage"] == "build"]
    assert set(builds["method"]) == {"toy-sees-validation", "fm-brenner"}
    assert builds["error"].str.contains("TestSampleError: leaky-patches: 2 sample id").all()
    assert not {sample_id for sample_id, kind in RecordingPatches.loads if kind == "tuning"}


def test_no_tuning_path_reads_a_test_sample(recording, tmp_path):
    """Calibrated operators, the SVM (with its internal cross-validation), and two CNNs
    (training, Platt calibration) read train and validation samples only."""
    methods = ["fm-*", "svm-focus-measures", "yang", "mmdf-focus", "toy-sees-validation"]
    result = run("focus", methods=methods, datasets=["recording-patches"], metrics=["accuracy"],
                 out_dir=tmp_path, progress=False, profile="smoke")
    assert result.ok, result.failures
    loads = pd.DataFrame(RecordingPatches.loads, columns=["sample_id", "kind"])
    split = loads["sample_id"].str.split("-").str[0]
    tuning = loads[loads["kind"] == "tuning"]
    # the recorder works: tuning read the whole train and validation splits ...
    assert set(tuning["sample_id"]) == {f"{s}-{i:02d}" for s in ("train", "validation") for i in range(COUNTS[s])}
    # ... and never a test sample, which only the evaluation loop read
    assert not (split[loads["kind"] == "tuning"] == "test").any()
    assert set(loads.loc[loads["kind"] == "evaluation", "sample_id"]) == set(RecordingPatches().sample_ids("test"))
    assert result.scores["method"].nunique() == 20 + 4


def test_checkpoint_key_says_which_validation_data_was_used(recording, tmp_path, monkeypatch):
    from mmdf_bench.methods.focus_cnn import YangFocusCNN

    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path))

    class WithValidation(YangFocusCNN):
        def fit(self, train_samples, *, seed=0, validation_samples=None):
            WithValidation.seen = len(validation_samples)  # not an instance attribute: config() stays
            return super().fit(train_samples, seed=seed)

    dataset = RecordingPatches()
    train = SplitSamples(dataset, dataset.sample_ids("train"))
    first = SplitSamples(dataset, dataset.sample_ids("validation")[:4], split="validation")
    second = SplitSamples(dataset, dataset.sample_ids("validation")[4:], split="validation")
    model = WithValidation(profile="smoke")
    paths = {checkpoint_path(model, "yang", dataset, seed=0, validation_samples=chosen)
             for chosen in (first, second, None)}
    assert len(paths) == 3
    # a method that does not take validation keeps the train-only key
    plain = YangFocusCNN(profile="smoke")
    record = fit_or_load(plain, "yang", dataset, train, seed=0, validation_samples=first)
    assert record.checkpoint == str(checkpoint_path(plain, "yang", dataset, seed=0))
    assert record.splits == {"train": 24}
    record = fit_or_load(model, "yang", dataset, train, seed=0, validation_samples=first)
    assert WithValidation.seen == 4 and record.splits == {"train": 24, "validation": 4}
    assert record.checkpoint == str(checkpoint_path(model, "yang", dataset, seed=0, validation_samples=first))
    again = fit_or_load(WithValidation(profile="smoke"), "yang", dataset, train, seed=0, validation_samples=first)
    assert again.cached and again.splits == record.splits


class RecordingPairs(Dataset):
    """Deblur pairs (linear motion and Gaussian blur) that record every load, as `RecordingPatches` does."""

    name = "recording-pairs"
    task = "deblur"
    loads = []

    def sample_ids(self, split):
        return [f"{split}-{index:02d}" for index in range({"train": 6, "validation": 3, "test": 4}[split])]

    def load(self, sample_id):
        from mmdf_bench.data import optics
        from mmdf_bench.data.blur_kernels import gaussian_kernel, linear_motion_kernel
        from mmdf_bench.tasks.deblur import DeblurSample

        evaluating = any(frame.function == "load_chunk" for frame in inspect.stack())
        RecordingPairs.loads.append((sample_id, "evaluation" if evaluating else "tuning"))
        index = int(sample_id.rsplit("-", 1)[1])
        rng = np.random.default_rng(zlib.crc32(sample_id.encode()))
        sharp = ndimage.gaussian_filter(rng.random((72, 72, 3)), (1.5, 1.5, 0)).astype(np.float32)
        sharp = (sharp - sharp.min()) / np.ptp(sharp)
        psf = linear_motion_kernel(7, 30 * index) if index % 2 else gaussian_kernel(1.5)
        return DeblurSample(np.clip(optics.blur(sharp, psf), 0, 1), sharp, sample_id, psf=psf,
                            group=f"{sample_id.split('-')[0]}-r{index // 2}")


def test_no_deblur_calibration_or_training_reads_a_test_sample(scratch_registrations, tmp_path):
    scratch_registrations("datasets", RecordingPairs)
    RecordingPairs.loads = []
    methods = ["wiener", "richardson-lucy", "blind-motion-wiener", "richardson-lucy-cepstrum", "wiener-gaussian",
               "srcnn"]
    result = run("deblur", methods=methods, datasets=["recording-pairs"], metrics=["psnr"], out_dir=tmp_path,
                 progress=False, profile="smoke")
    assert result.ok, result.failures.to_dict("records")
    tuning = {sample_id for sample_id, kind in RecordingPairs.loads if kind == "tuning"}
    assert tuning == set(RecordingPairs().sample_ids("train"))  # none of these takes validation
    assert {sample_id for sample_id, kind in RecordingPairs.loads if kind == "evaluation"} == {
        f"test-{index:02d}" for index in range(4)}
