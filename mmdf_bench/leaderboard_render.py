"""Rendering of a `mmdf_bench.leaderboard.Leaderboard` as Markdown, for people.

One pipe table per dataset (then one per subset of its samples), a legend,
and the problems of the run. The CSV and JSON files for programs are
written and read by `mmdf_bench.run_format`.

References
----------
.. [1] https://github.com/astanin/python-tabulate (pipe tables)
"""

import math

import numpy as np
import pandas as pd
from tabulate import tabulate

from mmdf_bench.enough_specimens import TOO_FEW, enough_groups, floor_sentence
from mmdf_bench.ranking import MIN_COVERAGE

__all__ = ["to_markdown"]

_ERROR_CHARS = 200


def _decimals(rows):
    """Decimals giving the column's typical interval width two significant digits."""
    widths = (rows["ci_high"] - rows["ci_low"]).to_numpy(dtype=np.float64)
    widths = widths[np.isfinite(widths) & (widths > 0)]
    if widths.size:
        scale, digits = float(np.median(widths)), 2
    else:
        magnitudes = np.abs(rows["mean"].to_numpy(dtype=np.float64))
        magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
        if not magnitudes.size:
            return 3
        scale, digits = float(magnitudes.max()), 3
    return int(np.clip(digits - 1 - math.floor(math.log10(scale)), 0, 6))


def _cell(row, decimals):
    value = f"{row['mean']:.{decimals}f}"
    if row["best"]:
        value = f"**{value}**"
    elif row["tied_with_best"]:
        value += "†"
    if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
        value += f" [{row['ci_low']:.{decimals}f}, {row['ci_high']:.{decimals}f}]"
    if row.get("ci_method") == "Wilson":
        value += "‡"
    return value


def _arrow(leaderboard, metric):
    return "↑" if leaderboard.metrics.get(metric, {}).get("higher_is_better", True) else "↓"


def _direction(leaderboard, metric):
    """Arrow, direction in words and range of values, e.g. ``↑ higher is better, 0..1``."""
    higher = leaderboard.metrics.get(metric, {}).get("higher_is_better", True)
    words = f"{_arrow(leaderboard, metric)} {'higher' if higher else 'lower'} is better"
    value_range = leaderboard.metrics.get(metric, {}).get("value_range")
    return f"{words}, {_escape(value_range)}" if value_range else words


def _escape(text):
    # A bare "|" would split a pipe-table cell.
    return " ".join(str(text).split()).replace("|", "\\|")


def _named(value):
    """True for a real method or sample name; False for the empty cell of a dataset-wide failure."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and str(value) != ""


def _cell_text(value):
    return _escape(value) if _named(value) else "–"


def _table_failures(leaderboard, dataset):
    """Failures of a dataset's table; a subset table gets those of its samples."""
    failures = leaderboard.failures
    info = leaderboard.subsets.get(dataset)
    if info is None:
        return failures[failures["dataset"] == dataset]
    samples = leaderboard.samples
    chosen = samples[(samples["dataset"] == info["dataset"])
                     & (samples["subset"] == info["subset"])]["sample_id"]
    return failures[(failures["dataset"] == info["dataset"])
                    & failures["sample_id"].astype(str).isin(set(chosen))]


def _missing(value):
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _method_notes(method_rows):
    """``"upper bound"`` and ``"incomplete (k of n)"`` notes of a method's rows in one table."""
    notes = []
    if method_rows["upper_bound"].fillna(False).astype(bool).any():
        notes.append("upper bound")
    incomplete = method_rows[method_rows["status"].fillna("complete") != "complete"]
    if len(incomplete):
        worst = incomplete.sort_values("n_scored").iloc[0]
        notes.append(str(worst["status"]))
    return notes


_INTERVAL_TEXT = {
    "BCa": "BCa bootstrap over groups",
    "percentile": "percentile bootstrap over groups (where BCa is undefined)",
    "Wilson": ("‡ = Wilson score interval on the effective number of groups (Kish: (sum m)^2 "
               "/ sum m^2 of the group sizes m) for a proportion of 0 or 1, which no resample "
               "moves"),
    "degenerate": "zero width where every resample gives the same value",
    "none": "none with a single group",
}


