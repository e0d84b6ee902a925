"""The leaderboard as ``mmdf-bench run`` prints it: one compact table per dataset.

The files of a run (``leaderboard.md``, ``.csv``, ``.json``) hold every
metric, the subset tables, the failures and the full reasons; a terminal
gets what answers "which method wins here, and by how much": for each
dataset, each method's rank, its main metric with the confidence interval,
its paired gain over the task's baseline method and a short status, in
lines that fit `width` columns (100 by default, wide enough for the names).

References
----------
.. [1] scikit-learn's ``classification_report`` and pytest's short test
       summary, two compact terminal summaries that point to the details.
"""

import math
import re
from pathlib import Path

import pandas as pd

from mmdf_bench.enough_specimens import enough_groups, minimum_groups
from mmdf_bench.leaderboard_render import _decimals

__all__ = ["did_not_run", "short_reason", "to_terminal"]

DEFAULT_WIDTH = 100
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/:;,()]+){2,}")
_GAP = "  "
_STATUS_ROOM = 28  # "incomplete (40 of 48), better than average" mostly fits


def _without_asides(text):
    """`text` without its parenthesised asides (nested ones included)."""
    kept, depth = [], 0
    for character in text:
        if character == "(":
            depth += 1
        elif character == ")" and depth:
            depth -= 1
        elif not depth:
            kept.append(character)
    return " ".join("".join(kept).split()) if not depth else text


