"""The verdict of the benchmark: best deep vs best classical, per dataset and metric."""

import numpy as np
import pandas as pd

from mmdf_bench.family_gain import method_family
from mmdf_bench.leaderboard import build_leaderboard
from mmdf_bench.leaderboard_render import to_markdown
from mmdf_bench.metrics.classification import BalancedAccuracy
from mmdf_bench.run_format import leaderboard_from_json, leaderboard_to_json

METHODS = {
    "net-a": {"target": "mmdf_bench.methods.net:A"},
    "net-b": {"target": "mmdf_bench.methods.net:B"},
    "plugin-net": {"target": "elsewhere:Net", "family": "deep"},
    "oracle": {"target": "mmdf_bench.methods.oracle:Oracle", "upper_bound": True},
    "op-a": {"target": "mmdf_bench.baselines.ops:A"},
    "op-b": {"target": "mmdf_bench.baselines.ops:B"},
    "told-psf": {"target": "mmdf_bench.baselines.ops:Told", "oracle_inputs": ["psf-oracle"]},
    "mystery": {"target": "elsewhere:Thing"},
}
METRICS = {"psnr": {"higher_is_better": True, "summary": "x"},
           "error": {"higher_is_better": False, "summary": "y"},
           "balanced-accuracy": {"higher_is_better": True, "summary": "z"}}


def test_method_family_from_the_attribute_or_the_module():
    assert [method_family(METHODS[name]) for name in ("net-a", "plugin-net", "op-b", "mystery")] == [
        "deep", "deep", "classical", None]
    assert method_family({"target": "mmdf_bench.baselines.x:Y", "family": "deep"}) == "deep"


def _scores():
    rng = np.random.default_rng(0)
    rows = []
    for sample in range(24):
        group = f"field-{sample // 4}"  # 6 specimens
        base = rng.normal(30, 2)
        values = {"net-a": base + 1.0, "net-b": base + 0.5, "plugin-net": base - 3, "oracle": base + 9,
                  "op-a": base, "op-b": base - 1, "mystery": base + 20,
                  "told-psf": base + 5}
        for method, value in values.items():
            rows.append(("set", method, f"s{sample}", group, "psnr", value + rng.normal(0, 0.01)))
            # errors: the deep and classical bests are the same on every sample
            rows.append(("set", method, f"s{sample}", group, "error", 1.0 if method != "op-b" else 2.0))
            label, said = sample % 2, (sample % 2) if method in ("net-a", "op-a") else 0
            counts = {"tp": float(label and said), "fn": float(label and not said),
                      "tn": float(not label and not said), "fp": float(not label and said)}
            if method == "op-a" and sample < 8:  # the classical best errs on two specimens
                counts = {"tp": 0.0, "fn": float(label), "tn": 0.0, "fp": float(not label)}
            rows += [("set", method, f"s{sample}", group, f"balanced-accuracy:{k}", v) for k, v in counts.items()]
    return pd.DataFrame(rows, columns=["dataset", "method", "sample_id", "group", "metric", "value"])


def test_best_deep_against_best_classical_with_a_paired_interval_over_specimens():
    aggregators = {"balanced-accuracy": (BalancedAccuracy.components, BalancedAccuracy.aggregate)}
    board = build_leaderboard(_scores(), metrics=METRICS, methods=METHODS, aggregators=aggregators,
                              n_resamples=999, datasets={"set": {"notes": ["focus chosen by a rule"]}})
    verdicts = board.family_gains.set_index("metric")
    psnr = verdicts.loc["psnr"]
    # the oracle (an upper bound), the classical method told the PSF and the method of
    # unknown family never count: the verdict compares methods given the same information
    assert (psnr["deep"], psnr["classical"]) == ("net-a", "op-a")
    assert abs(psnr["gain"] - 1.0) < 0.01 and psnr["ci_low"] > 0.9 and psnr["verdict"] == "deep better"
    assert psnr["n"] == 24 and psnr["n_groups"] == 6
    error = verdicts.loc["error"]  # lower is better; identical bests
    assert error["classical"] == "op-a" and error["gain"] == 0 and error["verdict"] == "no difference"
    pooled = verdicts.loc["balanced-accuracy"]
    assert (pooled["deep"], pooled["classical"]) == ("net-a", "op-a") and pooled["gain"] > 0
    text = to_markdown(board)
    assert "## Deep vs classical" in text and "deep better" in text
    assert "Note (set): focus chosen by a rule" in text
    again = leaderboard_from_json(leaderboard_to_json(board))
    pd.testing.assert_frame_equal(again.family_gains, board.family_gains)
    assert again.dataset_notes == {"set": ["focus chosen by a rule"]}


def test_no_verdict_without_both_families():
    scores = _scores()
    only_deep = {name: record for name, record in METHODS.items() if "methods" in record["target"]}
    board = build_leaderboard(scores[scores["method"].isin(only_deep)], metrics=METRICS, methods=only_deep,
                              aggregators={"balanced-accuracy": (BalancedAccuracy.components,
                                                                 BalancedAccuracy.aggregate)},
                              n_resamples=199)
    assert board.family_gains.empty and "Deep vs classical" not in to_markdown(board)


def test_fewer_specimens_than_a_verdict_needs_say_so():
    # the same clear gain of net-a over op-a, on 5 specimens: every one agrees, yet an exact sign-flip
    # test cannot go below p = 2 / 2**5 = 0.0625, so no 95% verdict is given; on 6 it is
    scores = _scores()
    scores = scores[scores["metric"] == "psnr"]
    five = scores[scores["group"] != "field-5"]
    verdicts = {}
    for name, frame in (("five", five), ("six", scores)):
        board = build_leaderboard(frame, metrics=METRICS, methods=METHODS, n_resamples=999)
        verdicts[name] = board.family_gains.set_index("metric").loc["psnr"]
    assert verdicts["six"]["verdict"] == "deep better"
    assert verdicts["five"]["verdict"] == "too few specimens" and verdicts["five"]["n_groups"] == 5
    assert verdicts["five"]["ci_low"] > 0.9  # the interval is still reported
    assert "reads *too few specimens* below that" in to_markdown(board)
