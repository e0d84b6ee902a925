"""The runner: long-format scores, failures that do not stop a run, the manifest."""

import json

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.cli import main
from mmdf_bench.data.base import Dataset
from mmdf_bench.errors import InvalidInputError, MetricUnavailableError
from mmdf_bench.metrics.base import Metric
from mmdf_bench.runner import run
from mmdf_bench.tasks.fusion import FusionMethod, FusionSample


class ToyStacks(Dataset):
    """Six two-plane stacks: the left half sharp in plane 0, the right half in plane 1."""

    name = "toy-stacks"
    task = "fusion"

    def sample_ids(self, split):
        return [f"{split}-{index}" for index in range(6 if split == "test" else 3)]

    def load(self, sample_id):
        if sample_id == "test-5":
            raise InvalidInputError("toy-stacks: test-5.tif is unreadable")
        rng = np.random.default_rng(int(sample_id.split("-")[1]))
        # 8-bit data, as the samples declare by default: outputs are stored and scored at 8 bits
        reference = (np.round(rng.random((16, 16)) * 255) / 255).astype(np.float32)
        blurred = np.full_like(reference, reference.mean())
        left = np.concatenate([reference[:, :8], blurred[:, 8:]], axis=1)
        right = np.concatenate([blurred[:, :8], reference[:, 8:]], axis=1)
        return FusionSample(np.stack([left, right]), sample_id, reference=reference,
                            group=f"specimen-{int(sample_id.split('-')[1]) // 2}")


class PerfectHalves(FusionMethod):
    name = "toy-perfect"

    def fuse(self, stack):
        return np.concatenate([stack[0][:, :8], stack[1][:, 8:]], axis=1)


class BrokenOnThree(FusionMethod):
    name = "toy-broken"

    def fuse(self, stack):
        if np.isclose(stack[0, 0, 0], ToyStacks().load("test-3").stack[0, 0, 0]):
            raise RuntimeError("cannot fuse this one")
        return stack.mean(axis=0)


class Counting(FusionMethod):
    name = "toy-counting"
    fitted_on = None

    def fit(self, train_samples, *, seed=0):
        Counting.fitted_on = [sample.sample_id for sample in train_samples]
        return self

    def fuse(self, stack):
        return stack.max(axis=0)


class MeanAbsoluteError(Metric):
    name = "toy-mae"
    tasks = ("fusion",)
    higher_is_better = False
    requires_reference = True

    def compute(self, output, sample):
        return float(np.abs(output - sample.reference).mean())


class NeverAvailable(Metric):
    name = "toy-unavailable"
    tasks = ("fusion",)

    def check_available(self):
        raise MetricUnavailableError("weights toy.pth missing; put them in /nowhere")


@pytest.fixture
def toy_registry(scratch_registrations):
    for kind, component in [("datasets", ToyStacks), ("methods", PerfectHalves),
                            ("methods", BrokenOnThree), ("methods", Counting),
                            ("metrics", MeanAbsoluteError), ("metrics", NeverAvailable)]:
        scratch_registrations(kind, component)


def test_run_writes_long_scores_failures_and_manifest(toy_registry, tmp_path):
    result = run("fusion", methods=["toy-*"], datasets=["toy-stacks"],
                 metrics=["toy-*", "psnr"], out_dir=tmp_path, seed=7, progress=False)

    scores = pd.read_csv(tmp_path / "scores.csv", dtype={"sample_id": str})
    assert list(scores.columns) == ["dataset", "method", "sample_id", "group", "metric", "value"]
    # 5 loadable samples; toy-broken fails on one of them
    per_method = scores[scores.metric == "toy-mae"].groupby("method").size().to_dict()
    assert per_method == {"toy-perfect": 5, "toy-broken": 4, "toy-counting": 5}
    perfect = scores[(scores.method == "toy-perfect") & (scores.metric == "toy-mae")]
    assert np.allclose(perfect.value, 0.0)

    failures = pd.read_csv(tmp_path / "failures.csv")
    stages = sorted(zip(failures["stage"], failures["sample_id"].astype(str)))
    assert stages == [("load", "test-5"), ("predict", "test-3")]
    assert "test-5.tif is unreadable" in failures.loc[failures.stage == "load", "error"].item()
    assert not result.ok

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["task"] == "fusion"
    assert manifest["methods"]["toy-perfect"]["distribution"] == "__main__"
    assert manifest["versions"]["mmdf-bench"]
    assert len(manifest["failures"]) == 2
    assert {record["method"] for record in manifest["timings"]} == {
        "toy-perfect", "toy-broken", "toy-counting"}
    assert manifest["metrics"]["toy-unavailable"]["available"] is False
    assert Counting.fitted_on == ["train-0", "train-1", "train-2"]
    assert "fit_seconds" in manifest["methods"]["toy-counting"]["training"]["toy-stacks"]

    board = (tmp_path / "leaderboard.md").read_text()
    assert "weights toy.pth missing" in board
    assert "failure" in board.lower()


