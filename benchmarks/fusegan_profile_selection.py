"""Choose the FuseGAN cpu profile on the validation split, never on test.

Usage::

    OMP_NUM_THREADS=1 MMDF_BENCH_WEIGHTS=... python benchmarks/fusegan_profile_selection.py
        [--method fusegan-u] [--seed 0] [--variants NAME ...] [--out benchmarks/results/fusegan_profile_selection.json]

Each variant changes one choice of the current ``cpu`` profile of the
FuseGAN family (the crop size at the same number of pixels seen, Adam's
first moment, the learning rates). Every variant of `--method` (the one the
default run trains) is trained on the train split of
``synthetic-brightfield-fusion`` and, as in ``fit``, the epoch whose
generator scores the best mean SSIM on the validation split is kept
(`FuseGAN.validator`). The test split is never loaded. The variant with the
best kept validation SSIM is chosen; the JSON keeps every epoch's
validation score, the kept epoch, the training time and the choice, and the
profile in `mmdf_bench.methods.fusegan` cites it.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

#: One change at a time from the cpu profile as it stood ({}: the profile itself).
VARIANTS = {
    "cpu": {},
    # the same pixels per run in a quarter of the steps
    "crop-64": {"crop": 64, "steps_per_epoch": 50},
    "paper-betas": {"betas": (0.0, 0.999)},
    "half-rates": {"generator_rate": 5e-4, "discriminator_rate": 4e-4},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="fusegan-u")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fusegan_profile_selection.json"))
    arguments = parser.parse_args(argv)

    import torch

    from mmdf_bench import registry
    from mmdf_bench.data.synthetic_fusion import SyntheticBrightfieldFusion

    torch.set_num_threads(1)
    dataset = SyntheticBrightfieldFusion()
    train = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    validation = [dataset.load(sample_id) for sample_id in dataset.sample_ids("validation")]
    results = {}
    for name in arguments.variants:
        method = registry.create_method(arguments.method, profile="cpu", **VARIANTS[name])
        started = time.perf_counter()
        method.fit(train, seed=arguments.seed, validation_samples=validation)
        seconds = time.perf_counter() - started
        scores = [round(entry["validation"], 5) for entry in method._history]
        kept = method._history[-1]["kept_epoch"]
        results[name] = {"overrides": {key: list(value) if isinstance(value, tuple) else value
                                       for key, value in VARIANTS[name].items()},
                         "validation_ssim_per_epoch": scores, "kept_epoch": kept,
                         "kept_validation_ssim": scores[kept - 1], "last_epoch_validation_ssim": scores[-1],
                         "training_seconds": round(seconds, 1)}
        print(f"{name}: kept epoch {kept} of {len(scores)}, validation SSIM {scores[kept - 1]:.4f} "
              f"(last {scores[-1]:.4f}; {seconds:.0f} s)", file=sys.stderr)
    best = max(results, key=lambda name: results[name]["kept_validation_ssim"])
    record = {
        "what": f"{arguments.method} cpu profile: one change at a time, trained on train, epoch and variant "
                "chosen on validation SSIM",
        "dataset": {"name": dataset.name, "version": dataset.version, "train": len(train),
                    "validation": len(validation), "test": "never loaded"},
        "criterion": "mean SSIM against the reference on the validation split, best epoch of each variant",
        "seed": arguments.seed,
        "variants": results,
        "chosen": best,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(), "threads": 1},
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"chosen: {best}; written {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
