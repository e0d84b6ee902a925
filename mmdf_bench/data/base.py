"""The `Dataset` protocol and helpers shared by dataset implementations."""

import os
from pathlib import Path
from typing import Any, ClassVar

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.settings import DATA_VARIABLE, data_dir

#: Splits of every dataset, disjoint by specimen. Tuning (fitting, calibration,
#: early stopping, model selection) reads train and validation only; only the
#: evaluation loop reads test (see `mmdf_bench.tuning`).
SPLITS = ("train", "validation", "test")

#: Kinds of data, most trusted first: summaries list datasets in this order, so
#: real microscopy outranks everything synthetic. "photographs" are real images
#: that are not microscopy (Lytro).
REALISM_ORDER = ("real", "semi-real", "photographs", "synthetic")


class Dataset:
    """Base class of registered datasets.

    A dataset lists sample ids per split and loads one sample at a time, so
    large or generated data is never held whole in memory.

    Parameters
    ----------
    root : str or Path, optional
        Where the data lies; datasets that need files fall back to
        ``$MMDF_BENCH_DATA/<default_folder>``.
    seed : int, optional
        Seed of generated data and of random splits.

    Attributes
    ----------
    name, task, summary, citation, licence : str
    version : str
        Changes whenever the samples would change; runs on different
        versions are not compared.
    default_folder : str
        Sub-folder of ``$MMDF_BENCH_DATA`` holding the data, if any.
    card : str
        Name of the dataset card under ``datasets/`` in the repository.
    realism : str
        One of `REALISM_ORDER`: "real" (microscope images, including a
        user's own folders), "semi-real" (real optics, synthetic layout or
        blur), "photographs" (real, not microscopy) or "synthetic".
    provides : tuple of str
        Hidden truths every sample carries for oracle rows, e.g.
        ``("depth-oracle",)``: an upper-bound method that needs information
        a dataset does not provide is reported unavailable on it.
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = ""
    card: ClassVar[str] = ""
    realism: ClassVar[str] = "synthetic"
    provides: ClassVar[tuple] = ()

    def __init__(self, *, root: str | os.PathLike | None = None, seed: int = 0) -> None:
        self.root = Path(root).expanduser() if root is not None else None
        self.seed = seed

    def sample_ids(self, split: str) -> list[str]:
        """Return the ids of the samples of `split` (one of `SPLITS`), in a fixed order.

        A split the dataset does not have is an empty list; a name not in
        `SPLITS` raises `InvalidInputError` (`check_split`). Ids are unique
        across the splits of a dataset.
        """
        raise NotImplementedError

    def load(self, sample_id: str) -> Any:
        """Return the sample called `sample_id`; raise `InvalidInputError` naming the file on bad data."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Return what the results manifest records about this dataset."""
        return {
            "name": self.name,
            "version": self.version,
            "root": str(self.root) if self.root else None,
            "seed": self.seed,
            "realism": self.realism,
            "splits": {split: len(split_ids(self, split)) for split in SPLITS},
        }


def split_ids(dataset, split):
    """Ids of `split` of `dataset`, in the dataset's order.

    A dataset that rejects ``"validation"`` (an older plugin: it raises
    `InvalidInputError`, `ValueError`, `KeyError` or `NotImplementedError`)
    has no validation split: an empty list. Other splits raise as the
    dataset does.

    Parameters
    ----------
    dataset : Dataset
    split : {"train", "validation", "test"}

    Returns
    -------
    list
    """
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    try:
        return list(dataset.sample_ids(split))
    except (ValueError, KeyError, NotImplementedError):
        if split == "validation":
            return []
        raise


def check_split(dataset, split):
    """Return `split` if it is one of `SPLITS`, else raise `InvalidInputError` naming `dataset`."""
    if split not in SPLITS:
        raise InvalidInputError(f"{dataset.name}: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split


def resolve_root(root, dataset):
    """Find the folder of `dataset`: the given `root`, else ``$MMDF_BENCH_DATA/<default_folder>``,
    else ``<cache>/data/<default_folder>`` (where ``mmdf-bench download`` puts it).

    Raises `InvalidInputError` saying where it looked and how to point at the data.
    """
    from mmdf_bench.downloads import data_cache_dir

    if root is not None:
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise InvalidInputError(f"{dataset.name}: {root} is a file; give the data folder")
        if not root.is_dir():
            raise InvalidInputError(f"{dataset.name}: data folder not found: {root}")
        return root
    base = data_dir()
    cached = data_cache_dir() / dataset.default_folder if dataset.default_folder else None
    if dataset.default_folder:
        for candidate in ([base / dataset.default_folder] if base is not None else []) + [cached]:
            if candidate.is_dir():
                return candidate
    where = (f"looked in {base / dataset.default_folder}" if base is not None and dataset.default_folder
             else f"{DATA_VARIABLE} is not set")
    if cached is not None:
        where += f"), nor in the download cache ({cached}"
    hint = (f", or download it with `mmdf-bench download {dataset.name}`"
            if callable(getattr(dataset, "download", None)) else "")
    raise InvalidInputError(
        f"{dataset.name}: data not found ({where}). Set {DATA_VARIABLE} to a folder holding "
        f"'{dataset.default_folder or dataset.name}/', or pass the folder as "
        f"--datasets {dataset.name}=PATH{hint}."
    )
