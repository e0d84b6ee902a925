"""Leaderboards: per-sample scores -> ranked means with confidence intervals.

The runner's long table (one row per dataset, method, sample and metric) is
reduced here to one row per (dataset, metric, method) holding the mean, its
bootstrap confidence interval, the rank, and whether the method can be told
apart from the best one. `to_markdown` prints it for people, `write_leaderboard`
also stores CSV and JSON for programs (regression checks, reports).

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993.
.. [2] https://github.com/astanin/python-tabulate (pipe tables)
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.stats import bootstrap_mean, paired_difference

__all__ = ["Leaderboard", "build_leaderboard", "to_markdown", "write_leaderboard"]

SCORE_COLUMNS = ("dataset", "method", "sample_id", "group", "metric", "value")
FAILURE_COLUMNS = ("dataset", "method", "sample_id", "stage", "error")
SECONDS_COLUMNS = ("dataset", "method", "sample_id", "seconds")
ROW_COLUMNS = (
    "dataset", "metric", "method", "n", "n_groups", "mean", "ci_low", "ci_high", "ci_method",
    "rank", "best", "tied_with_best", "diff_to_best_low", "diff_to_best_high", "higher_is_better",
)
_KEY = ["dataset", "method", "sample_id", "metric"]
_ERROR_CHARS = 200


@dataclass
class Leaderboard:
    """Aggregated results of a run.

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per (dataset, metric, method); columns `ROW_COLUMNS`. ``n``
        counts samples, ``n_groups`` the resampled groups; ``rank`` 1 is best
        (ties share the lowest rank); ``diff_to_best_*`` bound the paired
        difference ``method - best`` (NaN for the best itself and when fewer
        than two samples are shared).
    unavailable : dict
        Metric name -> reason it could not be computed here.
    unavailable_methods : dict
        Method name -> reason it could not run here (e.g. missing weights).
    failures : pandas.DataFrame
        Columns `FAILURE_COLUMNS`; includes non-finite scores (stage ``"score"``).
    seconds : pandas.DataFrame
        Columns dataset, method, mean_seconds (per sample), n.
    primary_metric : dict
        Dataset -> the metric its table is sorted by.
    metrics : dict
        The metric descriptions the leaderboard was built with.
    confidence : float
    """

    rows: pd.DataFrame
    unavailable: dict
    failures: pd.DataFrame
    seconds: pd.DataFrame
    primary_metric: dict
    metrics: dict
    confidence: float
    unavailable_methods: dict = field(default_factory=dict)


def _require_columns(frame, columns, name):
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidInputError(f"{name} table lacks column(s) {missing}; has {list(frame.columns)}")


def _table(frame, columns, name):
    if frame is None or len(frame) == 0:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    _require_columns(frame, columns, name)
    return frame.loc[:, list(columns)].reset_index(drop=True)


def _split_scores(scores, metrics):
    """Validated scores of available metrics, and non-finite scores as failure rows."""
    _require_columns(scores, [c for c in SCORE_COLUMNS if c != "group"], "scores")
    frame = scores.copy()
    frame["sample_id"] = frame["sample_id"].astype(str)
    group = frame["group"] if "group" in frame.columns else pd.Series(np.nan, index=frame.index)
    frame["group"] = group.where(group.notna(), frame["sample_id"]).astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="raise").astype(np.float64)
    frame = frame.loc[:, list(SCORE_COLUMNS)]

    unknown = sorted(set(frame["metric"]) - set(metrics))
    if unknown:
        raise InvalidInputError(
            f"scores hold metric(s) {unknown} missing from `metrics`, so their direction "
            "(higher or lower is better) is unknown"
        )
    available = {name for name, info in metrics.items() if info.get("available", True)}
    frame = frame[frame["metric"].isin(available)]

    duplicated = frame.duplicated(_KEY, keep=False)
    if duplicated.any():
        example = frame.loc[duplicated, _KEY].head(3).to_dict("records")
        raise InvalidInputError(
            f"{int(duplicated.sum())} score rows repeat a (dataset, method, sample_id, metric) "
            f"key, e.g. {example}"
        )

    finite = np.isfinite(frame["value"].to_numpy())
    bad = frame.loc[~finite]
    bad_rows = pd.DataFrame({
        "dataset": bad["dataset"], "method": bad["method"], "sample_id": bad["sample_id"],
        "stage": "score",
        "error": [f"metric {m} returned {v}" for m, v in zip(bad["metric"], bad["value"])],
    })
    return frame.loc[finite].reset_index(drop=True), bad_rows.reset_index(drop=True)


def _rank_block(block, higher_is_better, options):
    """Rows of one (dataset, metric): CI per method, ranks, ties with the best."""
    wide = block.pivot(index="sample_id", columns="method", values="value")
    group = block.groupby("sample_id")["group"].first().reindex(wide.index)
    records = {}
    for method in wide.columns:
        present = wide[method].notna()
        interval = bootstrap_mean(wide[method][present], groups=group[present], **options)
        records[method] = {
            "n": int(present.sum()), "n_groups": interval.n, "mean": interval.estimate,
            "ci_low": interval.low, "ci_high": interval.high, "ci_method": interval.method,
        }
    means = pd.Series({method: record["mean"] for method, record in records.items()})
    ranks = means.rank(ascending=not higher_is_better, method="min").astype(int)
    best = min(ranks.index[ranks == 1])  # the reference when several share rank 1
    for method, record in records.items():
        record.update(rank=int(ranks[method]), best=bool(ranks[method] == 1),
                      tied_with_best=False, diff_to_best_low=math.nan,
                      diff_to_best_high=math.nan)
        if method == best:
            continue
        # Fewer than two shared units give NaN bounds, hence "not tied".
        shared = wide[method].notna() & wide[best].notna()
        difference = paired_difference(
            wide[method][shared], wide[best][shared], groups=group[shared], **options
        )
        record.update(tied_with_best=difference.contains(0.0),
                      diff_to_best_low=difference.low, diff_to_best_high=difference.high)
    return [{"method": method, **record} for method, record in records.items()]


def build_leaderboard(scores, *, metrics, failures=None, seconds=None, primary_metrics=(),
                      confidence=0.95, n_resamples=9999, seed=0, unavailable_methods=None):
    """Aggregate per-sample scores into a ranked leaderboard.

    Parameters
    ----------
    scores : pandas.DataFrame
        Columns dataset, method, sample_id, group, metric, value; one row per
        dataset x method x sample x metric. ``group`` (e.g. the specimen) may
        be missing or NaN, in which case each sample is its own group.
    metrics : dict
        Metric name -> dict with ``higher_is_better`` (bool), ``available``
        (bool), ``reason`` (str or None) and ``summary`` (str).
    failures : pandas.DataFrame, optional
        Columns dataset, method, sample_id, stage, error.
    seconds : pandas.DataFrame, optional
        Columns dataset, method, sample_id, seconds (prediction time).
    primary_metrics : tuple of str, optional
        The first one a dataset has scores for sorts that dataset's table;
        otherwise the first of `metrics` (in order) it has scores for.
    unavailable_methods : dict, optional
        Method name -> reason it could not run here; listed, not ranked.
    confidence, n_resamples, seed
        Passed to `mmdf_bench.stats.bootstrap_mean` and
        `mmdf_bench.stats.paired_difference` for every interval, so the
        result does not depend on the order of methods.

    Returns
    -------
    leaderboard : Leaderboard

    Notes
    -----
    A method is *tied with the best* when the paired bootstrap interval of
    its difference to the best method, over the samples both have, contains
    0. Non-finite scores are not averaged: they become failure rows with
    stage ``"score"``.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
           Chapman & Hall, 1993, chapters 14 and 16.
    """
    frame, bad_scores = _split_scores(scores, metrics)
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)

    records = []
    for (dataset, metric), block in frame.groupby(["dataset", "metric"], sort=True):
        higher = bool(metrics[metric].get("higher_is_better", True))
        for record in _rank_block(block, higher, options):
            records.append({"dataset": dataset, "metric": metric, **record,
                            "higher_is_better": higher})
    rows = pd.DataFrame(records, columns=list(ROW_COLUMNS))
    rows = rows.sort_values(["dataset", "metric", "rank", "method"], ignore_index=True)

    primary = {}
    for dataset, names in rows.groupby("dataset")["metric"]:
        present = set(names)
        candidates = [m for m in primary_metrics if m in present] + [m for m in metrics if m in present]
        primary[dataset] = candidates[0]

    failure_table = _table(failures, FAILURE_COLUMNS, "failures")
    if len(bad_scores):
        failure_table = pd.concat([failure_table, bad_scores], ignore_index=True)
    timing = _table(seconds, SECONDS_COLUMNS, "seconds")
    timing = (timing.assign(seconds=pd.to_numeric(timing["seconds"]))
              .groupby(["dataset", "method"], as_index=False)
              .agg(mean_seconds=("seconds", "mean"), n=("seconds", "size")))

    unavailable = {name: info.get("reason") or "unavailable here (no reason given)"
                   for name, info in metrics.items() if not info.get("available", True)}
    return Leaderboard(rows=rows, unavailable=unavailable, failures=failure_table,
                       seconds=timing, primary_metric=primary, metrics=dict(metrics),
                       confidence=confidence, unavailable_methods=dict(unavailable_methods or {}))


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
    return value


def _arrow(higher_is_better):
    return "↑" if higher_is_better else "↓"


def _escape(text):
    # A bare "|" would split a pipe-table cell.
    return " ".join(str(text).split()).replace("|", "\\|")


def _dataset_table(leaderboard, dataset, rows):
    primary = leaderboard.primary_metric.get(dataset)
    metric_order = [primary] + [m for m in leaderboard.metrics if m != primary]
    metric_order = [m for m in metric_order if m in set(rows["metric"])]
    failures = leaderboard.failures
    failures = failures[failures["dataset"] == dataset]
    seconds = leaderboard.seconds
    seconds = seconds[seconds["dataset"] == dataset].set_index("method")["mean_seconds"]
    primary_rank = rows[rows["metric"] == primary].set_index("method")["rank"]
    methods = sorted(set(rows["method"]) | set(failures["method"]),
                     key=lambda m: (primary_rank.get(m, math.inf), str(m)))

    cells = {}
    for metric in metric_order:
        block = rows[rows["metric"] == metric]
        decimals = _decimals(block)
        cells[metric] = {row["method"]: _cell(row, decimals) for _, row in block.iterrows()}
    directions = rows.groupby("metric")["higher_is_better"].first()
    headers = (["rank", "method"] + [f"{m} {_arrow(directions[m])}" for m in metric_order]
               + ["n", "s/sample", "failures"])
    counts = rows.groupby("method")["n"].max()
    failure_counts = failures.groupby("method").size()
    table = []
    for method in methods:
        rank = primary_rank.get(method)
        table.append(
            [("–" if rank is None else str(rank)), _escape(method)]
            + [cells[m].get(method, "–") for m in metric_order]
            + [str(counts.get(method, 0)),
               (f"{seconds[method]:.3g}" if method in seconds.index else "–"),
               str(int(failure_counts.get(method, 0)))]
        )
    aligns = ["right", "left"] + ["left"] * len(metric_order) + ["right"] * 3
    body = tabulate(table, headers=headers, tablefmt="pipe", disable_numparse=True,
                    colalign=aligns)
    sort_note = f"Sorted by `{primary}`." if primary else "No scores."
    return f"## {dataset}\n\n{sort_note}\n\n{body}\n"


def to_markdown(leaderboard):
    """Render a leaderboard as Markdown: one pipe table per dataset, legend, problems.

    Parameters
    ----------
    leaderboard : Leaderboard

    Returns
    -------
    text : str
    """
    rows, failures = leaderboard.rows, leaderboard.failures
    percent = f"{leaderboard.confidence * 100:g}%"
    datasets = sorted(set(rows["dataset"]) | set(failures["dataset"]), key=str)
    parts = ["# Leaderboard\n"]
    for dataset in datasets:
        parts.append(_dataset_table(leaderboard, dataset, rows[rows["dataset"] == dataset]))

    legend = (
        f"Cells: mean [{percent} CI], CI = {percent} BCa bootstrap over groups (specimens, "
        "or samples when ungrouped). ↑ higher is better, ↓ lower is better. "
        f"**bold** = best; † = not distinguishable from the best ({percent} paired bootstrap "
        "CI of the difference on shared samples contains 0). n = samples scored; "
        "s/sample = mean prediction seconds per sample."
    )
    parts.append(f"{legend}\n")
    shown = [m for m in leaderboard.metrics if m in set(rows["metric"])]
    described = [m for m in shown if leaderboard.metrics[m].get("summary")]
    if described:
        directions = rows.groupby("metric")["higher_is_better"].first()
        parts.append("\n".join(
            f"- `{m}` {_arrow(directions[m])}: {_escape(leaderboard.metrics[m]['summary'])}"
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
            [_escape(r["dataset"]), _escape(r["method"]), _escape(r["sample_id"]),
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


def _plain(value):
    """A JSON-ready copy: numpy scalars to Python, NaN and missing to None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # e.g. a Path in a metric description


def _records(frame):
    return _plain(frame.to_dict("records"))


def write_leaderboard(leaderboard, out_dir):
    """Write leaderboard.md, leaderboard.csv (the rows) and leaderboard.json.

    Parameters
    ----------
    leaderboard : Leaderboard
    out_dir : str or Path
        Created when missing.

    Returns
    -------
    paths : dict
        ``{"markdown": ..., "csv": ..., "json": ...}`` paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "leaderboard.md",
        "csv": out_dir / "leaderboard.csv",
        "json": out_dir / "leaderboard.json",
    }
    paths["markdown"].write_text(to_markdown(leaderboard), encoding="utf-8")
    leaderboard.rows.to_csv(paths["csv"], index=False)
    document = {
        "confidence": leaderboard.confidence,
        "primary_metric": leaderboard.primary_metric,
        "rows": _records(leaderboard.rows),
        "unavailable": leaderboard.unavailable,
        "unavailable_methods": leaderboard.unavailable_methods,
        "failures": _records(leaderboard.failures),
        "seconds": _records(leaderboard.seconds),
        "metrics": leaderboard.metrics,
    }
    paths["json"].write_text(
        json.dumps(_plain(document), indent=2, allow_nan=False, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return paths
