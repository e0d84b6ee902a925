"""Choices made on the validation split (issue 10, point 4): mmdf-focus calibration, FuseGAN epoch.

The cpu profiles themselves were chosen on validation by
``benchmarks/focus_profile_selection.py`` and
``benchmarks/fusegan_profile_selection.py`` (records in
``benchmarks/results/``); these tests pin that the methods use the
validation split they are given, say so, and fall back to train without one.
"""

import numpy as np
import pytest

from mmdf_bench import registry
from mmdf_bench.data.synthetic_fusion import SyntheticBrightfieldFusion
from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack
from mmdf_bench.methods.focus_cnn import MMDFFocusCNN
from mmdf_bench.training import fit_or_load_on
from mmdf_bench.tuning import accepts_validation


@pytest.fixture(scope="module")
def patches():
    dataset = SyntheticBrightfieldZStack(num_train=96, num_validation=48)
    return dataset, [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")], \
        [dataset.load(sample_id) for sample_id in dataset.sample_ids("validation")]


def test_mmdf_focus_calibrates_on_validation(patches):
    _, train, validation = patches
    assert accepts_validation(MMDFFocusCNN(profile="smoke"))
    held_out = MMDFFocusCNN(profile="smoke", calibrate=True).fit(train, seed=0, validation_samples=validation)
    alone = MMDFFocusCNN(profile="smoke", calibrate=True).fit(train, seed=0)
    assert held_out.fitted_choices == {"weights": "train", "calibration": "validation"}
    assert alone.fitted_choices == {"weights": "train", "calibration": "train"}
    # the same network (same seed, same train split), calibrated on other patches
    for first, second in zip(held_out._network.state_dict().values(), alone._network.state_dict().values()):
        np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert held_out._calibration != alone._calibration
    # one class only in the validation split: nothing to calibrate on, train it is
    in_focus = [sample for sample in validation if sample.label == 0]
    fallback = MMDFFocusCNN(profile="smoke", calibrate=True).fit(train, seed=0, validation_samples=in_focus)
    assert fallback.fitted_choices["calibration"] == "train"


def test_the_manifest_record_says_where_the_calibration_came_from(patches, tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path))
    dataset, _, _ = patches
    record = fit_or_load_on(MMDFFocusCNN(profile="smoke", calibrate=True), "mmdf-focus", dataset, seed=0)
    assert record.splits == {"train": 96, "validation": 48}
    assert record.choices == {"weights": "train", "calibration": "validation"}
    again = fit_or_load_on(MMDFFocusCNN(profile="smoke", calibrate=True), "mmdf-focus", dataset, seed=0)
    assert again.cached and again.choices == record.choices


def test_fusegan_keeps_the_epoch_best_on_validation():
    dataset = SyntheticBrightfieldFusion(num_train=4, num_validation=3)
    train = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    validation = [dataset.load(sample_id) for sample_id in dataset.sample_ids("validation")]
    method = registry.create_method("fusegan", profile="smoke", epochs=4)
    method.fit(train, seed=0, validation_samples=validation)
    scores = [entry["validation"] for entry in method._history]
    kept = method._history[-1]["kept_epoch"]
    assert len(scores) == 4 and scores[kept - 1] == max(scores)
    assert method.fitted_choices == {"weights": "train", "epoch": "validation"}
    assert method._facts["selection"]["epoch"] == kept
    # the kept generator is the one that scored: scoring it again gives the same number
    assert method.validator(validation)(method._network) == pytest.approx(max(scores), abs=1e-6)
    plain = registry.create_method("fusegan", profile="smoke", epochs=4).fit(train, seed=0)
    assert plain.fitted_choices == {"weights": "train"} and "validation" not in plain._history[-1]


def test_the_mmdf_focus_cpu_profile_is_what_validation_chose():
    import json
    from pathlib import Path

    profile = MMDFFocusCNN.profiles["cpu"]
    evidence = Path(__file__).resolve().parents[1] / profile["chosen_on"].split(": ", 1)[1]
    record = json.loads(evidence.read_text())
    assert record["dataset"]["test"] == "never loaded"
    chosen = record["variants"][record["chosen"]]
    # the chosen variant is the best on the criterion, and the profile applies its change
    assert chosen["mean_balanced_accuracy"] == max(variant["mean_balanced_accuracy"]
                                                   for variant in record["variants"].values())
    for key, value in chosen["overrides"].items():
        assert profile[key] == (tuple(value) if isinstance(value, list) else value), key
    method = MMDFFocusCNN(profile="cpu")
    assert method.config()["hyperparameters"]["chosen_on"].startswith("validation split")


def test_the_fusegan_cpu_profile_is_what_validation_chose():
    import json
    from pathlib import Path

    from mmdf_bench.methods import fusegan

    evidence = Path(__file__).resolve().parents[1] / fusegan.CPU_PROFILE_EVIDENCE.split(": ", 1)[1]
    record = json.loads(evidence.read_text())
    assert record["dataset"]["test"] == "never loaded"
    assert record["dataset"]["version"] == SyntheticBrightfieldFusion.version
    finished = record["variants"]
    # the chosen variant is the best kept validation SSIM, and it is the profile as it stands
    assert record["chosen"] == max(finished, key=lambda name: finished[name]["kept_validation_ssim"]) == "cpu"
    assert finished["cpu"]["overrides"] == {}
    # the manifest says so for the profile as chosen, and not once an option overrides it
    assert registry.create_method("fusegan-u", profile="cpu").fitted_choices["profile"] == "validation"
    assert "profile" not in registry.create_method("fusegan-u", profile="cpu", crop=64).fitted_choices
    assert "profile" not in registry.create_method("fusegan-u", profile="smoke").fitted_choices


def test_a_loaded_fusegan_says_its_profile_was_chosen_on_validation(tmp_path, monkeypatch):
    # the shipped checkpoint was written before the profile cited its evidence; the manifest still says it
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path))
    method = registry.create_method("fusegan-u", profile="cpu")
    record = fit_or_load_on(method, "fusegan-u", SyntheticBrightfieldFusion())
    assert record.cached and record.choices["profile"] == "validation"
    assert record.choices["weights"] == "train" and record.choices["epoch"] == "validation"
