import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.leaderboard import (ROW_COLUMNS, SCORE_COLUMNS, build_leaderboard,
                                    subset_dataset_name, to_markdown, write_leaderboard)
from mmdf_bench.metrics.classification import F1, Accuracy, BalancedAccuracy
from mmdf_bench.tasks.focus import FocusPrediction, FocusSample

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


def test_a_method_with_too_few_samples_is_shown_not_ranked():
    # V scored 1 of 30 samples: ranking everyone on that one sample would compare nothing.
    table = score_table()
    lone = table[(table["method"] == "X") & (table["sample_id"] == "s00")].assign(method="V", value=0.0)
    board = build_leaderboard(pd.concat([table, lone]), metrics=METRICS, n_resamples=499)
    rows = rows_of(board, "quality")
    v = rows.loc["V"]
    assert v["n"] == 1 and math.isnan(v["ci_low"]) and v["ci_method"] == "none"
    assert pd.isna(v["rank"]) and not v["best"] and v["status"] == "incomplete (1 of 30), not ranked"
    assert not v["tied_with_best"] and math.isnan(v["diff_to_best_low"])
    assert (rows.loc[["X", "Y", "Z"], "n"] == N_SAMPLES).all() and rows.loc["X", "rank"] == 1


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
    columns = [cell.strip() for cell in header.split("|")]
    assert columns[-5:-1] == ["n (groups)", "s/sample", "failures", "information"]
    assert y_line.split("|")[-4].strip() == "0.25" and z_line.split("|")[-3].strip() == "1"
    assert x_line.split("|")[-5].strip() == "30 (10)"  # samples and their groups
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


# --- pooled (component) metrics and subset tables --------------------------------------------

FOCUS_METRICS = (Accuracy, BalancedAccuracy, F1)
FOCUS_INFO = {m.name: dict(higher_is_better=m.higher_is_better, available=True, reason=None,
                           summary=m.summary) for m in FOCUS_METRICS}
AGGREGATORS = {m.name: (m.components, m.aggregate) for m in FOCUS_METRICS if m.components}
# 40 clean patches of both classes, then 20 dust patches, all out of focus.
LABELS = np.array([0, 1] * 20 + [1] * 20)
SUBSETS = ["clean"] * 40 + ["dust"] * 20


def focus_predictions():
    """A: 2 errors; B: A plus one more error (tied); C: wrong on every third patch."""
    a = LABELS.copy()
    a[[3, 50]] = 1 - a[[3, 50]]
    b = a.copy()
    b[10] = 1 - b[10]
    c = np.where(np.arange(LABELS.size) % 3 == 0, 1 - LABELS, LABELS)
    return {"A": a, "B": b, "C": c}


def focus_scores(predictions):
    records = []
    patch = np.zeros((4, 4), np.float32)
    for method, predicted in predictions.items():
        for i, (label, decision) in enumerate(zip(LABELS, predicted)):
            sample = FocusSample(patch, int(label), f"p{i:02d}", group=f"slide{i // 4}",
                                 subset=SUBSETS[i])
            output = FocusPrediction(0.9 if decision else 0.1)
            for metric_class in FOCUS_METRICS:
                value = metric_class().compute(output, sample)
                named = ({f"{metric_class.name}:{k}": v for k, v in value.items()}
                         if metric_class.components else {metric_class.name: value})
                records += [("focus-set", method, sample.sample_id, sample.group, name, v)
                            for name, v in named.items()]
    return pd.DataFrame(records, columns=list(SCORE_COLUMNS))


FOCUS_SAMPLES = pd.DataFrame({"dataset": "focus-set", "sample_id": [f"p{i:02d}" for i in range(60)],
                              "subset": SUBSETS, "label": LABELS})


@pytest.fixture(scope="module")
def focus_board():
    seconds = pd.DataFrame([("focus-set", "A", f"p{i:02d}", 1.0 if i < 40 else 3.0)
                            for i in range(60)],
                           columns=["dataset", "method", "sample_id", "seconds"])
    return build_leaderboard(focus_scores(focus_predictions()), metrics=FOCUS_INFO,
                             aggregators=AGGREGATORS, samples=FOCUS_SAMPLES, seconds=seconds,
                             primary_metrics=("accuracy", "balanced-accuracy", "f1"),
                             n_resamples=999)


def focus_rows(board, metric, dataset="focus-set"):
    rows = board.rows[(board.rows["metric"] == metric) & (board.rows["dataset"] == dataset)]
    return rows.set_index("method")


def test_pooled_metric_is_the_metric_of_the_whole_set(focus_board):
    assert not any(":" in metric for metric in focus_board.rows["metric"])
    assert focus_board.pooled_metrics == ("balanced-accuracy", "f1")
    rows = focus_rows(focus_board, "f1")
    for method, predicted in focus_predictions().items():
        assert rows.loc[method, "mean"] == pytest.approx(f1_score(LABELS, predicted))
        assert rows.loc[method, "n"] == 60 and rows.loc[method, "n_groups"] == 15
    accuracy = focus_rows(focus_board, "accuracy")
    expected = accuracy_score(LABELS, focus_predictions()["C"])
    assert accuracy.loc["C", "mean"] == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["f1", "balanced-accuracy"])
