"""The results-folder format: one owner, atomic writes, names as plain strings, a symmetric leaderboard."""

import ast
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmdf_bench import run_format
from mmdf_bench.cli import main
from mmdf_bench.data.base import Dataset
from mmdf_bench.leaderboard import Leaderboard, build_leaderboard
from mmdf_bench.metrics.classification import F1, Accuracy, BalancedAccuracy
from mmdf_bench.report import load_leaderboard
from mmdf_bench.run_folder import load_run
from mmdf_bench.tasks.focus import FocusPrediction, FocusSample
from mmdf_bench.tasks.fusion import FusionMethod, FusionSample
from tests.conftest import PROJECT_ROOT

# pandas reads every one of these as a missing value by default
ODD_NAMES = ["NA", "null", "None", "nan", "N/A", "NaN", "n/a", "#N/A", "1.0", "007"]


# --- a leaderboard with every kind of field filled -------------------------------------------

def rich_leaderboard():
    """Pooled metrics, subsets, undefined values, failures, timings, gains, NaN bounds."""
    rng = np.random.default_rng(3)
    labels = np.array([0, 1] * 10 + [1] * 8)
    subsets = ["clean"] * 20 + ["dust"] * 8  # dust is one class: balanced accuracy undefined
    patch = np.zeros((4, 4), np.float32)
    records, seconds = [], []
    for method, flip in (("base", 0.3), ("good", 0.1), ("same", 0.3)):
        decisions = np.where(rng.random(labels.size) < flip, 1 - labels, labels)
        for index, (label, decision) in enumerate(zip(labels, decisions)):
            sample = FocusSample(patch, int(label), f"p{index:02d}", group=f"slide{index // 4}",
                                 subset=subsets[index])
            output = FocusPrediction(0.9 if decision else 0.1)
            named = {"accuracy": Accuracy().compute(output, sample),
                     "mae": float(abs(label - decision)) + rng.random() * 0.01}
            for metric in (BalancedAccuracy, F1):
                named.update({f"{metric.name}:{key}": value
                              for key, value in metric().compute(output, sample).items()})
            records += [("set", method, sample.sample_id, sample.group, name, value)
                        for name, value in named.items()]
            seconds.append(("set", method, sample.sample_id, 0.5))
    scores = pd.DataFrame(records, columns=list(run_format.SCORE_COLUMNS))
    metrics = {"accuracy": {"higher_is_better": True},
               "balanced-accuracy": {"higher_is_better": True}, "f1": {"higher_is_better": True},
               "mae": {"higher_is_better": False},
               "cnniqa": {"higher_is_better": True, "available": False, "reason": "no weights"}}
    samples = pd.DataFrame({"dataset": "set", "sample_id": [f"p{i:02d}" for i in range(28)],
                            "subset": subsets})
    failures = pd.DataFrame([("set", "broken", "p00", "predict", "RuntimeError: no"),
                             ("set", None, None, "dataset", "folder missing")],
                            columns=list(run_format.FAILURE_COLUMNS))
    return build_leaderboard(
        scores, metrics=metrics, failures=failures,
        seconds=pd.DataFrame(seconds, columns=list(run_format.COMPLETED_COLUMNS)),
        primary_metrics=("accuracy",), n_resamples=199, samples=samples,
        aggregators={metric.name: (metric.components, metric.aggregate)
                     for metric in (BalancedAccuracy, F1)},
        baseline="base", gain_metrics=("accuracy", "mae"),
        unavailable_methods={"ifcnn-max": "no IFCNN-MAX.pth"})


def assert_same_leaderboard(rebuilt, original):
    for name, value in vars(original).items():
        copy = getattr(rebuilt, name)
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(copy.reset_index(drop=True),
                                          value.reset_index(drop=True), obj=name)
        else:
            assert copy == value, name


def test_leaderboard_json_rebuilds_every_field():
    board = rich_leaderboard()
    assert len(board.gains) and len(board.undefined) and len(board.samples) and board.subsets
    assert len(board.failures) == 2 and len(board.seconds) and board.unavailable_methods
    assert board.rows["diff_to_best_low"].isna().any()
    assert board.pooled_metrics == ("balanced-accuracy", "f1")
    assert board.unavailable == {"cnniqa": "no weights"}
    text = json.dumps(run_format.leaderboard_to_json(board), allow_nan=False)
    rebuilt = run_format.leaderboard_from_json(json.loads(text))
    assert isinstance(rebuilt, Leaderboard)
    assert_same_leaderboard(rebuilt, board)


