"""Leaderboard protocol of issue 10: the common set (point 3), groups and honest intervals
(point 2), oracle rows and the information column (points 1 and 5)."""

import json

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.leaderboard import build_leaderboard, to_markdown, write_leaderboard
from mmdf_bench.metrics.classification import Accuracy
from mmdf_bench.proportions import effective_groups, wilson_interval

QUALITY = {"quality": dict(higher_is_better=True, available=True, reason=None, summary="made up")}
ACCURACY = {"accuracy": dict(higher_is_better=True, available=True, reason=None, proportion=True,
                             summary="fraction right")}
Z95 = 1.959963984540054


def long_table(scores, *, metric="quality", dataset="ds", group_size=4):
    records = [(dataset, method, f"s{i:02d}", f"g{i // group_size}", metric, value)
               for method, values in scores.items() for i, value in enumerate(values) if not np.isnan(value)]
    return pd.DataFrame(records, columns=["dataset", "method", "sample_id", "group", "metric", "value"])


def hard_case():
    """40 samples, the last 10 hard. B beats A on every sample A scored; A fails on the hard ten."""
    rng = np.random.default_rng(3)
    b = np.concatenate([rng.uniform(0.75, 0.9, 30), rng.uniform(0.05, 0.2, 10)])
    a = b - rng.uniform(0.005, 0.02, 40)
    a[30:] = np.nan
    failures = pd.DataFrame([("ds", "A", f"s{i:02d}", "predict", "RuntimeError: diverged") for i in range(30, 40)],
                            columns=["dataset", "method", "sample_id", "stage", "error"])
    return {"A": a, "B": b}, failures


@pytest.fixture(scope="module")
def hard_board():
    scores, failures = hard_case()
    return build_leaderboard(long_table(scores), metrics=QUALITY, failures=failures, n_resamples=999)


def test_a_method_failing_on_hard_samples_does_not_rank_first(hard_board):
    scores, _ = hard_case()
    assert np.nanmean(scores["A"]) > scores["B"].mean()  # what used to put A first
    rows = hard_board.rows.set_index("method")
    assert rows.loc["B", "rank"] == 1 and rows.loc["B", "best"]
    assert rows.loc["A", "rank"] == 2 and not rows.loc["A", "best"] and not rows.loc["A", "tied_with_best"]
    assert (rows["n"] == 30).all() and rows.loc["B", "mean"] == pytest.approx(scores["B"][:30].mean())
    assert rows.loc["A", "status"] == "incomplete (30 of 40)" and rows.loc["B", "status"] == "complete"
    assert (rows["n_samples"] == 40).all() and rows.loc["A", "n_scored"] == 30


def test_incomplete_is_said_in_every_format(hard_board, tmp_path):
    text = to_markdown(hard_board)
    line = next(line for line in text.splitlines() if line.startswith("|") and " A," in line)
    assert line.split("|")[2].strip() == "A, incomplete (30 of 40)" and line.split("|")[1].strip() == "2"
    assert "Ranked on the samples every ranked method scored (`quality`: 30 of 40)" in text
    paths = write_leaderboard(hard_board, tmp_path)
    csv = pd.read_csv(paths["csv"]).set_index("method")
    assert csv.loc["A", "status"] == "incomplete (30 of 40)" and csv.loc["B", "rank"] == 1
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    row = next(r for r in document["rows"] if r["method"] == "A")
    assert row["status"] == "incomplete (30 of 40)" and row["n_scored"] == 30 and row["rank"] == 2


def test_every_table_shows_groups_beside_n_and_its_interval_method(hard_board):
    text = to_markdown(hard_board)
    assert "| n (groups) |" in text.replace("  ", "")
    line = next(line for line in text.splitlines() if line.startswith("|") and " B " in line)
    assert "30 (8)" in line  # 30 common samples in groups of 4: 8 groups
    assert "Intervals (95%): BCa bootstrap over groups." in text


