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
``completed.csv``
    One row per finished (dataset, method, sample), with its prediction time:
    what ``--resume`` keeps.
``manifest.json``
    Versions, git commit, seed, profile, configuration, each component's
    provider, training records, per-sample times and the failures. Written
    when the run starts (so that it can be resumed) and again at its end.
``leaderboard.md/.csv/.json``
    Computed from the scores by `mmdf_bench.leaderboard`.

(`mmdf_bench.run_format` defines these files.)

Samples are evaluated in this process (``jobs=1``), in local worker processes
or on a Dask cluster (`mmdf_bench.executors`); methods are trained or
calibrated here, once, before their samples are sent out. Every table is
rewritten in the serial order at the end, so ``scores.csv`` holds the same
bytes whatever the executor. One caveat: torch kernels (deep methods, the
pyiqa metrics) round differently with different numbers of threads, and
workers compute with one thread each, so a serial run reproduces their
last digits when it also uses one (``OMP_NUM_THREADS=1``).
"""

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from mmdf_bench import registry
from mmdf_bench.components import (build_method, build_metrics, method_options_of,
                                   prepare_method, resolve_selection)
from mmdf_bench.data.base import split_ids
from mmdf_bench.devices import compute_setup
from mmdf_bench.dispatch import evaluate_dataset
from mmdf_bench.errors import InvalidInputError, MmdfBenchError, NotApplicableError, WeightsUnavailableError
from mmdf_bench.evaluation import EvaluationContext, MethodHandle, MetricSet
from mmdf_bench.executors import make_executor, process_identity
from mmdf_bench.leaderboard_terminal import short_reason
from mmdf_bench.output_paths import prepare_output_folder
from mmdf_bench.provenance import environment, git_commit, package_versions
from mmdf_bench.recorder import ResultsRecorder, RunOrder
from mmdf_bench.resume import (check_config, check_dataset, check_metrics, read_manifest,
                               recorded_samples, run_config)
from mmdf_bench.run_destination import claim_run_folder, locked_run_folder
from mmdf_bench.run_folder import leaderboard_of_run, load_run
from mmdf_bench.run_format import OUTPUTS_FOLDER, write_leaderboard, write_manifest
from mmdf_bench.information import method_deviations, row_information
from mmdf_bench.specimen_folds import fit_specimen_folds
from mmdf_bench.training import DEFAULT_PROFILE, TrainableMethod

_log = logging.getLogger(__name__)


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


def check_applicable(method, method_name, dataset):
    """Raise `NotApplicableError` when an upper-bound method needs a truth `dataset` does not provide.

    Oracle rows (``upper_bound``) are given hidden truths of synthetic data
    (``information``, e.g. ``"depth-oracle"``); a dataset lists those its
    samples carry in ``provides``.
    """
    if not getattr(method, "upper_bound", False):
        return
    missing = [item for item in getattr(method, "information", ()) if item not in getattr(dataset, "provides", ())]
    if missing:
        raise NotApplicableError(f"{method_name} is an oracle that needs {', '.join(missing)}, which "
                                 f"{dataset.name} does not provide")


@dataclass
class _OpenedDataset:
    """A dataset of the run with its split ids, or why it could not be opened.

    `test_ids` are the samples this run evaluates (``--limit`` applied);
    `scored_ids` the whole test split, which tuning never reads.
    """

    dataset: object = None
    test_ids: list = field(default_factory=list)
    train_ids: list = field(default_factory=list)
    validation_ids: list = field(default_factory=list)
    scored_ids: list = field(default_factory=list)
    error: Exception = None


def _open_datasets(specs, limit):
    opened = {}
    for spec in specs:
        try:
            dataset = spec.create(registry.datasets)
            all_test_ids = split_ids(dataset, "test")
            train_ids = split_ids(dataset, "train")
            validation_ids = split_ids(dataset, "validation")
        except Exception as error:  # recorded as a failure row once the run has started
            opened[spec.name] = _OpenedDataset(error=error)
            continue
        test_ids = all_test_ids[:limit] if limit is not None else all_test_ids
        opened[spec.name] = _OpenedDataset(dataset, list(test_ids), list(train_ids),
                                           list(validation_ids), list(all_test_ids))
    return opened


def _say_unavailable(kind, name, reason):
    # one line now; the full reason (where the file was looked for) goes to leaderboard.md
    prefix = f"{kind} {name} unavailable: "
    width = 100 - len("mmdf-bench: ") - len(prefix)  # the command line's prefix
    _log.warning("%s%s", prefix, short_reason(reason, width, name=name))


def _refuse_unopened(opened):
    problems = []
    for name, item in opened.items():
        if item.error is None:
            continue
        text = " ".join(str(item.error).split())
        if not isinstance(item.error, MmdfBenchError):  # not one of ours: say what it was
            text = f"{type(item.error).__name__}: {text}"
        problems.append(text if text.startswith(f"{name}:") else f"{name}: {text}")
    if problems:
        raise InvalidInputError("; ".join(problems))


def run(task, *, methods=None, datasets=None, metrics=None, out_dir, seed=0, limit=None,
        save_outputs=False, progress=True, profile=DEFAULT_PROFILE, method_options=None,
        jobs=1, executor="local", scheduler=None, chunk_size=None, resume=False,
        overwrite=False, device="cpu", amp=False):
    """Evaluate methods on datasets for one task and write the results folder.

    Parameters
    ----------
    task : str
        Task name ("fusion", "focus", "deblur").
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
    jobs : int, optional
        Local worker processes evaluating samples in parallel (1: in this
        process); with ``executor="dask"`` and no `scheduler`, the workers
        of the local cluster started for the run.
    executor : {"local", "dask"}, optional
        Where samples are evaluated; ``dask`` needs the ``dask`` extra.
    scheduler : str, optional
        Address of the Dask scheduler.
    chunk_size : int, optional
        Samples per task (default: one serially, else about four tasks per worker).
    resume : bool, optional
        Continue the interrupted run in `out_dir`: compute only the missing
        (dataset, method, sample) units. The run must have been made with
        the same configuration and dataset versions, else `ResumeError`.
    overwrite : bool, optional
        Replace the run that `out_dir` holds (its files are deleted); without
        it (or `resume`), a folder holding a run is refused.
    device : str, optional
        Where deep methods and learned metrics compute: ``cpu`` (default
        here), ``auto`` (the command line's default: CUDA when present),
        ``cuda``, ``cuda:N`` or ``mps`` (`mmdf_bench.devices`).
    amp : bool, optional
        bfloat16 mixed-precision inference (CUDA only).

    Returns
    -------
    RunResult

    Raises
    ------
    mmdf_bench.run_destination.RunFolderError
        When `out_dir` holds a run and neither `resume` nor `overwrite` is
        given, or another run is writing into it.
    """
    compute = compute_setup(device, amp=amp)  # an absent device is refused before anything runs
    if not (resume or overwrite):
        claim_run_folder(out_dir)  # said at once; checked again once the folder is held
    with contextlib.ExitStack() as held:  # the folder stays held until the run has ended
        return _run(task, methods=methods, datasets=datasets, metrics=metrics, out_dir=out_dir,
                    seed=seed, limit=limit, save_outputs=save_outputs, progress=progress,
                    profile=profile, method_options=method_options, jobs=jobs,
                    executor=executor, scheduler=scheduler, chunk_size=chunk_size,
                    resume=resume, overwrite=overwrite, held=held, compute=compute)


def _run(task, *, methods, datasets, metrics, out_dir, seed, limit, save_outputs, progress,
         profile, method_options, jobs, executor, scheduler, chunk_size, resume, overwrite,
         held, compute):
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    task, method_names, dataset_specs, metric_names = resolve_selection(
        task, methods=methods, datasets=datasets, metrics=metrics)
    out_dir = Path(out_dir)
    method_options = method_options or {}
    config = run_config(task.name, method_names, dataset_specs, metric_names, seed=seed,
                        limit=limit, profile=profile, save_outputs=save_outputs,
                        method_options=method_options)
    previous = read_manifest(out_dir) if resume else None
    if resume:  # refuse before touching anything in the folder
        check_config(previous, config, out_dir)
    opened = _open_datasets(dataset_specs, limit)
    if datasets is not None:
        # Data the user named that cannot be read is a mistake to fix before anything runs;
        # a default dataset that cannot be opened is recorded and the run goes on.
        _refuse_unopened(opened)
    if resume:
        recorded = recorded_samples(out_dir)
        for name, item in opened.items():
            if item.error is None:
                check_dataset(previous, name, item.dataset, item.test_ids, recorded.get(name, ()),
                              out_dir)
    metric_instances, metric_info = build_metrics(metric_names)
    if resume:
        check_metrics(previous, metric_info, out_dir)
    pool = make_executor(executor, jobs=jobs, scheduler=scheduler)
    try:
        prepare_output_folder(out_dir)  # a read-only or full disk: one clear error, now
        held.enter_context(locked_run_folder(out_dir))
        if not resume:
            claim_run_folder(out_dir, overwrite=overwrite)
        recorder = ResultsRecorder(out_dir, resume=resume)
        shared_metrics = pool.share(MetricSet(metric_instances, device=compute.device))
    except BaseException:
        pool.close(cancel=True)
        raise
    for name, info in metric_info.items():
        if not info["available"]:
            _say_unavailable("metric", name, info["reason"])

    manifest = {
        "task": task.name,
        "started": started_at.isoformat(timespec="seconds"),
        "status": "running",
        "seed": seed,
        "profile": profile,
        "limit": limit,
        "config": config,
        "executor": {**pool.describe(), "chunk_size": chunk_size},
        "git_commit": git_commit(),
        "versions": package_versions(),
        "environment": environment(),
        "device": compute.record,
        "datasets": {},
        "methods": {},
        "metrics": metric_info,
        "primary_metrics": list(task.primary_metrics),
    }
    if resume:
        # methods with nothing left to do are not prepared again: keep what the run recorded
        manifest.update(started=previous.get("started"), methods=previous.get("methods", {}),
                        resumed=[*previous.get("resumed", []), manifest["started"]])
    write_manifest(out_dir, manifest)
    order = RunOrder([spec.name for spec in dataset_specs], method_names,
                     {name: item.test_ids for name, item in opened.items()})
    options = dict(seed=seed, save_outputs=save_outputs, out_dir=out_dir, progress=progress,
                   profile=profile, method_options=method_options, chunk_size=chunk_size, compute=compute)
    finished = False
    try:
        for spec in dataset_specs:
            _run_dataset(task, spec.name, opened[spec.name], method_names, pool, shared_metrics,
                         recorder, manifest, **options)
        finished = True
    except KeyboardInterrupt:
        _log.warning("interrupted; keeping what was finished (continue with --resume %s)",
                     out_dir)
    finally:
        pool.close(cancel=not finished)
        recorder.finish(order)
        manifest["status"] = "complete" if finished else "interrupted"
        manifest["failures"] = recorder.failure_records
        manifest["timings"] = recorder.timings
        manifest["seconds"] = round(time.perf_counter() - started, 3)
        write_manifest(out_dir, manifest)

    # the leaderboard is computed from the folder, exactly as a later report or compare reads it
    tables = load_run(out_dir)
    leaderboard = leaderboard_of_run(tables)
    files = write_leaderboard(leaderboard, out_dir)
    return RunResult(out_dir, tables.scores, tables.failures, manifest, leaderboard, files)


def _run_dataset(task, name, opened, method_names, pool, metrics, recorder, manifest, *, seed,
                 save_outputs, out_dir, progress, profile, method_options, chunk_size, compute=None):
    if opened.error is not None:
        recorder.failure(name, None, None, "dataset", opened.error)
        return
    dataset, test_ids = opened.dataset, opened.test_ids
    manifest["datasets"][name] = {**dataset.describe(), "evaluated": len(test_ids),
                                  "provider": registry.datasets.get(name).provenance()}
    # what is left: everything in a new run, the units not in completed.csv on resume
    missing = {method_name: [sample_id for sample_id in test_ids
                             if (name, sample_id) not in recorder.failed_loads
                             and (name, method_name, sample_id) not in recorder.completed]
               for method_name in method_names}
    needed = {sample_id for ids in missing.values() for sample_id in ids}
    load_ids = [sample_id for sample_id in test_ids
                if sample_id in needed or (name, sample_id) not in recorder.recorded_samples]

    def prepare():
        # runs here, in the parent, while the workers load: each method is fitted once
        handles, train_cache = {}, {}  # train samples loaded once, shared by every method that learns
        for method_name in method_names:
            if not missing[method_name] and "config" in manifest["methods"].get(method_name, {}):
                continue
            handle = _prepare_one(task, name, method_name, opened, pool, recorder, manifest,
                                  seed=seed, profile=profile, cache=train_cache,
                                  options=method_options.get(method_name), compute=compute)
            if handle is not None and missing[method_name]:
                handles[method_name] = handle
        write_manifest(out_dir, manifest)
        return handles

    evaluate_dataset(pool, task=task, dataset=dataset, dataset_name=name, load_ids=load_ids,
                     missing=missing, method_names=method_names, prepare=prepare,
                     metrics=metrics, recorder=recorder, chunk_size=chunk_size,
                     context=EvaluationContext(
                         parent=process_identity(),
                         output_dir=out_dir / OUTPUTS_FOLDER / name if save_outputs else None),
                     progress=progress)


def _needs_specimen_folds(method, opened):
    """A classical method that calibrates, on a dataset without a train split."""
    return (not opened.train_ids and not isinstance(method, TrainableMethod)
            and method.needs_training())


def _prepare_one(task, name, method_name, opened, pool, recorder, manifest, *, seed, profile,
                 cache, options, compute=None):
    """Build, check and fit one method for dataset `name`; return its shared handle or None."""
    entry = registry.methods.get(method_name)
    record = manifest["methods"].setdefault(method_name, {**entry.provenance()})
    record.pop("available", None)  # a resumed run decides again: the weights may be there now
    record.pop("reason", None)
    try:
        options = method_options_of(method_name, profile=profile, options=options)
        method = build_method(method_name, profile=profile, options=options)
        if compute is not None:
            compute.apply(method)  # before training or loading: both happen on the run's device
        record.update(config=method.config(), summary=method.summary, citation=method.citation,
                      upper_bound=bool(getattr(method, "upper_bound", False)),
                      # truths the others lack (the exact PSF, the depth map): kept out of the verdict
                      oracle_inputs=[str(item) for item in getattr(method, "information", ())
                                     if str(item).endswith("-oracle")])
        if method.weights_source:
            record["weights_source"] = method.weights_source
        if getattr(method, "family", ""):
            record["family"] = method.family  # the deep-vs-classical verdict reads it
        method.check_available()
        check_applicable(method, method_name, opened.dataset)
        folds = uncalibrated = None
        if _needs_specimen_folds(method, opened):
            folds, training = fit_specimen_folds(method, opened.dataset, opened.test_ids, seed=seed,
                                                 cache=cache)
            if folds is None:
                uncalibrated = (f"{opened.dataset.name} has no train split and {training['reason']}: "
                                "the method runs uncalibrated, with its defaults")
        else:
            training = prepare_method(task, method, method_name, opened.dataset, opened.train_ids,
                                      seed=seed, cache=cache, validation_ids=opened.validation_ids,
                                      scored_ids=opened.scored_ids)
        if training is not None:
            record.setdefault("training", {})[name] = training
        record.setdefault("information", {})[name] = row_information(method, training)
        record["deviations"] = method_deviations(method)
        return pool.share(MethodHandle(method, options=options, folds=folds, uncalibrated=uncalibrated))
    except (WeightsUnavailableError, NotApplicableError) as error:
        # missing pretrained files (or an oracle's truth) make a method unavailable here, not broken
        record.update(available=False, reason=str(error))
        _say_unavailable("method", method_name, error)
    except MmdfBenchError as error:  # says what is wrong and what to do: no traceback
        recorder.failure(name, method_name, None, "build", error)
    except Exception as error:  # not ours: where it came from helps whoever fixes it
        recorder.failure(name, method_name, None, "build", error)
        _log.error("where %s failed to build:", method_name, exc_info=True)
    return None
