"""Registered names made into ready components: methods built and fitted, metrics, datasets.

What the runner does with a name before it evaluates anything, kept apart
from the orchestration (`mmdf_bench.runner`) so that the command line, the
reports and methods that build other methods use the same steps without
importing the orchestrator:

* `resolve_selection` turns the user's names and patterns into registered
  names, and `DatasetSpec` (`mmdf_bench.dataset_spec`) parses
  ``NAME[=PATH][:KEY=VALUE...]``;
* `build_method` instantiates a method (trainable ones with a profile) and
  `prepare_method` trains, calibrates or loads it on a dataset's train (and
  validation) split;
* `build_metrics` instantiates metrics and says which can run here;
  `aggregators_of` gives the pooled metrics' aggregators.
"""

import time

from mmdf_bench import registry
from mmdf_bench.data.base import split_ids
from mmdf_bench.dataset_spec import DatasetSpec
from mmdf_bench.errors import MetricUnavailableError, UnknownNameError
from mmdf_bench.tasks import get_task
from mmdf_bench.training import DEFAULT_PROFILE, TrainableMethod, fit_or_load, fit_or_load_on
from mmdf_bench.tuning import SplitSamples, choice_splits, fit_method

__all__ = ["DatasetSpec", "LazySamples", "aggregators_of", "build_method", "build_metrics",
           "method_options_of", "prepare_method", "resolve_selection"]


#: The samples sequence `fit` receives (kept under its old name for callers).
LazySamples = SplitSamples


def build_metrics(names):
    """Instantiate the metrics and find out which ones can run here.

    Returns
    -------
    instances : dict
        Name -> metric instance, for the metrics available here.
    info : dict
        Name -> what the manifest records: direction, range, components,
        summary, citation, provider, and whether it is available (with the
        reason when it is not).
    """
    instances, info = {}, {}
    for name in names:
        entry = registry.metrics.get(name)
        component = entry.load()
        record = {
            "higher_is_better": bool(component.higher_is_better),
            "value_range": getattr(component, "value_range", ""),
            # fused and restored images are scored as stored, at their input's bit depth
            "scores_stored_image": bool({"fusion", "deblur"} & set(component.tasks)),
            "requires_reference": bool(component.requires_reference),
            "components": list(getattr(component, "components", ())),
            "proportion": bool(getattr(component, "proportion", False)),
            "summary": component.summary,
            "citation": component.citation,
            "available": True,
            "reason": None,
            **entry.provenance(),
        }
        try:
            metric = component()
            metric.check_available()
            instances[name] = metric
        except MetricUnavailableError as error:
            record.update(available=False, reason=str(error))
        except Exception as error:  # a broken metric must not stop the run
            record.update(available=False, reason=f"{type(error).__name__}: {error}")
        info[name] = record
    return instances, info


def aggregators_of(metric_names):
    """``{metric: (components, aggregate)}`` for the metrics that are not plain means."""
    aggregators = {}
    for name in metric_names:
        try:
            component = registry.metrics.load(name)
        except UnknownNameError:
            continue  # a metric of an older run, since renamed: its rows are plain means
        if getattr(component, "components", ()):
            aggregators[name] = (tuple(component.components), component.aggregate)
    return aggregators


def resolve_selection(task_name, *, methods=None, datasets=None, metrics=None):
    """Turn user patterns into registered names; raises `UnknownNameError` early."""
    task = get_task(task_name)
    method_names = registry.methods.select(methods, task=task.name)
    metric_names = registry.metrics.select(metrics, task=task.name)
    specs = [DatasetSpec.parse(text) if isinstance(text, str) else text
             for text in (datasets or task.default_datasets)]
    for spec in specs:
        registry.datasets.select([spec.name], task=task.name)
    labels = [spec.name for spec in specs]
    duplicates = {label for label in labels if labels.count(label) > 1}
    if duplicates:
        raise UnknownNameError(f"dataset(s) given twice: {', '.join(sorted(duplicates))}")
    return task, method_names, specs, metric_names


def method_options_of(method_name, *, profile=DEFAULT_PROFILE, options=None):
    """The keyword arguments `build_method` passes to the method's constructor."""
    options = dict(options or {})
    if issubclass(registry.methods.load(method_name), TrainableMethod):
        options.setdefault("profile", profile)
    return options


def build_method(method_name, *, profile=DEFAULT_PROFILE, options=None):
    """Instantiate a registered method; trainable methods get the run's `profile`."""
    component = registry.methods.load(method_name)
    return component(**method_options_of(method_name, profile=profile, options=options))


def prepare_method(task, method, method_name, dataset, train_ids, *, seed, cache=None,
                   validation_ids=None, scored_ids=None):
    """Train, calibrate or load `method` for `dataset`; return what the manifest keeps.

    Trainable methods are loaded from the checkpoint cache or trained. On a
    dataset without a train split they use (and if needed train on) the
    task's default dataset, so a model can be evaluated on real data.
    `fit` receives the train split and, when it accepts the keyword, the
    validation split; neither may hold an id of `scored_ids` (default: the
    dataset's whole test split), else `mmdf_bench.tuning.TestSampleError`.

    Returns
    -------
    dict or None
        ``trained_on`` (dataset), ``splits`` (split -> samples read),
        ``choices`` (fitted choice -> split), timings, and what calibration
        chose (``fitted_config``) or the checkpoint; None when nothing was fitted.
    """
    if validation_ids is None:
        validation_ids = split_ids(dataset, "validation")
    if scored_ids is None:
        scored_ids = split_ids(dataset, "test")
    if isinstance(method, TrainableMethod) and not train_ids:
        source = registry.datasets.create(task.default_datasets[0])
        record = fit_or_load_on(method, method_name, source, seed=seed)
        return {**record.as_dict(), "trained_on": source.name}
    if not isinstance(method, TrainableMethod) and not method.needs_training():
        return None
    train = SplitSamples(dataset, train_ids, split="train", forbidden=scored_ids, cache=cache)
    validation = SplitSamples(dataset, validation_ids, split="validation", forbidden=scored_ids,
                              cache=cache)
    if isinstance(method, TrainableMethod):
        record = fit_or_load(method, method_name, dataset, train, seed=seed,
                             validation_samples=validation)
        return {**record.as_dict(), "trained_on": dataset.name}
    started = time.perf_counter()
    splits = fit_method(method, train, seed=seed, validation_samples=validation)
    # the configuration after fitting shows what calibration chose (iterations, thresholds)
    return {"fit_seconds": round(time.perf_counter() - started, 3), "trained_on": dataset.name,
            "splits": splits, "choices": choice_splits(method, splits),
            "fitted_config": method.config()}