def test_pooled_metric_ranks_and_ties(focus_board, metric):
    rows = focus_rows(focus_board, metric)
    assert rows.loc["A", "rank"] == 1 and rows.loc["A", "best"]
    assert rows.loc["A", "ci_low"] < rows.loc["A", "mean"] < rows.loc["A", "ci_high"]
    # One extra error on 60 patches cannot be told apart (B is never better than A, so
    # the difference interval ends at 0); an error every third patch can.
    assert rows.loc["B", "rank"] == 2 and rows.loc["B", "tied_with_best"]
    assert rows.loc["B", "diff_to_best_low"] < 0 <= rows.loc["B", "diff_to_best_high"]
    assert rows.loc["C", "rank"] == 3 and not rows.loc["C", "tied_with_best"]
    assert rows.loc["C", "diff_to_best_high"] < 0


def test_subset_tables_hold_the_subset_samples(focus_board):
    clean, dust = (subset_dataset_name("focus-set", s) for s in ("clean", "dust"))
    assert list(focus_board.subsets) == [clean, dust]
    assert (focus_rows(focus_board, "accuracy", clean)["n"] == 40).all()
    assert (focus_rows(focus_board, "f1", dust)["n"] == 20).all()
    assert (focus_rows(focus_board, "f1", dust)["n_groups"] == 5).all()
    predicted = focus_predictions()["C"]
    assert focus_rows(focus_board, "f1", clean).loc["C", "mean"] == pytest.approx(
        f1_score(LABELS[:40], predicted[:40]))
    seconds = focus_board.seconds.set_index("dataset")["mean_seconds"]
    assert seconds[clean] == 1.0 and seconds[dust] == 3.0
    assert seconds["focus-set"] == pytest.approx(5 / 3)


def test_undefined_subset_statistic_is_listed_not_ranked(focus_board, tmp_path):
    dust = subset_dataset_name("focus-set", "dust")
    # Only out-of-focus patches: no true-negative rate, balanced accuracy is 0/0.
    assert focus_rows(focus_board, "balanced-accuracy", dust).empty
    undefined = focus_board.undefined
    assert set(undefined["method"]) == {"A", "B", "C"}
    assert set(undefined["dataset"]) == {dust} and set(undefined["metric"]) == {"balanced-accuracy"}
    assert (undefined["n"] == 20).all()
    text = to_markdown(focus_board)
    section = text[text.index(f"#### {dust}"):]
    header = next(line for line in section.splitlines() if line.startswith("|") and "rank" in line)
    assert "balanced-accuracy ↑" in header
    row_a = next(line for line in section.splitlines()
                 if line.startswith("|") and line.split("|")[2].strip() == "A")
    column = header.split("|").index(next(c for c in header.split("|") if "balanced" in c))
    assert row_a.split("|")[column].strip() == "–"
    assert "Undefined on these samples" in section
    write_leaderboard(focus_board, tmp_path)  # JSON without NaN despite the undefined values
    document = json.loads((tmp_path / "leaderboard.json").read_text(encoding="utf-8"))
    assert {r["method"] for r in document["undefined"]} == {"A", "B", "C"}
    assert all(r["value"] is None for r in document["undefined"])


def test_subset_tables_follow_their_dataset_in_markdown(focus_board):
    text = to_markdown(focus_board)
    main, by_subset = text.index("## focus-set\n"), text.index("### focus-set: by subset")
    clean = text.index("#### focus-set [subset=clean]")
    dust = text.index("#### focus-set [subset=dust]")
    assert main < by_subset < clean < dust < text.index("Cells:")
    assert "`balanced-accuracy`, `f1`: the metric of the per-sample components" in text


def test_one_subset_gives_no_subset_tables():
    board = build_leaderboard(focus_scores(focus_predictions()), metrics=FOCUS_INFO,
                              aggregators=AGGREGATORS, samples=FOCUS_SAMPLES.assign(subset="clean"),
                              n_resamples=99)
    assert board.subsets == {} and set(board.rows["dataset"]) == {"focus-set"}
    assert "by subset" not in to_markdown(board)


def test_pooled_metric_drops_samples_with_a_bad_component():
    table = focus_scores(focus_predictions())
    bad = (table["method"] == "A") & (table["sample_id"] == "p00") & (table["metric"] == "f1:tp")
    table.loc[bad, "value"] = np.inf
    board = build_leaderboard(table, metrics=FOCUS_INFO, aggregators=AGGREGATORS, n_resamples=99)
    assert focus_rows(board, "f1").loc["A", "n"] == 59
    assert focus_rows(board, "balanced-accuracy").loc["A", "n"] == 60
    assert board.failures["error"].str.contains("f1:tp returned inf").any()


def test_pooled_rows_must_be_components():
    table = focus_scores(focus_predictions())
    with pytest.raises(InvalidInputError, match="unknown component"):
        build_leaderboard(table.replace({"metric": {"f1:tp": "f1:tn"}}), metrics=FOCUS_INFO,
                          aggregators=AGGREGATORS)
    with pytest.raises(InvalidInputError, match="plain score rows"):
        build_leaderboard(table.replace({"metric": {"accuracy": "f1"}}), metrics=FOCUS_INFO,
                          aggregators=AGGREGATORS)
    with pytest.raises(InvalidInputError, match="missing from `metrics`"):
        build_leaderboard(table, metrics=FOCUS_INFO)  # components without their aggregator


def test_no_scores_give_an_empty_board():
    board = build_leaderboard(focus_scores(focus_predictions()).head(0), metrics=FOCUS_INFO,
                              aggregators=AGGREGATORS, samples=FOCUS_SAMPLES, failures=FAILURES)
    assert board.rows.empty and board.undefined.empty and board.subsets == {}
    assert "## ds1" in to_markdown(board) and "**2 failures**" in to_markdown(board)
