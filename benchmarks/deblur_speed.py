"""Measure the deblur methods on CPU: restore time, peak memory of large images, the default run.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/deblur_speed.py [--methods PATTERN ...] [--repeats 5]
        [--large-repeats 3] [--train] [--default-run] [--out benchmarks/results/deblur_speed.json]

For every registered deblur method (or those matching ``--methods``):

1. Wall time of ``restore`` on a 256x256 RGB image (``test-000`` of the
   default dataset, ``synthetic-brightfield-deblur``) and on a 1024x768 RGB
   image (the bundled immunohistochemistry bright-field image, its central
   384x512 region upsampled twice, blurred by a 15-pixel horizontal motion
   kernel and camera noise). Each size is warmed up once, then timed
   `repeats` times; median and minimum are reported, with the median CPU
   time (on a shared machine a CPU time well below the wall time means the
   process waited for a core). Non-blind methods receive the PSF, as the
   task gives it to them (`mmdf_bench.tasks.deblur.predict`).
2. Peak memory of the first restore of each size, each in a fresh process
   (the timing runs in a third one): the increase of the peak resident set
   (``VmHWM``, reset through ``/proc/self/clear_refs`` once the method is
   ready, the image loaded and freed heap returned with ``malloc_trim``)
   over the resident set just before the call, and the peak of the
   allocations tracemalloc sees during a second call (numpy and Python;
   torch's own CPU allocations are not traced). These processes fix glibc's
   mmap threshold, so that memory freed during preparation is not silently
   reused. Without ``clear_refs`` the increase of ``ru_maxrss`` is
   reported instead, a lower bound. A tiled network's peak grows from
   256x256 to 1024x768 (12 times the pixels) only by the full-size
   accumulators of the blend; a whole-image method's grows with the image.
3. Whether the method tiles: the network calls of a 1024x768 restore and
   the largest input a call saw (deep methods go through
   `mmdf_bench.methods.tiling.restore_tiled`; the classical ones filter the whole image).
4. With ``--default-run``, the wall time of ``mmdf-bench run --task deblur``
   with the cached checkpoints (and whether every checkpoint was found).

Methods are prepared as the runner prepares them: classical ones calibrate
on the train split, deep ones load their ``cpu``-profile checkpoint from the
cache (``fit_or_load``). A deep method without a checkpoint is trained only
with ``--train``; otherwise its network is timed with its initial weights
(inference time does not depend on the weights) and the row says
``untrained``.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "deblur_speed.json"
TASK = "deblur"
SEED = 0
LARGE_SHAPE = (768, 1024)
LARGE_MOTION_LENGTH = 15.0
MEBIBYTE = 2**20
#: What one worker process measures.
MEASURES = ("speed", "memory-small", "memory-large")


# -- inputs --------------------------------------------------------------------------------------
def small_sample():
    """``test-000`` of the task's default dataset (256x256 RGB with its PSF)."""
    from mmdf_bench import registry
    from mmdf_bench.tasks import get_task

    dataset = registry.datasets.create(get_task(TASK).default_datasets[0])
    return dataset.load(dataset.sample_ids("test")[0])


def large_sample(*, shape=LARGE_SHAPE, seed=SEED):
    """A 1024x768 RGB bright-field frame blurred by horizontal motion, with its PSF."""
    from skimage.transform import resize

    from mmdf_bench.data import blur_kernels, optics
    from mmdf_bench.data.sources import source_images
    from mmdf_bench.tasks.deblur import DeblurSample

    source = source_images()["immunohistochemistry"]
    rows, cols = shape[0] // 2, shape[1] // 2
    top, left = (source.shape[0] - rows) // 2, (source.shape[1] - cols) // 2
    region = source[top:top + rows, left:left + cols]
    sharp = np.clip(resize(region, shape, order=3, mode="reflect", anti_aliasing=False), 0, 1).astype(np.float32)
    psf = blur_kernels.linear_motion_kernel(LARGE_MOTION_LENGTH, 0.0)
    blurred = optics.add_sensor_noise(optics.blur(sharp, psf), rng=np.random.default_rng(seed))
    return DeblurSample(blurred=blurred, reference=sharp, psf=psf,
                        sample_id=f"immunohistochemistry-{shape[1]}x{shape[0]}")


