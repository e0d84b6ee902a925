"""The verdict: does the best deep method beat the best classical one, here?

For every table (dataset) and metric of a leaderboard, the best ranked deep
method and the best ranked classical method are compared, among the methods
given the same information: upper bounds never count, and neither do methods
given a truth the others lack (``oracle_inputs`` in their manifest record,
e.g. the non-blind deconvolutions that receive the exact PSF). They keep
their ranked rows; they are only left out of the verdict, which would
otherwise pit a blind network against a filter told the blur. They are
compared by the paired bootstrap of their difference on the samples both
scored, resampling whole groups (specimens). The interval, not the two
means, decides: *deep better* or *classical better* when it excludes 0 on
that side, *no difference* otherwise, and *too few specimens* when the
samples come from fewer specimens than any verdict needs
(`mmdf_bench.enough_specimens`); the interval is still reported.

Which family a method belongs to: its class attribute ``family``
(``"deep"`` or ``"classical"``) when it sets one, as third-party methods
should; otherwise the module it is registered from, ``mmdf_bench.methods``
(deep) or ``mmdf_bench.baselines`` (classical). Methods of neither kind are
left out.
"""

import math

import numpy as np
import pandas as pd

from mmdf_bench.enough_specimens import TOO_FEW, enough_groups
from mmdf_bench.stats import paired_difference, paired_statistic_difference

__all__ = ["FAMILIES", "FAMILY_GAIN_COLUMNS", "deep_vs_classical", "method_family"]

FAMILIES = ("classical", "deep")
FAMILY_GAIN_COLUMNS = ("dataset", "metric", "deep", "classical", "deep_value", "classical_value", "n",
                       "n_groups", "gain", "ci_low", "ci_high", "ci_method", "verdict")
_MODULES = {"mmdf_bench.methods.": "deep", "mmdf_bench.baselines.": "classical"}


def method_family(record):
    """``"deep"``, ``"classical"`` or None for a method's manifest record (``family`` or ``target``)."""
    if not isinstance(record, dict):
        return None
    family = record.get("family")
    if family in FAMILIES:
        return family
    target = str(record.get("target") or "")
    for prefix, kind in _MODULES.items():
        if target.startswith(prefix):
            return kind
    return None


def _best(rows, names):
    candidates = rows[rows["method"].isin(names) & rows["rank"].notna()]
    if not len(candidates):
        return None
    return candidates.sort_values(["rank", "method"]).iloc[0]


def deep_vs_classical(frame, rows, *, methods, higher_is_better, aggregators=None, confidence=0.95,
                      n_resamples=9999, seed=0):
    """Paired difference of the best deep and the best classical method, per dataset and metric.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long scores with columns dataset, method, sample_id, group, metric
        (the row name, ``<metric>:<component>`` for pooled metrics), base
        (the metric) and value.
    rows : pandas.DataFrame
        The leaderboard rows (`mmdf_bench.leaderboard.ROW_COLUMNS`): who is
        best is read from their ranks.
    methods : dict
        Method name -> manifest record (``family`` / ``target``, ``upper_bound``,
        ``oracle_inputs``).
    higher_is_better : dict
        Metric -> bool.
    aggregators : dict, optional
        Metric -> ``(components, aggregate)`` for pooled metrics.
    confidence, n_resamples, seed
        Passed to `mmdf_bench.stats`.

    Returns
    -------
    pandas.DataFrame
        Columns `FAMILY_GAIN_COLUMNS`; ``gain`` is ``deep - classical`` in the
        metric's units. Tables with no ranked method of either family give no row.
    """
    aggregators = dict(aggregators or {})
    families = {name: method_family(record) for name, record in methods.items()
                if not (isinstance(record, dict)
                        and (record.get("upper_bound") or record.get("oracle_inputs")))}
    deep = {name for name, family in families.items() if family == "deep"}
    classical = {name for name, family in families.items() if family == "classical"}
    records = []
    for (dataset, metric), block in rows.groupby(["dataset", "metric"], sort=True):
        best_deep, best_classical = _best(block, deep), _best(block, classical)
        if best_deep is None or best_classical is None:
            continue
        pair = (best_deep["method"], best_classical["method"])
        scores = frame[(frame["dataset"] == dataset) & (frame["base"] == metric) & frame["method"].isin(pair)]
        table = scores.pivot_table(index="sample_id", columns=["method", "metric"], values="value",
                                   aggfunc="first")
        groups = scores.groupby("sample_id")["group"].first()
        options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
        if metric in aggregators:
            components, aggregate = aggregators[metric]
            names = [f"{metric}:{component}" for component in components]
            columns = [(method, name) for method in pair for name in names]
            if not set(columns) <= set(table.columns):
                continue
            shared = table[columns].dropna()
            if len(shared) < 2:
                continue

            def statistic(sums, count, components=components, aggregate=aggregate):
                return aggregate({name: sums[..., k] for k, name in enumerate(components)}, count)

            interval = paired_statistic_difference(
                shared[[(pair[0], name) for name in names]].to_numpy(np.float64),
                shared[[(pair[1], name) for name in names]].to_numpy(np.float64),
                statistic=statistic, groups=groups.reindex(shared.index).to_numpy(), **options)
        else:
            columns = [(method, metric) for method in pair]
            if not set(columns) <= set(table.columns):
                continue
            shared = table[columns].dropna()
            if len(shared) < 2:
                continue
            interval = paired_difference(shared[columns[0]].to_numpy(np.float64),
                                         shared[columns[1]].to_numpy(np.float64),
                                         groups=groups.reindex(shared.index).to_numpy(), **options)
        higher = bool(higher_is_better.get(metric, True))
        verdict = "no difference"
        if not enough_groups(interval.n, confidence):
            verdict = TOO_FEW
        elif math.isfinite(interval.low) and not interval.contains(0.0):
            deep_wins = interval.low > 0 if higher else interval.high < 0
            verdict = "deep better" if deep_wins else "classical better"
        records.append({"dataset": dataset, "metric": metric, "deep": pair[0], "classical": pair[1],
                        "deep_value": float(best_deep["mean"]), "classical_value": float(best_classical["mean"]),
                        "n": len(shared), "n_groups": interval.n, "gain": interval.estimate,
                        "ci_low": interval.low, "ci_high": interval.high, "ci_method": interval.method,
                        "verdict": verdict})
    return pd.DataFrame(records, columns=list(FAMILY_GAIN_COLUMNS))
