"""Leave-one-specimen-out calibration on datasets that have no train split.

Real evaluation sets (a folder of z-stacks, Lytro, the real microscopy
series) come without a train split. A classical method that calibrates a
threshold or a regularisation weight would fail there for lack of data,
while a deep method trained on the embedded synthetic data would run: the
deep method would be "best" alone. Instead, every method that calibrates
(``fit``) and does not train a network is calibrated the same way on such a
dataset: one copy of it per specimen (sample group), each fitted on the
samples of all *other* specimens and used only on its own specimen's
samples. No sample is ever scored by a model that saw it or its specimen;
the manifest and the leaderboard's information column say so.

A dataset with a single specimen cannot be split this way; its calibrating
methods keep their documented defaults (or fail, naming the reason, when
they have none).

References
----------
.. [1] T. Hastie, R. Tibshirani and J. Friedman, "The Elements of
       Statistical Learning", 2nd ed., Springer, 2009, section 7.10
       (cross-validation; leave-one-group-out when samples are grouped).
"""

import copy
import time
from dataclasses import dataclass, field

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tuning import SplitSamples, fit_method

__all__ = ["FOLD_SPLIT", "SpecimenFolds", "fit_specimen_folds", "specimen_groups"]

#: How the samples a fold is fitted on are named in the manifest.
FOLD_SPLIT = "test (other specimens)"


@dataclass
class SpecimenFolds:
    """Fitted copies of a method, one per specimen it never saw.

    Attributes
    ----------
    methods : dict
        Group -> the method fitted on every other group.
    errors : dict
        Group -> why its fold could not be fitted (its samples then fail).
    """

    methods: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def method_for(self, group):
        """The copy that scores samples of `group` (raises when its fold failed)."""
        group = str(group)
        if group in self.methods:
            return self.methods[group]
        if group in self.errors:
            raise InvalidInputError(f"leave-one-specimen-out calibration without specimen {group} "
                                    f"failed: {self.errors[group]}")
        raise InvalidInputError(f"no leave-one-specimen-out fold was fitted for specimen {group}")


def specimen_groups(dataset, sample_ids, *, cache=None):
    """``{group: [sample ids]}`` of `sample_ids`, in their order (samples are loaded into `cache`).

    Samples that cannot be loaded are left out: the evaluation records them.
    """
    cache = {} if cache is None else cache
    groups = {}
    for sample_id in sample_ids:
        try:
            if sample_id not in cache:
                cache[sample_id] = dataset.load(sample_id)
            sample = cache[sample_id]
        except Exception:  # the evaluation loop reports the load failure
            continue
        groups.setdefault(str(sample.group), []).append(sample_id)
    return groups


def fit_specimen_folds(method, dataset, sample_ids, *, seed=0, cache=None):
    """Fit one copy of `method` per specimen of `sample_ids`, each on the other specimens.

    Parameters
    ----------
    method : Method
        Built, not fitted; it is copied once per specimen.
    dataset : Dataset
    sample_ids : sequence of str
        The samples to be scored (the evaluated test samples).
    seed : int
    cache : dict, optional
        Shared ``{sample_id: sample}`` store, so that several methods load
        each sample once.

    Returns
    -------
    folds : SpecimenFolds or None
        None when there are fewer than two specimens (nothing to leave out):
        the method keeps its defaults, and the record says
        ``calibration: "defaults"`` with the ``reason``.
    record : dict
        For the manifest: ``calibration``, ``trained_on``, ``folds``,
        ``splits``, ``choices``, ``failed_folds``, ``fit_seconds`` and each
        fold's ``fitted_config``.
    """
    cache = {} if cache is None else cache
    groups = specimen_groups(dataset, sample_ids, cache=cache)
    if len(groups) < 2:
        return None, {"calibration": "defaults", "specimens": len(groups),
                      "reason": f"{len(groups)} specimen(s), fewer than two to leave out"}
    started = time.perf_counter()
    folds, configs = SpecimenFolds(), {}
    for group, held_out in groups.items():
        others = [sample_id for name, ids in groups.items() if name != group for sample_id in ids]
        train = SplitSamples(dataset, others, split=FOLD_SPLIT, forbidden=held_out, cache=cache)
        fold = copy.deepcopy(method)
        try:
            fit_method(fold, train, seed=seed)
        except Exception as error:  # one specimen's fold must not cost the others
            folds.errors[group] = f"{type(error).__name__}: {error}"
            continue
        folds.methods[group] = fold
        configs[group] = fold.config()
    if not folds.methods:
        raise InvalidInputError(
            f"{method.name}: leave-one-specimen-out calibration failed on every specimen of "
            f"{dataset.name}: {next(iter(folds.errors.values()))}")
    total = sum(len(ids) for ids in groups.values())
    record = {
        "calibration": "leave-one-specimen-out", "trained_on": dataset.name, "folds": len(groups),
        # the largest fold: all specimens but the smallest
        "splits": {FOLD_SPLIT: total - min(len(ids) for ids in groups.values())},
        "choices": {"fitted parameters": f"{FOLD_SPLIT}, leave-one-specimen-out"},
        "failed_folds": dict(folds.errors),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "fitted_config": configs,
    }
    return folds, record
