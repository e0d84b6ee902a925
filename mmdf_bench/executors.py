"""Where the runner's tasks run: in the process, in local worker processes, or on Dask.

The runner splits a dataset's test samples into chunks and submits two kinds
of tasks: *load a chunk* and *evaluate one method on a loaded chunk*. Every
executor offers the same small interface, modelled on futures:

``submit(function, *args)``
    Run ``function(*args)``; returns a future. Arguments may be futures
    returned by the same executor's `submit` *that have finished* (the local
    executors pass their results; Dask passes the data where it lives).
``apply(function, future)``
    A future of ``function(result)``, computed where the result lives; for
    small summaries of large results (the facts of a loaded chunk).
``share(value)``
    Prepare a value sent with many tasks (a fitted method, the metrics) so
    that it is serialised once.
``wait(futures)``
    Block until at least one future is done; return the done ones.

`InlineExecutor` runs each task when it is submitted, in the calling
process: the serial run. `ProcessExecutor` runs tasks in ``jobs`` worker
processes started with ``spawn`` (a fork after torch or OpenMP started
threads can deadlock). `DaskExecutor` sends them to a Dask distributed
cluster, the optional ``dask`` extra.

Worker processes evaluate with one thread each (OpenMP, BLAS, torch,
OpenCV): ``jobs`` processes already use ``jobs`` cores, and more threads
per process would only compete for them.

References
----------
.. [1] Dask Development Team, "Dask: Library for dynamic task scheduling",
       2016. https://dask.org
"""

import concurrent.futures
import multiprocessing
import os
import pickle
import socket
import uuid

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.threads import THREAD_VARIABLES, use_threads

__all__ = ["DaskExecutor", "InlineExecutor", "ProcessExecutor", "limit_threads", "make_executor",
           "process_identity"]

EXECUTORS = ("local", "dask")
#: Dask configuration of the workers of the local cluster (see `DaskExecutor`).
WORKER_SETTINGS = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def limit_threads():
    """Make this process compute with one thread (worker processes only).

    Called at the start and end of every task, since a task may import torch
    lazily (see `mmdf_bench.threads.use_threads`).
    """
    use_threads(1)


def process_identity():
    """``(host, pid)`` of this process; tasks compare it with the parent's."""
    return socket.gethostname(), os.getpid()


class InlineExecutor:
    """Run every task at once, in this process: the serial run.

    Each task is computed inside `submit`, so the runner records its result
    before starting the next one and an interruption loses at most one task.
    """

    kind = "local"
    workers = 1
    inline = True

    def submit(self, function, *args):
        future = concurrent.futures.Future()
        try:
            future.set_result(function(*_results(args)))
        except Exception as error:  # a KeyboardInterrupt must reach the runner
            future.set_exception(error)
        return future

    def apply(self, function, future):
        return _derived(function, future)

    def share(self, value):
        return value

    def wait(self, futures):
        return _wait_local(futures)

    def describe(self):
        return {"executor": "local", "jobs": 1}

    def close(self, *, cancel=False):
        pass


class ProcessExecutor:
    """Run tasks in `jobs` local worker processes.

    Parameters
    ----------
    jobs : int
        Number of worker processes (at least 2; use `InlineExecutor` for 1).
    """

    kind = "local"
    inline = False

    def __init__(self, jobs):
        if jobs < 2:
            raise MmdfBenchError(f"a process executor needs at least 2 jobs, got {jobs}")
        self.workers = int(jobs)
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=limit_threads)

    def submit(self, function, *args):
        return self._pool.submit(function, *_results(args))

    def apply(self, function, future):
        return _derived(function, future)

    def share(self, value):
        # Pickled once here; each task then carries bytes, unpickled once per worker.
        return _Shared(uuid.uuid4().hex, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def wait(self, futures):
        return _wait_local(futures)

    def describe(self):
        return {"executor": "local", "jobs": self.workers}

    def close(self, *, cancel=False):
        if cancel:
            # Interrupted: do not wait for running tasks whose results nobody will record.
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=10)
        else:
            self._pool.shutdown(wait=True)


