"""How many threads the computation uses: one per process unless the user says otherwise.

torch, OpenCV and the BLAS behind numpy each start as many threads as the
machine has cores. On a machine busy with other work those threads wait
for each other at every parallel step, spinning while they wait: on a
shared 2-core machine beside one CPU-bound process, a first ``mmdf-bench
run`` with two threads took 1.8 to 2.5 times the wall and CPU time of the
same run with one (``benchmarks/first_run_load.py``).
mmdf-bench therefore computes with one thread per process by default and
gets its parallelism from processes (``--jobs``), which the operating system
shares out fairly. One thread also makes results reproducible to the last
digit: torch rounds differently with different numbers of threads, and
worker processes always use one.

The user decides otherwise with ``--threads N`` or, as for any OpenMP
program, ``OMP_NUM_THREADS=N``; on an idle machine a few threads shorten
the training of deep methods.

References
----------
.. [1] OpenMP Architecture Review Board, "OpenMP Application Programming
       Interface 5.2", 2021, section 6.2 (``OMP_NUM_THREADS``) and 6.7
       (``OMP_WAIT_POLICY``).
.. [2] PyTorch documentation, "CPU threading and TorchScript inference".
       https://pytorch.org/docs/stable/notes/cpu_threading_torchscript_inference.html
"""

import os
import sys

from mmdf_bench.errors import MmdfBenchError

__all__ = ["THREAD_VARIABLES", "choose_threads", "use_threads"]

#: Variables read by OpenMP (torch), the BLAS libraries, numexpr and OpenCV when they start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "OPENCV_FOR_THREADS_NUM")
DEFAULT_THREADS = 1


def choose_threads(requested=None, *, environ=None):
    """The number of threads to compute with.

    Parameters
    ----------
    requested : int, optional
        An explicit choice (``--threads``); wins over the environment.
    environ : mapping, optional
        Where ``OMP_NUM_THREADS`` is looked up (default `os.environ`).

    Returns
    -------
    int
        `requested`, else ``OMP_NUM_THREADS``, else `DEFAULT_THREADS` (1).

    Raises
    ------
    MmdfBenchError
        When either is not a whole number of at least 1.
    """
    if requested is not None:
        if int(requested) != requested or requested < 1:
            raise MmdfBenchError(f"--threads must be a whole number of at least 1, got {requested}")
        return int(requested)
    value = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "").strip()
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit() or int(value) < 1:
        raise MmdfBenchError(f"OMP_NUM_THREADS must be a whole number of at least 1, got {value!r}")
    return int(value)


def use_threads(count):
    """Make this process compute with `count` threads.

    The environment variables cover libraries imported later (torch reads
    ``OMP_NUM_THREADS`` when it starts); torch, OpenCV and the thread pools
    threadpoolctl knows are set now if they are already loaded. Safe to call
    again, e.g. after a task imported torch.

    Parameters
    ----------
    count : int
        At least 1.
    """
    count = int(count)
    if count < 1:
        raise MmdfBenchError(f"the number of threads must be at least 1, got {count}")
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(count)
    # Another thread of a Dask worker may be importing these right now: a module
    # still initialising lacks the functions, and the next call will try again.
    torch = sys.modules.get("torch")
    if hasattr(torch, "get_num_threads") and hasattr(torch, "set_num_threads"):
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    set_opencv_threads = getattr(sys.modules.get("cv2"), "setNumThreads", None)
    if set_opencv_threads is not None:
        set_opencv_threads(count)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional nicety: the variables above still apply to new pools
        return
    threadpool_limits(limits=count)
