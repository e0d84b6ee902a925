"""Rendering of a `mmdf_bench.compare.Comparison` as Markdown.

A verdict line, the failing rows, then one pipe table per dataset with the
base and new values, the paired difference and its interval, the tolerance
and the status of each (method, metric).

References
----------
.. [1] https://github.com/astanin/python-tabulate (pipe tables)
"""

import math

import numpy as np
from tabulate import tabulate

__all__ = ["to_markdown"]

# Statuses of a compared (dataset, method, metric); those that fail the check
# first, in the order the summary lists them.
FAILING = ("regression", "missing", "lost samples")
STATUSES = FAILING + ("improvement", "unchanged", "unresolved", "new")


def _digits(row):
    """Decimals giving the interval width (else the value) two significant digits."""
    width = row["ci_high"] - row["ci_low"]
    if isinstance(width, float) and math.isfinite(width) and width > 0:
        scale, significant = width, 2
    else:
        values = [abs(row[c]) for c in ("base", "new") if math.isfinite(row[c]) and row[c] != 0]
        if not values:
            return 3
        scale, significant = max(values), 4
    return int(np.clip(significant - 1 - math.floor(math.log10(scale)), 0, 8))


def _escape(text):
    # A bare "|" would split a pipe-table cell.
    return str(text).replace("|", "\\|")


def _number(value, decimals, *, sign=False):
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"


_LABELS = {"regression": "**REGRESSION**", "missing": "**missing in new run**",
           "lost samples": "**lost samples**", "improvement": "improvement",
           "unchanged": "unchanged", "unresolved": "unresolved (no interval)",
           "new": "new (no baseline)"}


def _describe_run(run):
    manifest = run.manifest
    facts = [f"task {manifest.get('task', '?')}"]
    if manifest.get("git_commit"):
        facts.append(f"commit {str(manifest['git_commit'])[:12]}")
    if manifest.get("started"):
        facts.append(f"started {manifest['started']}")
    return f"`{run.path}` ({', '.join(facts)})"


def _why(comparison, row):
    """What the new run says about a failing row: lost samples, or why a result is missing."""
    if row["status"] == "lost samples":
        return f" ({row['n_base'] - row['n']} of {row['n_base']} samples not scored)"
    if row["status"] != "missing":
        return ""
    manifest = comparison.new.manifest
    for kind, name in (("methods", row["method"]), ("metrics", row["metric"])):
        record = manifest.get(kind, {}).get(name) or {}
        if record.get("available") is False and record.get("reason"):
            reason = " ".join(str(record["reason"]).split())
            return f" ({kind[:-1]} unavailable in the new run: {reason[:200]})"
    failures = comparison.new.failures
    if len(failures) and {"method", "stage", "error"} <= set(failures.columns):
        mine = failures[(failures["method"] == row["method"])
                        & (failures["dataset"] == row["dataset"])]
        if len(mine):
            first = mine.iloc[0]
            return f" ({len(mine)} failure(s), first at {first['stage']}: {first['error'][:200]})"
    return ""


def to_markdown(comparison, *, changes_only=False):
    """Render a comparison as Markdown: a verdict, then one table per dataset.

    Parameters
    ----------
    comparison : Comparison
    changes_only : bool, optional
        Leave out rows whose status is ``unchanged``.

    Returns
    -------
    text : str
    """
    rows = comparison.rows
    percent = f"{comparison.confidence * 100:g}%"
    counts = {status: comparison.count(status) for status in STATUSES}
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    verdict = "FAILED" if not comparison.ok else "passed"
    parts = [
        "# Comparison\n",
        f"- base: {_describe_run(comparison.base)}\n- new: {_describe_run(comparison.new)}\n",
        f"**Check {verdict}**: {summary or 'nothing to compare'}.\n",
    ]
    failing = comparison.failing
    if len(failing):
        parts.append("\n".join(f"- {_LABELS[row['status']]}: `{row['method']}` {row['metric']} "
                               f"on {row['dataset']}{_why(comparison, row)}"
                               for _, row in failing.iterrows()) + "\n")
    for dataset, block in rows.groupby("dataset", sort=True):
        if changes_only:
            block = block[block["status"] != "unchanged"]
            if block.empty:
                continue
        table = []
        for _, row in block.iterrows():
            decimals = _digits(row)
            difference = _number(row["difference"], decimals, sign=True)
            if row["ci_method"] == "degenerate":
                difference += " (the same on every sample)"
            elif math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
                difference += (f" [{_number(row['ci_low'], decimals, sign=True)}, "
                               f"{_number(row['ci_high'], decimals, sign=True)}]")
            tolerance = ("0" if row["tolerance"] == 0
                         else _number(row["tolerance"], decimals))
            arrow = "↑" if row["higher_is_better"] else "↓"
            table.append([_escape(row["method"]), f"{_escape(row['metric'])} {arrow}",
                          _number(row["base"], decimals), _number(row["new"], decimals),
                          difference, tolerance,
                          f"{int(row['n'])}", _LABELS[row["status"]]])
        headers = ["method", "metric", "base", "new", f"new − base [{percent} CI]", "tolerance",
                   "n", "status"]
        parts.append(f"## {dataset}\n\n" + tabulate(
            table, headers=headers, tablefmt="pipe", disable_numparse=True,
            colalign=["left", "left", "right", "right", "left", "right", "right", "left"]) + "\n")
    parts.append(
        f"Differences are NEW − BASE over the samples both runs scored, with {percent} paired "
        "BCa bootstrap intervals (specimens resampled together). ↑ higher is better, "
        "↓ lower is better. A regression is an interval wholly beyond the tolerance on the "
        "worse side, an improvement one wholly beyond it on the better side; samples of a "
        "single specimen have no interval and are judged on their difference. Missing results "
        "and lost samples (failures in the new run) also fail the check.\n")
    return "\n".join(parts)