def _footer(rows, percent, metric_order):
    """Per-table notes: the common set the ranks use, and every interval method used."""
    lines = []
    ranked = rows[rows["rank"].notna()]
    if len(ranked) and (ranked["n"] < ranked["n_samples"]).any():
        parts = [f"`{metric}`: {int(block['n'].max())} of {int(block['n_samples'].max())}"
                 for metric, block in ranked.groupby("metric", sort=False)
                 if (block["n"] < block["n_samples"]).any()]
        lines.append("Ranked on the samples every ranked method scored (" + "; ".join(parts) + ").")
    parts = [text for method, text in _INTERVAL_TEXT.items() if (rows["ci_method"] == method).any()]
    if parts:
        lines.append(f"Intervals ({percent}): " + "; ".join(parts) + ".")
    return lines


def _dataset_table(leaderboard, dataset, rows, *, heading="##"):
    undefined = leaderboard.undefined
    undefined = undefined[undefined["dataset"] == dataset]
    present = set(rows["metric"]) | set(undefined["metric"])
    primary = leaderboard.primary_metric.get(dataset)
    metric_order = [primary] + [m for m in leaderboard.metrics if m != primary]
    metric_order = [m for m in metric_order if m in present]
    failures = _table_failures(leaderboard, dataset)
    seconds = leaderboard.seconds
    seconds = seconds[seconds["dataset"] == dataset].set_index("method")["mean_seconds"]
    primary_rows = rows[rows["metric"] == primary].set_index("method")
    upper = set(rows.loc[rows["upper_bound"].fillna(False).astype(bool), "method"])

    def order(method):
        rank = primary_rows["rank"].get(method)
        return (method not in upper, math.inf if _missing(rank) else int(rank), str(method))

    # a failure without a method (the dataset could not be opened) is no method's row
    failed = {method for method in failures["method"] if _named(method)}
    methods = sorted(set(rows["method"]) | set(undefined["method"]) | failed, key=order)

    cells = {}
    for metric in metric_order:
        block = rows[rows["metric"] == metric]
        decimals = _decimals(block)
        cells[metric] = {row["method"]: _cell(row, decimals) for _, row in block.iterrows()}
    headers = (["rank", "method"] + [f"{m} {_arrow(leaderboard, m)}" for m in metric_order]
               + ["n (groups)", "s/sample", "failures", "information"])
    failure_counts = failures.groupby("method").size()
    table = []
    for method in methods:
        mine = rows[rows["method"] == method]
        rank = primary_rows["rank"].get(method)
        counted = primary_rows.loc[method] if method in primary_rows.index else (
            mine.sort_values("n").iloc[-1] if len(mine) else None)
        if counted is None:
            spare = undefined[undefined["method"] == method]
            size = (f"{int(spare['n'].max())} ({int(spare['n_groups'].max())})" if len(spare) else "0")
        else:
            size = f"{int(counted['n'])} ({int(counted['n_groups'])})"
        notes = _method_notes(mine) if len(mine) else []
        information = mine["information"].dropna()
        table.append(
            [("–" if _missing(rank) else str(int(rank))),
             ", ".join([_escape(method), *notes])]
            + [cells[m].get(method, "–") for m in metric_order]
            + [size, (f"{seconds[method]:.3g}" if method in seconds.index else "–"),
               str(int(failure_counts.get(method, 0))),
               _escape(information.iloc[0]) if len(information) and information.iloc[0] else "–"]
        )
    aligns = ["right", "left"] + ["left"] * len(metric_order) + ["right"] * 3 + ["left"]
    body = tabulate(table, headers=headers, tablefmt="pipe", disable_numparse=True,
                    colalign=aligns)
    sort_note = (f"Sorted by `{primary}`." if primary else
                 "No scores (see the failures below)." if len(failures) else "No scores.")
    text = f"{heading} {dataset}\n\n{sort_note}\n\n{body}\n"
    footer = _footer(rows, f"{leaderboard.confidence * 100:g}%", metric_order)
    if footer:
        text += "\n" + "\n".join(footer) + "\n"
    if len(undefined):
        notes = [f"`{metric}` for {', '.join(f'`{_escape(m)}`' for m in sorted(names, key=str))}"
                 for metric, names in undefined.groupby("metric")["method"]]
        text += ("\nUndefined on these samples (e.g. a class is absent), shown as –: "
                 + "; ".join(notes) + ".\n")
    return text


