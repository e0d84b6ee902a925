"""The work of one task: load a chunk of samples, or evaluate one method on a loaded chunk.

These functions run wherever the executor puts them - in the run's own
process, in a local worker process or on a Dask worker - so they take
everything they need as (picklable) arguments and return plain results;
the parent process writes them to the results folder. A sample that fails
(to load, to predict, to be scored) becomes a failure entry, never an
exception: one bad sample must not cost the rest of the chunk.

Fitted methods travel as `MethodHandle` objects: a method that learned
(`mmdf_bench.training.TrainableMethod`) is sent as its class, constructor
options and ``state_dict()`` and rebuilt by ``load_state_dict`` - the same
way a cached checkpoint is loaded - rather than pickling a live torch model
with whatever training state it holds. Other methods are pickled as they
are (a calibrated threshold, an SVM). Metrics travel as their classes
(`MetricSet`) and are instantiated where they are used, so heavy models
load once per worker.
"""

import math
import time
from dataclasses import dataclass, field

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.executors import limit_threads, process_identity
from mmdf_bench.output_paths import is_storage_error
from mmdf_bench.training import TrainableMethod

__all__ = ["EvaluationContext", "LoadedChunk", "MethodHandle", "MetricSet", "SampleResult",
           "chunk_facts", "describe_error", "evaluate_chunk", "load_chunk", "score_output"]


def describe_error(error):
    """The failure message written to ``failures.csv``."""
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class EvaluationContext:
    """What every task of a run shares.

    Attributes
    ----------
    parent : tuple
        ``(host, pid)`` of the run's process: tasks running anywhere else
        compute with one thread.
    output_dir : Path, optional
        Where method outputs are written (``--save-outputs``), per dataset.
    """

    parent: tuple
    output_dir: object = None


@dataclass
class LoadedChunk:
    """Samples of one chunk, as loaded by `load_chunk`.

    Attributes
    ----------
    samples : list
        The samples that loaded, in the order asked for.
    facts : list of tuple
        ``(sample_id, group, facts)`` per loaded sample, ``facts`` being the
        task's per-sample description (``samples.csv``).
    failures : list of tuple
        ``(sample_id, message)`` per sample that could not be loaded.
    """

    samples: list = field(default_factory=list)
    facts: list = field(default_factory=list)
    failures: list = field(default_factory=list)


@dataclass
class SampleResult:
    """One method on one sample: scores in metric order, failures in the order they happened.

    `seconds` is the prediction time, None when the prediction failed.
    """

    sample_id: str
    group: str
    seconds: float = None
    scores: list = field(default_factory=list)
    failures: list = field(default_factory=list)


class MethodHandle:
    """A prepared method as it is sent to workers.

    Parameters
    ----------
    method : Method
        Built, calibrated or trained in the parent.
    options : dict, optional
        The keyword arguments it was built with; a trainable method is
        rebuilt from them and its ``state_dict()`` on the other side.
    folds : mmdf_bench.specimen_folds.SpecimenFolds, optional
        Leave-one-specimen-out copies of a calibrated method: each sample is
        then predicted by the copy fitted without its specimen.
    uncalibrated : str, optional
        Why a calibrating method could not be calibrated here (a dataset
        without a train split and with a single specimen): added to the
        failure of each sample that needed the calibration.
    """

    def __init__(self, method, *, options=None, folds=None, uncalibrated=None):
        self.method = method
        self.options = dict(options or {})
        self.folds = folds
        self.uncalibrated = uncalibrated

    def method_for(self, sample):
        """The method that predicts `sample` (its specimen's fold, when there are folds).

        A sample that needs no calibration (``calibration_free``, e.g. an
        autofocus stack, ranked by the raw operator) falls back on the
        method itself when its specimen's fold could not be fitted.
        """
        if self.folds is None:
            return self.method
        try:
            return self.folds.method_for(sample.group)
        except InvalidInputError:
            if getattr(sample, "calibration_free", False):
                return self.method
            raise

    def __reduce__(self):
        if isinstance(self.method, TrainableMethod):
            # the device travels by name: the receiving process resolves it for itself
            device = None if self.method._device is None else str(self.method._device)
            return _rebuild_trainable, (type(self.method), self.options, self.method.state_dict(), device,
                                        self.method.amp)
        return _rebuild_handle, (self.method, self.options, self.folds, self.uncalibrated)


