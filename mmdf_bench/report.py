"""One self-contained HTML page showing the results of one or more runs.

`write_report` is what ``mmdf-bench report RUN_DIR [RUN_DIR ...] -o
report.html`` calls. For each run (typically one per task) the page shows,
per dataset, the leaderboard with its confidence intervals, a forest plot of
those intervals, and, when the run was saved with ``--save-outputs``, image
panels of a few samples: the inputs, every method's output and the
reference. Focus maps kept in the run folder are shown too. Every picture is
embedded as a base64 ``data:`` URI, so the file can be mailed or archived
alone.

The leaderboard is read from the run's ``leaderboard.json``; a run without
one (or with one written by an older mmdf-bench) gets its leaderboard
computed again from ``scores.csv``.

References
----------
.. [1] https://developer.mozilla.org/en-US/docs/Web/URI/Reference/Schemes/data
"""

import html
import math
from pathlib import Path

import pandas as pd

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.leaderboard import dataset_order
from mmdf_bench.report_figures import (BEST_COLOUR, TIED_COLOUR, data_uri, forest_plot,
                                       image_data_uri)
from mmdf_bench.report_panels import FOCUS_LEGEND, focus_map_files, sample_panels
from mmdf_bench.run_folder import leaderboard_of_run, load_run
from mmdf_bench.run_format import read_leaderboard

__all__ = ["build_report", "load_leaderboard", "write_report"]