def restore_call(method, sample):
    """``restore`` with the PSF for non-blind methods, as the task calls it."""
    if getattr(method, "track", "blind") == "non-blind":
        return lambda: method.restore(sample.blurred, psf=sample.psf)
    return lambda: method.restore(sample.blurred)


# -- method preparation --------------------------------------------------------------------------
def prepare(method_name, *, train):
    """Build `method_name` and calibrate / load / train it as the runner does.

    Returns the method and how it got its parameters (``"checkpoint"``,
    ``"trained"``, ``"calibrated"``, ``"none"`` or ``"untrained (...)"``).
    """
    from mmdf_bench import registry
    from mmdf_bench.components import build_method, prepare_method
    from mmdf_bench.tasks import get_task
    from mmdf_bench.training import TrainableMethod, checkpoint_path

    task = get_task(TASK)
    method = build_method(method_name)
    dataset = registry.datasets.create(task.default_datasets[0])
    if isinstance(method, TrainableMethod):
        path = checkpoint_path(method, method_name, dataset, seed=SEED)
        if not path.is_file() and not train:
            if not hasattr(method, "new_network"):
                raise SystemExit(f"{method_name}: no checkpoint at {path}; run with --train")
            method._network = method.new_network(seed=SEED).eval()
            return method, f"untrained (no checkpoint at {path})"
        record = prepare_method(task, method, method_name, dataset, dataset.sample_ids("train"), seed=SEED)
        return method, "checkpoint" if record["cached"] else "trained"
    record = prepare_method(task, method, method_name, dataset, dataset.sample_ids("train"), seed=SEED)
    return method, "none" if record is None else "calibrated"


# -- measurements (in the worker process) --------------------------------------------------------
def _proc_status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def peak_memory(function):
    """Run `function` once; return ``(result, {peak RSS increase, tracemalloc peak, how})`` in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # Linux: reset the peak resident set (VmHWM) to the current one
        baseline, how = _proc_status_kib("VmRSS"), "VmHWM after clear_refs"
    except OSError:
        baseline, how = None, "ru_maxrss increase (lower bound)"
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = function()
    if baseline is not None:
        increase = _proc_status_kib("VmHWM") - baseline
    else:
        increase = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
    return result, {"peak_rss_increase_mib": round(increase / 1024, 1), "rss_method": how}


def traced_peak(function):
    """Peak MiB of the allocations tracemalloc sees during one call of `function`."""
    tracemalloc.start()
    try:
        function()
        return round(tracemalloc.get_traced_memory()[1] / MEBIBYTE, 1)
    finally:
        tracemalloc.stop()


def timed(function, *, repeats):
    """Wall and CPU seconds of `repeats` calls (the caller has warmed `function` up)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"median_seconds": round(statistics.median(walls), 4), "min_seconds": round(min(walls), 4),
            "median_cpu_seconds": round(statistics.median(cpus), 4), "repeats": repeats}


def count_network_calls(function):
    """Run `function`, counting `mmdf_bench.methods.tiling.infer` calls and the largest input side they saw."""
    try:
        from mmdf_bench.methods import tiling
    except ImportError:
        return function(), {"network_calls": 0, "largest_input": None}
    original, calls, largest = tiling.infer, [], [0, 0]

    def counting(network, batch):
        calls.append(tuple(batch.shape[-2:]))
        largest[:] = max(largest, list(batch.shape[-2:]), key=lambda shape: shape[0] * shape[1])
        return original(network, batch)

    tiling.infer = counting
    try:
        result = function()
    finally:
        tiling.infer = original
    return result, {"network_calls": len(calls), "largest_input": largest if calls else None}


