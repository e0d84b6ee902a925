"""Paired gains of every method over a task's reference baseline.

Some tasks have a natural "do nothing" method: for deblurring it is
``identity``, the blurred input scored as if it were the restoration; for
fusion it is ``average``, the mean of the planes. A method is only useful
when it beats that baseline, so the leaderboard lists each method's paired
difference to it (``method -
baseline`` on the samples both scored) with a bootstrap confidence interval
over the samples' groups (specimens): a gain whose interval excludes 0 is
one the data support.
"""

import math

import pandas as pd

from mmdf_bench.enough_specimens import enough_groups
from mmdf_bench.stats import paired_difference

GAIN_COLUMNS = ("dataset", "metric", "method", "baseline", "n", "n_groups", "gain", "ci_low", "ci_high",
                "ci_method", "significant", "better")


def gains_over_baseline(scores, *, baseline, metrics, higher_is_better, confidence=0.95, n_resamples=9999,
                        seed=0):
    """Paired difference of each method to `baseline`, per dataset and metric.

    Parameters
    ----------
    scores : pandas.DataFrame
        Long-format scores: dataset, method, sample_id, group, metric, value.
        Non-finite values are ignored.
    baseline : str
        Method the others are compared with.
    metrics : sequence of str
        Metrics to compare on (others are ignored; missing ones give no rows).
    higher_is_better : dict
        Metric name -> bool.
    confidence, n_resamples, seed
        Passed to `mmdf_bench.stats.paired_difference`.

    Returns
    -------
    gains : pandas.DataFrame
        Columns `GAIN_COLUMNS`. ``gain`` is ``method - baseline`` (in the
        metric's units); ``significant`` is True when the interval excludes 0
        and the samples come from enough specimens (`mmdf_bench.enough_specimens`);
        ``better`` is True when it lies wholly on the metric's better side.
    """
    wanted = scores[scores["metric"].isin(list(metrics)) & pd.to_numeric(scores["value"]).notna()]
    records = []
    for (dataset, metric), block in wanted.groupby(["dataset", "metric"], sort=True):
        table = block.pivot_table(index="sample_id", columns="method", values="value", aggfunc="first")
        if baseline not in table.columns:
            continue
        groups = block.groupby("sample_id")["group"].first().reindex(table.index)
        groups = groups.fillna(pd.Series(table.index, index=table.index))
        higher = bool(higher_is_better.get(metric, True))
        for method in sorted(table.columns):
            if method == baseline:
                continue
            shared = table[[method, baseline]].dropna()
            if len(shared) < 2:
                continue
            result = paired_difference(shared[method], shared[baseline], groups=groups[shared.index],
                                       confidence=confidence, n_resamples=n_resamples, seed=seed)
            significant = (enough_groups(result.n, confidence) and not result.contains(0.0)
                           and math.isfinite(result.low))
            better = significant and (result.low > 0 if higher else result.high < 0)
            records.append({"dataset": dataset, "metric": metric, "method": method, "baseline": baseline,
                             "n": len(shared), "n_groups": result.n, "gain": result.estimate,
                             "ci_low": result.low, "ci_high": result.high, "ci_method": result.method,
                             "significant": significant, "better": better})
    gains = pd.DataFrame(records, columns=list(GAIN_COLUMNS))
    return gains.sort_values(["dataset", "metric", "gain"], ascending=[True, True, False], ignore_index=True)