_MAX_FAILURES = 50
_STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }}
h1 {{ font-size: 1.6em; }} h2 {{ border-bottom: 2px solid #ccc; margin-top: 2em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; white-space: nowrap; }}
th {{ background: #f0f0f0; }}
td.best {{ background: {BEST_COLOUR}33; font-weight: bold; }}
td.tied {{ background: {TIED_COLOUR}33; }}
.facts {{ color: #555; font-size: 0.9em; }}
.panel {{ display: flex; flex-wrap: wrap; gap: 8px; margin: 0.5em 0 1.2em; }}
figure {{ margin: 0; text-align: center; font-size: 0.75em; }}
figure.input img {{ outline: 2px solid #bbb; }}
figure.reference img {{ outline: 2px solid {BEST_COLOUR}; }}
.panel img {{ width: var(--tile); height: auto; }}
.scroll {{ overflow-x: auto; }}
img.forest-plot {{ max-width: 100%; height: auto; }}
.maps {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.note {{ color: #a33; font-size: 0.85em; }}
"""


def load_leaderboard(run):
    """The leaderboard of a run: from ``leaderboard.json``, else computed from the scores.

    Parameters
    ----------
    run : mmdf_bench.run_folder.RunTables

    Returns
    -------
    mmdf_bench.leaderboard.Leaderboard
    """
    stored = read_leaderboard(run.path)
    return stored if stored is not None else leaderboard_of_run(run)


def _escape(text):
    return html.escape(str(text), quote=True)


def _format(value, decimals):
    return "–" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


def _decimals(block):
    """Decimals giving the typical interval width two significant digits."""
    widths = (block["ci_high"] - block["ci_low"]).dropna()
    widths = widths[widths > 0]
    if len(widths):
        scale, significant = float(widths.median()), 2
    else:
        values = block["mean"].abs().dropna()
        values = values[values > 0]
        if not len(values):
            return 3
        scale, significant = float(values.max()), 3
    return int(min(6, max(0, significant - 1 - math.floor(math.log10(scale)))))


def _ordered(leaderboard, dataset, rows):
    """The dataset's primary metric, its metric order and its method order (by rank)."""
    primary = leaderboard.primary_metric.get(dataset)
    present = list(dict.fromkeys(rows["metric"]))
    metrics = ([primary] if primary in present else []) + \
        [m for m in leaderboard.metrics if m in present and m != primary] + \
        [m for m in present if m not in leaderboard.metrics and m != primary]
    ranks = rows[rows["metric"] == primary].set_index("method")["rank"]
    upper = set(rows.loc[rows["upper_bound"].astype(bool), "method"])

    def order(method):
        rank = ranks.get(method)
        return (method not in upper, math.inf if rank is None or pd.isna(rank) else rank, str(method))

    return primary, metrics, sorted(set(rows["method"]), key=order)


def _leaderboard_table(leaderboard, dataset, rows):
    primary, metrics, methods = _ordered(leaderboard, dataset, rows)
    seconds = leaderboard.seconds
    seconds = seconds[seconds["dataset"] == dataset].set_index("method")["mean_seconds"]
    percent = f"{leaderboard.confidence * 100:g}%"
    higher = rows.groupby("metric")["higher_is_better"].first()
    head = "".join(f"<th>{_escape(m)} {'↑' if higher[m] else '↓'}<br><small>mean "
                   f"[{percent} CI]</small></th>" for m in metrics)
    lines = [(f'<div class="scroll"><table class="leaderboard" '
              f'data-dataset="{_escape(dataset)}">'),
             (f"<thead><tr><th>rank</th><th>method</th>{head}<th>n (groups)</th><th>s/sample</th>"
              "<th>information</th></tr></thead><tbody>")]
    cells = {m: rows[rows["metric"] == m].set_index("method") for m in metrics}
    decimals = {m: _decimals(cells[m]) for m in metrics}
    for method in methods:
        rank = cells[primary]["rank"].get(method) if primary in cells else None
        mine = rows[rows["method"] == method]
        notes = (["upper bound"] if mine["upper_bound"].any() else []) + sorted(
            set(mine.loc[mine["status"] != "complete", "status"]))
        line = [f"<td>{'–' if rank is None or pd.isna(rank) else int(rank)}</td>",
                f"<td>{_escape(', '.join([method, *notes]))}</td>"]
        count = (0, 0)
        for m in metrics:
            if method not in cells[m].index:
                line.append("<td>–</td>")
                continue
            row = cells[m].loc[method]
            count = max(count, (int(row["n"]), int(row["n_groups"])))
            css = "best" if row["best"] else "tied" if row["tied_with_best"] else ""
            text = _format(row["mean"], decimals[m])
            if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
                text += (f" <small>[{_format(row['ci_low'], decimals[m])}, "
                         f"{_format(row['ci_high'], decimals[m])}]</small>")
            line.append(f'<td class="{css}">{text}</td>')
        second = seconds.get(method)
        information = next((text for text in mine["information"] if text), "–")
        line += [f"<td>{count[0]} ({count[1]})</td>",
                 f"<td>{'–' if second is None or pd.isna(second) else f'{second:.3g}'}</td>",
                 f"<td>{_escape(information)}</td>"]
        lines.append(f"<tr>{''.join(line)}</tr>")
    lines.append("</tbody></table></div>")
    note = (f"<p class='facts'>Sorted by <code>{_escape(primary)}</code>. Green: best; blue: not "
            f"distinguishable from the best ({percent} paired bootstrap CI of the difference "
            "contains 0). Values, ranks and ties use the samples every ranked method scored; "
            "upper bounds (oracles) are never ranked.</p>")
    return note + "\n".join(lines)


def _facts(run):
    manifest = run.manifest
    facts = [("task", manifest.get("task")), ("commit", str(manifest.get("git_commit"))[:12]),
             ("started", manifest.get("started")), ("seed", manifest.get("seed")),
             ("profile", manifest.get("profile")), ("limit", manifest.get("limit")),
             ("mmdf-bench", manifest.get("versions", {}).get("mmdf-bench"))]
    shown = " · ".join(f"{name} {_escape(value)}" for name, value in facts
                       if value not in (None, "None", ""))
    return f"<p class='facts'>{shown}</p>"


def _problems(leaderboard):
    parts = []
    for title, reasons in (("Unavailable methods", leaderboard.unavailable_methods),
                           ("Unavailable metrics", leaderboard.unavailable)):
        if reasons:
            items = "".join(f"<li><code>{_escape(name)}</code>: {_escape(reason)}</li>"
                            for name, reason in reasons.items())
            parts.append(f"<h3>{title}</h3><ul>{items}</ul>")
    failures = leaderboard.failures
    if len(failures):
        body = "".join(
            "<tr>" + "".join(f"<td>{'–' if pd.isna(row.get(c)) else _escape(row.get(c))}</td>"
                             for c in
                             ("dataset", "method", "sample_id", "stage", "error")) + "</tr>"
            for row in failures.head(_MAX_FAILURES).to_dict("records"))
        more = (f"<p class='note'>… and {len(failures) - _MAX_FAILURES} more (failures.csv)</p>"
                if len(failures) > _MAX_FAILURES else "")
        head = "".join(f"<th>{name}</th>" for name in ("dataset", "method", "sample", "stage",
                                                        "error"))
        parts.append(f"<h3>Failures ({len(failures)})</h3><div class='scroll'><table "
                     f"class='failures'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                     f"</table></div>{more}")
    return "\n".join(parts)


def _panels_html(run, dataset, *, metric, methods, max_samples, max_size):
    panels = sample_panels(run, dataset, max_samples=max_samples, max_size=max_size,
                           metric=metric, methods=methods)
    if not panels:
        return ""
    parts = [f"<h4>Samples of {_escape(dataset)}</h4>"]
    if any(panel.focus_tiles for panel in panels):
        parts.append(f"<p class='facts'>{_escape(FOCUS_LEGEND)}</p>")
    for panel in panels:
        figures = "".join(
            f'<figure class="{tile.role}"><img src="{tile.uri}" alt="{_escape(tile.caption)}">'
            f"<figcaption>{_escape(tile.caption)}</figcaption></figure>" for tile in panel.tiles)
        notes = "".join(f"<p class='note'>{_escape(note)}</p>" for note in panel.notes)
        parts.append(f"<h5>{_escape(panel.sample_id)}</h5>{notes}"
                     f'<div class="panel">{figures}</div>')
    return "\n".join(parts)


def _verdict_html(leaderboard, dataset, metric):
    """The dataset's notes and its deep-vs-classical verdict on `metric`, as paragraphs ('' if none)."""
    parts = [f'<p class="note">{_escape(line)}</p>' for line in leaderboard.dataset_notes.get(dataset, [])]
    verdicts = leaderboard.family_gains
    row = verdicts[(verdicts["dataset"] == dataset) & (verdicts["metric"] == metric)]
    if len(row):
        row = row.iloc[0]
        interval = (f" [{row['ci_low']:+.4g}, {row['ci_high']:+.4g}]" if math.isfinite(row["ci_low"]) else "")
        parts.append(f'<p class="verdict">Deep vs classical on <code>{_escape(metric)}</code>: '
                     f"<code>{_escape(row['deep'])}</code> {row['deep_value']:.4g} vs "
                     f"<code>{_escape(row['classical'])}</code> {row['classical_value']:.4g}, "
                     f"difference {row['gain']:+.4g}{interval} over {int(row['n_groups'])} groups: "
                     f"<strong>{_escape(row['verdict'])}</strong></p>")
    return "".join(parts)


def _run_section(run, index, *, max_samples, max_size):
    leaderboard = load_leaderboard(run)
    rows = leaderboard.rows
    task = run.manifest.get("task", "?")
    parts = [(f'<section class="run" id="run-{index}"><h2>{_escape(task)}: '
              f"<code>{_escape(run.path)}</code></h2>"), _facts(run)]
    datasets = list(dict.fromkeys(rows["dataset"]))
    # real microscopy first (Dataset.realism), each followed by its subset tables
    main = []
    for dataset in dataset_order(leaderboard, [d for d in datasets if d not in leaderboard.subsets]):
        main += [dataset] + [name for name, info in leaderboard.subsets.items()
                             if info["dataset"] == dataset and name in datasets]
    for dataset in main:
        block = rows[rows["dataset"] == dataset]
        primary, metrics, methods = _ordered(leaderboard, dataset, block)
        parts.append(f"<h3>{_escape(dataset)}</h3>")
        parts.append(_leaderboard_table(leaderboard, dataset, block))
        parts.append(_verdict_html(leaderboard, dataset, primary))
        plot = forest_plot(block, metrics=metrics, methods=methods,
                           confidence=leaderboard.confidence, title=dataset)
        parts.append(f'<img class="forest-plot" src="{data_uri(plot)}" '
                     f'alt="forest plot of {_escape(dataset)}">')
        if dataset not in leaderboard.subsets:
            parts.append(_panels_html(run, dataset, metric=primary, methods=methods,
                                      max_samples=max_samples, max_size=max_size))
    maps = focus_map_files(run)
    if maps:
        from mmdf_bench.images import read_image

        # a focus map is a whole field of view: shown larger than the sample tiles
        uris = [image_data_uri(read_image(path), max_size=4 * max_size) for path in maps]
        figures = "".join(
            f'<figure class="output"><img src="{uri}" alt="{_escape(path.stem)}">'
            f"<figcaption>{_escape(path.relative_to(run.path))}</figcaption></figure>"
            for path, uri in zip(maps, uris))
        parts.append(f'<h3>Focus maps</h3><div class="maps">{figures}</div>')
    parts.append(_problems(leaderboard))
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


def build_report(run_dirs, *, max_samples=3, max_size=192, title="mmdf-bench report"):
    """The HTML text of the report of one or more runs.

    Parameters
    ----------
    run_dirs : list of str or Path
        Results folders of ``mmdf-bench run``.
    max_samples : int, optional
        Samples shown per dataset when outputs were saved.
    max_size : int, optional
        Longest side of each sample picture, in pixels.
    title : str, optional

    Returns
    -------
    text : str
    """
    if not run_dirs:
        raise MmdfBenchError("give at least one results folder")
    if int(max_samples) != max_samples or max_samples < 0:
        raise MmdfBenchError(f"max_samples must be a non-negative integer, got {max_samples}")
    runs = [load_run(path) for path in run_dirs]
    contents = "".join(
        f'<li><a href="#run-{i}">{_escape(run.manifest.get("task", "?"))}: '
        f"{_escape(run.path)}</a></li>" for i, run in enumerate(runs))
    sections = [_run_section(run, i, max_samples=max_samples, max_size=max_size)
                for i, run in enumerate(runs)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_escape(title)}</title><style>{_STYLE}</style></head>"
            # small inputs (84-pixel focus patches) are shown as large as the others
            f'<body style="--tile: {int(max_size)}px">'
            f"<h1>{_escape(title)}</h1><ul>{contents}</ul>\n" + "\n".join(sections)
            + "\n<p class='facts'>Intervals are BCa bootstrap intervals over samples (whole "
              "specimens resampled together). ↑ higher is better, ↓ lower is better.</p>"
              "</body></html>\n")


def write_report(run_dirs, out, **options):
    """Write `build_report` of `run_dirs` to the file `out` (folders created); return its path."""
    out = Path(out)
    text = build_report(run_dirs, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