def _rebuild_handle(method, options, folds, uncalibrated=None):
    return MethodHandle(method, options=options, folds=folds, uncalibrated=uncalibrated)


def _rebuild_trainable(component, options, state, device=None, amp=False):
    method = component(**options)
    if device is not None:  # a worker process: the same device, set up as the parent set it up
        from mmdf_bench.devices import configure_determinism, resolve_device

        resolved = resolve_device(device)
        configure_determinism(resolved)
        method.set_device(resolved, amp=amp)
    method.load_state_dict(state)
    return MethodHandle(method, options=options)


class MetricSet:
    """The run's metrics by name; sent as classes, instantiated on arrival."""

    def __init__(self, metrics, *, device=None):
        self.metrics = dict(metrics)
        self.device = device
        if device is not None:  # learned metrics (pyiqa) compute on the run's device
            for metric in self.metrics.values():
                if hasattr(metric, "set_device"):
                    metric.set_device(device)

    def __reduce__(self):
        return _rebuild_metrics, ({name: type(metric) for name, metric in self.metrics.items()},
                                  None if self.device is None else str(self.device))


def _rebuild_metrics(classes, device=None):
    if device is not None:
        from mmdf_bench.devices import configure_determinism, resolve_device

        device = resolve_device(device)
        configure_determinism(device)
    return MetricSet({name: component() for name, component in classes.items()}, device=device)


def load_chunk(task, dataset, sample_ids, context):
    """Load `sample_ids` of `dataset`; failures are reported, not raised.

    Returns
    -------
    LoadedChunk
    """
    _prepare_process(context)
    chunk = LoadedChunk()
    for sample_id in sample_ids:
        try:
            sample = dataset.load(sample_id)
            facts = task.describe_sample(sample) if task.describe_sample else {}
        except Exception as error:
            chunk.failures.append((sample_id, describe_error(error)))
            continue
        chunk.samples.append(sample)
        chunk.facts.append((sample.sample_id, sample.group, facts))
    _prepare_process(context)
    return chunk


def chunk_facts(chunk):
    """The small part of a `LoadedChunk` the parent records: facts and failures."""
    return LoadedChunk(samples=[], facts=chunk.facts, failures=chunk.failures)


def score_output(metric_name, metric, output, sample):
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


def evaluate_chunk(task, handle, method_name, chunk, sample_ids, metrics, context):
    """Run one prepared method on the samples of `chunk` named in `sample_ids`.

    Parameters
    ----------
    task : Task
    handle : MethodHandle
    method_name : str
    chunk : LoadedChunk
    sample_ids : collection of str
        The samples still to evaluate (a resumed run skips finished ones).
    metrics : MetricSet
    context : EvaluationContext

    Returns
    -------
    list of SampleResult
        In the chunk's sample order.
    """
    _prepare_process(context)
    wanted = set(sample_ids)
    results = [_evaluate_sample(task, handle, method_name, sample, metrics.metrics, context)
               for sample in chunk.samples if sample.sample_id in wanted]
    _prepare_process(context)
    return results


def _evaluate_sample(task, handle, method_name, sample, metrics, context):
    result = SampleResult(sample.sample_id, sample.group)
    started = time.perf_counter()
    try:
        output = task.predict(handle.method_for(sample), sample)
    except Exception as error:
        message = describe_error(error)
        if handle.uncalibrated and type(error).__name__ == "NotFittedError":
            message += f" ({handle.uncalibrated})"  # the method's own words assume a train split
        result.failures.append(("predict", message))
        return result
    result.seconds = time.perf_counter() - started
    if context.output_dir is not None:
        try:
            task.save_output(output, context.output_dir / method_name / sample.sample_id,
                             bit_depth=getattr(sample, "bit_depth", 8))
        except Exception as error:
            if is_storage_error(error):  # a full disk fails every sample: stop the run
                raise
            result.failures.append(("save-output", describe_error(error)))
    for metric_name, metric in metrics.items():
        if not metric.applies_to(sample) or not metric.applies_to_output(output):
            continue
        try:
            values = score_output(metric_name, metric, output, sample)
        except Exception as error:
            result.failures.append((f"metric:{metric_name}", describe_error(error)))
            continue
        result.scores.extend(values.items())
    return result


def _prepare_process(context):
    if process_identity() != tuple(context.parent):
        limit_threads()