def test_written_leaderboard_is_read_back_whole_by_the_report(tmp_path):
    board = rich_leaderboard()
    paths = run_format.write_leaderboard(board, tmp_path)
    assert sorted(path.name for path in paths.values()) == sorted(
        run_format.LEADERBOARD_FILES.values())
    assert_same_leaderboard(run_format.read_leaderboard(tmp_path), board)
    # the report reads the same object, gains included
    run = type("Run", (), {"path": tmp_path, "manifest": {}})()
    assert_same_leaderboard(load_leaderboard(run), board)


def test_an_older_leaderboard_json_is_recomputed_not_misread(tmp_path):
    (tmp_path / "leaderboard.json").write_text(json.dumps({"rows": []}))
    assert run_format.read_leaderboard(tmp_path) is None
    with pytest.raises(run_format.RunFormatError, match="column types"):
        run_format.leaderboard_from_json({"rows": []})


# --- atomic writes -----------------------------------------------------------------------------

def test_atomic_write_replaces_whole_with_the_usual_permissions(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    run_format.write_csv_atomic(target, ("a", "b"), [["1", "x,y"]])
    assert target.read_bytes() == b'a,b\r\n1,"x,y"\r\n'  # csv's own line ends
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [path.name for path in tmp_path.iterdir()] == ["table.csv"]


def test_a_failed_atomic_write_leaves_the_old_file_and_no_litter(tmp_path):
    target = tmp_path / "manifest.json"
    target.write_text("old")

    class Unwritable:
        def __str__(self):
            raise RuntimeError("cannot format")

    with pytest.raises(TypeError):
        run_format.write_text_atomic(target, Unwritable())
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]


# --- reading -----------------------------------------------------------------------------------

def test_name_columns_are_read_as_plain_strings(tmp_path):
    path = tmp_path / "scores.csv"
    rows = [["d", name, name, "", "m", "1.5"] for name in ODD_NAMES] + [["d", "x", "y", "g",
                                                                          "m", "nan"]]
    run_format.write_csv_atomic(path, run_format.SCORE_COLUMNS, rows)
    frame = run_format.read_table(path, numeric=("value",))
    assert frame["sample_id"].tolist() == ODD_NAMES + ["y"]
    assert frame["method"].tolist() == ODD_NAMES + ["x"]
    assert frame["group"].isna().sum() == len(ODD_NAMES)  # an empty cell is missing
    assert frame["value"].dtype == np.float64 and np.isnan(frame["value"].iloc[-1])


@pytest.mark.parametrize("content, complaint", [
    ("", "is empty"),
    ("dataset,method\nd,m\n", r"lacks column\(s\) \['value'\]"),
    ("dataset,method,value\nd,m,high\n", "column 'value' holds a value that is not a number"),
])
def test_bad_tables_are_named(tmp_path, content, complaint):
    path = tmp_path / "scores.csv"
    path.write_text(content)
    with pytest.raises(run_format.RunFormatError, match=complaint) as caught:
        run_format.read_table(path, required=("value",), numeric=("value",))
    assert str(path) in str(caught.value)


def test_a_manifest_of_a_newer_format_is_refused(tmp_path):
    run_format.write_manifest(tmp_path, {"task": "fusion"})
    assert run_format.read_manifest(tmp_path) == {"mmdf_bench_results": 1, "task": "fusion"}
    (tmp_path / "manifest.json").write_text(json.dumps({"mmdf_bench_results": 99}))
    with pytest.raises(run_format.RunFormatError, match="format 99.*upgrade") as caught:
        run_format.read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(caught.value)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(run_format.RunFormatError, match="not an object"):
        run_format.read_manifest(tmp_path)


# --- a whole run whose samples have names pandas would read as missing -----------------------

