"""Measure how a fusion run scales: --jobs 2 against --jobs 1, and Dask against local workers.

Usage::

    MMDF_BENCH_WEIGHTS=/work/shared/weights \\
    python benchmarks/scale_speed.py [--limit N] [--repeats 1] [--out benchmarks/results/scale_speed.json]

Each configuration runs ``mmdf-bench run --task fusion`` in a fresh process
(imports, worker start-up and the leaderboard included, as a user sees it)
on the default synthetic data with the classical fusion methods, plus both
IFCNN variants when their weights are found:

``jobs1``
    the serial run, one thread (``OMP_NUM_THREADS=1``);
``jobs2``
    ``--jobs 2``: two local worker processes of one thread each;
``dask``
    ``--executor dask --scheduler ADDRESS`` on a `distributed.LocalCluster`
    of two single-threaded worker processes on the loopback interface,
    configured as `mmdf_bench.executors.DaskExecutor` starts its own and
    started before the timing (its start-up time is reported apart);
``dask-default-malloc``
    the same with Dask's default worker settings, whose
    ``MALLOC_TRIM_THRESHOLD_=65536`` makes every large temporary array
    fault its pages in again.

The report gives the wall times (median of the repeats), the speed-up of
``jobs2`` over ``jobs1``, the overhead of ``dask`` over ``jobs2``, and
whether every configuration wrote the same ``scores.csv`` bytes, and the
CPU time of each run's processes. The machine's load average is recorded
with them: where the kernel shares the CPU between sessions (Linux
autogroups), a session gets its share however many processes it runs, so
on a busy machine the wall-time speed-up stays near 1 while the CPU times
still show what the parallel run costs.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLASSICAL = ["average", "max-abs", "wavelet", "laplacian-pyramid", "guided-filter",
             "harris-selection", "focus-selection"]
DEEP = ["ifcnn-max", "ifcnn-mean"]


def fusion_methods():
    """The classical methods, and IFCNN when its official weights are available here."""
    from mmdf_bench import registry
    from mmdf_bench.errors import WeightsUnavailableError

    methods = list(CLASSICAL)
    for name in DEEP:
        try:
            registry.methods.load(name)().check_available()
        except WeightsUnavailableError:
            continue
        methods.append(name)
    return methods


def children_cpu_seconds():
    """User + system CPU time of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(arguments, folder, *, threads=1):
    """Run mmdf-bench once; return (wall seconds, scores.csv bytes)."""
    executable = shutil.which("mmdf-bench")
    command = [executable] if executable else [sys.executable, "-m", "mmdf_bench.cli"]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    completed = subprocess.run([*command, "run", "--task", "fusion", "--quiet", "--out",
                                str(folder), *arguments], env=environment,
                               capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"mmdf-bench run {' '.join(arguments)} exited with "
                           f"{completed.returncode}:\n{completed.stderr[-3000:]}")
    return seconds, (folder / "scores.csv").read_bytes()


def start_cluster(workers, *, dask_defaults=False):
    """A LocalCluster as `DaskExecutor` starts one, or (`dask_defaults`) with Dask's worker settings."""
    import dask
    from distributed import LocalCluster

    from mmdf_bench.executors import WORKER_SETTINGS

    started = time.perf_counter()
    with dask.config.set({} if dask_defaults else WORKER_SETTINGS):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    return cluster, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="test samples (default: all 48)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args(argv)

    methods = fusion_methods()
    common = ["--methods", ",".join(methods)]
    if arguments.limit:
        common += ["--limit", str(arguments.limit)]
    configurations = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"]}
    times = {name: [] for name in configurations}
    cpu = {name: [] for name in configurations}
    scores = {}
    cluster_seconds = []
    dask_configurations = [] if arguments.skip_dask else ["dask", "dask-default-malloc"]
    for name in dask_configurations:
        times[name], cpu[name] = [], []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(arguments.repeats):
            for name, extra in configurations.items():
                used = children_cpu_seconds()
                seconds, scores[name] = run_once([*common, *extra], Path(folder) / f"{name}-{repeat}")
                times[name].append(seconds)
                cpu[name].append(children_cpu_seconds() - used)
                print(f"{name}: {seconds:.1f} s, {cpu[name][-1]:.1f} CPU s", flush=True)
            for name in dask_configurations:
                used = children_cpu_seconds()
                cluster, startup = start_cluster(2, dask_defaults=name == "dask-default-malloc")
                cluster_seconds.append(startup)
                try:
                    seconds, scores[name] = run_once(
                        [*common, "--executor", "dask", "--scheduler", cluster.scheduler_address],
                        Path(folder) / f"{name}-{repeat}")
                finally:
                    cluster.close()
                times[name].append(seconds)
                cpu[name].append(children_cpu_seconds() - used)  # with the cluster's start-up
                print(f"{name}: {seconds:.1f} s, {cpu[name][-1]:.1f} CPU s (cluster start-up "
                      f"{startup:.1f} s)", flush=True)

    median = {name: statistics.median(values) for name, values in times.items()}
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "command": "mmdf-bench run --task fusion --methods " + ",".join(methods)
                   + (f" --limit {arguments.limit}" if arguments.limit else ""),
        "methods": methods,
        "samples": arguments.limit or 48,
        "repeats": arguments.repeats,
        "seconds": {name: [round(value, 2) for value in values] for name, values in times.items()},
        "median_seconds": {name: round(value, 2) for name, value in median.items()},
        # CPU time of every process of the run (workers included): what parallelism costs
        "median_cpu_seconds": {name: round(statistics.median(values), 2)
                               for name, values in cpu.items()},
        # cores the run had on average: below 2, two workers cannot both compute all the time
        "cores_used": {name: round(statistics.median(cpu[name]) / median[name], 2)
                       for name in median},
        "speedup_jobs2_over_jobs1": round(median["jobs1"] / median["jobs2"], 3),
        "scores_identical": len(set(scores.values())) == 1,
    }
    if "dask" in median:
        report["dask_cluster_startup_seconds"] = round(statistics.median(cluster_seconds), 2)
        report["dask_overhead_over_jobs2_seconds"] = round(median["dask"] - median["jobs2"], 2)
        report["dask_overhead_over_jobs2_ratio"] = round(median["dask"] / median["jobs2"], 3)
        report["dask_default_malloc_over_dask_ratio"] = round(
            median["dask-default-malloc"] / median["dask"], 3)
    print(json.dumps(report, indent=2))
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["scores_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
