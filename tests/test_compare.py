"""Regression checks between runs: `mmdf_bench.compare` and ``mmdf-bench compare``.

The runs are real ones (the runner on four embedded fusion stacks) with an
ad-hoc method that can be made worse by an option, and copies of them whose
tables are edited to give closed-form differences.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from mmdf_bench import registry
from mmdf_bench.cli import main
from mmdf_bench.compare import (Tolerance, compare_runs, load_run, parse_tolerances,
                                to_markdown)
from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.metrics.base import Metric
from mmdf_bench.run_folder import IncomparableRunsError
from mmdf_bench.runner import run
from mmdf_bench.tasks.fusion import FusionMethod

DIMMED = "compare-test-dimmed-average"
MAE = "compare-test-mae"
DATASET = "synthetic-brightfield-fusion"


class DimmedAverage(FusionMethod):
    """The plane average, darkened by a factor: darker is worse against the reference."""

    name = DIMMED
    summary = "average of the planes times (1 - darkening); a method that can be made worse"

    def __init__(self, *, darkening=0.0):
        self.darkening = darkening

    def fuse(self, stack):
        return stack.mean(axis=0) * (1.0 - self.darkening)


class MeanAbsoluteError(Metric):
    """Lower is better: checks that the direction of a metric is respected."""

    name = MAE
    tasks = ("fusion",)
    higher_is_better = False
    requires_reference = True

    def applies_to(self, sample):
        return sample.reference is not None

    def compute(self, output, sample):
        return float(np.abs(output - sample.reference).mean())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs on the first four stacks: base, an identical rerun, a worse one, one on 3 stacks."""
    registry.register_method(DimmedAverage)
    registry.register_metric(MeanAbsoluteError)
    folder = tmp_path_factory.mktemp("runs")
    options = dict(methods=["average", DIMMED], metrics=["psnr", "ssim", MAE], progress=False)
    made = {}
    try:
        made["base"] = run("fusion", out_dir=folder / "base", limit=4, **options).out_dir
        made["same"] = run("fusion", out_dir=folder / "same", limit=4, **options).out_dir
        made["worse"] = run("fusion", out_dir=folder / "worse", limit=4,
                            method_options={DIMMED: {"darkening": 0.3}}, **options).out_dir
        made["fewer"] = run("fusion", out_dir=folder / "fewer", limit=3, **options).out_dir
        yield made
    finally:
        registry.methods.unregister(DIMMED)
        registry.metrics.unregister(MAE)


def _copy(source, destination):
    shutil.copytree(source, destination)
    return destination


def _row(comparison, method, metric):
    rows = comparison.rows
    match = rows[(rows["method"] == method) & (rows["metric"] == metric)]
    assert len(match) == 1, f"expected one row for {method}/{metric}, got {len(match)}"
    return match.iloc[0]


def test_unchanged_run_passes(runs):
    comparison = compare_runs(runs["base"], runs["same"], n_resamples=999)
    assert comparison.ok
    assert set(comparison.rows["status"]) == {"unchanged"}
    assert len(comparison.rows) == 2 * 3  # two methods x three metrics
    # identical scores: every difference is exactly zero with a zero-width interval
    assert (comparison.rows["difference"] == 0).all()
    assert (comparison.rows["ci_low"] == 0).all() and (comparison.rows["ci_high"] == 0).all()
    assert (comparison.rows["n"] == 4).all()


def test_injected_regression_is_caught(runs):
    comparison = compare_runs(runs["base"], runs["worse"], n_resamples=999)
    assert not comparison.ok
    for metric in ("psnr", "ssim", MAE):
        row = _row(comparison, DIMMED, metric)
        assert row["status"] == "regression", (metric, row.to_dict())
        assert row["n"] == 4
    # higher-is-better metrics went down, the lower-is-better error went up
    assert _row(comparison, DIMMED, "psnr")["ci_high"] < 0
    assert _row(comparison, DIMMED, MAE)["ci_low"] > 0
    for metric in ("psnr", "ssim", MAE):
        assert _row(comparison, "average", metric)["status"] == "unchanged"
    text = to_markdown(comparison)
    assert "**Check FAILED**" in text and "**REGRESSION**" in text and DIMMED in text