def release_free_memory():
    """Hand freed heap pages back to the system (glibc), so the baseline RSS holds live data only."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def worker(method_name, measure, *, train, repeats, large_repeats):
    """One fresh process: prepare the method, then measure one thing (see `MEASURES`)."""
    import torch

    started = time.perf_counter()
    method, weights = prepare(method_name, train=train)
    report = {"method": method_name, "track": getattr(method, "track", "blind"), "weights": weights,
              "prepare_seconds": round(time.perf_counter() - started, 2), "torch_threads": torch.get_num_threads()}
    small, large = small_sample(), large_sample()
    if measure == "speed":
        for key, sample, count in (("small_time", small, repeats), ("large_time", large, large_repeats)):
            restore_call(method, sample)()  # warm-up: thread pools, kernel choice, allocator
            report[key] = timed(restore_call(method, sample), repeats=count)
        return report
    sample = small if measure == "memory-small" else large
    release_free_memory()
    (restored, calls), memory = peak_memory(lambda: count_network_calls(restore_call(method, sample)))
    if restored.shape != sample.blurred.shape:
        raise SystemExit(f"{method_name}: restored shape {restored.shape} != {sample.blurred.shape}")
    memory["tracemalloc_peak_mib"] = traced_peak(restore_call(method, sample))
    hyperparameters = getattr(method, "hyperparameters", {})
    report["memory"] = memory
    report["tiling"] = {**calls, "tile": hyperparameters.get("tile"), "overlap": hyperparameters.get("overlap")}
    return report


# -- driver --------------------------------------------------------------------------------------
def run_worker(method_name, measure, arguments):
    """Run `worker` in a fresh interpreter and return its report (or the error)."""
    environment = dict(os.environ)
    if measure != "speed":
        # A fixed threshold stops glibc from raising it after large frees, so big arrays keep
        # being mapped and unmapped and the resident set follows the live data.
        environment["MALLOC_MMAP_THRESHOLD_"] = "131072"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", method_name, "--measure", measure,
                   "--worker-out", str(out), "--repeats", str(arguments.repeats),
                   "--large-repeats", str(arguments.large_repeats), *(["--train"] if arguments.train else [])]
        # training shows its progress bars; otherwise stderr is kept for the error message
        errors = None if arguments.train else subprocess.PIPE
        completed = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=errors, text=True,
                                   env=environment)
        if completed.returncode != 0 or not out.is_file():
            last_lines = (completed.stderr or "").strip().splitlines()[-1:]
            return {"error": last_lines or [f"worker exit status {completed.returncode}"]}
        return json.loads(out.read_text())


def measure_method(method_name, arguments):
    """Speed, then the peak memory of each size, each in its own process."""
    load_before = os.getloadavg()
    row = run_worker(method_name, "speed", arguments)
    for measure, key in (("memory-small", "small"), ("memory-large", "large")):
        if "error" in row:
            break
        result = run_worker(method_name, measure, arguments)
        if "error" in result:
            row["error"] = [f"{measure}:", *result["error"]]
            break
        row[f"{key}_memory"] = result["memory"]
        if key == "large":
            row["tiling"] = result["tiling"]
    row.setdefault("method", method_name)
    row["load_average_before"] = [round(value, 2) for value in load_before]
    row["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
    return row


def time_default_run():
    """Wall time of ``mmdf-bench run --task deblur`` with the user's checkpoint cache."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        command = [sys.executable, "-m", "mmdf_bench.cli", "run", "--task", TASK, "--quiet", "--out", folder]
        completed = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        manifest_path = Path(folder) / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    records = [record for entry in manifest.get("methods", {}).values()
               for record in entry.get("training", {}).values() if "cached" in record]
    return {"command": f"mmdf-bench run --task {TASK}", "seconds": round(seconds, 1),
            "exit_status": completed.returncode, "checkpoints_loaded": sum(record["cached"] for record in records),
            "networks_trained": sum(not record["cached"] for record in records),
            "failures": len(manifest.get("failures", [])),
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in os.getloadavg()]}