def short_reason(text, limit, *, name=None):
    """The gist of a long reason (a missing-weights message runs to ~600 characters).

    Parenthesised asides go, then everything after the first clause, then
    the end of what still does not fit `limit` characters. A leading
    ``"<name>: "`` repeating the component's name goes too.
    """
    text = _without_asides(" ".join(str(text).split()))
    if name and text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    for marker in (": looked in ", "; ", ". "):
        head = text.split(marker, 1)[0]
        if len(head) >= 12:  # keep clauses long enough to say something
            text = head
    if len(text) > limit:  # a long folder says less than the file's own name
        text = _PATH.sub(lambda match: Path(match.group(0)).name, text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _fit(text, limit):
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _number(value, decimals, *, signed=False):
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _with_interval(value, low, high, decimals, *, signed=False):
    text = _number(value, decimals, signed=signed)
    if math.isfinite(low) and math.isfinite(high):
        text += (f" [{_number(low, decimals, signed=signed)}, "
                 f"{_number(high, decimals, signed=signed)}]")
    return text


def _named(value):
    return isinstance(value, str) and value != ""


def _flag(row, column):
    """A boolean column that other versions of the leaderboard may lack."""
    return column in row.index and bool(row[column]) and not pd.isna(row[column])


def _status(row, failures, gain=None):
    """Short words about one row, the most important first (the column may be cut)."""
    words = []
    if _flag(row, "upper_bound"):
        words.append("upper bound, not ranked")
    status = row.get("status")
    if isinstance(status, str) and status != "complete":  # `incomplete (k of n)[, not ranked]`
        words.append(status)
    elif failures:
        words.append(f"{failures} failure{'s' if failures != 1 else ''}")
    words += _advantages(row.get("information"))
    if gain is not None and gain["significant"]:
        words.append(f"{'better' if gain['better'] else 'worse'} than {gain['baseline']}")
    return ", ".join(words)


def _advantages(information):
    """The information items that give a row an edge no other row has (``psf-oracle``, ...).

    The rest of the ``information`` column (training data, profile, deviations)
    is in ``leaderboard.md``; an oracle input changes how a row must be read.
    """
    if not isinstance(information, str):
        return []
    items = [item.strip() for item in information.split(";")]
    return [item.split(":")[0] for item in items
            if item.endswith("-oracle") or item.startswith("simulator-matched")]


def _rows_of(leaderboard, dataset, primary, failures, *, gain_intervals):
    """The cells of a dataset's table, ranked rows first; and the baseline's name."""
    block = leaderboard.rows[(leaderboard.rows["dataset"] == dataset)
                             & (leaderboard.rows["metric"] == primary)]
    # as in leaderboard.md: upper bounds first, then by rank; unranked rows last
    block = block.assign(_upper=~block["upper_bound"].fillna(False).astype(bool)
                         if "upper_bound" in block else True)
    block = block.sort_values(["_upper", "rank", "method"], na_position="last")
    expected = int(block["n_samples"].max() if "n_samples" in block else block["n"].max()) \
        if len(block) else 0
    gains = leaderboard.gains
    gains = gains[(gains["dataset"] == dataset) & (gains["metric"] == primary)].set_index("method")
    baseline = gains["baseline"].iloc[0] if len(gains) else None
    decimals = _decimals(block)
    gain_decimals = _decimals(gains.rename(columns={"gain": "mean"})) if len(gains) else 0
    failure_counts = failures.loc[failures["method"].map(_named).astype(bool)]
    failure_counts = failure_counts.groupby("method").size()

    table = []
    for _, row in block.iterrows():
        method = row["method"]
        gain = gains.loc[method] if method in gains.index else None
        text = "baseline" if method == baseline else ""
        if gain is not None:
            low, high = ((gain["ci_low"], gain["ci_high"]) if gain_intervals
                         else (math.nan, math.nan))
            text = _with_interval(gain["gain"], low, high, gain_decimals, signed=True)
        value = _with_interval(row["mean"], row["ci_low"], row["ci_high"], decimals)
        if row["tied_with_best"] and not row["best"]:  # as in leaderboard.md
            value = value.replace(" ", "† ", 1) if " " in value else value + "†"
        rank = "–" if pd.isna(row["rank"]) else str(int(row["rank"]))
        table.append([rank, method, value, text,
                      _status(row, int(failure_counts.get(method, 0)), gain)])
    ranked = set(block["method"])
    for method in sorted({m for m in failures["method"] if _named(m)} - ranked):
        count = int(failure_counts.get(method, 0))
        table.append(["–", method, "–", "", f"no score, {count} failure{'s' if count != 1 else ''}"])
    for method in leaderboard.unavailable_methods:
        if method not in ranked:
            table.append(["–", method, "–", "", "did not run"])
    ranked_rows = block[block["rank"].notna()]
    common = int(ranked_rows["n"].max()) if len(ranked_rows) else expected
    return table, baseline, (common, expected), bool(block["tied_with_best"].any())


def _layout(headers, table, width):
    """Column widths: the status column (last) takes what is left; names are never cut."""
    widths = [max(len(line[column]) for line in [headers, *table])
              for column in range(len(headers))]
    room = width - sum(widths[:-1]) - len(_GAP) * (len(widths) - 1)
    widths[-1] = max(min(widths[-1], room), len("status"))
    return widths, room


def _render(line, widths):
    cells = []
    for column, (text, size) in enumerate(zip(line, widths)):
        text = _fit(text, size)
        cells.append(text.rjust(size) if column == 0 else text.ljust(size))
    return _GAP.join(cells).rstrip()


def _dataset_lines(leaderboard, dataset, width):
    primary = leaderboard.primary_metric.get(dataset)
    failures = leaderboard.failures
    failures = failures[failures["dataset"] == dataset]
    if primary is None:
        unopened = (failures["stage"] == "dataset").any()
        return [f"{dataset}: no scores" + (" (see below)" if unopened else
                                           f"; {len(failures)} failures in leaderboard.md")]
    percent = f"{leaderboard.confidence * 100:g}%"
    higher = leaderboard.metrics.get(primary, {}).get("higher_is_better", True)
    for gain_intervals in (True, False):  # without the gains' intervals when statuses get cut
        table, baseline, (common, expected), tied = _rows_of(leaderboard, dataset, primary, failures,
                                                   gain_intervals=gain_intervals)
        headers = ["rank", "method", f"{primary} {'↑' if higher else '↓'} [{percent} CI]",
                   f"gain over {baseline}" + (" [CI]" if gain_intervals else ""), "status"]
        if baseline is None:
            headers, table = headers[:3] + headers[4:], [line[:3] + line[4:] for line in table]
        widths, room = _layout(headers, table, width)
        if baseline is None or room >= max(len(line[-1]) for line in [headers, *table]) \
                or room >= _STATUS_ROOM:
            break
    title = (f"{dataset}: ranked by {primary} on {expected} samples" if common >= expected else
             f"{dataset}: ranked by {primary} on the {common} of {expected} samples every ranked "
             "method scored")
    lines = [_fit(title, width),
             _render(headers, widths), _render(["-" * size for size in widths], widths),
             *[_render(line, widths) for line in table]]
    if tied:
        lines.append(_fit(f"† not distinguishable from rank 1 (paired {percent} CI of the "
                          "difference contains 0)", width))
    gains = leaderboard.gains
    gains = gains[gains["dataset"] == dataset] if len(gains) else gains
    if len(gains) and not enough_groups(gains["n_groups"].max(), leaderboard.confidence):
        # no row says better or worse: say why, or a clear gain with no status puzzles the reader
        lines.append(_fit(f"{int(gains['n_groups'].max())} specimens: too few for a better/worse verdict "
                          f"(at least {minimum_groups(leaderboard.confidence)} needed; see leaderboard.md)",
                          width))
    unloaded = failures.loc[failures["stage"] == "load", "sample_id"].nunique()
    if unloaded:  # no method's row shows them
        lines.append(_fit(f"{unloaded} sample{'s' if unloaded != 1 else ''} could not be read: "
                          "no method has a score on them (failures in leaderboard.md)", width))
    return lines


def did_not_run(leaderboard):
    """``[(kind, name, reason)]`` of the methods, metrics and datasets that produced no scores."""
    items = [("method", name, reason) for name, reason in leaderboard.unavailable_methods.items()]
    items += [("metric", name, reason) for name, reason in leaderboard.unavailable.items()]
    failures = leaderboard.failures
    dataset_failures = failures[failures["stage"] == "dataset"]
    items += [("dataset", row["dataset"], row["error"]) for _, row in dataset_failures.iterrows()]
    built = failures[failures["stage"] == "build"]
    items += [("method", row["method"], row["error"]) for _, row in built.iterrows()
              if _named(row["method"])]
    return items


def to_terminal(leaderboard, *, width=DEFAULT_WIDTH, details=None):
    """Render a leaderboard compactly: one table per dataset, lines of at most `width` characters.

    Parameters
    ----------
    leaderboard : mmdf_bench.leaderboard.Leaderboard
    width : int, optional
        Longest line; statuses and reasons are shortened to fit (the full
        text is in the run's files).
    details : str or Path, optional
        Where the full tables are (``runs/x/leaderboard.md``), named at the end.

    Returns
    -------
    text : str
    """
    scored = set(leaderboard.rows["dataset"]) | set(leaderboard.failures["dataset"])
    datasets = sorted(scored - set(leaderboard.subsets), key=str)
    parts = ["\n".join(_dataset_lines(leaderboard, dataset, width)) for dataset in datasets]
    lines = ["\n\n".join(parts)] if parts else ["No scores."]
    skipped = did_not_run(leaderboard)
    if skipped:
        lines.append("")
        lines.append("Did not run:")
        for kind, name, reason in skipped:
            prefix = f"  {kind} {name}: "
            lines.append(prefix + short_reason(reason, width - len(prefix), name=name))
    if details is not None:
        lines.append("")
        lines.append(_fit(f"All metrics, subsets, failures and full reasons: {details}", width))
    return "\n".join(lines)
