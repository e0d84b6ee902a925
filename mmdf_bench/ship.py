"""Train the checkpoints the default runs need and write them as package data: one command.

::

    python -m mmdf_bench.ship                       # every default-run model, cpu profile, seed 0
    python -m mmdf_bench.ship --methods fusegan-u   # only some
    python -m mmdf_bench.ship --check               # sizes and digests of what is shipped now

For each trainable method in the default run of each task (``mmdf-bench run
--task T`` without ``--methods``) it trains the model exactly as that run
would, through the checkpoint cache (`mmdf_bench.training.fit_or_load_on`,
the function behind ``mmdf-bench train``; ``--retrain`` trains even when
the cache has it), then writes it under ``mmdf_bench/shipped_checkpoints/``
(`mmdf_bench.shipped`). A state is stored in float32 when it fits the
per-file budget (`MAX_FILE_BYTES`); otherwise in float16 when the
outputs of the halved weights stay within `TOLERANCE` of the float32
model's on the first `CHECK_SAMPLES` train samples (never test samples);
otherwise it is not shipped, and the command says so and fails. It fails
too when all files together exceed `MAX_TOTAL_BYTES`.
"""

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

from mmdf_bench.shipped import MAX_FILE_BYTES, MAX_TOTAL_BYTES, SHIPPED_DIR, half_precision, record_path

#: Largest |float16 - float32| output difference accepted (pixels in [0, 1], focus probabilities).
TOLERANCE = 2e-3
#: Train samples the float16 outputs are compared on.
CHECK_SAMPLES = 8
TASKS = ("fusion", "focus", "deblur")
COMMAND = "python -m mmdf_bench.ship"


def default_trainable_methods(tasks=TASKS):
    """``[(task, method name)]`` of the trainable methods in each task's default run."""
    from mmdf_bench import registry
    from mmdf_bench.training import TrainableMethod

    return [(task, name) for task in tasks for name in registry.methods.select(None, task=task)
            if issubclass(registry.methods.load(name), TrainableMethod)]


def state_bytes(state):
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return len(buffer.getvalue())


def raw_output(method, sample):
    """The method's own output for `sample`, as float64 numbers, before the task stores it.

    The tasks round restored and fused images to the bits of a file; the
    comparison of two sets of weights must see the values underneath.
    """
    if hasattr(method, "fuse"):
        output = method.fuse(sample.stack)
    elif hasattr(method, "restore"):
        output = method.restore(sample.blurred)
    else:
        prediction = method.predict(sample.patch)
        return np.r_[prediction.probability, np.ravel(prediction.levels)]
    return np.asarray(output, dtype=np.float64)


def output_difference(method_class, options, state, halved, samples, task=None):
    """Largest absolute output difference between `state` and its float16 copy on `samples`."""
    first, second = method_class(**options), method_class(**options)
    first.load_state_dict(state)
    second.load_state_dict(halved)
    return max(float(np.max(np.abs(raw_output(first, sample) - raw_output(second, sample))))
               for sample in samples)