def machine_facts():
    import torch

    from mmdf_bench.provenance import git_commit, package_versions

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads(), "load_average": [round(v, 2) for v in os.getloadavg()],
            "versions": package_versions(), "git_commit": git_commit(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _seconds(timing):
    return f"{timing['median_seconds']:.3f} ({timing['min_seconds']:.3f})"


HEADERS = ("method", "track", "weights", "tiles (1024x768)", "256x256 s median (min)", "256x256 CPU s",
           "1024x768 s median (min)", "1024x768 CPU s", "peak RSS +MiB 256x256", "peak RSS +MiB 1024x768",
           "tracemalloc MiB 1024x768")


def markdown_table(rows):
    """The measured figures as a Markdown table (one row per method; CPU s are medians)."""
    from tabulate import tabulate

    lines = []
    for row in rows:
        if "error" in row:
            lines.append([row["method"], "-", "error: " + " ".join(row["error"])] + ["-"] * (len(HEADERS) - 3))
            continue
        tiling = row["tiling"]
        tiles = (f"yes, {tiling['network_calls']} x {tiling['largest_input'][0]}x{tiling['largest_input'][1]}"
                 if tiling["network_calls"] > 1 else "no (whole image)")
        small, large = row["small_memory"], row["large_memory"]
        lines.append([row["method"], row["track"], row["weights"].split(" (")[0], tiles,
                      _seconds(row["small_time"]), f"{row['small_time']['median_cpu_seconds']:.3f}",
                      _seconds(row["large_time"]), f"{row['large_time']['median_cpu_seconds']:.3f}",
                      small["peak_rss_increase_mib"], large["peak_rss_increase_mib"], large["tracemalloc_peak_mib"]])
    return tabulate(lines, headers=HEADERS, tablefmt="github")


def print_report(report):
    machine, repeats = report["machine"], report["repeats"]
    print(f"deblur restore on CPU ({machine['cpu_count']} cores, {machine['torch_threads']} torch thread(s), "
          f"load average {machine['load_average']} at start, {machine.get('load_average_end')} at the end); "
          f"seconds are median (min) of {repeats['small']} / {repeats['large']} calls after a warm-up\n")
    print(markdown_table(report["methods"]))
    for row in report["methods"]:
        if row.get("weights", "").startswith("untrained"):
            print(f"note: {row['method']} was timed with its initial weights: {row['weights']}")
    if "default_run" in report:
        run = report["default_run"]
        print(f"\ndefault run: {run['seconds']} s (exit {run['exit_status']}, {run['checkpoints_loaded']} "
              f"checkpoints loaded, {run['networks_trained']} networks trained, load average "
              f"{run['load_average_before']} before)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", help="method names or wildcard patterns (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls on the 256x256 image")
    parser.add_argument("--large-repeats", type=int, default=3, help="timed calls on the 1024x768 image")
    parser.add_argument("--train", action="store_true", help="train deep methods whose checkpoint is missing")
    parser.add_argument("--default-run", action="store_true", help="also time `mmdf-bench run --task deblur`")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", type=Path, metavar="JSON", help="only print the table of an earlier result")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    if arguments.worker:
        report = worker(arguments.worker, arguments.measure, train=arguments.train, repeats=arguments.repeats,
                        large_repeats=arguments.large_repeats)
        arguments.worker_out.write_text(json.dumps(report))
        return 0

    if arguments.table:
        print_report(json.loads(arguments.table.read_text()))
        return 0

    from tqdm import tqdm

    from mmdf_bench import registry

    names = registry.methods.select(arguments.methods, task=TASK)
    report = {"machine": machine_facts(),
              "inputs": {"small": "synthetic-brightfield-deblur test-000, 256x256 RGB",
                         "large": f"immunohistochemistry centre x2, {LARGE_SHAPE[1]}x{LARGE_SHAPE[0]} RGB, "
                                  f"{LARGE_MOTION_LENGTH:g}-pixel horizontal motion blur + noise"},
              "repeats": {"small": arguments.repeats, "large": arguments.large_repeats}, "methods": []}
    progress = tqdm(names, desc="deblur methods", unit="method", file=sys.stderr)
    for name in progress:
        progress.set_postfix_str(name)
        report["methods"].append(measure_method(name, arguments))
    if arguments.default_run:
        print("timing the default run ...", file=sys.stderr)
        report["default_run"] = time_default_run()
    report["machine"]["load_average_end"] = [round(value, 2) for value in os.getloadavg()]

    print_report(report)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {arguments.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
