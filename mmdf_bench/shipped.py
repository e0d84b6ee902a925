"""Checkpoints shipped inside the package, so that a first run need not train.

The ``cpu``-profile models that the default runs of the three tasks train
are shipped as package data under ``mmdf_bench/shipped_checkpoints/``, with the
layout of the checkpoint cache::

    mmdf_bench/shipped_checkpoints/<method>/<profile>/<dataset>-v<version>-<hash>[-val<ids>].pt
    mmdf_bench/shipped_checkpoints/<method>/<profile>/<same name>.pt.json

The file name is the cache key (`mmdf_bench.training.checkpoint_path`): it
covers the method's configuration and hyper-parameters, the seed, the
training dataset and its version, and the validation ids, so a shipped
checkpoint is used exactly when the run would have trained that same
model, and never after the method or its data changed. The ``.json``
beside it (`mmdf_bench.checkpoints`, as for the cache's own checkpoints)
records the file's SHA-256 (checked before loading), the precision of the stored weights, how they were trained (the command,
profile, configuration, seed, dataset, torch version, training time) and,
for half-precision files, the largest output difference that halving
caused on train samples and the tolerance it was checked against.

``mmdf-bench train --retrain`` (and ``fit_or_load(retrain=True)``) trains
afresh and ignores shipped files. `mmdf_bench.ship` writes them.
"""

from pathlib import Path

from mmdf_bench.checkpoints import load_checkpoint, record_path, save_checkpoint
from mmdf_bench.settings import cache_dir

__all__ = ["MAX_FILE_BYTES", "MAX_TOTAL_BYTES", "SHIPPED_DIR", "find_shipped", "half_precision",
           "load_shipped", "record_path", "relative_key", "write_shipped"]

#: Where the shipped checkpoints live (inside the installed package).
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped_checkpoints"
#: Budget of one shipped file and of all of them together.
MAX_FILE_BYTES = 5_000_000
MAX_TOTAL_BYTES = 25_000_000


def relative_key(cache_path):
    """``<method>/<profile>/<file>.pt`` of a checkpoint-cache path."""
    return Path(cache_path).relative_to(cache_dir() / "checkpoints")


def find_shipped(cache_path, *, root=None):
    """The shipped checkpoint with the same key as `cache_path`, or None."""
    candidate = Path(root or SHIPPED_DIR) / relative_key(cache_path)
    return candidate if candidate.is_file() and record_path(candidate).is_file() else None


def load_shipped(path, *, method_name=None, profile=None):
    """Return ``(state, record)`` of a shipped checkpoint after checking its SHA-256.

    Raises
    ------
    mmdf_bench.errors.CheckpointError
        When the file does not match the digest its record states, naming
        the file and the command that trains the model instead.
    """
    return load_checkpoint(path, method_name=method_name, profile=profile)


def half_precision(state):
    """A copy of a checkpoint state with every floating-point tensor stored as float16.

    Integer tensors (batch-norm counters) and everything that is not a
    tensor are kept as they are. Loading it into a network upcasts the
    weights back to float32 (``nn.Module.load_state_dict`` copies values).
    """
    import torch

    if isinstance(state, torch.Tensor):
        return state.half() if state.is_floating_point() else state
    if isinstance(state, dict):
        return type(state)((key, half_precision(value)) for key, value in state.items())
    if isinstance(state, (list, tuple)) and any(isinstance(value, (torch.Tensor, dict)) for value in state):
        return type(state)(half_precision(value) for value in state)
    return state


def write_shipped(state, cache_path, record, *, root=None):
    """Write `state` as the shipped checkpoint of `cache_path`'s key, with its record; return the path."""
    path = Path(root or SHIPPED_DIR) / relative_key(cache_path)
    save_checkpoint(state, path, record={**record, "file": path.name})
    return path
