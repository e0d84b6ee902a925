"""Image panels for the HTML report: per sample, its inputs, every method's output, the reference.

A run saved with ``--save-outputs`` holds each method's output under
``outputs/<dataset>/<method>/<sample_id>.png`` (images: fused or restored)
or ``.json`` (focus predictions). The inputs and the reference are not
copied into the run; they are loaded again from the dataset the manifest
names, which gives the same samples for the same dataset version. When the
dataset cannot be loaded here (real data on another machine), the panel
shows the outputs and says why the inputs are missing.

A focus prediction is drawn as a one-tile focus map
(`mmdf_bench.focus_map.render_focus_map`): the patch tinted by the predicted
level (or P(out of focus)), more strongly the more certain the method is;
the true label is drawn the same way with full certainty.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmdf_bench.report_figures import image_data_uri

__all__ = ["FOCUS_LEGEND", "SamplePanel", "Tile", "focus_map_files", "sample_panels"]

FOCUS_LEGEND = (
    "Focus predictions are drawn as one-tile focus maps: the tint is the predicted defocus "
    "level (viridis: purple in focus, yellow the farthest level) or, for methods without "
    "levels, P(out of focus) on the same scale; the more certain the method, the stronger "
    "the tint. The truth is drawn the same way, fully certain."
)

_MAX_PLANES = 8


@dataclass
class Tile:
    """One picture of a panel: its caption, its data URI and its role."""

    caption: str
    uri: str
    role: str  # "input", "output" or "reference"


@dataclass
class SamplePanel:
    """Everything shown for one sample."""

    sample_id: str
    tiles: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    focus_tiles: bool = False  # focus predictions drawn as focus maps (see FOCUS_LEGEND)


def _output_files(run, dataset):
    """Method -> {sample_id: path} of the saved outputs of `dataset`."""
    folder = run.outputs / dataset
    if not folder.is_dir():
        return {}
    files = {}
    for method_folder in sorted(path for path in folder.iterdir() if path.is_dir()):
        for path in sorted(method_folder.iterdir()):
            if path.suffix.lower() in (".png", ".json"):
                files.setdefault(method_folder.name, {})[path.stem] = path
    return files


def _load_dataset(run, dataset):
    """The dataset object the run used, or None and the reason it cannot be loaded here."""
    from mmdf_bench import registry

    info = run.manifest.get("datasets", {}).get(dataset, {})
    try:
        component = registry.datasets.load(dataset)
    except Exception as error:  # an unregistered plugin dataset: show outputs only
        return None, f"dataset {dataset} is not registered here ({error})"
    recorded = info.get("version")
    if recorded is not None and str(recorded) != str(getattr(component, "version", recorded)):
        return None, (f"dataset {dataset} is at version {component.version} here, the run used "
                      f"version {recorded}")
    root = info.get("root")
    if root is not None and not Path(root).exists():
        root = None  # the run's folder is elsewhere; try the default data location
    try:
        # the options the run gave the dataset (e.g. bits=12) shape its samples: use them again
        from mmdf_bench.dataset_spec import DatasetSpec

        options = {}
        for text in (run.manifest.get("config") or {}).get("datasets") or []:
            spec = DatasetSpec.parse(text)
            if spec.name == dataset:
                options = spec.options
        return registry.datasets.create(dataset, root=root, **options), None
    except Exception as error:  # data of another machine: the report still shows the outputs
        return None, f"dataset {dataset} cannot be loaded here: {error}"


def _input_tiles(sample, max_size):
    tiles = []
    if getattr(sample, "stack", None) is not None:
        planes = sample.stack
        chosen = np.unique(np.linspace(0, len(planes) - 1, min(len(planes), _MAX_PLANES)).round())
        tiles += [Tile(f"plane {int(k) + 1}/{len(planes)}", image_data_uri(planes[int(k)],
                       max_size=max_size), "input") for k in chosen]
    if getattr(sample, "blurred", None) is not None:
        tiles.append(Tile("blurred input", image_data_uri(sample.blurred, max_size=max_size),
                          "input"))
    if getattr(sample, "patch", None) is not None:
        tiles.append(Tile("patch", image_data_uri(sample.patch, max_size=max_size), "input"))
    return tiles


def _one_tile_map(image, probability, levels=None, *, certainty=None):
    """A focus map of one tile covering the whole patch."""
    from mmdf_bench.focus_map import FocusMap, level_certainty

    size = min(image.shape[:2])
    if levels is None:
        certainty = abs(2 * probability - 1) if certainty is None else certainty
        return FocusMap(np.array([0]), np.array([0]), size, image.shape,
                        np.array([[probability]]), np.array([[certainty]]))
    levels = np.asarray(levels, dtype=np.float64)
    certainty = float(level_certainty(levels)) if certainty is None else certainty
    return FocusMap(np.array([0]), np.array([0]), size, image.shape, np.array([[probability]]),
                    np.array([[certainty]]), level=np.array([[int(levels.argmax())]]),
                    expected_level=np.array([[float(levels @ np.arange(len(levels)))]]),
                    distributions=levels[None, None, :])


def _focus_tile(patch, path, caption, max_size):
    from mmdf_bench.focus_map import render_focus_map

    record = json.loads(Path(path).read_text(encoding="utf-8"))
    probability = float(record["probability_out_of_focus"])
    levels = record.get("levels")
    image = patch[: min(patch.shape[:2]), : min(patch.shape[:2])]
    picture = render_focus_map(image, _one_tile_map(image, probability, levels))
    text = f"{caption} · P(out)={probability:.2f}"
    if levels:
        text += f" · level {int(np.argmax(levels))}"
    return Tile(text, image_data_uri(picture, max_size=max_size), "output")


def _truth_tile(sample, max_size, num_levels):
    from mmdf_bench.focus_map import render_focus_map

    image = sample.patch[: min(sample.patch.shape[:2]), : min(sample.patch.shape[:2])]
    level = getattr(sample, "level", None)
    if level is not None and num_levels and num_levels > 1:
        levels = np.zeros(num_levels)
        levels[min(int(level), num_levels - 1)] = 1.0
        focus = _one_tile_map(image, float(sample.label), levels, certainty=1.0)
        text = f"truth · level {int(level)}"
    else:
        focus = _one_tile_map(image, float(sample.label), certainty=1.0)
        text = f"truth · {'out of focus' if sample.label else 'in focus'}"
        if getattr(sample, "subset", "clean") != "clean":
            text += f" ({sample.subset})"
    return Tile(text, image_data_uri(render_focus_map(image, focus), max_size=max_size),
                "reference")


def _score_caption(run, dataset, method, sample_id, metric):
    if metric is None:
        return method
    scores = run.scores
    match = scores[(scores["dataset"] == dataset) & (scores["method"] == method)
                   & (scores["sample_id"] == sample_id) & (scores["metric"] == metric)]
    if match.empty or not math.isfinite(match["value"].iloc[0]):
        return method
    return f"{method} · {metric} {match['value'].iloc[0]:.4g}"


def sample_panels(run, dataset, *, max_samples=3, max_size=192, metric=None, methods=None):
    """Panels of the first `max_samples` samples with saved outputs.

    Parameters
    ----------
    run : mmdf_bench.run_folder.RunTables
    dataset : str
    max_samples : int
        Samples shown (the first ones, by id, that every listed method saved).
    max_size : int
        Longest side of every picture, in pixels.
    metric : str, optional
        Per-sample value of this metric is written under each output.
    methods : list of str, optional
        Order of the outputs; by default sorted by name.

    Returns
    -------
    list of SamplePanel
        Empty when the run saved no outputs for `dataset`.
    """
    files = _output_files(run, dataset)
    if not files:
        return []
    order = [m for m in (methods or []) if m in files] + sorted(set(files) - set(methods or []))
    sample_ids = sorted(set().union(*(set(found) for found in files.values())))[:max_samples]
    source, problem = _load_dataset(run, dataset)
    num_levels = getattr(source, "num_levels", None)
    panels = []
    for sample_id in sample_ids:
        panel = SamplePanel(sample_id)
        sample = None
        if source is not None:
            try:
                sample = source.load(sample_id)
            except Exception as error:  # one unreadable sample must not lose the page
                panel.notes.append(f"inputs not shown: {sample_id} cannot be loaded: {error}")
        elif problem:
            panel.notes.append(f"inputs and reference not shown: {problem}")
        if sample is not None:
            panel.tiles += _input_tiles(sample, max_size)
        for method in order:
            path = files[method].get(sample_id)
            if path is None:
                panel.notes.append(f"{method} saved no output for this sample")
                continue
            caption = _score_caption(run, dataset, method, sample_id, metric)
            if path.suffix.lower() == ".json":
                if sample is None or getattr(sample, "patch", None) is None:
                    panel.notes.append(f"{method}: focus prediction not drawn without its patch")
                    continue
                panel.tiles.append(_focus_tile(sample.patch, path, caption, max_size))
                panel.focus_tiles = True
            else:
                from mmdf_bench.images import read_image

                panel.tiles.append(Tile(caption, image_data_uri(read_image(path),
                                                                max_size=max_size), "output"))
        if sample is not None and getattr(sample, "patch", None) is not None:
            panel.tiles.append(_truth_tile(sample, max_size, num_levels))
        elif sample is not None and getattr(sample, "reference", None) is not None:
            panel.tiles.append(Tile("reference", image_data_uri(sample.reference,
                                                                max_size=max_size), "reference"))
        panels.append(panel)
    return panels


def focus_map_files(run):
    """PNG focus maps kept in the run folder's ``focus_maps/`` (``mmdf-bench focus-map -o``)."""
    folder = run.path / "focus_maps"
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*.png") if path.is_file())
