"""Trained-model checkpoints on disk: written with a checksum, verified when read.

A checkpoint ``<name>.pt`` (a ``torch.save`` of the method's state) has a
record ``<name>.pt.json`` beside it: what the fit read (dataset, splits,
choices) and the SHA-256 of the checkpoint. `load_checkpoint` checks the
file against that checksum before torch unpickles it, so a truncated or
damaged file (a full disk, an interrupted copy) is named, with the way to
train it again, instead of surfacing as a bare ``OSError`` from deep inside
torch. Checkpoints written before records held a checksum are read without
the check; an unreadable one gets the same message.

References
----------
.. [1] https://pytorch.org/docs/stable/generated/torch.load.html
"""

import json
import os
import secrets
from pathlib import Path

from mmdf_bench.errors import CheckpointError
from mmdf_bench.run_format import write_text_atomic
from mmdf_bench.weights import file_sha256

__all__ = ["load_checkpoint", "read_record", "record_path", "save_checkpoint"]


def record_path(path):
    """The record beside the checkpoint `path` (``<name>.pt.json``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _cure(path, method_name, profile):
    command = "mmdf-bench train"
    if method_name:
        command += f" --method {method_name}"
    if profile:
        command += f" --profile {profile}"
    return (f"retrain it with `{command} --retrain`, or delete {path} and the next run trains "
            "it again")


def read_record(path, *, method_name=None, profile=None):
    """The record of the checkpoint `path` as a dict (empty when there is none).

    Raises
    ------
    CheckpointError
        When the record is not a JSON object.
    """
    record_file = record_path(path)
    if not record_file.is_file():
        return {}
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"checkpoint record {record_file} is damaged ({error}); "
                              + _cure(path, method_name, profile)) from None
    if not isinstance(record, dict):
        raise CheckpointError(f"checkpoint record {record_file} is not a JSON object; "
                              + _cure(path, method_name, profile))
    return record


def save_checkpoint(state, path, *, record=None):
    """Write `state` to `path` with `torch.save`, and its record with the SHA-256.

    The checkpoint is written to a temporary file and renamed, so an
    interruption never leaves half a checkpoint under the real name.

    Parameters
    ----------
    state : object
        What the method's ``state_dict`` returned.
    path : str or Path
    record : dict, optional
        Facts kept beside it (dataset, splits, choices).

    Returns
    -------
    digest : str
        The hex SHA-256 of the checkpoint.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        torch.save(state, temporary)
        digest = file_sha256(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    write_text_atomic(record_path(path), json.dumps({**(record or {}), "sha256": digest}))
    return digest


def load_checkpoint(path, *, method_name=None, profile=None):
    """Read the checkpoint `path` after checking it against its recorded SHA-256.

    Parameters
    ----------
    path : str or Path
    method_name, profile : str, optional
        Named in the error, with the command that trains the model again.

    Returns
    -------
    state : object
        What `save_checkpoint` was given.
    record : dict
        The record beside it (empty when there is none).

    Raises
    ------
    CheckpointError
        One line naming the file, what is wrong with it and how to retrain,
        when the file is missing, does not match its checksum, or torch
        cannot read it.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; " + _cure(path, method_name, profile))
    record = read_record(path, method_name=method_name, profile=profile)
    expected = record.get("sha256")
    if expected:
        digest = file_sha256(path)
        if digest != expected:
            raise CheckpointError(
                f"checkpoint {path} is corrupt: its SHA-256 is {digest[:16]}…, its record "
                f"says {expected[:16]}… (a truncated or damaged file); "
                + _cure(path, method_name, profile))
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch reports damage as OSError, EOFError, RuntimeError, ...
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(error).__name__}: "
                              f"{reason}); " + _cure(path, method_name, profile)) from None
    return state, record
