"""Spread one dataset's evaluation over an executor and record what comes back.

`evaluate_dataset` splits the samples to load into chunks, submits one
*load* task per chunk, lets the parent prepare (train, calibrate, load)
the methods while the workers load, then submits one *evaluate* task per
(method, chunk) as soon as the chunk is loaded. Results are recorded as
they arrive; `mmdf_bench.recorder.ResultsRecorder.finish` restores the
serial order at the end.

The number of evaluate tasks in flight is bounded (one for the serial
executor, two per worker otherwise): finished work is recorded promptly,
so an interruption loses little, and loaded chunks are released as soon
as every method has seen them. Serially, methods take their turns as they
always did (all samples of the first method, then the next); in parallel,
chunks do (every method on the first chunk, then the next), which keeps
fewer chunks in memory.
"""

import heapq
import math

from mmdf_bench.progress import progress_bar

from mmdf_bench.evaluation import chunk_facts, evaluate_chunk, load_chunk
from mmdf_bench.output_paths import is_storage_error

__all__ = ["default_chunk_size", "evaluate_dataset"]


def default_chunk_size(executor, num_samples):
    """Samples per task: one for the serial executor, else about four tasks per worker.

    Several tasks per worker keep every worker busy to the end when samples
    take unequal times; fewer, larger tasks would save per-task overhead.
    """
    if executor.inline:
        return 1
    return max(1, math.ceil(num_samples / (4 * executor.workers)))


def evaluate_dataset(executor, *, task, dataset, dataset_name, load_ids, missing, method_names,
                     prepare, metrics, recorder, context, chunk_size=None, progress=True):
    """Load `load_ids` and evaluate the missing units of every prepared method.

    Parameters
    ----------
    executor : InlineExecutor, ProcessExecutor or DaskExecutor
    task : Task
    dataset : Dataset
    dataset_name : str
    load_ids : list of str
        Samples to load, in the dataset's order.
    missing : dict
        Method name -> sample ids still to evaluate.
    method_names : list of str
        The run's methods, in order.
    prepare : callable
        ``prepare() -> {method name: shared MethodHandle}``; called once the
        load tasks are submitted. Methods it leaves out are not evaluated.
    metrics : shared MetricSet
    recorder : ResultsRecorder
    context : EvaluationContext
    chunk_size : int, optional
        Samples per task; `default_chunk_size` by default.
    progress : bool
    """
    chunk_size = chunk_size or default_chunk_size(executor, len(load_ids))
    chunks = [load_ids[start:start + chunk_size] for start in range(0, len(load_ids), chunk_size)]
    loads = [executor.submit(load_chunk, task, dataset, ids, context) for ids in chunks]
    facts = {executor.apply(chunk_facts, load): index for index, load in enumerate(loads)}
    handles = prepare()
    wanted = {name: set(missing.get(name, ())) for name in method_names if name in handles}
    total = sum(len(ids & set(load_ids)) for ids in wanted.values())
    bar = progress_bar(total, dataset_name, unit="sample", enabled=progress, leave=False)
    ready, in_flight, remaining = [], {}, [0] * len(chunks)
    limit = 1 if executor.inline else 2 * executor.workers
    try:
        while facts or ready or in_flight:
            while ready and len(in_flight) < limit:
                _, method_index, index, ids = heapq.heappop(ready)
                name = method_names[method_index]
                future = executor.submit(evaluate_chunk, task, handles[name], name, loads[index],
                                         ids, metrics, context)
                in_flight[future] = (name, index, ids)
            done = executor.wait([*facts, *in_flight])
            for future in sorted((future for future in done if future in facts), key=facts.get):
                index = facts.pop(future)
                for method_index, ids in _record_chunk(future, dataset_name, chunks[index],
                                                       method_names, wanted, recorder):
                    # serially method by method, as the runner always did; in parallel
                    # chunk by chunk, so that each chunk is released as soon as possible
                    order = (method_index, index) if executor.inline else (index, method_index)
                    heapq.heappush(ready, (order, method_index, index, ids))
                    remaining[index] += 1
                if not remaining[index]:
                    loads[index] = None
            for future in [future for future in done if future in in_flight]:
                name, index, ids = in_flight.pop(future)
                bar.update(_record_results(future, dataset_name, name, ids, recorder))
                remaining[index] -= 1
                if not remaining[index]:
                    loads[index] = None  # every method has seen the chunk: release it
    finally:
        bar.close()


def _record_chunk(future, dataset_name, chunk, method_names, wanted, recorder):
    """Record a loaded chunk's samples; return the ``(method index, ids)`` to evaluate."""
    try:
        loaded = future.result()
    except Exception as error:  # the task itself was lost (a worker died): retried on resume
        for sample_id in chunk:
            recorder.failure(dataset_name, None, sample_id, "worker", error)
        return []
    for sample_id, group, sample_facts in loaded.facts:
        if (dataset_name, sample_id) not in recorder.recorded_samples:
            recorder.sample(dataset_name, sample_id, group, sample_facts)
    for sample_id, message in loaded.failures:
        recorder.failure(dataset_name, None, sample_id, "load", message)
    loaded_ids = [sample_id for sample_id, _, _ in loaded.facts]
    work = []
    for method_index, name in enumerate(method_names):
        ids = [sample_id for sample_id in loaded_ids if sample_id in wanted.get(name, ())]
        if ids:
            work.append((method_index, ids))
    return work


def _record_results(future, dataset_name, method_name, ids, recorder):
    """Record one evaluate task's results; return how many units it finished."""
    try:
        results = future.result()
    except Exception as error:  # lost task, or a method that cannot travel: retried on resume
        if is_storage_error(error):  # the disk is full: every later task would fail alike
            raise
        for sample_id in ids:
            recorder.failure(dataset_name, method_name, sample_id, "worker", error)
        return 0
    for result in results:
        recorder.unit(dataset_name, method_name, result)
    return len(results)