def test_kish_effective_number_of_groups():
    assert effective_groups(["a"] * 4 + ["b"] * 4 + ["c"] * 4) == 3.0
    # sizes 6, 1, 1: (8^2) / (36 + 1 + 1)
    assert effective_groups(["a"] * 6 + ["b", "c"]) == pytest.approx(64 / 38)
    assert effective_groups([]) == 0.0


def test_wilson_interval_closed_forms():
    # all successes: the lower bound is n / (n + z^2)
    low, high = wilson_interval(1.0, 12)
    assert low == pytest.approx(12 / (12 + Z95**2)) and high == 1.0
    # 0 of 10: the tabled 95% Wilson upper bound 0.2775 (Brown, Cai and DasGupta 2001)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson_interval(0.5, 100) == pytest.approx((0.40383, 0.59617), abs=1e-5)


def test_a_perfect_proportion_gets_a_wilson_interval_on_the_effective_groups(tmp_path):
    perfect = {"P": np.ones(48), "Q": np.r_[np.ones(40), np.zeros(8)]}
    board = build_leaderboard(long_table(perfect, metric="accuracy", group_size=4), metrics=ACCURACY,
                              n_resamples=999)
    rows = board.rows.set_index("method")
    assert rows.loc["P", "mean"] == 1.0 and rows.loc["P", "ci_method"] == "Wilson"
    assert rows.loc["P", "ci_low"] == pytest.approx(12 / (12 + Z95**2))  # 12 groups of 4
    assert rows.loc["P", "ci_high"] == 1.0
    assert rows.loc["Q", "ci_method"] == "BCa"  # not at the boundary: the bootstrap
    text = to_markdown(board)
    assert "‡ = Wilson score interval on the effective number of groups" in text
    line = next(line for line in text.splitlines() if line.startswith("| ") and " P " in line)
    assert line.split("|")[3].strip().endswith("1.00]‡")

    # unequal groups: one specimen holds most of the samples
    groups = ["big"] * 40 + [f"small{i}" for i in range(8)]
    table = long_table({"P": np.ones(48)}, metric="accuracy").assign(group=groups)
    row = build_leaderboard(table, metrics=ACCURACY, n_resamples=99).rows.iloc[0]
    n_effective = 48**2 / (40**2 + 8)
    assert row["ci_low"] == pytest.approx(n_effective / (n_effective + Z95**2))


def test_a_proportion_at_zero_and_pooled_proportions_get_wilson_too():
    from mmdf_bench.leaderboard import SCORE_COLUMNS
    from mmdf_bench.metrics.classification import F1
    from mmdf_bench.tasks.focus import FocusPrediction, FocusSample

    board = build_leaderboard(long_table({"N": np.zeros(20)}, metric="accuracy"), metrics=ACCURACY,
                              n_resamples=99)
    row = board.rows.iloc[0]
    assert row["ci_method"] == "Wilson" and row["ci_low"] == 0 and row["ci_high"] > 0.3  # 5 groups

    # F1 of 1 on 12 positives (3 groups) among 24 patches: the positives carry the evidence
    records = []
    for i in range(24):
        sample = FocusSample(np.zeros((4, 4), np.float32), i % 2, f"p{i:02d}", group=f"g{i // 8}")
        counts = F1().compute(FocusPrediction(0.9 if i % 2 else 0.1), sample)
        records += [("ds", "M", sample.sample_id, sample.group, f"f1:{k}", v) for k, v in counts.items()]
    info = {"f1": dict(higher_is_better=True, available=True, reason=None, proportion=True, summary="")}
    board = build_leaderboard(pd.DataFrame(records, columns=list(SCORE_COLUMNS)), metrics=info,
                              aggregators={"f1": (F1.components, F1.aggregate)}, n_resamples=99)
    row = board.rows.iloc[0]
    assert row["mean"] == 1.0 and row["ci_method"] == "Wilson"
    assert row["ci_low"] == pytest.approx(3 / (3 + Z95**2))