def ship_one(task_name, name, *, profile, seed, retrain, root, tolerance=TOLERANCE, max_file_bytes=MAX_FILE_BYTES):
    """Train (or load from the cache) one default-run model and write it as package data.

    Returns
    -------
    dict
        What was written (``path``, ``bytes``, ``precision``...), or why not (``error``).
    """
    import torch

    from mmdf_bench import registry
    from mmdf_bench.checkpoints import load_checkpoint
    from mmdf_bench.data.base import split_ids
    from mmdf_bench.components import build_method, method_options_of
    from mmdf_bench.shipped import write_shipped
    from mmdf_bench.tasks import get_task
    from mmdf_bench.training import checkpoint_path, fit_or_load_on
    from mmdf_bench.tuning import SplitSamples, accepts_validation

    task = get_task(task_name)
    options = method_options_of(name, profile=profile)
    method = build_method(name, profile=profile)
    dataset = registry.datasets.create(task.default_datasets[0])
    started = time.perf_counter()
    training = fit_or_load_on(method, name, dataset, seed=seed, retrain=retrain)
    validation = SplitSamples(dataset, split_ids(dataset, "validation"), split="validation",
                              forbidden=split_ids(dataset, "test"))
    key_validation = validation if len(validation) and accepts_validation(method) else None
    cache_path = checkpoint_path(method, name, dataset, seed=seed, validation_samples=key_validation)
    state, _ = load_checkpoint(training.checkpoint, method_name=name, profile=profile)
    entry = {"method": name, "task": task_name, "profile": profile, "seed": seed, "dataset": dataset.name,
             "dataset_version": dataset.version, "config": method.config(), "command": COMMAND,
             "torch": torch.__version__, "trained_seconds": round(training.seconds, 1) if not training.cached
             else None, "splits": training.splits, "choices": training.choices}
    size = state_bytes(state)
    if size <= max_file_bytes:
        entry["precision"] = "float32"
    else:
        halved = half_precision(state)
        check = SplitSamples(dataset, split_ids(dataset, "train")[:CHECK_SAMPLES], split="train",
                             forbidden=split_ids(dataset, "test"))
        difference = output_difference(type(method), options, state, halved, check, task)
        entry.update(float32_bytes=size, max_abs_difference=difference, tolerance=tolerance,
                     checked_on=f"first {len(check)} train samples")
        if difference > tolerance or state_bytes(halved) > max_file_bytes:
            why = (f"float16 outputs differ by {difference:.2e} > {tolerance:.0e}" if difference > tolerance
                   else f"{state_bytes(halved) / 1e6:.1f} MB even in float16")
            return {**entry, "error": f"{name}: {size / 1e6:.1f} MB in float32 and {why}; leave it out of "
                                      f"the default run and train it with `mmdf-bench train --method {name}`"}
        state, entry["precision"] = halved, "float16"
    path = write_shipped(state, cache_path, entry, root=root)
    for stale in path.parent.glob("*.pt"):  # models of older data or settings are never used again
        if stale != path:
            stale.unlink()
            record_path(stale).unlink(missing_ok=True)
    return {**entry, "path": str(path), "bytes": path.stat().st_size,
            "seconds": round(time.perf_counter() - started, 1)}


def shipped_files(root):
    return sorted(Path(root).glob("*/*/*.pt"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mmdf_bench.ship", description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", metavar="NAME", help="default: every default-run model")
    parser.add_argument("--profile", default="cpu", help="profile to ship (default cpu; smoke for tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true", help="train even when the cache has the model")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help=f"default {SHIPPED_DIR}")
    parser.add_argument("--check", action="store_true", help="only list what is shipped, with sizes")
    arguments = parser.parse_args(argv)

    written = []
    if not arguments.check:
        chosen = [(task, name) for task, name in default_trainable_methods()
                  if arguments.methods is None or name in arguments.methods]
        unknown = set(arguments.methods or ()) - {name for _, name in chosen}
        if unknown:
            print(f"not a trainable method of a default run: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        for task, name in chosen:
            entry = ship_one(task, name, profile=arguments.profile, seed=arguments.seed,
                             retrain=arguments.retrain, root=arguments.out)
            written.append(entry)
            print(entry.get("error") or f"{name}: {entry['bytes'] / 1e6:.2f} MB {entry['precision']} "
                  f"({entry['seconds']} s) -> {entry['path']}", file=sys.stderr if "error" in entry else sys.stdout)
    files = shipped_files(arguments.out)
    total = sum(path.stat().st_size for path in files)
    for path in files:
        print(f"{path.relative_to(arguments.out)}  {path.stat().st_size / 1e6:.2f} MB  "
              f"record {'present' if record_path(path).is_file() else 'MISSING'}")
    print(f"{len(files)} shipped file(s), {total / 1e6:.2f} MB in all (budget {MAX_FILE_BYTES / 1e6:.0f} MB each, "
          f"{MAX_TOTAL_BYTES / 1e6:.0f} MB in all)")
    too_large = [path for path in files if path.stat().st_size > MAX_FILE_BYTES]
    if any("error" in entry for entry in written) or too_large or total > MAX_TOTAL_BYTES:
        print("mmdf-bench ship: over budget or not shippable (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