def test_improvement_is_reported_as_such(runs):
    comparison = compare_runs(runs["worse"], runs["base"], n_resamples=999)
    assert comparison.ok
    for metric in ("psnr", "ssim", MAE):
        assert _row(comparison, DIMMED, metric)["status"] == "improvement"
    assert _row(comparison, DIMMED, "psnr")["ci_low"] > 0
    assert _row(comparison, DIMMED, MAE)["ci_high"] < 0
    assert "**Check passed**" in to_markdown(comparison)
    assert "improvement" in to_markdown(comparison, changes_only=True)


def test_tolerance_decides_on_a_known_difference(runs, tmp_path):
    # every sample's psnr of `average` lowered by exactly 0.5 dB
    edited = _copy(runs["base"], tmp_path / "edited")
    scores = pd.read_csv(edited / "scores.csv", dtype={"sample_id": str, "group": str})
    chosen = (scores["method"] == "average") & (scores["metric"] == "psnr")
    scores.loc[chosen, "value"] -= 0.5
    scores.to_csv(edited / "scores.csv", index=False)

    tight = compare_runs(runs["base"], edited, tolerances=["psnr=0.4"], n_resamples=999)
    row = _row(tight, "average", "psnr")
    assert row["difference"] == pytest.approx(-0.5)
    assert row["ci_low"] == pytest.approx(-0.5) and row["ci_high"] == pytest.approx(-0.5)
    assert row["status"] == "regression" and not tight.ok
    loose = compare_runs(runs["base"], edited, tolerances=["psnr=0.6"], n_resamples=999)
    assert _row(loose, "average", "psnr")["status"] == "unchanged" and loose.ok
    # 0.5 dB of a ~33 dB psnr is about 1.5%: 1% is exceeded, 2% is not
    assert not compare_runs(runs["base"], edited, tolerances=["psnr=1%"], n_resamples=99).ok
    assert compare_runs(runs["base"], edited, tolerances=["*=2%"], n_resamples=99).ok


def test_one_specimen_is_judged_on_its_difference(runs, tmp_path):
    # every sample of one specimen: no bootstrap interval, yet a darker method is still a regression
    made = {}
    for name in ("base", "worse"):
        made[name] = _copy(runs[name], tmp_path / name)
        for table in ("samples.csv", "scores.csv"):
            frame = pd.read_csv(made[name] / table, dtype={"sample_id": str, "group": str})
            frame["group"] = "one-specimen"
            frame.to_csv(made[name] / table, index=False)
    comparison = compare_runs(made["base"], made["worse"], n_resamples=999)
    row = _row(comparison, DIMMED, "psnr")
    assert np.isnan(row["ci_low"]) and row["difference"] < 0
    assert row["status"] == "regression" and not comparison.ok
    assert _row(comparison, "average", "psnr")["status"] == "unchanged"


def test_a_large_tolerance_lets_the_worse_run_pass(runs):
    comparison = compare_runs(runs["base"], runs["worse"], n_resamples=999,
                              tolerances={"psnr": Tolerance(50.0), "ssim": Tolerance(1.0),
                                          MAE: Tolerance(1.0)})
    assert comparison.ok


def test_mismatched_samples_cannot_be_compared(runs):
    with pytest.raises(IncomparableRunsError, match="test-003"):
        compare_runs(runs["base"], runs["fewer"])


def test_other_dataset_version_cannot_be_compared(runs, tmp_path):
    edited = _copy(runs["same"], tmp_path / "version")
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["datasets"][DATASET]["version"] += "-other"
    (edited / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IncomparableRunsError, match="version differs"):
        compare_runs(runs["base"], edited)


