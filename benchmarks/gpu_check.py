"""Every deep method on an accelerator: trains, infers, and agrees with the CPU.

For each deep method (every registered `mmdf_bench.devices.DeviceMethod`:
the focus CNNs, the deblurring CNNs, autoencoders and DeblurGANs, IFCNN,
FuseGAN) this script

1. trains it on ``--device`` for about ``--steps`` optimiser steps (the
   ``--profile`` hyper-parameters with the epochs cut down) on the first
   ``--train-samples`` train samples of the task's embedded dataset, timed;
2. times inference on the first ``--test-samples`` test samples on that
   device (after one warm-up call);
3. loads the same weights onto the CPU, predicts the same samples there and
   reports the largest absolute difference between the two outputs (fused
   or restored pixels in [0, 1]; for the focus CNNs the level
   distribution), which must stay within ``TOLERANCE`` (``AMP_TOLERANCE``
   with ``--amp``): the device path must compute the same function.

It writes a JSON record (the device and its deterministic settings, then
one entry per method) and exits with status 1 when a method failed or
disagreed. IFCNN has nothing to train; it needs its official weights
(``$MMDF_BENCH_WEIGHTS``). ``--device cpu`` runs the same code end to end
on the CPU (a dry run; the differences are then 0)::

    python benchmarks/gpu_check.py --device cuda --out benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --device cpu --profile smoke --steps 2 --train-samples 4 --test-samples 1
"""

import argparse
import fnmatch
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

#: Largest |device - CPU| accepted, float32 on both sides (no TF32, deterministic kernels).
TOLERANCE = 1e-3
#: The same with bfloat16 inference on the device (8 mantissa bits: about 4e-3 relative).
AMP_TOLERANCE = 5e-2


