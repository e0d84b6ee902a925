"""Measure FuseGAN speed on CPU: inference per 520x520 pair and per 720x720 five-plane stack, training time.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/fusegan_speed.py [--repeats 3] [--profiles cpu paper]
        [--skip-training] [--train-method fusegan-u] [--out benchmarks/results/fusegan_speed.json]

Inference time does not depend on the weights, so the networks are timed
with their initial weights at each profile's size (the ``cpu`` profile's
16-channel generator, the ``paper`` profile's 64-channel one); the time
includes the masks (modified Harris, or the focus CNN's tiles). The inputs
are Lytro pairs when ``MMDF_BENCH_DATA`` points at them (else random
520x520 pairs) and random 720x720 five-plane stacks. Training time is the
wall time of ``fit`` with the ``cpu`` profile on the train split of the
default data (96 stacks), with its CPU time and the machine's load, since
other processes on a shared machine slow it down.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from mmdf_bench import registry
from mmdf_bench.settings import data_dir

VARIANTS = ("fusegan", "fusegan-s", "fusegan-u", "fusegan-u-focusmask")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fusegan_speed.json"


def method_class(name):
    """The registered class, or the one in `mmdf_bench.methods.fusegan` before the entry points exist."""
    if name in registry.methods.entries:
        return registry.methods.load(name)
    from mmdf_bench.methods import fusegan

    return {cls.name: cls for cls in (fusegan.FuseGAN, fusegan.FuseGANS, fusegan.FuseGANU,
                                      fusegan.FuseGANUFocusMask)}[name]


def untrained(name, profile):
    """A variant with its initial weights (and an untrained focus CNN for the focus-model masks)."""
    from mmdf_bench.methods.fusegan_networks import FuseGANGenerator, seeded

    method = method_class(name)(profile=profile)
    hp = method.hyperparameters
    method._network = seeded(FuseGANGenerator, seed=0, max_planes=hp["max_planes"],
                             masks=method.mask is not None, width=hp["width"]).eval()
    if method.mask == "focus-model":
        from mmdf_bench.methods.focus_cnn import MMDFFocusCNN
        from mmdf_bench.methods.focus_network import FocusNetwork

        focus = MMDFFocusCNN(profile=profile)
        focus._network = FocusNetwork(focus.num_levels, patch_size=focus.patch_size, **focus.architecture).eval()
        method._masks._focus = focus
    return method


def pairs_520(count=3):
    root = data_dir()
    if root is not None and (root / "lytro").is_dir():
        from mmdf_bench.data.lytro import Lytro

        dataset = Lytro(root=root / "lytro")
        pairs = [dataset.load(sample_id).stack for sample_id in dataset.sample_ids("test")]
        return "lytro", [pair for pair in pairs if pair.shape[0] == 2][:count]
    rng = np.random.default_rng(0)
    return "random", [rng.random((2, 520, 520, 3), dtype=np.float32) for _ in range(count)]


def median_seconds(method, stacks, repeats):
    method.fuse(stacks[0])  # warm-up: thread pools, allocator
    times = []
    for _ in range(repeats):
        for stack in stacks:
            started = time.perf_counter()
            method.fuse(stack)
            times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def time_training(name):
    """Wall and CPU seconds of the cpu profile's `fit` on the default data's train split."""
    dataset = registry.datasets.create("synthetic-brightfield-fusion")
    samples = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    method = method_class(name)(profile="cpu")
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    method.fit(samples, seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"method": name, "profile": "cpu", "train_stacks": len(samples), "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1), "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "final_epoch_losses": {key: round(value, 5) for key, value in method.history[-1].items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profiles", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--train-method", default="fusegan-u")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    arguments = parser.parse_args(argv)

    import torch

    source, pairs = pairs_520()
    rng = np.random.default_rng(1)
    stacks = [rng.random((5, 720, 720, 3), dtype=np.float32)]
    report = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "pairs": source, "inference": []}
    for profile in arguments.profiles:
        for name in arguments.variants:
            method = untrained(name, profile)
            row = {"method": name, "profile": profile, "width": method.hyperparameters["width"],
                   "seconds_per_520_pair": median_seconds(method, pairs, arguments.repeats),
                   "seconds_per_720_five_plane_stack": median_seconds(method, stacks, arguments.repeats)}
            report["inference"].append(row)
            print(f"{name:<22} {profile:<6} 520 pair {row['seconds_per_520_pair']:7.3f} s   "
                  f"720x5 stack {row['seconds_per_720_five_plane_stack']:7.3f} s", flush=True)
    if not arguments.skip_training:
        report["training"] = time_training(arguments.train_method)
        print(f"training {arguments.train_method} (cpu profile): {report['training']['wall_seconds']} s wall, "
              f"{report['training']['cpu_seconds']} s CPU")
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