def test_a_continuous_metric_at_one_keeps_its_bootstrap_interval():
    board = build_leaderboard(long_table({"S": np.ones(20)}), metrics=QUALITY, n_resamples=99)
    assert board.rows.iloc[0]["ci_method"] == "degenerate"
    assert Accuracy.proportion and not QUALITY["quality"].get("proportion")


def oracle_case():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.4, 0.8, 24)
    oracle = np.ones(24)
    oracle[:6] = np.nan  # the oracle fails on some samples: the common set must not shrink
    return {"oracle": oracle, "good": base + 0.05, "plain": base}


def test_upper_bounds_are_shown_never_ranked_bolded_or_used_in_the_common_set(tmp_path):
    methods = {"oracle": {"upper_bound": True, "information": "depth-oracle"},
               "good": {"information": {"ds": "trained on train-set (train split); profile cpu"}}}
    board = build_leaderboard(long_table(oracle_case()), metrics=QUALITY, methods=methods, n_resamples=499)
    rows = board.rows.set_index("method")
    assert pd.isna(rows.loc["oracle", "rank"]) and not rows.loc["oracle", "best"]
    assert rows.loc["oracle", "upper_bound"] and not rows.loc["good", "upper_bound"]
    assert rows.loc["good", "rank"] == 1 and rows.loc["good", "best"] and rows.loc["plain", "rank"] == 2
    assert rows.loc["good", "n"] == 24 and rows.loc["oracle", "n"] == 18  # not shrunk by the oracle
    assert rows.loc["oracle", "mean"] == 1.0 and rows.loc["oracle", "status"] == "incomplete (18 of 24)"
    assert rows.loc["oracle", "information"] == "depth-oracle"
    assert rows.loc["good", "information"] == "trained on train-set (train split); profile cpu"
    assert rows.loc["plain", "information"] == ""

    text = to_markdown(board)
    body = [line for line in text.splitlines() if line.startswith("|")][2:]
    assert body[0].split("|")[2].strip() == "oracle, upper bound, incomplete (18 of 24)"
    assert body[0].split("|")[1].strip() == "–" and "**" not in body[0]
    assert "**" in body[1] and "good" in body[1] and "trained on train-set (train split)" in body[1]
    document = json.loads(write_leaderboard(board, tmp_path)["json"].read_text(encoding="utf-8"))
    oracle = next(r for r in document["rows"] if r["method"] == "oracle")
    assert oracle["upper_bound"] is True and oracle["rank"] is None


def test_real_microscopy_is_listed_before_synthetic_data():
    scores = pd.concat([long_table({"A": np.linspace(0.1, 0.9, 8)}, dataset=name)
                        for name in ("aaa-synthetic", "lytro", "zzz-real", "unknown")])
    datasets = {"aaa-synthetic": {"realism": "synthetic"}, "lytro": {"realism": "photographs"},
                "zzz-real": {"realism": "real"}}
    board = build_leaderboard(scores, metrics=QUALITY, datasets=datasets, n_resamples=99)
    text = to_markdown(board)
    positions = [text.index(f"## {name}\n") for name in ("zzz-real", "lytro", "aaa-synthetic", "unknown")]
    assert positions == sorted(positions)


def test_the_terminal_view_names_oracle_inputs():
    from mmdf_bench.leaderboard_terminal import to_terminal

    scores = long_table({"wiener": np.linspace(0.5, 0.9, 8), "blind": np.linspace(0.4, 0.8, 8)})
    methods = {"wiener": {"information": {"ds": "psf-oracle; calibrated on ds (train split)"}},
               "blind": {"information": {"ds": "calibrated on ds (train split); deviations: x-oracle-like"}}}
    text = to_terminal(build_leaderboard(scores, metrics=QUALITY, methods=methods, n_resamples=99))
    line = {row.split()[1]: row for row in text.splitlines() if len(row.split()) > 1 and row.split()[0] in "12"}
    assert "psf-oracle" in line["wiener"] and "oracle" not in line["blind"]
