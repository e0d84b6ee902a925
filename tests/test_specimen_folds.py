"""Datasets without a train split: leave-one-specimen-out calibration (issue 10, point 6)."""

import hashlib

import imageio.v3 as iio
import numpy as np
import pytest
from scipy import ndimage

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.runner import run
from mmdf_bench.specimen_folds import SpecimenFolds, fit_specimen_folds
from mmdf_bench.tasks.focus import FocusMethod, FocusPrediction
from mmdf_bench.training import TrainableMethod

STACKS = ("alpha", "beta", "gamma")
Z_UM = (-18.0, -6.0, 0.0, 6.0, 18.0)


def write_zstack_folder(root, stacks=STACKS):
    """Stacks of a textured specimen, blurred by |z| / 6 px, z in the file names."""
    for index, name in enumerate(stacks):
        rng = np.random.default_rng(index)
        sharp = ndimage.gaussian_filter(rng.random((180, 180)), 1.0)
        sharp = (sharp - sharp.min()) / np.ptp(sharp)
        folder = root / name
        folder.mkdir(parents=True)
        for z in Z_UM:
            plane = ndimage.gaussian_filter(sharp, abs(z) / 6) if z else sharp
            iio.imwrite(folder / f"cells_z{z:+05.1f}um.png", np.round(plane * 255).astype(np.uint8))
    return root


def fingerprint(patch):
    return hashlib.sha1(np.ascontiguousarray(patch).tobytes()).hexdigest()


class NeverScoresWhatItSaw(FocusMethod):
    """Calibrates on what it is given; refuses to score a patch of a specimen it was fitted on."""

    name = "toy-never-scores-what-it-saw"
    fits = []

    def fit(self, train_samples, *, seed=0):
        samples = list(train_samples)
        self._seen = {fingerprint(sample.patch) for sample in samples if hasattr(sample, "patch")}
        NeverScoresWhatItSaw.fits.append(sorted({str(sample.group) for sample in samples}))
        return self

    def predict(self, patch):
        if fingerprint(patch) in self._seen:
            raise AssertionError("scored a patch of a specimen it was calibrated on")
        return FocusPrediction(0.5)


class TinyTrained(TrainableMethod, FocusMethod):
    """A trainable method that learns nothing (its fit does not read the samples)."""

    name = "toy-tiny-trained"
    profiles = {"smoke": {}, "cpu": {}, "paper": {}}

    def fit(self, train_samples, *, seed=0):
        self._network = len(train_samples)
        return self

    def state_dict(self):
        return {"count": self._network}

    def load_state_dict(self, state):
        self._network = state["count"]

    def predict(self, patch):
        return FocusPrediction(0.5)


@pytest.fixture
def toys(scratch_registrations, monkeypatch, tmp_path):
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    scratch_registrations("methods", NeverScoresWhatItSaw)
    scratch_registrations("methods", TinyTrained)
    NeverScoresWhatItSaw.fits = []


def test_classical_methods_are_calibrated_leave_one_specimen_out_on_a_folder(toys, tmp_path):
    root = write_zstack_folder(tmp_path / "stacks")
    result = run("focus", methods=["toy-never-scores-what-it-saw", "fm-brenner", "toy-tiny-trained"],
                 datasets=[f"zstack-folder={root}"], metrics=["accuracy"], out_dir=tmp_path / "run",
                 profile="smoke", progress=False)
    assert result.ok, result.failures.to_dict("records")
    # one fold per specimen, each fitted on the two others
    assert sorted(map(tuple, NeverScoresWhatItSaw.fits)) == [("alpha", "beta"), ("alpha", "gamma"),
                                                            ("beta", "gamma")]
    scores = result.scores[result.scores["metric"] == "accuracy"]
    counts = scores.groupby("method").size()
    assert counts["fm-brenner"] == counts["toy-never-scores-what-it-saw"] == counts["toy-tiny-trained"] > 10
    brenner = result.manifest["methods"]["fm-brenner"]
    record = brenner["training"]["zstack-folder"]
    assert record["calibration"] == "leave-one-specimen-out" and record["folds"] == 3
    assert set(record["fitted_config"]) == set(STACKS) and not record["failed_folds"]
    assert "calibrated leave-one-specimen-out on zstack-folder (3 folds" in brenner["information"]["zstack-folder"]
    # the deep method says what it was trained on: the embedded data, not this folder
    tiny = result.manifest["methods"]["toy-tiny-trained"]
    assert tiny["training"]["zstack-folder"]["trained_on"] == "synthetic-brightfield-zstack"
    assert tiny["information"]["zstack-folder"] == ("trained on synthetic-brightfield-zstack (train split); "
                                                    "profile smoke")
    rows = result.leaderboard.rows.set_index("method")
    assert rows.loc["fm-brenner", "information"].startswith("calibrated leave-one-specimen-out")
    assert "leave-one-specimen-out" in (tmp_path / "run" / "leaderboard.md").read_text()


