"""Paired gains over a baseline method, and their place in the leaderboard."""

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.baseline_gain import gains_over_baseline
from mmdf_bench.leaderboard import build_leaderboard
from mmdf_bench.leaderboard_render import to_markdown

METRICS = {"psnr": {"higher_is_better": True, "summary": "peak SNR"},
           "mae": {"higher_is_better": False, "summary": "mean absolute error"}}


def long_scores(values, metric="psnr", dataset="toy"):
    """values: method -> per-sample array (sample k in group k // 2)."""
    rows = [{"dataset": dataset, "method": method, "sample_id": f"s{k}", "group": f"g{k // 2}",
             "metric": metric, "value": float(v)}
            for method, array in values.items() for k, v in enumerate(array)]
    return pd.DataFrame(rows)


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    base = rng.normal(27.0, 2.0, 24)
    noise = rng.normal(0.0, 0.5, 24)
    return long_scores({"identity": base, "sharper": base + 2.0, "same": base + noise - noise.mean(),
                        "worse": base - 1.0 + 0.1 * noise})


def test_gain_is_the_paired_difference_with_its_direction(scores):
    gains = gains_over_baseline(scores, baseline="identity", metrics=["psnr"], higher_is_better={"psnr": True},
                                n_resamples=999).set_index("method")
    assert set(gains.index) == {"sharper", "same", "worse"}
    # a constant shift: every resample gives exactly +2
    assert gains.loc["sharper", "gain"] == pytest.approx(2.0)
    assert gains.loc["sharper", ["ci_low", "ci_high"]].tolist() == pytest.approx([2.0, 2.0])
    assert gains.loc["sharper", "better"] and gains.loc["sharper", "significant"]
    assert gains.loc["same", "gain"] == pytest.approx(0.0, abs=1e-12) and not gains.loc["same", "significant"]
    assert gains.loc["worse", "significant"] and not gains.loc["worse", "better"]
    assert gains.loc["worse", "ci_high"] < 0
    assert (gains["n"] == 24).all() and (gains["n_groups"] == 12).all()  # resampled by specimen


def test_lower_is_better_metrics_count_a_drop_as_better():
    errors = long_scores({"identity": np.full(12, 0.2) + np.arange(12) * 0.01,
                          "restorer": np.full(12, 0.1) + np.arange(12) * 0.01}, metric="mae")
    [row] = gains_over_baseline(errors, baseline="identity", metrics=["mae"], higher_is_better={"mae": False},
                                n_resamples=999).to_dict("records")
    assert row["gain"] == pytest.approx(-0.1) and row["better"]


def test_only_samples_both_methods_scored_are_paired(scores):
    partial = scores[~((scores.method == "sharper") & scores.sample_id.isin(["s0", "s1", "s2"]))]
    gains = gains_over_baseline(partial, baseline="identity", metrics=["psnr"], higher_is_better={"psnr": True},
                                n_resamples=999).set_index("method")
    assert gains.loc["sharper", "n"] == 21 and gains.loc["same", "n"] == 24


def test_no_baseline_in_the_scores_gives_no_rows(scores):
    gains = gains_over_baseline(scores[scores.method != "identity"], baseline="identity", metrics=["psnr"],
                                higher_is_better={"psnr": True})
    assert gains.empty and "gain" in gains.columns


def test_leaderboard_shows_the_gain_section(scores):
    board = build_leaderboard(scores, metrics=METRICS, baseline="identity", gain_metrics=("psnr",),
                              n_resamples=999)
    assert set(board.gains["method"]) == {"sharper", "same", "worse"}
    text = to_markdown(board)
    assert "## Gain over `identity`" in text
    line = next(line for line in text.splitlines() if line.startswith("| sharper"))
    assert "+2.00 [+2.00, +2.00]" in line and "better" in line
    assert line.rstrip(" |").endswith("24 (12)")  # samples and their groups
    assert "no difference" in next(line for line in text.splitlines() if line.startswith("| same"))
    assert "Gain over" not in to_markdown(build_leaderboard(scores, metrics=METRICS, n_resamples=999))


def test_five_specimens_are_too_few_for_better_or_worse():
    # the same drop on every sample: on 5 specimens it is not a verdict, on 6 it is
    for samples, verdict in ((10, False), (12, True)):
        errors = long_scores({"identity": np.full(samples, 0.2), "restorer": np.full(samples, 0.1)
                              + np.arange(samples) * 1e-3}, metric="mae")
        [row] = gains_over_baseline(errors, baseline="identity", metrics=["mae"],
                                    higher_is_better={"mae": False}, n_resamples=999).to_dict("records")
        assert row["n_groups"] == samples // 2 and row["ci_high"] < 0
        assert row["significant"] is verdict and row["better"] is verdict
