"""Profiles and cached checkpoints for methods that learn.

Every deep method declares three hyper-parameter *profiles*:

``smoke``
    seconds on a CPU: proves the training loop runs (tests).
``cpu``
    minutes on 2 CPU cores: the default of ``mmdf-bench run``.
``paper``
    the hyper-parameters published in the MMDF paper, for a GPU.

A trained model is cached under
``<cache>/checkpoints/<method>/<profile>/<dataset>-v<version>-<hash>[-val<ids>].pt``
where the hash covers the method's configuration, its hyper-parameters and
the seed, and ``-val<ids>`` (a hash of the validation sample ids) is there
when the method was given a validation split, so a run reuses a checkpoint
only when it would have produced the same one. Beside each checkpoint,
``<name>.json`` records which splits the fit read and the checkpoint's
SHA-256, checked when it is loaded (`mmdf_bench.checkpoints`). `fit_or_load` is what the
runner and ``mmdf-bench train`` call; `fit_or_load_on` builds the splits
of a dataset first.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from typing import ClassVar

from mmdf_bench.checkpoints import load_checkpoint, save_checkpoint
from mmdf_bench.data.base import split_ids
from mmdf_bench.devices import DeviceMethod, is_cpu
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.settings import cache_dir
from mmdf_bench.shipped import find_shipped, load_shipped
from mmdf_bench.tasks.base import Method
from mmdf_bench.tuning import (SplitSamples, accepts_validation, choice_splits, fit_method,
                               samples_digest)

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"


class TrainableMethod(DeviceMethod, Method):
    """Mixin for methods with a training loop, profiles and a saveable state.

    Subclasses define `profiles` (profile name -> hyper-parameter dict),
    implement `fit` (train from scratch with ``self.hyperparameters``),
    `state_dict` and `load_state_dict`. Keyword `overrides` replace single
    hyper-parameters of the chosen profile. They train and predict on
    `device` (`mmdf_bench.devices.DeviceMethod`), the CPU by default.

    Parameters
    ----------
    profile : {"smoke", "cpu", "paper"}
    **overrides
        Hyper-parameters that replace the profile's values.
    """

    profiles: ClassVar[dict] = {}

    def __init__(self, *, profile: str = DEFAULT_PROFILE, **overrides: object) -> None:
        if profile not in self.profiles:
            raise InvalidInputError(
                f"{self.name}: unknown profile {profile!r}; choose one of {', '.join(self.profiles)}")
        unknown = set(overrides) - set(self.profiles[profile])
        if unknown:
            raise InvalidInputError(
                f"{self.name}: unknown hyper-parameter(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self.profiles[profile]))}")
        self.profile = profile
        self.hyperparameters = {**self.profiles[profile], **overrides}

    def state_dict(self) -> dict:
        """Everything needed to predict without training again (picklable by torch.save)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""
        raise NotImplementedError

    # Deep methods keep their trained torch module in ``_network`` and the
    # per-epoch losses of the last `fit` in ``_history``.
    _network = None
    _history = ()

    def _require_network(self):
        if self._network is None:
            raise InvalidInputError(
                f"{self.name or type(self).__name__} is not trained: call fit or load a checkpoint")

    @property
    def network(self):
        """The trained ``nn.Module`` (eval mode)."""
        self._require_network()
        return self._network

    @property
    def history(self):
        """Per-epoch training losses of the last `fit`."""
        return list(self._history)


@dataclass
class TrainingRecord:
    """How a trainable method got its weights in this run.

    ``splits`` maps each split the fit read (``train``, ``validation``) to
    its number of samples, and ``choices`` each fitted choice to the split
    it came from (`choice_splits`); for a cached checkpoint, what its fit
    recorded (None for checkpoints older than these records).
    """

    checkpoint: str
    cached: bool
    seconds: float
    profile: str
    splits: dict | None = None
    choices: dict | None = None
    shipped: dict | None = None

    def as_dict(self):
        record = {"checkpoint": self.checkpoint, "cached": self.cached,
                  "training_seconds": round(self.seconds, 3), "profile": self.profile}
        if self.splits is not None:
            record.update(splits=dict(self.splits), choices=dict(self.choices or {}))
        if self.shipped is not None:
            record["shipped"] = dict(self.shipped)
        return record


def config_hash(method, *, seed):
    """Short hash of everything that determines a trained model.

    The device type enters only when it is not the CPU: a model trained on
    CUDA is not the one the CPU trains, and CPU keys stay what they were.
    """
    key = {"config": method.config(), "seed": seed, "class": type(method).__qualname__}
    device = getattr(method, "_device", None)
    if not is_cpu(device):
        key["device"] = device.type
    payload = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def checkpoint_path(method, method_name, dataset, *, seed, validation_samples=None):
    """Where the checkpoint of `method` trained on `dataset` with `seed` is cached.

    `validation_samples` given (and non-empty) adds a hash of their ids: a
    model selected on other validation data is another model.
    """
    dataset_key = f"{dataset.name}-v{dataset.version}"
    validation = (f"-val{samples_digest(validation_samples)}"
                  if validation_samples is not None and len(validation_samples) else "")
    return (cache_dir() / "checkpoints" / method_name / method.profile
            / f"{dataset_key}-{config_hash(method, seed=seed)}{validation}.pt")