def _legend(leaderboard, percent):
    legend = (
        f"Cells: value [{percent} CI] on the samples every ranked method of the table scored "
        "(its common set), so that a method failing on hard samples cannot rank above one "
        "that scored them. CI = BCa bootstrap over groups (independent specimens, or samples "
        "when ungrouped); each table says which interval methods it used. ↑ higher is better, "
        f"↓ lower is better. **bold** = best; † = not distinguishable from the best ({percent} "
        "paired bootstrap CI of the difference on the common set contains 0). n (groups) = "
        "samples the row is computed on and the independent groups among them. "
        "`incomplete (k of n)`: the method scored k of the table's n samples (failures or "
        f"missing scores); below {MIN_COVERAGE:.0%} of them it is not ranked and its value is "
        "over its own samples. `upper bound`: an oracle given what no method has (e.g. the true "
        "depth map), never ranked or bolded. information = what the method was given and how "
        "it was made (oracle inputs, training data and split, pretrained weights, profile, "
        "known deviations from the published method); `calibrated leave-one-specimen-out`: the "
        "dataset has no train split, so each specimen was scored by a copy of the method "
        "calibrated on the other specimens only. s/sample = mean prediction seconds per sample."
    )
    if leaderboard.pooled_metrics:
        names = ", ".join(f"`{m}`" for m in leaderboard.pooled_metrics)
        legend += (f" {names}: the metric of the per-sample components (e.g. confusion "
                   "counts) summed over the samples, not a mean of per-sample values.")
    if leaderboard.subsets:
        legend += (" A table `<dataset> [subset=<name>]` restricts the dataset to one subset "
                   "of its samples; its ranks and ties are computed within the subset.")
    if any(info.get("scores_stored_image") for info in leaderboard.metrics.values()):
        legend += (" Output images are scored as stored: rounded to the bit depth of their "
                   "input (8-bit unless the data says otherwise), as `--save-outputs` writes them.")
    return legend


def _gains_section(leaderboard, datasets, percent):
    """Markdown of each method's paired gain over the baseline method, per dataset ('' if none)."""
    gains = leaderboard.gains
    gains = gains[gains["dataset"].isin(datasets)]
    if not len(gains):
        return ""
    baseline = gains["baseline"].iloc[0]
    parts = [f"## Gain over `{baseline}`\n\nPaired difference `method - {baseline}` on the same samples, "
             f"with its {percent} bootstrap CI over specimens; *better* / *worse* when the CI excludes 0, but "
             f"{floor_sentence(leaderboard.confidence)}.\n"]
    for dataset, block in gains.groupby("dataset", sort=True):
        table = []
        for _, row in block.iterrows():
            verdict = "better" if row["better"] else ("worse" if row["significant"] else "no difference")
            if not enough_groups(row["n_groups"], leaderboard.confidence):
                verdict = TOO_FEW
            decimals = 2 if abs(row["gain"]) >= 0.1 else 4
            table.append([_escape(row["method"]), _escape(row["metric"]),
                          f"{row['gain']:+.{decimals}f} [{row['ci_low']:+.{decimals}f}, {row['ci_high']:+.{decimals}f}]",
                          verdict, f"{int(row['n'])} ({int(row['n_groups'])})"])
        parts.append(f"### {_escape(dataset)}\n\n" + tabulate(
            table, headers=["method", "metric", f"gain [{percent} CI]", "verdict", "n (groups)"],
            tablefmt="pipe", disable_numparse=True) + "\n")
    return "\n".join(parts)