def test_a_fold_that_cannot_be_fitted_fails_only_its_specimen(tmp_path):
    class NeedsAlpha(FocusMethod):
        name = "toy-needs-alpha"

        def fit(self, train_samples, *, seed=0):
            if "alpha" not in {str(sample.group) for sample in train_samples}:
                raise InvalidInputError("no alpha to calibrate on")
            return self

        def predict(self, patch):
            return FocusPrediction(0.5)

    from mmdf_bench.data.zstack_folder import ZStackFolder

    dataset = ZStackFolder(root=write_zstack_folder(tmp_path / "stacks"))
    folds, record = fit_specimen_folds(NeedsAlpha(), dataset, dataset.sample_ids("test"))
    assert set(folds.methods) == {"beta", "gamma"} and record["failed_folds"] == {
        "alpha": "InvalidInputError: no alpha to calibrate on"}
    with pytest.raises(InvalidInputError, match="without specimen alpha failed: InvalidInputError: no alpha"):
        folds.method_for("alpha")
    with pytest.raises(InvalidInputError, match="no leave-one-specimen-out fold was fitted for specimen delta"):
        SpecimenFolds().method_for("delta")


def test_one_specimen_keeps_the_documented_defaults(toys, tmp_path):
    root = write_zstack_folder(tmp_path / "stacks", stacks=("alpha",))
    result = run("focus", methods=["toy-never-scores-what-it-saw"], datasets=[f"zstack-folder={root}"],
                 metrics=["accuracy"], out_dir=tmp_path / "run", progress=False)
    record = result.manifest["methods"]["toy-never-scores-what-it-saw"]
    assert record["training"]["zstack-folder"]["calibration"] == "defaults"
    assert record["information"]["zstack-folder"].startswith("not calibrated: documented defaults (1 specimen")
    assert NeverScoresWhatItSaw.fits == []


class CalibratesOnAlphaOnly(FocusMethod):
    """An operator whose threshold needs specimen alpha; its raw score needs nothing."""

    name = "toy-calibrates-on-alpha-only"

    def fit(self, train_samples, *, seed=0):
        if "alpha" not in {str(sample.group) for sample in train_samples}:
            raise InvalidInputError("no alpha to calibrate on")
        self._fitted = True
        return self

    def predict(self, patch):
        if not getattr(self, "_fitted", False):
            from mmdf_bench.baselines.focus import NotFittedError

            raise NotFittedError(f"{self.name}: call fit(train_samples) before predict")
        return FocusPrediction(0.5)

    def focus_score(self, image):
        return float(np.var(np.diff(image, axis=0)))


def test_autofocus_needs_no_calibration_so_a_failed_fold_keeps_its_stacks(scratch_registrations, tmp_path):
    scratch_registrations("methods", CalibratesOnAlphaOnly)
    root = write_zstack_folder(tmp_path / "stacks")
    result = run("focus", methods=["toy-calibrates-on-alpha-only"], datasets=[f"zstack-folder={root}"],
                 metrics=["accuracy", "autofocus-error"], out_dir=tmp_path / "run", progress=False)
    scores = result.scores
    alpha = scores[scores["group"].astype(str) == "alpha"]
    # the patches of alpha needed the fold that failed; its stack is ranked by the raw operator
    assert set(alpha["metric"]) == {"autofocus-error"} and len(alpha) == 1
    assert (alpha["value"] == 0).all()  # the sharpest plane is the in-focus one
    others = scores[scores["group"].astype(str) != "alpha"]
    assert set(others["metric"]) == {"accuracy", "autofocus-error"}
    assert result.failures["error"].str.contains("without specimen alpha failed").all()


def test_one_specimen_without_defaults_says_why_it_is_not_calibrated(scratch_registrations, tmp_path):
    scratch_registrations("methods", CalibratesOnAlphaOnly)
    root = write_zstack_folder(tmp_path / "stacks", stacks=("alpha",))
    result = run("focus", methods=["toy-calibrates-on-alpha-only"], datasets=[f"zstack-folder={root}"],
                 metrics=["accuracy", "autofocus-error"], out_dir=tmp_path / "run", progress=False)
    errors = set(result.failures["error"])
    assert len(errors) == 1
    (error,) = errors
    assert error.startswith("NotFittedError: toy-calibrates-on-alpha-only: call fit")
    assert "zstack-folder has no train split and 1 specimen(s), fewer than two to leave out" in error
    assert set(result.scores["metric"]) == {"autofocus-error"}
