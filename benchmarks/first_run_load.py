"""A first run on a busy machine: wall and CPU time with one thread and with torch's default.

Runs ``mmdf-bench run`` from an empty checkpoint cache (so deep methods are
trained, as on a first run) beside CPU-bound competitor processes, once with
``--threads 1`` (mmdf-bench's default) and once with as many threads as the
machine has cores (what torch, OpenCV and OpenBLAS start by themselves, the
behaviour before mmdf-bench chose). Reports each run's wall time, its CPU
time (all its processes) and the ratio of the two choices::

    MMDF_BENCH_WEIGHTS=../shared/weights python benchmarks/first_run_load.py \\
        [--task fusion] [--methods average wavelet ifcnn-max fusegan-u] [--profile smoke] \\
        [--limit 6] [--competitors 1] [--repeats 2] [--timeout 1800] \\
        [--out benchmarks/results/first_run_load.json]

The default is a reduced first run (four fusion methods, six stacks, the
``smoke`` training profile) that finishes in under a minute with one thread;
``--methods`` with no value and ``--profile cpu --limit 0`` give the full
default run (minutes with one thread, hours with more on a busy machine). A
run that exceeds ``--timeout`` is stopped and reported as such. The script
also compares the two runs' scores, per method: torch rounds differently
with more threads, which moves the last digits of a pretrained network's
output and, compounded over thousands of steps, what a trained one learns.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "OPENCV_FOR_THREADS_NUM")


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _start_competitors(count):
    # Plain busy loops, as another user's computation would be.
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _stop(processes):
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def timed_run(arguments, threads, workdir):
    """One ``mmdf-bench run`` from an empty cache; returns its timings and scores."""
    cache = workdir / f"cache-{threads}"
    out = workdir / f"run-{threads}"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    environment = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    environment["MMDF_BENCH_CACHE"] = str(cache)
    command = [sys.executable, "-m", "mmdf_bench.cli", "run", "--task", arguments.task,
               "--profile", arguments.profile, "--threads", str(threads), "--quiet",
               "--out", str(out)]
    if arguments.methods:
        command += ["--methods", *arguments.methods]
    if arguments.limit:
        command += ["--limit", str(arguments.limit)]
    competitors = _start_competitors(arguments.competitors)
    load_before = os.getloadavg()
    cpu_before, started = _children_cpu(), time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = False
    try:
        try:
            _, errors = process.communicate(timeout=arguments.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            _, errors = process.communicate()
        # read before the competitors are reaped: their CPU time must not count
        wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    finally:
        _stop(competitors)
    record = {"threads": threads, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
              "cpu_per_wall": round(cpu / wall, 2), "exit_status": process.returncode,
              "timed_out": timed_out, "load_average_before": [round(v, 2) for v in load_before]}
    if not timed_out and process.returncode not in (0, 1):
        record["error"] = errors.strip().splitlines()[-1:] if errors else None
    scores = out / "scores.csv"
    return record, (pd.read_csv(scores) if scores.is_file() and not timed_out else None)


def _compare(records, scores, first):
    """Add each record's ratios to the first thread count's, and its score differences."""
    base = records[0]
    for record in records[1:]:
        record["wall_ratio_to_first"] = round(record["wall_seconds"] / base["wall_seconds"], 1)
        record["cpu_ratio_to_first"] = round(record["cpu_seconds"] / base["cpu_seconds"], 1)
        other = scores[record["threads"]]
        if scores[first] is not None and other is not None:
            keys = ["dataset", "method", "sample_id", "metric"]
            merged = scores[first].merge(other, on=keys, suffixes=("_first", "_other"))
            merged["difference"] = (merged["value_first"] - merged["value_other"]).abs()
            record["scores_compared"] = len(merged)
            # torch rounds differently with more threads: networks and torch metrics move
            record["largest_score_difference_by_method"] = {
                method: float(value) for method, value in
                merged.groupby("method")["difference"].max().items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="fusion")
    parser.add_argument("--methods", nargs="*", default=["average", "wavelet", "ifcnn-max",
                                                          "fusegan-u"])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--limit", type=int, default=6, help="0: every test sample")
    parser.add_argument("--competitors", type=int, default=1,
                        help="CPU-bound processes running beside the measured run")
    parser.add_argument("--threads", type=int, nargs="+",
                        default=[1, os.cpu_count() or 1],
                        help="thread counts to compare (default: 1 and the number of cores)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=2,
                        help="repetitions of the comparison (the order alternates)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/first_run_load.json"))
    arguments = parser.parse_args()

    repetitions = []
    with tempfile.TemporaryDirectory(prefix="mmdf-first-run-") as folder:
        for repetition in range(arguments.repeats):
            # alternate the order: the machine's other load drifts during a measurement
            order = arguments.threads if repetition % 2 == 0 else arguments.threads[::-1]
            records, scores = {}, {}
            for threads in order:
                record, table = timed_run(arguments, threads, Path(folder))
                records[threads], scores[threads] = record, table
                print(json.dumps(record), flush=True)
            records = [records[threads] for threads in arguments.threads]
            _compare(records, scores, arguments.threads[0])
            repetitions.append(records)
    report = {
        "what": (f"mmdf-bench run --task {arguments.task} --methods "
                 f"{' '.join(arguments.methods) or '(default)'} --profile {arguments.profile} "
                 f"--limit {arguments.limit or 'none'}, empty checkpoint cache, beside "
                 f"{arguments.competitors} CPU-bound process(es)"),
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "repetitions": repetitions,
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for records in repetitions:
        for record in records:
            print(f"threads {record['threads']}: {record['wall_seconds']} s wall, "
                  f"{record['cpu_seconds']} s CPU" + (" (timed out)" if record["timed_out"] else ""))
    print(f"written to {arguments.out}")


if __name__ == "__main__":
    main()