def _family_section(leaderboard, datasets, percent):
    """Markdown of the best deep vs the best classical method, per dataset ('' if none)."""
    verdicts = leaderboard.family_gains
    verdicts = verdicts[verdicts["dataset"].isin(datasets)]
    if not len(verdicts):
        return ""
    parts = [f"## Deep vs classical\n\nThe best ranked deep method against the best ranked classical one "
             f"given the same information (upper bounds and methods given an oracle input such as the "
             f"exact PSF excluded): paired difference `deep - classical` on the samples both scored, "
             f"with its {percent} bootstrap CI over specimens; the verdict follows the CI, but "
             f"{floor_sentence(leaderboard.confidence)}.\n"]
    for dataset in datasets:
        block = verdicts[verdicts["dataset"] == dataset]
        if not len(block):
            continue
        table = []
        for _, row in block.iterrows():
            decimals = 2 if abs(row["gain"]) >= 0.1 else 4
            interval = (f" [{row['ci_low']:+.{decimals}f}, {row['ci_high']:+.{decimals}f}]"
                        if math.isfinite(row["ci_low"]) else "")
            table.append([_escape(row["metric"]), f"{_escape(row['deep'])} ({row['deep_value']:.4g})",
                          f"{_escape(row['classical'])} ({row['classical_value']:.4g})",
                          f"{row['gain']:+.{decimals}f}{interval}", row["verdict"],
                          f"{int(row['n'])} ({int(row['n_groups'])})"])
        parts.append(f"### {_escape(dataset)}\n\n" + tabulate(
            table, headers=["metric", "best deep", "best classical", f"deep - classical [{percent} CI]",
                            "verdict", "n (groups)"], tablefmt="pipe", disable_numparse=True) + "\n")
    return "\n".join(parts)


def to_markdown(leaderboard):
    """Render a leaderboard as Markdown: one pipe table per dataset, legend, problems.

    A dataset with subset tables is followed by a ``### <dataset>: by subset``
    section holding them.

    Parameters
    ----------
    leaderboard : Leaderboard

    Returns
    -------
    text : str
    """
    rows, failures = leaderboard.rows, leaderboard.failures
    percent = f"{leaderboard.confidence * 100:g}%"
    scored = set(rows["dataset"]) | set(leaderboard.undefined["dataset"])
    from mmdf_bench.leaderboard import dataset_order

    datasets = dataset_order(leaderboard, (scored | set(failures["dataset"])) - set(leaderboard.subsets))
    parts = ["# Leaderboard\n"]
    for dataset in datasets:
        parts.append(_dataset_table(leaderboard, dataset, rows[rows["dataset"] == dataset]))
        notes = leaderboard.dataset_notes.get(dataset, [])
        if notes:
            parts.append("\n".join(f"Note ({_escape(dataset)}): {_escape(line)}" for line in notes) + "\n")
        subsets = [name for name, info in leaderboard.subsets.items()
                   if info["dataset"] == dataset and name in scored]
        if subsets:
            parts.append(f"### {dataset}: by subset\n")
            parts += [_dataset_table(leaderboard, name, rows[rows["dataset"] == name],
                                     heading="####") for name in subsets]

    for section in (_family_section(leaderboard, datasets, percent),
                    _gains_section(leaderboard, datasets, percent)):
        if section:
            parts.append(section)
    parts.append(f"{_legend(leaderboard, percent)}\n")
    present = set(rows["metric"]) | set(leaderboard.undefined["metric"])
    described = [m for m in leaderboard.metrics
                 if m in present and leaderboard.metrics[m].get("summary")]
    if described:
        parts.append("\n".join(
            f"- `{m}` {_direction(leaderboard, m)}: {_escape(leaderboard.metrics[m]['summary'])}"
            for m in described) + "\n")
    if leaderboard.unavailable:
        parts.append("## Unavailable metrics\n\n" + "\n".join(
            f"- `{name}`: {_escape(reason)}" for name, reason in leaderboard.unavailable.items()
        ) + "\n")
    if leaderboard.unavailable_methods:
        parts.append("## Unavailable methods\n\n" + "\n".join(
            f"- `{name}`: {_escape(reason)}"
            for name, reason in leaderboard.unavailable_methods.items()
        ) + "\n")
    if len(failures):
        table = [
            [_escape(r["dataset"]), _cell_text(r["method"]), _cell_text(r["sample_id"]),
             _escape(r["stage"]), _escape(_truncate(r["error"]))]
            for _, r in failures.iterrows()
        ]
        count = len(failures)
        parts.append(
            f"## Failures\n\n**{count} failure{'s' if count != 1 else ''}**: these samples "
            "have no score from that method (or metric, for stage `score`).\n\n"
            + tabulate(table, headers=["dataset", "method", "sample", "stage", "error"],
                       tablefmt="pipe", disable_numparse=True) + "\n"
        )
    return "\n".join(parts)


def _truncate(text, limit=_ERROR_CHARS):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
