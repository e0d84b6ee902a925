"""The reference suite (`mmdf_bench.reference`) against the committed reference runs.

`tests/test_compare.py` checks the comparison itself on hand-made runs.
Here the suite runs for real, on the fusion task with two classical
methods, against ``results/reference/fusion``: unchanged, with a registered
method made worse in this process (the plane average, darkened), and against
a reference written by the suite from the darkened method (so the real
method is an improvement).
"""

import pytest

from mmdf_bench.baselines.fusion import AverageFusion
from mmdf_bench import reference, registry
from mmdf_bench.cli import main as cli_main
from mmdf_bench.compare import load_run, to_markdown
from mmdf_bench.errors import MmdfBenchError
from tests.conftest import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / reference.DEFAULT_REFERENCE_DIR
METHODS = ["average", "wavelet"]
DARKENING = 0.3


def _darkened_average(stack):
    return stack.mean(axis=0) * (1.0 - DARKENING)


def _row(comparison, method, metric):
    rows = comparison.rows
    match = rows[(rows["method"] == method) & (rows["metric"] == metric)]
    assert len(match) == 1, f"expected one row for {method}/{metric}, got {len(match)}"
    return match.iloc[0]


@pytest.mark.parametrize("name", sorted(reference.SUITE))
def test_committed_reference_is_a_complete_suite_run(name):
    entry = reference.SUITE[name]
    task = entry.task
    run = load_run(COMMITTED / name)
    config = run.manifest["config"]
    hint = "regenerate with `OMP_NUM_THREADS=1 python -m mmdf_bench.reference update`"
    # every registered method, including those left out of default runs (oracles only where asked)
    assert config["methods"] == reference.suite_methods(entry), hint
    if entry.upper_bounds:
        assert config["methods"] == registry.methods.select(["*"], task=task), hint
    assert config["metrics"] == reference.suite_metrics(task), hint
    assert (config["task"], config["limit"], config["profile"], config["seed"]) == (
        task, entry.limit, reference.PROFILE, reference.SEED), hint
    assert run.failures.empty
    assert sorted(run.scores["method"].unique()) == sorted(config["methods"])
    if entry.datasets:  # the real sets: every one of them ran
        assert sorted(run.samples) == sorted(text.partition(":")[0] for text in entry.datasets), hint
    for dataset, samples in run.samples.items():
        assert len(samples) == entry.limit, dataset
    # each tolerance names a metric of the run (compare refuses unknown names)
    scored = set(run.scores["metric"].str.partition(":")[0])
    assert set(entry.tolerances) <= scored
    assert not set(reference.EXCLUDED_METRICS) & scored


def test_unchanged_methods_pass_against_the_committed_reference(tmp_path, capsys):
    # through the `mmdf-bench reference` subcommand (`python -m mmdf_bench.reference` below)
    status = cli_main(["reference", "check", "--reference", str(COMMITTED), "--out", str(tmp_path),
                             "--tasks", "fusion", "--methods", *METHODS, "--resamples", "999",
                             "--quiet"])
    out = capsys.readouterr().out
    assert status == 0, out
    rows = len(METHODS) * len(reference.suite_metrics("fusion"))
    assert f"**Check passed**: {rows} unchanged." in out
    # the line that repeats the check names the folders and the tolerances
    assert f"mmdf-bench compare {COMMITTED / 'fusion'} {tmp_path / 'fusion'}" in out
    assert "'psnr=" + reference.SUITE["fusion"].tolerances["psnr"] + "'" in out


def test_a_method_made_worse_is_caught(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(AverageFusion, "fuse", lambda self, stack: _darkened_average(stack))
    outcomes = reference.check_suite(COMMITTED, tmp_path, tasks=["fusion"], methods=METHODS,
                                     n_resamples=999)
    comparison = outcomes["fusion"]
    assert not comparison.ok
    for metric in ("psnr", "ssim"):
        row = _row(comparison, "average", metric)
        assert row["status"] == "regression", row.to_dict()
        assert row["ci_high"] < -row["tolerance"]
    # a 30 % darker image is far from the reference everywhere: several dB lost
    assert _row(comparison, "average", "psnr")["difference"] < -3
    assert set(comparison.rows.loc[comparison.rows["method"] == "wavelet", "status"]) == {
        "unchanged"}
    assert reference.report_check(outcomes, COMMITTED, tmp_path) == 1
    out = capsys.readouterr().out
    assert "**Check FAILED**" in out and "**REGRESSION**: `average` psnr" in out


def test_an_improvement_is_reported_as_such(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(AverageFusion, "fuse", lambda self, stack: _darkened_average(stack))
        written = reference.update_references(tmp_path / "references", tasks=["fusion"],
                                              methods=METHODS)
    folder = written["fusion"]
    assert folder == tmp_path / "references" / "fusion"
    assert (folder / "scores.csv").is_file() and (folder / "leaderboard.md").is_file()
    assert not any((folder / name).exists() for name in reference.PRUNED_FILES)
    assert [path.name for path in folder.parent.iterdir()] == ["fusion"]

    outcomes = reference.check_suite(folder.parent, tmp_path / "new", tasks=["fusion"],
                                     methods=METHODS, n_resamples=999)
    comparison = outcomes["fusion"]
    for metric in ("psnr", "ssim"):
        row = _row(comparison, "average", metric)
        assert row["status"] == "improvement", row.to_dict()
        assert row["ci_low"] > row["tolerance"]
    assert set(comparison.rows.loc[comparison.rows["method"] == "wavelet", "status"]) == {
        "unchanged"}
    changes = to_markdown(comparison, changes_only=True)
    psnr_line = next(line for line in changes.splitlines()
                     if line.startswith("| average") and "psnr" in line)
    assert psnr_line.rstrip(" |").endswith("improvement")


def test_an_incomplete_run_does_not_replace_a_reference(tmp_path, monkeypatch):
    target = tmp_path / "references" / "fusion"
    target.mkdir(parents=True)
    (target / "scores.csv").write_text("kept\n")

    def broken(self, stack):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(AverageFusion, "fuse", broken)
    failures = reference.SUITE["fusion"].limit  # one per sample
    expected = f"(?s)did not run completely.*fusion: {failures} failure"
    with pytest.raises(MmdfBenchError, match=expected):
        reference.update_references(tmp_path / "references", tasks=["fusion"],
                                    methods=["average"])
    assert (target / "scores.csv").read_text() == "kept\n"
    assert [path.name for path in target.parent.iterdir()] == ["fusion"]


def test_a_missing_reference_is_refused_before_running(tmp_path, capsys):
    status = reference.main(["check", "--reference", str(tmp_path), "--out",
                             str(tmp_path / "new"), "--tasks", "fusion", "--quiet"])
    assert status == 2
    assert "not a results folder" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()



def test_trained_methods_are_judged_with_their_own_tolerances():
    run = load_run(COMMITTED / "deblur")
    comparison = reference.compare_task(run, run, reference.SUITE["deblur"], n_resamples=99)
    assert comparison.ok and set(comparison.rows["status"]) == {"unchanged"}
    psnr = comparison.rows[comparison.rows["metric"] == "psnr"].set_index("method")["tolerance"]
    entry = reference.SUITE["deblur"]
    assert psnr["wiener"] == float(entry.tolerances["psnr"])  # calibrated, not trained
    assert psnr["srcnn"] == float(entry.trained_tolerances["psnr"])
    assert float(entry.trained_tolerances["psnr"]) > float(entry.tolerances["psnr"])
