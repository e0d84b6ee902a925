"""Choose the ``mmdf-focus`` cpu profile on the validation split, never on test.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/focus_profile_selection.py [--seeds 0 1] [--variants NAME ...]
        [--out benchmarks/results/focus_profile_selection.json]

Each variant changes one choice of the current ``cpu`` profile (the
pooling, the input standardisation, the exposure augmentation, the in-focus
cross-entropy, the artefact weight, the training length). Every variant is
trained on the train split of ``synthetic-brightfield-zstack`` for each
seed and graded on its validation split (disjoint fields; the test split is
never loaded):

``auc``
    area under the ROC curve of P(out of focus): how well the network
    separates the classes, whatever the calibration;
``balanced_accuracy``
    cross-fitted as the method is used: P(out of focus) is calibrated
    (`fit_calibration`) on the validation patches of some sources and the
    0.5 threshold applied to the others, both ways round (two folds of
    sources), so that no patch is graded by a calibration fitted on it;
``rps``
    ranked probability score of the level distribution on the clean
    validation patches (lower is better).

The variant with the highest mean cross-fitted balanced accuracy over the
seeds is chosen (AUC breaks ties within 0.005). The JSON keeps every
number, the per-seed values and the choice; the profile in
`mmdf_bench.methods.focus_cnn` cites it.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

#: One change at a time from the cpu profile as it stood (None: the profile itself).
VARIANTS = {
    "cpu": {},
    "flatten-pooling": {"pooling": "flatten"},
    "standardize": {"standardize": True},
    "gain-25": {"gain_range": (0.75, 1.25)},
    "no-focus-weight": {"focus_weight": 0.0},
    "artefact-weight-1": {"artefact_weight": 1.0},
    "steps-800": {"max_steps": 800},
}
#: Two folds of the five sources for the cross-fitted calibration.
FOLDS = (("immunohistochemistry", "grass", "hubble_deep_field"), ("gravel", "brick"))


def roc_auc(scores, positives):
    """Area under the ROC curve (Mann-Whitney U with ties counted half)."""
    from scipy.stats import rankdata

    scores, positives = np.asarray(scores, dtype=np.float64), np.asarray(positives, dtype=bool)
    ranks = rankdata(scores)
    count_positive, count_negative = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - count_positive * (count_positive + 1) / 2)
                 / (count_positive * count_negative))


def balanced_accuracy(predicted, truth):
    predicted, truth = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    return float(0.5 * ((predicted[truth]).mean() + (~predicted[~truth]).mean()))


def ranked_probability_score(distributions, levels):
    cumulative = np.cumsum(distributions, axis=1)[:, :-1]
    truth = (np.arange(distributions.shape[1] - 1)[None, :] >= levels[:, None]).astype(float)
    return float(np.mean(np.sum((cumulative - truth) ** 2, axis=1) / (distributions.shape[1] - 1)))


def grade(method, validation):
    """Validation numbers of a fitted method (its own calibration is not used)."""
    from mmdf_bench.methods.focus_calibration import apply_calibration, fit_calibration
    from mmdf_bench.methods.focus_network import predict_distributions
    from mmdf_bench.images import to_gray

    patches = np.stack([to_gray(sample.patch) for sample in validation])
    raw = predict_distributions(method._network, patches)
    truth = np.array([sample.label == 1 for sample in validation])
    groups = np.array([sample.group for sample in validation])
    predicted = np.zeros(len(validation), dtype=bool)
    for fold in FOLDS:
        inside = np.isin(groups, fold)
        calibration = fit_calibration(raw[~inside], truth[~inside])
        predicted[inside] = apply_calibration(raw[inside], calibration)[:, 0] <= 0.5
    clean = np.array([sample.level is not None for sample in validation])
    levels = np.array([sample.level if sample.level is not None else 0 for sample in validation])
    return {"auc": roc_auc(1.0 - raw[:, 0], truth), "balanced_accuracy": balanced_accuracy(predicted, truth),
            "rps": ranked_probability_score(raw[clean], levels[clean])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/focus_profile_selection.json"))
    arguments = parser.parse_args(argv)

    import torch

    from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack
    from mmdf_bench.methods.focus_cnn import MMDFFocusCNN

    torch.set_num_threads(1)
    dataset = SyntheticBrightfieldZStack()
    started = time.perf_counter()
    train = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    validation = [dataset.load(sample_id) for sample_id in dataset.sample_ids("validation")]
    print(f"loaded {len(train)} train and {len(validation)} validation patches in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    results = {}
    for name in arguments.variants:
        runs = []
        for seed in arguments.seeds:
            method = MMDFFocusCNN(profile="cpu", **VARIANTS[name])
            started = time.perf_counter()
            method.fit(train, seed=seed)
            seconds = time.perf_counter() - started
            numbers = grade(method, validation)
            runs.append({"seed": seed, "training_seconds": round(seconds, 1), **numbers})
            print(f"{name} seed {seed}: " + ", ".join(f"{key} {value:.4f}" for key, value in numbers.items())
                  + f" ({seconds:.0f} s)", file=sys.stderr)
        results[name] = {"overrides": {key: list(value) if isinstance(value, tuple) else value
                                       for key, value in VARIANTS[name].items()},
                         "runs": runs,
                         **{f"mean_{key}": float(np.mean([run[key] for run in runs]))
                            for key in ("auc", "balanced_accuracy", "rps")}}
    best = max(results, key=lambda name: (round(results[name]["mean_balanced_accuracy"], 3),
                                          results[name]["mean_auc"]))
    record = {
        "what": "mmdf-focus cpu profile: one change at a time, trained on train, graded on validation",
        "dataset": {"name": dataset.name, "version": dataset.version, "train": len(train),
                    "validation": len(validation), "test": "never loaded"},
        "criterion": "mean cross-fitted validation balanced accuracy over the seeds (AUC breaks ties)",
        "seeds": arguments.seeds,
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
