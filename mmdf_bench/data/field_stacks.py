"""Real z-stacks of physical fields: planes at known z, read one at a time.

A *field* is one place on a specimen, imaged at several focal planes whose
distance from the field's focal plane is known in micrometres. Every real
dataset of the suite is built from fields (the focus patches, the z-stack
samples of the autofocus metric, the registered defocus pairs of the deblur
task, the composites of the fusion task), and a field is the unit of the
bootstrap: planes and patches of one field are never independent.

Planes are large (1920x1200 on `wafer-defocus`), so a `FieldStack` holds
file names and z values only and reads a plane when asked.
"""

import csv
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmdf_bench.bit_depth import StackDepth
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import (
    read_image_with_depth,
    stack_bit_depth,
    to_gray,
    validate_image,
)
from mmdf_bench.tiff_stacks import read_tiff_stack

__all__ = ["FieldStack", "Plane", "read_manifest", "tiff_pages"]


@dataclass(frozen=True)
class Plane:
    """One focal plane of a field.

    Attributes
    ----------
    path : Path
        The image file (or multi-page TIFF).
    z_um : float
        Signed distance from the field's focal plane, micrometres.
    page : int, optional
        Page of a multi-page TIFF; None for a single image.
    """

    path: Path
    z_um: float
    page: int = None

    def describe(self):
        """The plane's file (and page), for error messages and sample sources."""
        return str(self.path) if self.page is None else f"{self.path} page {self.page}"


@dataclass
class FieldStack:
    """The focal planes of one field, sorted by z.

    Parameters
    ----------
    name : str
        The field's name; samples of the field use it as their group.
    planes : sequence of Plane
        In any order; kept sorted by z. Two planes may not share one z.
    focus_z_um : float, optional
        Where the field is in focus (0 when the z values are already relative to focus).
    grey : bool, optional
        Read planes as grey (luminance) images.
    metadata : dict, optional
        Facts kept with every sample (objective, pixel size, ...).
    focus_rule : str, optional
        How `focus_z_um` was found, when it was not measured (a person or the
        instrument) but chosen by a rule; datasets report it.
    bits : int, optional
        Bit depth of the stored values (see `mmdf_bench.bit_depth`); by
        default from the files' metadata, else guessed over all planes.
    channel : int, optional
        The channel to read from multi-channel TIFF files.
    """

    name: str
    planes: tuple
    focus_z_um: float = 0.0
    grey: bool = True
    metadata: dict = field(default_factory=dict)
    focus_rule: str = None
    bits: int = None
    channel: int = None

    def __post_init__(self):
        planes = sorted(self.planes, key=lambda plane: plane.z_um)
        if len(planes) < 2:
            raise InvalidInputError(f"field {self.name!r} needs at least 2 planes, got {len(planes)}")
        for before, after in zip(planes, planes[1:]):
            if not math.isfinite(before.z_um) or before.z_um == after.z_um:
                raise InvalidInputError(f"field {self.name!r}: planes {before.describe()} and {after.describe()} "
                                        f"are both at z = {after.z_um} µm")
        self.planes = tuple(planes)

    @property
    def z_um(self):
        """Plane z values (µm), ascending."""
        return np.array([plane.z_um for plane in self.planes], dtype=np.float64)

    @property
    def defocus_um(self):
        """Signed distance of each plane from focus (µm)."""
        return self.z_um - self.focus_z_um

    @property
    def focus_index(self):
        """Index of the plane nearest focus (ties: the lower z)."""
        return int(np.argmin(np.abs(self.defocus_um)))

    def __len__(self):
        return len(self.planes)

    @property
    def depth(self):
        """The stack's `mmdf_bench.bit_depth.StackDepth`, decided once over all its planes."""
        if getattr(self, "_depth", None) is None:
            files = sorted({plane.path for plane in self.planes if plane.page is None})
            tiffs = sorted({plane.path for plane in self.planes if plane.page is not None})
            depths = [stack_bit_depth(files, bits=self.bits, source=f"stack {self.name!r}")] if files else []
            depths += [tiff_pages(path, bits=self.bits, channel=self.channel)[1] for path in tiffs]
            self._depth = StackDepth(tuple(item for depth in depths for item in depth.depths))
        return self._depth

    def read_plane(self, index):
        """Plane `index` as float32 in [0, 1] (grey when `grey`), at the stack's bit depth."""
        plane = self.planes[index]
        if plane.page is None:
            image = read_image_with_depth(plane.path, depth=self.depth)[0]
        else:
            pages = tiff_pages(plane.path, bits=self.bits, channel=self.channel)[0]
            if not 0 <= plane.page < len(pages):
                raise InvalidInputError(f"{plane.path} has no page {plane.page}")
            image = validate_image(pages[plane.page], source=plane.describe())
        return to_gray(image) if self.grey and image.ndim == 3 else image


def tiff_pages(path, *, bits=None, channel=None):
    """The z planes of a TIFF stack and its bit depth (`mmdf_bench.tiff_stacks.read_tiff_stack`).

    A plane is read page by page, but decoding the file once serves all its
    pages: the last two files read are kept.
    """
    status = os.stat(path)
    return _tiff_pages(str(path), status.st_size, status.st_mtime_ns, bits, channel)


@lru_cache(maxsize=2)
def _tiff_pages(path, size, mtime_ns, bits, channel):
    # size and mtime are in the key so that an edited file is read again
    stack, depth = read_tiff_stack(path, bits=bits, channel=channel)
    return tuple(stack), depth


def read_manifest(path, *, required, dataset):
    """Read a ``manifest.csv`` into a list of dicts, checking its columns.

    Parameters
    ----------
    path : Path
    required : sequence of str
        Columns the dataset needs.
    dataset : str
        The dataset's name, for messages.

    Returns
    -------
    rows : list of dict
        Values stripped; each row also has ``"_line"`` (its line number).

    Raises
    ------
    InvalidInputError
        Naming the file: missing, or without a required column.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{dataset}: {path.name} not found in {path.parent}; it lists every image "
                                f"with its z (see the dataset card)")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {', '.join(missing)}; has "
                                    f"{', '.join(reader.fieldnames or [])}")
        rows = []
        for line, row in enumerate(reader, start=2):
            rows.append({**{key: (value or "").strip() for key, value in row.items() if key}, "_line": line})
    return rows


def manifest_number(row, column, path):
    """The float in `column` of a manifest row, or a clear error naming the file and line."""
    text = row.get(column, "")
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"{path}, line {row['_line']}: {column} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InvalidInputError(f"{path}, line {row['_line']}: {column} must be finite, got {text!r}")
    return value
