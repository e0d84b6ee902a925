"""Evaluate methods x datasets into one long table of per-sample scores.

`run` is what ``mmdf-bench run`` calls. It writes, into one folder:

``scores.csv``
    One row per (dataset, method, sample, metric), appended as soon as it is
    computed, so an interrupted run keeps everything it finished. Metrics that
    are not means of per-sample values (F1, balanced accuracy) write their
    per-sample components as ``<metric>:<component>`` rows.
``failures.csv``
    One row per thing that went wrong (a sample that could not be loaded, a
    method that raised, a metric that returned NaN) - the run goes on.
``samples.csv``
    Per-sample facts (group, subset, ...) for break-downs.
``manifest.json``
    Versions, git commit, seed, profile, configuration, each component's
    provider, training records, per-sample times and the failures.
``leaderboard.md/.csv/.json``
    Computed from the scores by `mmdf_bench.leaderboard`.
"""

import json
import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from mmdf_bench import registry
from mmdf_bench.errors import MetricUnavailableError, UnknownNameError, WeightsUnavailableError
from mmdf_bench.leaderboard import build_leaderboard, write_leaderboard
from mmdf_bench.provenance import environment, git_commit, package_versions
from mmdf_bench.recorder import ResultsRecorder
from mmdf_bench.tasks import get_task
from mmdf_bench.training import DEFAULT_PROFILE, TrainableMethod, fit_or_load


@dataclass
class DatasetSpec:
    """A dataset name with an optional data folder (``name`` or ``name=PATH``)."""

    name: str
    root: str = None

    @classmethod
    def parse(cls, text):
        name, _, root = text.partition("=")
        return cls(name.strip(), root.strip() or None)


@dataclass
class RunResult:
    """What `run` produced: the tables it wrote and where."""

    out_dir: Path
    scores: pd.DataFrame
    failures: pd.DataFrame
    manifest: dict
    leaderboard: object
    files: dict = field(default_factory=dict)

    @property
    def ok(self):
        """True when nothing failed."""
        return self.failures.empty


class LazySamples:
    """A read-only sequence that loads each sample when it is first accessed.

    Loaded samples are kept (in `cache`, which several sequences may share),
    so that methods calibrated one after another on the same train split do
    not load it again.
    """

    def __init__(self, dataset, sample_ids, *, cache=None):
        self.dataset = dataset
        self.sample_ids = list(sample_ids)
        self.cache = {} if cache is None else cache

    def __len__(self):
        return len(self.sample_ids)

    def _load(self, sample_id):
        if sample_id not in self.cache:
            self.cache[sample_id] = self.dataset.load(sample_id)
        return self.cache[sample_id]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return LazySamples(self.dataset, self.sample_ids[index], cache=self.cache)
        return self._load(self.sample_ids[index])

    def __iter__(self):
        for sample_id in self.sample_ids:
            yield self._load(sample_id)


