"""What tuning may read: the train and validation splits, never a sample it is scored on.

Everything a method learns or chooses before it is scored (weights,
thresholds, calibration, early stopping, model selection) is *tuning*. The
protocol allows tuning to read the train split and the validation split of
a dataset, and nothing that is scored: `SplitSamples` is the only way the
runner hands samples to ``fit``, and it refuses, when it is built and again
when a sample is loaded, any id of the samples the method will be scored on
(`TestSampleError`). `fit_method` passes the validation split to a method
whose ``fit`` accepts the keyword ``validation_samples``; others get the
train split only, as before.

A dataset lists its splits with ``sample_ids(split)`` for every split of
`mmdf_bench.data.base.SPLITS`; a dataset (e.g. a third-party plugin) that
rejects ``"validation"`` has none (`split_ids`).

Sample ids must be unique across a dataset's splits: the guard compares
ids, so a dataset reusing an id in two splits is refused too.
"""

import hashlib
import inspect
from collections.abc import Sequence

from mmdf_bench.data.base import split_ids
from mmdf_bench.errors import InvalidInputError

__all__ = ["TestSampleError", "SplitSamples", "accepts_validation", "check_disjoint",
           "choice_splits", "fit_method", "samples_digest", "split_ids"]

_SHOWN_IDS = 5


class TestSampleError(InvalidInputError):
    """A tuning path was given a sample that is scored (a test sample)."""

    __test__ = False  # not a pytest test class, despite the name


def check_disjoint(dataset_name, tuning_ids, scored_ids, *, split="train"):
    """Raise `TestSampleError` when a tuning id is also scored.

    Parameters
    ----------
    dataset_name : str
        Named in the message.
    tuning_ids, scored_ids : iterable of str
    split : str
        Where the tuning ids come from, for the message.
    """
    shared = sorted(set(map(str, tuning_ids)) & set(map(str, scored_ids)))
    if shared:
        shown = ", ".join(shared[:_SHOWN_IDS]) + (" ..." if len(shared) > _SHOWN_IDS else "")
        raise TestSampleError(
            f"{dataset_name}: {len(shared)} sample id(s) of the {split} split are also scored "
            f"({shown}); tuning never reads a scored (test) sample - ids must be unique across splits")


class SplitSamples(Sequence):
    """A read-only sequence of one split's samples, loaded when first accessed.

    Loaded samples are kept (in `cache`, which several sequences may share),
    so that methods fitted one after another on the same split do not load
    it again.

    Parameters
    ----------
    dataset : Dataset
    sample_ids : sequence of str
    split : str, optional
        The split the ids come from (recorded in the manifest).
    forbidden : collection of str, optional
        Ids that must never be handed out (the scored samples): refused
        here and again when a sample is loaded.
    cache : dict, optional
        Shared ``{sample_id: sample}`` store.
    """

    def __init__(self, dataset, sample_ids, *, split="train", forbidden=(), cache=None):
        self.dataset = dataset
        self.sample_ids = list(sample_ids)
        self.split = split
        self.forbidden = frozenset(map(str, forbidden))
        self.cache = {} if cache is None else cache
        check_disjoint(getattr(dataset, "name", type(dataset).__name__), self.sample_ids,
                       self.forbidden, split=split)
        # a sequence of test samples is only ever built knowingly (leave-one-specimen-out)
        if split == "test" and not self.forbidden and self.sample_ids:
            raise TestSampleError(f"{getattr(dataset, 'name', dataset)}: test samples handed to a "
                                  "tuning path without the ids it is scored on")

    def __len__(self):
        return len(self.sample_ids)

    def _load(self, sample_id):
        if sample_id not in self.cache:
            sample = self.dataset.load(sample_id)
            loaded_id = str(getattr(sample, "sample_id", sample_id))
            if loaded_id in self.forbidden:  # a dataset that maps ids oddly
                check_disjoint(self.dataset.name, [loaded_id], self.forbidden, split=self.split)
            self.cache[sample_id] = sample
        return self.cache[sample_id]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return SplitSamples(self.dataset, self.sample_ids[index], split=self.split,
                                forbidden=self.forbidden, cache=self.cache)
        return self._load(self.sample_ids[index])

    def __iter__(self):
        for sample_id in self.sample_ids:
            yield self._load(sample_id)


def samples_digest(samples):
    """A short hash of which samples a sequence holds (its ids; else its length)."""
    ids = getattr(samples, "sample_ids", None)
    text = "\n".join(map(str, ids)) if ids is not None else f"len={len(samples)}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def accepts_validation(method):
    """True when ``method.fit`` takes the keyword ``validation_samples`` (or ``**kwargs``)."""
    try:
        parameters = inspect.signature(method.fit).parameters.values()
    except (TypeError, ValueError):  # a builtin or C-implemented fit: no keyword to pass
        return False
    return any(parameter.name == "validation_samples"
               and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
               or parameter.kind is parameter.VAR_KEYWORD for parameter in parameters)


def fit_method(method, train_samples, *, seed=0, validation_samples=None):
    """Call ``method.fit``, with the validation split when the method accepts it.

    Parameters
    ----------
    method : Method
    train_samples : sequence of samples
    seed : int
    validation_samples : sequence of samples, optional
        Passed as ``validation_samples=`` when ``fit`` accepts it (and it is
        not None).

    Returns
    -------
    splits : dict
        ``{split: number of samples}`` of what ``fit`` received: the
        validation entry is present only when it was passed.
    """
    splits = {getattr(train_samples, "split", "train"): len(train_samples)}
    if validation_samples is not None and accepts_validation(method):
        method.fit(train_samples, seed=seed, validation_samples=validation_samples)
        splits[getattr(validation_samples, "split", "validation")] = len(validation_samples)
    else:
        method.fit(train_samples, seed=seed)
    return splits


def choice_splits(method, splits):
    """Each choice `method` fitted -> the split it came from, for the manifest.

    A method says so itself by setting ``fitted_choices`` (e.g.
    ``{"weights": "train", "calibration": "validation"}``) in ``fit``;
    otherwise every fitted parameter is attributed to all the splits its
    ``fit`` received (`splits`, as `fit_method` returns it).
    """
    declared = getattr(method, "fitted_choices", None)
    if declared:
        return {str(choice): str(split) for choice, split in dict(declared).items()}
    return {"fitted parameters": " + ".join(split for split, count in splits.items() if count)
            or "nothing (empty splits)"}