class OddlyNamedStacks(Dataset):
    """Two-plane stacks named like missing values; each its own specimen."""

    name = "oddly-named-stacks"
    task = "fusion"

    def sample_ids(self, split):
        return list(ODD_NAMES) if split == "test" else []

    def load(self, sample_id):
        index = ODD_NAMES.index(sample_id)
        reference = np.random.default_rng(index).random((16, 16)).astype(np.float32)
        flat = np.full_like(reference, reference.mean())
        left = np.concatenate([reference[:, :8], flat[:, 8:]], axis=1)
        right = np.concatenate([flat[:, :8], reference[:, 8:]], axis=1)
        return FusionSample(np.stack([left, right]), sample_id, reference=reference)


class HalfAndHalf(FusionMethod):
    name = "toy-halves"

    def fuse(self, stack):
        return np.concatenate([stack[0][:, :8], stack[1][:, 8:]], axis=1)


@pytest.fixture
def odd_registry(scratch_registrations):
    scratch_registrations("datasets", OddlyNamedStacks)
    scratch_registrations("methods", HalfAndHalf)


def test_samples_named_like_missing_values_keep_their_names(odd_registry, tmp_path, capsys):
    options = ["--task", "fusion", "--methods", "toy-halves", "average", "--datasets",
               "oddly-named-stacks", "--metrics", "ssim", "std", "--quiet"]
    assert main(["run", *options, "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    run = load_run(tmp_path / "a")
    assert sorted(run.samples["oddly-named-stacks"]) == sorted(ODD_NAMES)
    assert set(run.scores["sample_id"]) == set(ODD_NAMES)
    board = load_leaderboard(run)
    rows = board.rows[board.rows["metric"] == "ssim"].set_index("method")
    assert rows.loc["toy-halves", "n"] == len(ODD_NAMES)
    assert rows.loc["toy-halves", "n_groups"] == len(ODD_NAMES)
    assert set(board.gains["method"]) == {"toy-halves"}
    # every other reader of run folders: resume, compare, report
    assert main(["run", "--resume", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "a"), "--resamples", "99"]) == 0
    assert main(["report", str(tmp_path / "a"), "-o", str(tmp_path / "r.html")]) == 0
    assert "toy-halves" in (tmp_path / "r.html").read_text(encoding="utf-8")


# --- one owner ---------------------------------------------------------------------------------

def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_only_the_command_line_imports_the_orchestrator():
    sources = [*sorted((PROJECT_ROOT / "mmdf_bench").rglob("*.py")),
               *sorted((PROJECT_ROOT / "methods").rglob("*.py")),
               *sorted((PROJECT_ROOT / "baselines").rglob("*.py"))]
    importers = {path.relative_to(PROJECT_ROOT).as_posix() for path in sources
                 if "mmdf_bench.runner" in set(_imported_modules(path))}
    # the CLI and the reference suite it runs (`mmdf_bench.run` imports it on first use)
    assert importers <= {"mmdf_bench/cli.py", "mmdf_bench/reference.py"}


def _loaded_after(statement, module):
    """Whether a fresh interpreter has imported `module` after running `statement`."""
    code = f"import sys; {statement}; print({module!r} in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    return completed.stdout.strip() == "True"


def test_readers_do_not_load_the_orchestrator():
    assert not _loaded_after("import mmdf_bench.report, mmdf_bench.compare, "
                             "mmdf_bench.components, mmdf_bench.methods.fusion_masks",
                             "mmdf_bench.runner")


def test_run_folder_file_names_are_spelled_only_by_the_format_module():
    names = {run_format.SCORES_FILE, run_format.FAILURES_FILE, run_format.SAMPLES_FILE,
             run_format.COMPLETED_FILE, run_format.MANIFEST_FILE,
             *run_format.LEADERBOARD_FILES.values()}
    spelled = {}
    for path in sorted((PROJECT_ROOT / "mmdf_bench").rglob("*.py")):
        if path.name == "run_format.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                spelled.setdefault(path.name, set()).add(node.value)
    assert spelled == {}


def test_the_command_line_builds_without_numpy():
    # `mmdf-bench reference` can then still ask NumPy for one thread before it loads
    assert not _loaded_after("from mmdf_bench.cli import build_parser; build_parser()", "numpy")