def test_cli_exit_status_reports_failures(toy_registry, tmp_path, capsys):
    status = main(["run", "--task", "fusion", "--methods", "toy-perfect,toy-broken",
                   "--datasets", "toy-stacks", "--metrics", "toy-mae", "--out", str(tmp_path),
                   "--quiet"])
    assert status == 1
    assert "toy-perfect" in capsys.readouterr().out


def test_cli_unknown_method_is_a_usage_error(capsys):
    assert main(["run", "--task", "fusion", "--methods", "wavelte", "--quiet"]) == 2
    assert "did you mean 'wavelet'" in capsys.readouterr().err


def test_a_named_dataset_that_cannot_be_opened_is_refused_before_anything_is_written(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(InvalidInputError, match=f"lytro: data folder not found: {missing}"):
        run("fusion", methods=["average"], datasets=[f"lytro={missing}"],
            metrics=["std"], out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_default_dataset_that_cannot_be_opened_is_a_failure_row_not_a_method(tmp_path,
                                                                               monkeypatch):
    import dataclasses

    from mmdf_bench.tasks import fusion

    # the default data of a task may need MMDF_BENCH_DATA: its absence must not stop the run
    monkeypatch.setattr(fusion, "TASK", dataclasses.replace(
        fusion.TASK, default_datasets=("synthetic-brightfield-fusion", "lytro")))
    monkeypatch.delenv("MMDF_BENCH_DATA", raising=False)
    result = run("fusion", methods=["average"], metrics=["std"], limit=2,
                 out_dir=tmp_path / "out", progress=False)
    failure = result.failures.iloc[0]
    assert (failure["dataset"], failure["stage"]) == ("lytro", "dataset")
    assert "MMDF_BENCH_DATA is not set" in failure["error"]
    assert set(result.scores["dataset"]) == {"synthetic-brightfield-fusion"}
    board = (tmp_path / "out" / "leaderboard.md").read_text()
    lytro_table = board.split("## lytro")[1].split("##")[0]
    assert "No scores (see the failures below)" in lytro_table
    assert "nan" not in board  # the dataset-wide failure is no method's row
    assert "| lytro     | –        | –        | dataset |" in board


def test_save_outputs_writes_every_fused_image(toy_registry, tmp_path):
    from mmdf_bench.images import read_image

    run("fusion", methods=["toy-perfect"], datasets=["toy-stacks"], metrics=["toy-mae"],
        out_dir=tmp_path, save_outputs=True, progress=False)
    written = sorted(path.name for path in (tmp_path / "outputs" / "toy-stacks" / "toy-perfect").iterdir())
    assert written == [f"test-{index}.png" for index in range(5)]
    saved = read_image(tmp_path / "outputs" / "toy-stacks" / "toy-perfect" / "test-0.png")
    np.testing.assert_allclose(saved, ToyStacks().load("test-0").reference, atol=1 / 255)


def test_a_method_without_its_weights_is_unavailable_not_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    result = run("fusion", methods=["ifcnn-max", "average"], metrics=["std"], limit=2,
                 out_dir=tmp_path / "out", progress=False)
    assert result.ok  # unavailable is not a failure
    assert set(result.scores.method) == {"average"}
    assert result.manifest["methods"]["ifcnn-max"]["available"] is False
    board = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "## Unavailable methods" in board and "IFCNN-MAX.pth" in board