class DaskExecutor:
    """Run tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``). Without it a
        `distributed.LocalCluster` of `jobs` single-threaded worker processes
        is started on the loopback interface and closed with the executor.
    jobs : int, optional
        Workers of the local cluster.

    Notes
    -----
    Workers need mmdf-bench (and any plug-in providing the methods) installed,
    the same ``MMDF_BENCH_*`` variables, and, with ``--save-outputs`` or
    data read from folders, the same file system paths as the client.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which hands
    freed memory back to the system at once: every large temporary image is
    then faulted in page by page again, and a fusion run spent more time in
    the kernel than in numpy. The local cluster is started without it
    (`WORKER_SETTINGS`); start the workers of a cluster of your own with
    ``DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None``
    for the same effect.
    """

    kind = "dask"
    inline = False

    def __init__(self, scheduler=None, *, jobs=None):
        try:
            import distributed
        except ImportError as error:
            raise MmdfBenchError(
                f"the dask executor needs dask.distributed ({error}); install it with "
                "`pip install 'mmdf-bench[dask]'`") from None
        self._distributed = distributed
        self._cluster = None
        if scheduler is None:
            import dask

            with dask.config.set(WORKER_SETTINGS):
                self._cluster = distributed.LocalCluster(
                    n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None,
                    env={variable: "1" for variable in THREAD_VARIABLES})
            scheduler = self._cluster.scheduler_address
        try:
            self.client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as error:
            if self._cluster is not None:
                self._cluster.close()
            raise MmdfBenchError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        self.scheduler = scheduler
        self.workers = max(1, sum(self.client.nthreads().values()))

    def submit(self, function, *args):
        return self.client.submit(function, *args, pure=False)

    def apply(self, function, future):
        return self.client.submit(function, future, pure=False)

    def share(self, value):
        # Keep the value on the cluster: tasks receive it without resending it.
        return self.client.scatter(value, hash=False)

    def wait(self, futures):
        done, _ = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def describe(self):
        return {"executor": "dask", "scheduler": None if self._cluster else self.scheduler,
                "workers": self.workers}

    def close(self, *, cancel=False):
        try:
            # Closing the client releases its futures: the scheduler forgets their tasks.
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def make_executor(kind="local", *, jobs=1, scheduler=None):
    """Return the executor a run asked for.

    Parameters
    ----------
    kind : {"local", "dask"}
    jobs : int
        Local worker processes (``local``: 1 runs in this process), or the
        workers of the local Dask cluster started when no `scheduler` is given.
    scheduler : str, optional
        Dask scheduler address (``dask`` only).
    """
    if kind not in EXECUTORS:
        raise MmdfBenchError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise MmdfBenchError(f"--jobs must be at least 1, got {jobs}")
    if kind == "dask":
        return DaskExecutor(scheduler, jobs=jobs)
    if scheduler is not None:
        raise MmdfBenchError("--scheduler needs --executor dask")
    return InlineExecutor() if jobs in (None, 1) else ProcessExecutor(jobs)


class _Shared:
    """A value pickled once in the parent; unpickled once per worker process."""

    _cache = {}

    def __init__(self, token, payload):
        self.token = token
        self.payload = payload

    def __reduce__(self):
        return _unshare, (self.token, self.payload)


def _unshare(token, payload):
    cache = _Shared._cache
    if token not in cache:
        cache[token] = pickle.loads(payload)
    return cache[token]


def _results(args):
    """Replace finished futures among `args` by their results."""
    return [argument.result() if isinstance(argument, concurrent.futures.Future) else argument
            for argument in args]


def _derived(function, future):
    derived = concurrent.futures.Future()

    def finish(source):
        try:
            derived.set_result(function(source.result()))
        except BaseException as error:  # the derived future reports what the source raised
            derived.set_exception(error)

    future.add_done_callback(finish)
    return derived


def _wait_local(futures):
    done, _ = concurrent.futures.wait(list(futures), return_when=concurrent.futures.FIRST_COMPLETED)
    return done
