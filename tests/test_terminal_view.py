"""What a terminal shows: the compact leaderboard of `run`, `list` tables, what did not run."""

import re

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.cli import main
from mmdf_bench.errors import MetricUnavailableError, WeightsUnavailableError
from mmdf_bench.leaderboard import build_leaderboard
from mmdf_bench.leaderboard_terminal import short_reason, to_terminal
from mmdf_bench.metrics.base import Metric
from mmdf_bench.tasks.fusion import FusionMethod
from mmdf_bench.weights import WeightFile, resolve_weights

LONG_NAME = "a-rather-long-method-name"


def _toy_leaderboard(samples=12):
    """Two samples per specimen: `good` beats `base`, `bad` loses, `spotty` misses the last two."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(samples):
        noise = rng.normal(0, 0.01)
        for method, value in (("base", 0.80), ("good", 0.90), (LONG_NAME, 0.8985), ("bad", 0.70),
                              ("spotty", 0.85), ("oracle", 0.99)):
            if method == "spotty" and index >= samples - 2:
                continue
            rows.append({"dataset": "toy", "method": method, "sample_id": f"s{index}",
                         "group": f"g{index // 2}", "metric": "score",
                         "value": value + noise + rng.normal(0, 0.002)})
    failures = pd.DataFrame([
        {"dataset": "toy", "method": "spotty", "sample_id": f"s{index}", "stage": "predict",
         "error": "RuntimeError: boom"} for index in (samples - 2, samples - 1)] + [
        {"dataset": "other", "method": None, "sample_id": None, "stage": "dataset",
         "error": "other: data folder not found: /nowhere"}])
    metrics = {"score": {"higher_is_better": True, "available": True, "summary": "a score"},
               "needs-weights": {"higher_is_better": True, "available": False,
                                 "reason": "needs-weights: W.pth (a long aside (nested)) is not "
                                           "available: looked in /a, /b; download it from x"}}
    return build_leaderboard(pd.DataFrame(rows), metrics=metrics, failures=failures,
                             primary_metrics=("score",), baseline="base", gain_metrics=("score",),
                             n_resamples=999, methods={"oracle": {"upper_bound": True}},
                             unavailable_methods={"pretrained": "P.pth is not available: looked in "
                                                                + "/very/long/path " * 40})


def test_the_compact_view_fits_100_columns_and_says_what_each_row_is():
    text = to_terminal(_toy_leaderboard(), details="runs/x/leaderboard.md")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "nan" not in text
    table = {line.split()[1]: line for line in lines if line[:4].strip() in {"1", "2", "3", "4", "5", "–"}
             and len(line.split()) > 1}
    assert table["good"].split()[0] == "1" and "†" not in table["good"]
    assert "better than base" in table["good"] and "†" in table[LONG_NAME]
    assert any(line.startswith("† not distinguishable from rank 1") for line in lines)
    assert "baseline" in table["base"]
    assert "worse than base" in table["bad"] and table["bad"].split()[0] == "5"
    assert "incomplete (10 of 12)" in table["spotty"]  # said first: the column may be cut
    assert "did not run" in table["pretrained"]
    assert table["oracle"].split()[0] == "–" and "upper bound, not ranked" in table["oracle"]
    assert lines.index(table["oracle"]) < lines.index(table["good"])  # as in leaderboard.md
    assert "toy: ranked by score on the 10 of 12 samples every ranked method scored" in lines
    assert not any("too few" in line for line in lines)
    # statuses need the room: the gains lose their intervals, kept when the width allows
    gain = table["good"].split()[5]
    assert re.fullmatch(r"\+0\.\d+", gain) and "[+0." not in text
    wide = to_terminal(_toy_leaderboard(), width=130)
    assert re.search(re.escape(gain) + r" \[\+0\.\d+, \+0\.\d+\]  better than base", wide)
    assert "Did not run:" in text
    assert "  method pretrained: P.pth is not available" in lines
    assert "  metric needs-weights: W.pth is not available" in lines
    assert "  dataset other: data folder not found: /nowhere" in lines
    assert "other: no scores (see below)" in lines
    assert lines[-1] == "All metrics, subsets, failures and full reasons: runs/x/leaderboard.md"


def test_three_specimens_give_no_better_or_worse_and_say_why():
    text = to_terminal(_toy_leaderboard(samples=6), width=130)
    rows = [line for line in text.splitlines() if line.split()[1:2] in (["good"], ["bad"])]
    assert len(rows) == 2 and not any("than base" in line for line in rows)
    assert "3 specimens: too few for a better/worse verdict (at least 6 needed; see leaderboard.md)" in text


def test_short_reason_keeps_the_gist_of_a_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    missing = WeightFile("toy/TOY.pth", url="https://example.org/TOY.pth",
                         sha256="0" * 64, description="a toy network (three layers)")
    with pytest.raises(WeightsUnavailableError) as raised:
        resolve_weights(missing)
    assert len(str(raised.value)) > 150
    assert short_reason(str(raised.value), 80) == "TOY.pth is not available"
    assert short_reason("x" * 200, 50) == "x" * 49 + "…"


class NeedsMissingWeights(Metric):
    name = "toy-missing-weights"
    tasks = ("fusion",)

    def check_available(self):
        raise MetricUnavailableError("toy-missing-weights: TOY.pth is not available: looked in "
                                     "/nowhere; download it from https://example.org")

    def compute(self, output, sample):
        return 0.0


class Average(FusionMethod):
    name = "toy-average"

    def fuse(self, stack):
        return stack.mean(axis=0)


@pytest.fixture
def toy_components(scratch_registrations):
    scratch_registrations("metrics", NeedsMissingWeights)
    scratch_registrations("methods", Average)


def test_a_metric_asked_for_by_name_that_cannot_run_is_the_last_line_and_not_a_success(
        toy_components, tmp_path, capsys):
    status = main(["run", "--task", "fusion", "--methods", "toy-average", "--metrics", "std",
                   "toy-missing-weights", "--limit", "2", "--quiet", "--out", str(tmp_path / "a")])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.strip().splitlines()[-1] == (
        "mmdf-bench: requested metric toy-missing-weights did not run: TOY.pth is not available")
    assert max(len(line) for line in captured.out.splitlines() if str(tmp_path) not in line) <= 100


def test_what_a_pattern_selected_and_could_not_run_is_summarised_not_an_error(
        toy_components, tmp_path, capsys):
    status = main(["run", "--task", "fusion", "--methods", "toy-average", "--metrics", "std",
                   "toy-missing-*", "--limit", "2", "--quiet", "--out", str(tmp_path / "b")])
    captured = capsys.readouterr()
    assert status == 0
    assert "Did not run:\n  metric toy-missing-weights: TOY.pth is not available" in captured.out
    assert "mmdf-bench: requested" not in captured.err


def _listed(capsys, *arguments):
    assert main(["list", *arguments]) == 0
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 100
    return {line.split()[0]: line.split() for line in text.splitlines()[2:] if line.strip()}


def test_list_says_what_runs_by_default_and_what_each_method_needs(capsys):
    methods = _listed(capsys, "methods")
    assert methods["average"][2:4] == ["yes", "–"]
    assert methods["fusegan"][2:4] == ["no", "training"]  # an ablation, slow to train
    assert methods["fusegan-u"][2:4] == ["yes", "training"]
    assert methods["ifcnn-max"][2:4] == ["yes", "weights"]
    assert methods["fm-brenner"][2:4] == ["yes", "calibration"]
    metrics = _listed(capsys, "metrics", "--task", "fusion")
    assert metrics["brisque"][3] == "weights" and metrics["ssim"][3] == "reference"
    datasets = _listed(capsys, "datasets")
    assert datasets["lytro"][2:5] == ["no", "data", "folder"]
    assert datasets["synthetic-brightfield-fusion"][2:4] == ["yes", "–"]