def _loaded_choices(method, recorded):
    """The choices recorded with a checkpoint, plus the one its configuration carries.

    Where the profile itself was chosen (``fitted_choices["profile"]``, e.g.
    FuseGAN's cpu profile, chosen on validation) is a fact of the
    configuration, which the checkpoint key fixes: it holds for a loaded
    model as for one trained now, whenever the checkpoint was written.
    """
    choices = dict(recorded.get("choices") or {})
    profile = dict(getattr(method, "fitted_choices", None) or {}).get("profile")
    if profile:
        choices.setdefault("profile", str(profile))
    return choices


def fit_or_load(method, method_name, dataset, train_samples, *, seed=0, retrain=False,
                validation_samples=None):
    """Load the cached checkpoint of `method`, or train it and cache the result.

    Parameters
    ----------
    method : TrainableMethod
    method_name : str
        Registry name (the cache folder).
    dataset : Dataset
        Provides the name and version of the training data.
    train_samples : sequence
        The train split, loaded lazily.
    seed : int
    retrain : bool
        Train even when a checkpoint exists (and replace it). Otherwise a
        checkpoint with the same key shipped inside the package
        (`mmdf_bench.shipped`) is used when the cache has none.
    validation_samples : sequence, optional
        The validation split; passed to ``fit`` (and made part of the
        checkpoint key) when ``fit`` accepts ``validation_samples``.

    Returns
    -------
    TrainingRecord
    """
    if validation_samples is not None and not (len(validation_samples) and accepts_validation(method)):
        validation_samples = None  # not used: the key stays that of a train-only fit
    path = checkpoint_path(method, method_name, dataset, seed=seed, validation_samples=validation_samples)
    if path.is_file() and not retrain:
        state, recorded = load_checkpoint(path, method_name=method_name, profile=method.profile)
        method.load_state_dict(state)
        return TrainingRecord(str(path), True, 0.0, method.profile, recorded.get("splits"),
                              _loaded_choices(method, recorded))
    shipped = None if retrain else find_shipped(path)
    if shipped is not None:  # the same model, trained once and installed with the package
        state, recorded = load_shipped(shipped, method_name=method_name, profile=method.profile)
        method.load_state_dict(state)
        return TrainingRecord(str(shipped), True, 0.0, method.profile, recorded.get("splits"),
                              _loaded_choices(method, recorded),
                              {key: recorded.get(key) for key in ("sha256", "precision", "trained_seconds")})
    if len(train_samples) == 0:
        raise InvalidInputError(
            f"{method_name} needs training but dataset {dataset.name} has no train split; "
            f"train it on another dataset first (`mmdf-bench train --method {method_name} "
            f"--dataset DATASET`)")
    started = time.perf_counter()
    splits = fit_method(method, train_samples, seed=seed, validation_samples=validation_samples)
    seconds = time.perf_counter() - started
    choices = choice_splits(method, splits)
    save_checkpoint(method.state_dict(), path,
                    record={"dataset": dataset.name, "splits": splits, "choices": choices})
    return TrainingRecord(str(path), False, seconds, method.profile, splits, choices)


def fit_or_load_on(method, method_name, dataset, *, seed=0, retrain=False, cache=None):
    """`fit_or_load` on the train (and validation) split of `dataset`, never its test split.

    Returns
    -------
    TrainingRecord
    """
    test_ids = split_ids(dataset, "test")
    train = SplitSamples(dataset, split_ids(dataset, "train"), split="train", forbidden=test_ids,
                         cache=cache)
    validation = SplitSamples(dataset, split_ids(dataset, "validation"), split="validation",
                              forbidden=test_ids, cache=cache)
    return fit_or_load(method, method_name, dataset, train, seed=seed, retrain=retrain,
                       validation_samples=validation)


def find_checkpoint(method, method_name, *, seed=0):
    """Return the newest cached checkpoint of `method` for any dataset, or None.

    Used to evaluate a trained method on data without a train split (Lytro,
    real folders): the model trained on the embedded data is reused.
    """
    folder = cache_dir() / "checkpoints" / method_name / method.profile
    key = config_hash(method, seed=seed)
    candidates = sorted([*folder.glob(f"*-{key}.pt"), *folder.glob(f"*-{key}-val*.pt")],
                        key=lambda path: path.stat().st_mtime) if folder.is_dir() else []
    return candidates[-1] if candidates else None
