"""``mmdf-bench list``: what is registered, what runs by default and what it needs.

A newcomer choosing methods wants to know, before a run, which ones the
default run includes, which need pretrained files (``weights``), which are
trained on first use (``training``, minutes on a CPU) and which calibrate on
the train split (``calibration``, seconds). Datasets say whether they are
embedded or need a data folder. Tables fit `width` columns; summaries are
shortened to fit, the full text is in the component's docstring and card.
Nothing here imports torch: the classes are inspected, not built.
"""

import textwrap

from mmdf_bench.contracts import tasks_of
from mmdf_bench.tasks import get_task, task_names

__all__ = ["LEGEND", "component_rows", "format_table", "legend", "needs_of"]

DEFAULT_WIDTH = 100
_GAP = "  "
LEGEND = {
    "methods": ("default: yes = runs when --methods is not given. needs: weights = a pretrained file "
                "($MMDF_BENCH_WEIGHTS or a download); training = trained on first use and cached "
                "(minutes on a CPU); calibration = fitted on the train split (seconds)."),
    "metrics": ("default: yes = computed when --metrics is not given. needs: weights = a pretrained "
                "file; reference = only on samples with a reference image."),
    "datasets": ("default: yes = used when --datasets is not given. needs: data folder = "
                 "$MMDF_BENCH_DATA/<folder> or --datasets NAME=PATH; the others are generated "
                 "from images installed with scikit-image."),
}


def legend(kind, *, width=DEFAULT_WIDTH):
    """The note under a `kind` table, wrapped to `width` columns."""
    return textwrap.fill(LEGEND[kind], width=width)


def needs_of(kind, component):
    """What `component` needs before it can run: weights, training, calibration, data."""
    needs = []
    if kind == "methods":
        from mmdf_bench.training import TrainableMethod

        if isinstance(component, type) and issubclass(component, TrainableMethod):
            needs.append("training")
        elif getattr(component, "weights_source", ""):
            needs.append("weights")
        elif hasattr(component, "needs_training") and component.needs_training():
            needs.append("calibration")
    elif kind == "metrics":
        if getattr(component, "weight_files", ()):
            needs.append("weights")
        if getattr(component, "requires_reference", False):
            needs.append("reference")
    elif kind == "datasets" and (getattr(component, "default_folder", "")
                                 or getattr(component, "data_folders", ())):
        needs.append("data folder")
    return needs


def _in_default_run(kind, name, component):
    if kind == "datasets":
        return any(name in get_task(task).default_datasets
                   for task in tasks_of(component) if task in task_names())
    return bool(getattr(component, "in_default_run", True))


def component_rows(registry, kind, names):
    """``[[name, tasks, default, needs, summary, provider]]`` of `names` in `registry`."""
    rows = []
    for name in names:
        component = registry.load(name)
        facts = registry.describe(name)
        rows.append([name, facts["tasks"], "yes" if _in_default_run(kind, name, component) else "no",
                     ", ".join(needs_of(kind, component)) or "–", facts["summary"],
                     facts["provider"]])
    return rows


def format_table(headers, rows, *, width=DEFAULT_WIDTH, shrink=None):
    """Left-aligned columns of at most `width` characters; column `shrink` is cut to fit."""
    shrink = len(headers) - 1 if shrink is None else shrink
    widths = [max(len(str(line[column])) for line in [headers, *rows])
              for column in range(len(headers))]
    others = sum(size for column, size in enumerate(widths) if column != shrink)
    widths[shrink] = max(len(headers[shrink]),
                         min(widths[shrink], width - others - len(_GAP) * (len(headers) - 1)))

    def render(line):
        cells = []
        for text, size in zip(line, widths):
            text = str(text)
            text = text if len(text) <= size else text[: size - 1] + "…"
            cells.append(text.ljust(size))
        return _GAP.join(cells).rstrip()

    return "\n".join([render(headers), render(["-" * size for size in widths]),
                      *[render(line) for line in rows]])