def _build_metrics(names):
    """Instantiate the metrics and find out which ones can run here."""
    instances, info = {}, {}
    for name in names:
        entry = registry.metrics.get(name)
        component = entry.load()
        record = {
            "higher_is_better": bool(component.higher_is_better),
            "requires_reference": bool(component.requires_reference),
            "components": list(getattr(component, "components", ())),
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
        component = registry.metrics.load(name)
        if getattr(component, "components", ()):
            aggregators[name] = (tuple(component.components), component.aggregate)
    return aggregators


def _score_one(metric_name, metric, output, sample):
    """Return ``{row metric name: value}`` for one output, raising on NaN."""
    result = metric.compute(output, sample)
    if metric.components:
        values = {f"{metric_name}:{key}": float(result[key]) for key in metric.components}
    else:
        values = {metric_name: float(result)}
    for name, value in values.items():
        if math.isnan(value):
            raise ValueError(f"{name} returned NaN")
    return values


def evaluate_method(task, method, method_name, dataset_name, samples, metrics, recorder, *,
                    output_dir=None, progress=True):
    """Run one built method on loaded samples and score every output.

    Failures of one sample (prediction or a metric) are recorded and skipped.
    """
    bar = tqdm(samples, desc=f"{dataset_name} | {method_name}", unit="sample",
               file=sys.stderr, disable=not progress, leave=False)
    for sample in bar:
        started = time.perf_counter()
        try:
            output = task.predict(method, sample)
        except Exception as error:
            recorder.failure(dataset_name, method_name, sample.sample_id, "predict", error)
            continue
        recorder.timing(dataset_name, method_name, sample.sample_id, time.perf_counter() - started)
        if output_dir is not None:
            try:
                task.save_output(output, output_dir / method_name / sample.sample_id)
            except Exception as error:
                recorder.failure(dataset_name, method_name, sample.sample_id, "save-output", error)
        for metric_name, metric in metrics.items():
            if not metric.applies_to(sample) or not metric.applies_to_output(output):
                continue
            try:
                values = _score_one(metric_name, metric, output, sample)
            except Exception as error:
                recorder.failure(dataset_name, method_name, sample.sample_id,
                                 f"metric:{metric_name}", error)
                continue
            for name, value in values.items():
                recorder.score(dataset_name, method_name, sample, name, value)


def _load_samples(task, dataset, dataset_name, sample_ids, recorder, *, progress):
    samples = []
    for sample_id in tqdm(sample_ids, desc=f"{dataset_name} | loading", unit="sample",
                          file=sys.stderr, disable=not progress, leave=False):
        try:
            sample = dataset.load(sample_id)
        except Exception as error:
            recorder.failure(dataset_name, None, sample_id, "load", error)
            continue
        samples.append(sample)
        recorder.sample(dataset_name, sample, task.describe_sample(sample) if task.describe_sample else {})
    return samples


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


def build_method(method_name, *, profile=DEFAULT_PROFILE, options=None):
    """Instantiate a registered method; trainable methods get the run's `profile`."""
    component = registry.methods.load(method_name)
    options = dict(options or {})
    if issubclass(component, TrainableMethod):
        options.setdefault("profile", profile)
    return component(**options)


def prepare_method(task, method, method_name, dataset, train_ids, *, seed, cache=None):
    """Train, calibrate or load `method` for `dataset`; return what the manifest keeps.

    Trainable methods are loaded from the checkpoint cache or trained. On a
    dataset without a train split they use (and if needed train on) the
    task's default dataset, so a model can be evaluated on real data.
    """
    if isinstance(method, TrainableMethod):
        source, ids = dataset, train_ids
        if not ids:
            source = registry.datasets.create(task.default_datasets[0])
            ids = source.sample_ids("train")
        samples = LazySamples(source, ids, cache=cache if source is dataset else None)
        record = fit_or_load(method, method_name, source, samples, seed=seed)
        return {**record.as_dict(), "trained_on": source.name}
    if method.needs_training():
        started = time.perf_counter()
        method.fit(LazySamples(dataset, train_ids, cache=cache), seed=seed)
        # the configuration after fitting shows what calibration chose (iterations, thresholds)
        return {"fit_seconds": round(time.perf_counter() - started, 3), "trained_on": dataset.name,
                "fitted_config": method.config()}
    return None


def run(task, *, methods=None, datasets=None, metrics=None, out_dir, seed=0, limit=None,
        save_outputs=False, progress=True, profile=DEFAULT_PROFILE, method_options=None):
    """Evaluate methods on datasets for one task and write the results folder.

    Parameters
    ----------
    task : str
        Task name ("fusion", "focus").
    methods, metrics : list of str, optional
        Names or shell-style patterns; all of the task's by default.
    datasets : list of str, optional
        ``name`` or ``name=PATH``; the task's default datasets by default.
    out_dir : str or Path
        Results folder (created).
    seed : int, optional
        Seed for training and bootstrap resampling. Dataset contents do not
        depend on it, so runs with different seeds stay comparable.
    limit : int, optional
        Evaluate only the first `limit` test samples of each dataset.
    save_outputs : bool, optional
        Also write every method output under ``outputs/``.
    progress : bool, optional
        Show progress bars on stderr.
    profile : {"smoke", "cpu", "paper"}, optional
        Hyper-parameter profile of trainable methods.
    method_options : dict, optional
        ``{method name: {option: value}}`` passed to the method constructors.

    Returns
    -------
    RunResult
    """
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    task, method_names, dataset_specs, metric_names = resolve_selection(
        task, methods=methods, datasets=datasets, metrics=metrics)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recorder = ResultsRecorder(out_dir)
    metric_instances, metric_info = _build_metrics(metric_names)
    for name, info in metric_info.items():
        if not info["available"]:
            print(f"mmdf-bench: metric {name} unavailable: {info['reason']}", file=sys.stderr)

    manifest = {
        "mmdf_bench_results": 1,
        "task": task.name,
        "started": started_at.isoformat(timespec="seconds"),
        "seed": seed,
        "profile": profile,
        "limit": limit,
        "git_commit": git_commit(),
        "versions": package_versions(),
        "environment": environment(),
        "datasets": {},
        "methods": {},
        "metrics": metric_info,
        "primary_metrics": list(task.primary_metrics),
    }
    options = dict(seed=seed, limit=limit, save_outputs=save_outputs, out_dir=out_dir,
                   progress=progress, profile=profile, method_options=method_options or {})
    try:
        for spec in dataset_specs:
            _run_dataset(task, spec, method_names, metric_instances, recorder, manifest, **options)
    except KeyboardInterrupt:
        manifest["interrupted"] = True
        print("mmdf-bench: interrupted; keeping what was finished", file=sys.stderr)
    finally:
        recorder.close()
        manifest["failures"] = recorder.failure_records
        manifest["timings"] = recorder.timings
        manifest["seconds"] = round(time.perf_counter() - started, 3)
        with open(out_dir / "manifest.json", "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, default=str)

    scores = pd.read_csv(recorder.scores_path, dtype={"sample_id": str, "group": str})
    failures = pd.read_csv(recorder.failures_path, dtype=str)
    samples = (pd.read_csv(recorder.samples_path, dtype={"sample_id": str, "group": str})
               if recorder.samples_path.exists() else None)
    leaderboard = build_leaderboard(
        scores, metrics=metric_info, failures=failures,
        seconds=pd.DataFrame(recorder.timings, columns=["dataset", "method", "sample_id", "seconds"]),
        primary_metrics=task.primary_metrics, seed=seed,
        aggregators=aggregators_of(metric_names), samples=samples,
        baseline=task.baseline_method, gain_metrics=task.gain_metrics,
        unavailable_methods={name: record["reason"] for name, record in manifest["methods"].items()
                             if record.get("available") is False})
    files = write_leaderboard(leaderboard, out_dir)
    return RunResult(out_dir, scores, failures, manifest, leaderboard, files)


def _run_dataset(task, spec, method_names, metrics, recorder, manifest, *, seed, limit,
                 save_outputs, out_dir, progress, profile, method_options):
    name = spec.name
    try:
        dataset = registry.datasets.create(name, root=spec.root)
        test_ids = dataset.sample_ids("test")
        train_ids = dataset.sample_ids("train")
    except Exception as error:
        recorder.failure(name, None, None, "dataset", error)
        return
    if limit is not None:
        test_ids = test_ids[:limit]
    manifest["datasets"][name] = {**dataset.describe(), "evaluated": len(test_ids),
                                  "provider": registry.datasets.get(name).provenance()}
    samples = _load_samples(task, dataset, name, test_ids, recorder, progress=progress)
    train_cache = {}  # train samples loaded once, shared by every method that learns
    for method_name in method_names:
        entry = registry.methods.get(method_name)
        record = manifest["methods"].setdefault(method_name, {**entry.provenance()})
        try:
            method = build_method(method_name, profile=profile,
                                  options=method_options.get(method_name))
            record.update(config=method.config(), summary=method.summary, citation=method.citation)
            if method.weights_source:
                record["weights_source"] = method.weights_source
            method.check_available()
            training = prepare_method(task, method, method_name, dataset, train_ids, seed=seed,
                                      cache=train_cache)
            if training is not None:
                record.setdefault("training", {})[name] = training
        except WeightsUnavailableError as error:
            # missing pretrained files make a method unavailable here, not broken
            record.update(available=False, reason=str(error))
            print(f"mmdf-bench: method {method_name} unavailable: {error}", file=sys.stderr)
            continue
        except Exception as error:
            recorder.failure(name, method_name, None, "build", error)
            traceback.print_exc(file=sys.stderr)
            continue
        evaluate_method(task, method, method_name, name, samples, metrics, recorder,
                        output_dir=out_dir / "outputs" / name if save_outputs else None,
                        progress=progress)
