"""Measure the focus CNNs on CPU and the wall time of the default focus run.

Usage::

    python benchmarks/focus_cnn_speed.py [--skip-default-run] [--out FILE.json]

1. Patches per second of each focus CNN (``yang``, ``yang-synthetic``,
   ``mmdf-focus``) on 84x84 grey patches in batches of 256, and the time to
   grade a whole 1024x768 frame by tiling (Yang et al.'s image prediction).
   Speed does not depend on the weights, so freshly initialised networks are
   timed; times are the best of `repeats` runs.
2. The default ``mmdf-bench run --task focus`` (cpu profile) twice, with an
   empty checkpoint cache: the first run trains every CNN, the second finds
   the checkpoints. Targets: under 10 minutes and under 2 minutes on 2 cores.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CNN_METHODS = ("yang", "yang-synthetic", "mmdf-focus")
FRAME_SHAPE = (768, 1024)
BATCH = 256


def untrained(name):
    """The registered method with a seeded, untrained network in place."""
    from mmdf_bench.methods.focus_network import build_network
    from mmdf_bench.components import build_method

    method = build_method(name, profile="cpu")
    architecture = {"num_levels": method.num_levels, "patch_size": method.patch_size,
                    **method.architecture}
    method.load_state_dict({"architecture": architecture, "network": build_network(architecture).state_dict()})
    return method


def best_time(function, *, repeats):
    function()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def cnn_speed(*, repeats):
    rng = np.random.default_rng(0)
    patches = rng.random((BATCH, 84, 84), dtype=np.float32)
    frame = rng.random(FRAME_SHAPE, dtype=np.float32)
    rows = {}
    for name in CNN_METHODS:
        method = untrained(name)
        batch_seconds = best_time(lambda: method.predict_levels(patches), repeats=repeats)
        frame_seconds = best_time(lambda: method.predict_image(frame), repeats=repeats)
        rows[name] = {"patches_per_second": round(BATCH / batch_seconds, 1),
                      "frame_1024x768_seconds": round(frame_seconds, 4)}
        print(f"{name:16s} {BATCH / batch_seconds:8.1f} patches/s   1024x768 frame {frame_seconds:.3f} s",
              file=sys.stderr)
    return rows


def default_run_times():
    """Wall time of the default focus run, training from an empty cache, then cached."""
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        environment = {**os.environ, "MMDF_BENCH_CACHE": str(Path(scratch) / "cache")}
        for key in ("with_training_seconds", "cached_seconds"):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mmdf_bench.cli", "run", "--task", "focus", "--quiet",
                            "--out", str(Path(scratch) / key)], check=True, env=environment)
            results[key] = round(time.perf_counter() - started, 1)
            print(f"default focus run ({key}): {results[key]} s", file=sys.stderr)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-default-run", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "focus_cnn_speed.json")
    arguments = parser.parse_args(argv)

    import torch

    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
              "cnn": cnn_speed(repeats=arguments.repeats)}
    if not arguments.skip_default_run:
        report["default_run"] = default_run_times()
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {arguments.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