def deep_methods(patterns):
    from mmdf_bench import registry
    from mmdf_bench.devices import DeviceMethod

    names = [name for name in registry.methods.names()
             if issubclass(registry.methods.load(name), DeviceMethod)
             and any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
    # the focus-mask FuseGAN reuses the mmdf-focus model trained here
    return sorted(names, key=lambda name: (name == "fusegan-u-focusmask", name))


def step_overrides(profile, steps):
    """Hyper-parameters that make one training of `profile` take about `steps` optimiser steps."""
    steps = max(1, int(steps))
    if "max_steps" in profile:  # the focus CNNs
        return {"max_steps": steps, "epochs": 10_000}
    stages = 1
    changes = {"epochs": 1}
    if "pretrain_epochs" in profile:
        changes["pretrain_epochs"] = 1
        stages = 2 if "pretrain_steps_per_epoch" in profile else 4  # DeblurGAN-upgraded; SDAE / CDA
    per_stage = max(1, steps // stages)
    if "steps_per_epoch" in profile:
        changes["steps_per_epoch"] = per_stage
    if "pretrain_steps_per_epoch" in profile:
        changes["pretrain_steps_per_epoch"] = per_stage
    if "decay_start_epoch" in profile:
        changes["decay_start_epoch"] = 1
    if "max_samples" in profile:
        changes["max_samples"] = None
    return changes


def synchronise(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)




def check_method(name, *, device, amp, profile, steps, train, test, focus_checkpoint, keep):
    from mmdf_bench import registry
    from mmdf_bench.ship import raw_output
    from mmdf_bench.training import TrainableMethod

    import torch

    component = registry.methods.load(name)
    trainable = issubclass(component, TrainableMethod)
    options = {}
    if trainable:
        options = {"profile": profile, **step_overrides(component.profiles[profile], steps)}
    if name == "fusegan-u-focusmask" and focus_checkpoint is not None:
        options["focus_checkpoint"] = str(focus_checkpoint)
    entry = {"options": {key: value for key, value in options.items() if key != "focus_checkpoint"}}
    method = component(**options)
    method.check_available()
    method.set_device(device, amp=amp)
    if trainable:
        synchronise(device)
        started = time.perf_counter()
        method.fit(train, seed=0)
        synchronise(device)
        entry["train_seconds"] = round(time.perf_counter() - started, 3)
        entry["train_steps"] = steps
    raw_output(method, test[0])  # warm-up: kernels, weights, caches
    synchronise(device)
    started = time.perf_counter()
    # the methods' own outputs: the task would round images to 8 bits, hiding (or magnifying) differences
    outputs = [raw_output(method, sample) for sample in test]
    synchronise(device)
    entry["inference_seconds_per_sample"] = round((time.perf_counter() - started) / len(test), 5)

    reference = component(**options)
    if trainable:
        state = method.state_dict()
        reference.load_state_dict(state)
        if keep is not None:
            torch.save(state, keep)
    started = time.perf_counter()
    expected = [raw_output(reference, sample) for sample in test]
    entry["cpu_inference_seconds_per_sample"] = round((time.perf_counter() - started) / len(test), 5)
    difference = max(float(np.max(np.abs(got - want))) for got, want in zip(outputs, expected))
    tolerance = AMP_TOLERANCE if amp else TOLERANCE
    entry.update(max_abs_difference=difference, tolerance=tolerance, agrees=difference <= tolerance)
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="auto, cpu, cuda, cuda:N or mps (default cuda)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 inference on the device")
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"),
                        help="architecture and hyper-parameters (epochs cut to --steps; default cpu)")
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per method (default 300)")
    parser.add_argument("--train-samples", type=int, default=32)
    parser.add_argument("--test-samples", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["*"], metavar="PATTERN")
    parser.add_argument("--out", type=Path, help="write the JSON record here")
    arguments = parser.parse_args(argv)

    from mmdf_bench import registry
    from mmdf_bench.devices import compute_setup, resolve_device
    from mmdf_bench.data.base import split_ids
    from mmdf_bench.tuning import SplitSamples
    from mmdf_bench.tasks import get_task

    setup = compute_setup(arguments.device, amp=arguments.amp)
    device = setup.device or resolve_device("cpu")
    record = {"device": setup.record, "profile": arguments.profile, "steps": arguments.steps,
              "train_samples": arguments.train_samples, "test_samples": arguments.test_samples,
              "tolerance": AMP_TOLERANCE if arguments.amp else TOLERANCE, "methods": {}}
    data = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="mmdf-bench-gpu-check-") as folder:
        focus_checkpoint = None
        for name in deep_methods(arguments.methods):
            task = registry.methods.load(name).task
            if task not in data:
                dataset = registry.datasets.create(get_task(task).default_datasets[0])
                test_ids = split_ids(dataset, "test")
                train = SplitSamples(dataset, split_ids(dataset, "train")[:arguments.train_samples], split="train",
                                     forbidden=test_ids)
                data[task] = (list(train), [dataset.load(sample_id) for sample_id in test_ids[:arguments.test_samples]])
            train, test = data[task]
            keep = Path(folder) / "mmdf-focus.pt" if name == "mmdf-focus" else None
            try:
                entry = check_method(name, device=device, amp=arguments.amp, profile=arguments.profile,
                                     steps=arguments.steps, train=train, test=test,
                                     focus_checkpoint=focus_checkpoint, keep=keep)
            except Exception as error:  # one method's failure is recorded; the others still run
                traceback.print_exc(file=sys.stderr)
                entry = {"error": f"{type(error).__name__}: {error}", "agrees": False}
            if keep is not None and keep.exists():
                focus_checkpoint = keep
            failed |= not entry["agrees"]
            record["methods"][name] = entry
            summary = (f"train {entry['train_seconds']:.1f} s, " if "train_seconds" in entry else "") + (
                f"{entry['inference_seconds_per_sample'] * 1000:.1f} ms/sample on {device} "
                f"({entry['cpu_inference_seconds_per_sample'] * 1000:.1f} on cpu), "
                f"max |diff| {entry['max_abs_difference']:.2e}" if "error" not in entry else entry["error"])
            print(f"{name:22s} {'ok ' if entry['agrees'] else 'BAD'} {summary}", flush=True)
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
