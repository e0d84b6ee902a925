"""Where the train, validation and test fields of each source image lie.

Every bundled source image (`mmdf_bench.data.sources`) is one independent
specimen. A synthetic dataset cuts each source into a grid of square
*fields* (centred, the margins that do not fill a whole field left out) and
gives the same number of fields of every source to the test split and to
the validation split; the remaining fields are train. Fields never overlap,
so the splits share no specimen pixel, and a test sample is one whole test
field, so test samples of one source do not overlap either. Which fields go
where follows a fixed pseudo-random order of the grid cells (a hash of the
source name and cell), the same for every dataset seed: the seed changes the
samples, never the split.

The bootstrap group of a sample is its source image (`Field.source`), not
its field: fields of one image share stain, texture and optics.

References
----------
.. [1] A. C. Davison and D. V. Hinkley, *Bootstrap Methods and their
       Application*, Cambridge University Press, 1997, section 3.8
       (hierarchical data: resample the top-level units).
.. [2] C. A. Field and A. H. Welsh, "Bootstrapping clustered data", Journal
       of the Royal Statistical Society B 69(3): 369-390, 2007.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from mmdf_bench.errors import InvalidInputError

#: Splits in the order their fields are drawn from each source.
ASSIGNMENT_ORDER = ("test", "validation", "train")


@dataclass(frozen=True)
class Field:
    """One square field of a source image, in one split.

    Attributes
    ----------
    source : str
        Name of the source image (the specimen, and the bootstrap group).
    split : str
    grid_row, grid_col : int
        Position in the source's grid of fields.
    top, left, size : int
        Pixel box of the field in the source image.
    """

    source: str
    split: str
    grid_row: int
    grid_col: int
    top: int
    left: int
    size: int

    @property
    def name(self):
        """``<source>-r<row>c<col>``: unique among the fields of every split."""
        return f"{self.source}-r{self.grid_row}c{self.grid_col}"

    def crop(self, image):
        """The field's pixels of `image` (a view)."""
        return image[self.top:self.top + self.size, self.left:self.left + self.size]

    def overlaps(self, other):
        """True when the two fields share a pixel of the same source."""
        return (self.source == other.source
                and max(self.top, other.top) < min(self.top + self.size, other.top + other.size)
                and max(self.left, other.left) < min(self.left + self.size, other.left + other.size))


def _order_key(source, row, col):
    return hashlib.sha256(f"layout/{source}/{row}/{col}".encode()).digest()


def field_grid(shape, size):
    """Top-left corners of the grid of `size`-pixel fields centred in an image of `shape`.

    Returns
    -------
    rows, cols : list of int
        Top pixels of the grid rows and left pixels of the grid columns.
    """
    size = int(size)
    num_rows, num_cols = shape[0] // size, shape[1] // size
    top, left = (shape[0] - num_rows * size) // 2, (shape[1] - num_cols * size) // 2
    return [top + index * size for index in range(num_rows)], [left + index * size for index in range(num_cols)]


def split_counts(shapes, size, *, test_fraction, validation_fraction):
    """Fields per source given to test and to validation.

    The fractions apply to the source with the fewest fields, and every
    source then gives that many, so that each specimen weighs the same in
    the test and validation splits; each split gets at least one field and
    every source keeps at least one train field.

    Parameters
    ----------
    shapes : dict of str -> tuple
        Source name -> image shape.
    size : int
    test_fraction, validation_fraction : float

    Returns
    -------
    test, validation : int
    """
    fewest = min(len(rows) * len(cols) for rows, cols in (field_grid(shape, size) for shape in shapes.values()))
    test = max(1, int(round(test_fraction * fewest)))
    validation = max(1, int(round(validation_fraction * fewest)))
    if test + validation >= fewest:
        smallest = min(shapes, key=lambda name: shapes[name][0] // size * (shapes[name][1] // size))
        raise InvalidInputError(
            f"fields of {size} pixels are too large: source {smallest!r} {tuple(shapes[smallest][:2])} holds "
            f"{fewest}, too few for separate test, validation and train fields")
    return test, validation


def split_fields(shapes, size, *, test, validation):
    """Assign the fields of every source to the test, validation and train splits.

    Parameters
    ----------
    shapes : dict of str -> tuple
        Source name -> image shape ``(H, W[, C])``, in a fixed order.
    size : int
        Side of the square fields.
    test, validation : int
        Fields of every source given to the test and validation splits.

    Returns
    -------
    fields : dict of str -> list of Field
        Split -> fields, interleaved across sources (the first field of
        every source, then the second, ...) so that any prefix of a split
        covers the sources evenly.
    """
    per_source = {split: [] for split in ASSIGNMENT_ORDER}
    for source, shape in shapes.items():
        rows, cols = field_grid(shape, size)
        cells = sorted(((row, col) for row in range(len(rows)) for col in range(len(cols))),
                       key=lambda cell: _order_key(source, *cell))
        if len(cells) <= test + validation:
            raise InvalidInputError(
                f"source {source!r} {tuple(shape[:2])} holds {len(cells)} fields of {size} pixels, too few for "
                f"{test} test, {validation} validation and at least one train field")
        stops = {"test": test, "validation": test + validation, "train": len(cells)}
        start = 0
        for split in ASSIGNMENT_ORDER:
            chosen = sorted(cells[start:stops[split]])
            per_source[split].append([Field(source, split, row, col, rows[row], cols[col], int(size))
                                      for row, col in chosen])
            start = stops[split]
    return {split: interleave(lists) for split, lists in per_source.items()}


def samples_per_field(fields, split, requested, *, dataset_name, word="field"):
    """How many samples of `split` to make, one per field: all of them, or the `requested` first.

    Raises `InvalidInputError` when more are asked for than there are fields
    (they would overlap).
    """
    available = len(fields)
    if requested is None:
        return available
    if int(requested) != requested or not 0 <= requested <= available:
        raise InvalidInputError(
            f"{dataset_name}: num_{split} must lie in [0, {available}]: one sample per {split} {word}, so that "
            f"samples of one specimen do not overlap; got {requested}")
    return int(requested)


def interleave(lists):
    """Round-robin merge: the first item of every list, then the second, ... (lists may differ in length)."""
    merged = []
    for position in range(max((len(items) for items in lists), default=0)):
        merged.extend(items[position] for items in lists if position < len(items))
    return merged


def split_mask(fields, source, shape):
    """Boolean mask ``(H, W)`` of the pixels of `source` covered by `fields`."""
    mask = np.zeros(shape[:2], dtype=bool)
    for field in fields:
        if field.source == source:
            mask[field.top:field.top + field.size, field.left:field.left + field.size] = True
    return mask
