import json
import math

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.leaderboard import ROW_COLUMNS, build_leaderboard, to_markdown, write_leaderboard

N_SAMPLES = 30
LONG_ERROR = "RuntimeError: out of memory while fusing " + "z" * 400

METRICS = {
    "quality": dict(higher_is_better=True, available=True, reason=None, summary="made-up score"),
    "error": dict(higher_is_better=False, available=True, reason=None, summary="1 - quality"),
    "cnniqa": dict(higher_is_better=True, available=False,
                   reason="pyiqa is not installed", summary="learned quality"),
}


def method_scores():
    """X best; Y = X up to tiny zero-mean noise; Z clearly worse."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.9, N_SAMPLES)  # large between-sample spread
    noise = rng.normal(0.0, 1e-3, N_SAMPLES)
    noise -= noise.mean() + 1e-5  # Y a hair below X on average, well inside the noise
    return {"X": x, "Y": x + noise, "Z": x - 0.2 + rng.normal(0.0, 0.01, N_SAMPLES)}


def score_table(scores=None, dataset="ds1"):
    records = []
    for method, values in (scores or method_scores()).items():
        for i, value in enumerate(values):
            sample, group = f"s{i:02d}", f"specimen{i // 3}"
            records.append((dataset, method, sample, group, "quality", value))
            records.append((dataset, method, sample, group, "error", 1.0 - value))
            records.append((dataset, method, sample, group, "cnniqa", 0.5))
    return pd.DataFrame(records, columns=["dataset", "method", "sample_id", "group", "metric", "value"])


FAILURES = pd.DataFrame(
    [("ds1", "Z", "s99", "predict", LONG_ERROR), ("ds1", "W", "s00", "load", "bad | file")],
    columns=["dataset", "method", "sample_id", "stage", "error"],
)
SECONDS = pd.DataFrame(
    [("ds1", m, f"s{i:02d}", t) for m, t in [("X", 0.5), ("Y", 0.25), ("Z", 2.0)] for i in range(4)],
    columns=["dataset", "method", "sample_id", "seconds"],
)


@pytest.fixture(scope="module")
def board():
    return build_leaderboard(score_table(), metrics=METRICS, failures=FAILURES, seconds=SECONDS,
                             primary_metrics=("psnr", "quality"), n_resamples=999)


def rows_of(board, metric):
    return board.rows[board.rows["metric"] == metric].set_index("method")


def test_rows_hold_one_line_per_dataset_metric_method(board):
    assert list(board.rows.columns) == list(ROW_COLUMNS)
    assert len(board.rows) == 2 * 3  # cnniqa is unavailable
    assert set(board.rows["metric"]) == {"quality", "error"}
    quality = rows_of(board, "quality")
    assert (quality["n"] == N_SAMPLES).all() and (quality["n_groups"] == N_SAMPLES // 3).all()
    assert quality.loc["X", "mean"] == pytest.approx(method_scores()["X"].mean())
    assert (quality["ci_low"] < quality["mean"]).all() and (quality["mean"] < quality["ci_high"]).all()


@pytest.mark.parametrize("metric", ["quality", "error"])
def test_best_tied_and_worse_in_either_direction(board, metric):
    rows = rows_of(board, metric)
    assert rows.loc["X", "rank"] == 1 and rows.loc["X", "best"]
    assert not rows.loc["X", "tied_with_best"] and math.isnan(rows.loc["X", "diff_to_best_low"])
    assert rows.loc["Y", "rank"] == 2 and rows.loc["Y", "tied_with_best"] and not rows.loc["Y", "best"]
    assert rows.loc["Y", "diff_to_best_low"] < 0 < rows.loc["Y", "diff_to_best_high"]
    assert rows.loc["Z", "rank"] == 3 and not rows.loc["Z", "tied_with_best"]
    # Z is 0.2 worse: the paired difference (Z - X) excludes 0 on the bad side.
    if metric == "quality":
        assert rows.loc["Z", "diff_to_best_high"] < 0
    else:
        assert rows.loc["Z", "diff_to_best_low"] > 0
    assert rows["higher_is_better"].eq(metric == "quality").all()


def test_equal_means_share_the_lowest_rank():
    scores = method_scores()
    scores["X2"] = scores["X"].copy()
    rows = rows_of(build_leaderboard(score_table(scores), metrics=METRICS, n_resamples=499), "quality")
    assert rows.loc["X", "rank"] == rows.loc["X2", "rank"] == 1
    assert rows.loc["Y", "rank"] == 3 and rows.loc["Z", "rank"] == 4
    assert rows.loc["X", "best"] and rows.loc["X2", "best"] and rows.loc["X2", "tied_with_best"]


def test_ties_use_only_shared_samples_and_need_two():
    table = score_table()
    lone = table[(table["method"] == "X") & (table["sample_id"] == "s00")].assign(method="V", value=0.0)
    board = build_leaderboard(pd.concat([table, lone]), metrics=METRICS, n_resamples=499)
    v = rows_of(board, "quality").loc["V"]
    assert v["n"] == 1 and math.isnan(v["ci_low"]) and v["ci_method"] == "none"
    assert not v["tied_with_best"] and math.isnan(v["diff_to_best_low"])


def test_unavailable_metrics_get_no_rows_but_a_reason(board):
    assert board.unavailable == {"cnniqa": "pyiqa is not installed"}
    assert "cnniqa" not in set(board.rows["metric"])


def test_primary_metric_is_first_present_one(board):
    assert board.primary_metric == {"ds1": "quality"}
    other = build_leaderboard(score_table(), metrics=METRICS, primary_metrics=("psnr",),
                              n_resamples=99)
    assert other.primary_metric == {"ds1": "quality"}  # first of `metrics` with scores
    error_first = build_leaderboard(score_table(), metrics=METRICS, primary_metrics=("error",),
                                    n_resamples=99)
    assert error_first.primary_metric == {"ds1": "error"}


def test_seconds_summary_is_the_mean_per_method(board):
    seconds = board.seconds.set_index("method")["mean_seconds"]
    assert seconds.to_dict() == {"X": 0.5, "Y": 0.25, "Z": 2.0}


def test_non_finite_scores_become_failures():
    table = score_table()
    table.loc[(table["method"] == "Z") & (table["metric"] == "error"), "value"] = np.inf
    board = build_leaderboard(table, metrics=METRICS, n_resamples=99)
    assert "Z" not in set(rows_of(board, "error").index)
    assert (board.failures["stage"] == "score").sum() == N_SAMPLES
    assert board.failures["error"].str.contains("error returned inf").all()


def test_bad_tables_are_rejected():
    table = score_table()
    with pytest.raises(InvalidInputError, match="repeat"):
        build_leaderboard(pd.concat([table, table.head(1)]), metrics=METRICS)
    with pytest.raises(InvalidInputError, match="ssim"):
        build_leaderboard(table.assign(metric="ssim"), metrics=METRICS)
    with pytest.raises(InvalidInputError, match="value"):
        build_leaderboard(table.drop(columns="value"), metrics=METRICS)


def test_markdown_shows_ranks_marks_and_problems(board):
    text = to_markdown(board)
    assert "## ds1" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("|") and "method" in line)
    assert "quality ↑" in header and "error ↓" in header
    assert header.index("quality") < header.index("error")  # primary metric first
    table = [line for line in lines if line.startswith("|")]
    body = [line for line in table[2:] if "RuntimeError" not in line][:4]
    assert [line.split("|")[2].strip() for line in body] == ["X", "Y", "Z", "W"]
    x_line, y_line, z_line, w_line = body
    assert x_line.count("**") == 4  # best on both metrics
    assert y_line.count("†") == 2 and "**" not in y_line
    assert "†" not in z_line and "**" not in z_line
    assert w_line.split("|")[1].strip() == "–"  # failed everywhere: no rank
    assert "0.25" in y_line and z_line.rstrip(" |").endswith("1")  # seconds, failure count
    assert "## Unavailable metrics" in text and "`cnniqa`: pyiqa is not installed" in text
    assert "**2 failures**" in text and "bad \\| file" in text
    assert "out of memory" in text and "z" * 250 not in text and "…" in text
    assert "BCa" in text and "paired bootstrap" in text


def test_markdown_without_failures_has_no_failure_section():
    board = build_leaderboard(score_table(), metrics=METRICS, n_resamples=99)
    text = to_markdown(board)
    assert "failures**" not in text and "## Failures" not in text


def test_written_files_round_trip(board, tmp_path):
    paths = write_leaderboard(board, tmp_path / "out")
    assert paths["markdown"].read_text(encoding="utf-8") == to_markdown(board)
    assert len(pd.read_csv(paths["csv"])) == len(board.rows)

    def no_constants(token):
        raise AssertionError(f"non-standard JSON token {token}")

    text = paths["json"].read_text(encoding="utf-8")
    document = json.loads(text, parse_constant=no_constants)
    assert "NaN" not in text
    assert document["primary_metric"] == {"ds1": "quality"}
    assert document["unavailable"] == {"cnniqa": "pyiqa is not installed"}
    best = next(r for r in document["rows"] if r["method"] == "X" and r["metric"] == "quality")
    assert best["diff_to_best_low"] is None and best["best"] is True and best["rank"] == 1
    assert len(document["failures"]) == 2 and len(document["seconds"]) == 3