def test_results_missing_from_the_new_run_fail(runs, tmp_path):
    edited = _copy(runs["same"], tmp_path / "missing")
    scores = pd.read_csv(edited / "scores.csv", dtype={"sample_id": str, "group": str})
    # the method lost everywhere, and one sample lost for `average`'s ssim
    scores = scores[scores["method"] != DIMMED]
    scores = scores[~((scores["method"] == "average") & (scores["metric"] == "ssim")
                      & (scores["sample_id"] == "test-002"))]
    scores.to_csv(edited / "scores.csv", index=False)
    comparison = compare_runs(runs["base"], edited, n_resamples=99)
    assert not comparison.ok
    assert set(comparison.rows.loc[comparison.rows["method"] == DIMMED, "status"]) == {"missing"}
    lost = _row(comparison, "average", "ssim")
    assert lost["status"] == "lost samples" and lost["n"] == 3 and lost["n_base"] == 4


def _write_focus_run(folder, predictions, labels):
    """A hand-made focus run: f1 component rows from decisions and labels."""
    folder.mkdir()
    rows = []
    for index, (decision, label) in enumerate(zip(predictions, labels)):
        counts = {"tp": decision and label, "fp": decision and not label,
                  "fn": (not decision) and label}
        rows += [{"dataset": "toy", "method": "m", "sample_id": f"s{index}",
                  "group": f"g{index}", "metric": f"f1:{key}", "value": float(value)}
                 for key, value in counts.items()]
    pd.DataFrame(rows).to_csv(folder / "scores.csv", index=False)
    manifest = {"task": "focus", "datasets": {"toy": {"version": "1", "seed": 0}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_pooled_metric_is_compared_on_its_pooled_value(tmp_path):
    labels = [1] * 10 + [0] * 10
    good = [1] * 10 + [0] * 10                 # F1 = 1
    bad = [1] * 4 + [0] * 6 + [1] * 4 + [0] * 6  # tp 4, fn 6, fp 4: F1 = 8 / 18
    base = _write_focus_run(tmp_path / "good", good, labels)
    new = _write_focus_run(tmp_path / "bad", bad, labels)
    comparison = compare_runs(base, new, n_resamples=999)
    row = _row(comparison, "m", "f1")
    assert row["base"] == pytest.approx(1.0)
    assert row["new"] == pytest.approx(8 / 18)
    assert row["difference"] == pytest.approx(8 / 18 - 1)
    assert row["status"] == "regression"


def test_load_run_names_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(MmdfBenchError, match="scores.csv not found"):
        load_run(tmp_path)


def test_bad_tolerances_are_rejected(runs):
    for text in ("psnr", "psnr=-1", "psnr=abc", "=3"):
        with pytest.raises(MmdfBenchError, match="bad tolerance"):
            parse_tolerances([text])
    assert parse_tolerances(["ssim=0.5%"])["ssim"] == Tolerance(0.5, relative=True)
    with pytest.raises(MmdfBenchError, match="neither run has"):
        compare_runs(runs["base"], runs["same"], tolerances=["pnsr=1"])


def test_cli_exit_codes(runs, capsys):
    assert main(["compare", str(runs["base"]), str(runs["same"]), "--resamples", "99"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert main(["compare", str(runs["base"]), str(runs["worse"]), "--resamples", "99"]) == 1
    captured = capsys.readouterr()
    assert "**REGRESSION**" in captured.out and "regression" in captured.err
    assert main(["compare", str(runs["worse"]), str(runs["base"]), "--resamples", "99"]) == 0
    assert "improvement" in capsys.readouterr().out
    assert main(["compare", str(runs["base"]), str(runs["fewer"])]) == 2
    error = capsys.readouterr().err
    assert "cannot be compared" in error and "only in the base run" in error
    assert main(["compare", str(runs["base"]), str(runs["worse"]), "--resamples", "99",
                 "--tolerance", "psnr=50", "ssim=1", "--tolerance", f"{MAE}=1"]) == 0
