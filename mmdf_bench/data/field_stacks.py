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

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_image, to_gray

__all__ = ["FieldStack", "Plane", "read_manifest"]


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
    """

    name: str
    planes: tuple
    focus_z_um: float = 0.0
    grey: bool = True
    metadata: dict = field(default_factory=dict)
    focus_rule: str = None

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

    def read_plane(self, index):
        """Plane `index` as float32 in [0, 1] (grey when `grey`)."""
        plane = self.planes[index]
        if plane.page is None:
            image = read_image(plane.path)
        else:
            from mmdf_bench.images import validate_image

            status = os.stat(plane.path)
            pages = _tiff_pages(str(plane.path), status.st_size, status.st_mtime_ns)
            if not 0 <= plane.page < len(pages):
                raise InvalidInputError(f"{plane.path} has no page {plane.page}")
            image = validate_image(pages[plane.page], source=plane.describe())
        return to_gray(image) if self.grey and image.ndim == 3 else image


@lru_cache(maxsize=2)
def _tiff_pages(path, size, mtime_ns):
    # a plane is read page by page, but decoding the file once serves all its pages;
    # size and mtime are in the key so that an edited file is read again
    from mmdf_bench.data.folder import read_tiff_stack

    return tuple(read_tiff_stack(path))


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
