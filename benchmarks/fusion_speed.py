"""Measure fusion speed: megapixels per second per method, and the default run's wall time.

Usage::

    python benchmarks/fusion_speed.py [--repeats 5] [--skip-default-run] [--out FILE.json]

Throughput counts output megapixels (one 520x520 pair -> 0.27 MP).
"""

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmdf_bench import registry
from mmdf_bench.settings import data_dir

SIZE = 520


def benchmark_pairs(count=3):
    """Return `count` RGB pairs of 520x520: Lytro when available, else synthetic."""
    root = data_dir()
    if root is not None and (root / "lytro").is_dir():
        from mmdf_bench.data.lytro import Lytro

        dataset = Lytro(root=root / "lytro")
        return "lytro", [dataset.load(sample_id).stack for sample_id in dataset.sample_ids("test")[:count]]
    rng = np.random.default_rng(0)
    return "random", [rng.random((2, SIZE, SIZE, 3), dtype=np.float32) for _ in range(count)]


def time_method(name, pairs, *, repeats):
    method = registry.create_method(name)
    method.fuse(pairs[0])  # warm-up: weights, caches, thread pools
    times = []
    for _ in range(repeats):
        for pair in pairs:
            started = time.perf_counter()
            method.fuse(pair)
            times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    megapixels = pairs[0].shape[1] * pairs[0].shape[2] / 1e6
    return {"method": name, "seconds_per_pair": round(seconds, 4),
            "megapixels_per_second": round(megapixels / seconds, 3)}


def time_default_run():
    executable = shutil.which("mmdf-bench")
    command = [executable] if executable else [sys.executable, "-m", "mmdf_bench.cli"]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        completed = subprocess.run([*command, "run", "--task", "fusion", "--quiet", "--out", folder],
                                   capture_output=True, text=True)
        seconds = time.perf_counter() - started
    return {"command": "mmdf-bench run --task fusion", "seconds": round(seconds, 1),
            "exit_status": completed.returncode}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-default-run", action="store_true")
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args(argv)

    import torch

    source, pairs = benchmark_pairs()
    report = {"machine": platform.processor() or platform.machine(),
              "torch_threads": torch.get_num_threads(), "pairs": source,
              "methods": [time_method(name, pairs, repeats=arguments.repeats)
                          for name in registry.list_methods(task="fusion")]}
    if not arguments.skip_default_run:
        report["default_run"] = time_default_run()

    print(f"fusion speed on 2x{SIZE}x{SIZE} RGB pairs ({source}), median of {arguments.repeats} repeats")
    print(f"{'method':<20} {'s/pair':>8} {'MP/s':>8}")
    for row in report["methods"]:
        print(f"{row['method']:<20} {row['seconds_per_pair']:>8.3f} {row['megapixels_per_second']:>8.2f}")
    if "default_run" in report:
        run = report["default_run"]
        print(f"default run: {run['seconds']} s (exit {run['exit_status']})")
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
