"""What every dataset built from real fields shares: fields, structured windows, ids in turn.

The real and semi-real sets (`wafer-defocus` and the sets made from its
fields, `sephace-brightfield`, `bbbc006`, `zstack-folder`, ...) are lists of
fields (`mmdf_bench.data.field_stacks.FieldStack`) cut into samples.
`FieldDataset` holds what they have in common:

* the fields, read once (`read_fields`) and optionally restricted to a few
  by name (option ``fields``);
* where a field shows something: `patch_contrast` (the luminance spread
  after a light smoothing, so that sensor noise does not count) and
  `field_crops` (the most structured cells of a grid);
* the sample ids, listed by `build_index` and handed out in turn from every
  group (`interleave`), so that the first ids (``--limit``) cover every
  field; all samples are test samples: a handful of fields is too few to
  hold some out for training and still bound the test error over fields.
"""

import numpy as np

from mmdf_bench.data.base import Dataset, check_split, resolve_root
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

__all__ = ["BORDER", "CROP_PERCENTILES", "FieldDataset", "MIN_CONTRAST", "field_crops", "interleave",
           "option_number", "patch_contrast", "registered_plane"]

#: Smallest luminance spread (1st-99th percentile, after a 1-pixel Gaussian)
#: of a patch that shows something: 0.03 is 8 grey levels of an 8-bit image,
#: five times the smoothed sensor noise of the real sets.
MIN_CONTRAST = 0.03
#: Pixels between a crop and the frame edge (registration shifts wrap around there).
BORDER = 16
#: Percentiles of a large crop's luminance whose spread says whether it shows anything.
CROP_PERCENTILES = (0.2, 99.8)
_SMOOTHING_SIGMA = 1.0


def option_number(value, option, dataset, *, positive=False):
    """A numeric dataset option (given as a number or as text on the command line), checked."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{dataset}: {option} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0 or (positive and number == 0):
        kind = "positive" if positive else "non-negative"
        raise InvalidInputError(f"{dataset}: {option} must be a {kind} number, got {value!r}")
    return number


def patch_contrast(image, positions, size, *, sigma=_SMOOTHING_SIGMA, percentiles=(1, 99)):
    """Luminance spread of each `size` x `size` patch: 99th minus 1st percentile after smoothing.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    positions : sequence of (int, int)
        Top-left corners.
    size : int
    sigma : float, optional
        Gaussian smoothing (pixels) applied to the whole image first, so that
        sensor noise does not count as content.
    percentiles : (float, float), optional
        The spread is taken between these percentiles of each patch; larger
        windows use more extreme ones, so that a small feature still counts.

    Returns
    -------
    contrast : ndarray of float, shape (len(positions),)
    """
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(to_gray(image).astype(np.float32), sigma) if sigma > 0 else to_gray(image)
    values = [np.percentile(smooth[row:row + size, col:col + size], percentiles) for row, col in positions]
    return np.array([high - low for low, high in values], dtype=np.float64).reshape(len(values))


def field_crops(image, *, size, count, min_contrast=MIN_CONTRAST, border=BORDER):
    """The `count` most structured cells of the non-overlapping `size` grid of `image`.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    size : int
    count : int
    min_contrast : float, optional
        Cells whose luminance spread (`patch_contrast` between the 0.2th and
        99.8th percentiles, so that a few small features in a large cell
        count) is lower are never kept.
    border : int, optional
        The grid starts `border` pixels from the top-left edges and keeps that far from the others.

    Returns
    -------
    positions : list of (int, int)
        Top-left corners, most structured first.
    """
    height, width = image.shape[:2]
    positions = [(row, col) for row in range(border, height - border - size + 1, size)
                 for col in range(border, width - border - size + 1, size)]
    if not positions:
        return []
    contrast = patch_contrast(image, positions, size, percentiles=CROP_PERCENTILES)
    order = np.argsort(-contrast, kind="stable")
    return [positions[index] for index in order[:count] if contrast[index] >= min_contrast]


def registered_plane(field, index, reference):
    """Plane `index` of `field` registered to `reference` (its in-focus plane): ``(plane, ShiftEstimate)``.

    The shift is found and removed as `mmdf_bench.data.registration` says;
    a plane whose shape differs from the reference's is an error naming it.
    """
    from mmdf_bench.data.registration import estimate_shift, shift_image

    image = field.read_plane(index)
    if image.shape != reference.shape:
        raise InvalidInputError(f"{field.planes[index].describe()}: shape {image.shape} differs from the in-focus "
                                f"plane {field.planes[field.focus_index].describe()}, {reference.shape}")
    estimate = estimate_shift(reference, image)
    return shift_image(image, estimate.shift), estimate


def interleave(groups):
    """The items of `groups` (lists) taken in turn: the first of each, then the second of each, ..."""
    items = []
    for rank in range(max((len(group) for group in groups), default=0)):
        items += [group[rank] for group in groups if rank < len(group)]
    return items


class FieldDataset(Dataset):
    """Base of the evaluation-only datasets cut from real fields.

    Subclasses implement `read_fields` (the fields in the data folder) and
    `build_index` (sample id -> what `load` needs, in id order), and set
    `crop_size` / `crops_per_field` if they use `crops`.

    Parameters
    ----------
    root : str or Path, optional
    seed : int, optional
        Unused: the samples do not depend on it.
    fields : str or sequence of str, optional
        Only these fields (names, or one comma-separated string as the command
        line gives it: ``--datasets wafer-defocus:fields=level1_iy000,level2_iy003``).
    """

    realism = "real"
    crop_size = 256
    crops_per_field = 4

    def __init__(self, *, root=None, seed=0, fields=None):
        super().__init__(root=root, seed=seed)
        if isinstance(fields, str):
            fields = [name.strip() for name in fields.split(",") if name.strip()]
        self.only_fields = None if fields is None else tuple(fields)
        self._fields = None
        self._crops = {}
        self._index = None

    # ------------------------------------------------------------ subclass API
    def read_fields(self, root):
        """Return the fields (a list of `FieldStack`) found in `root`."""
        raise NotImplementedError

    def build_index(self):
        """Return ``{sample_id: entry}`` in id order; `load` reads the entry."""
        raise NotImplementedError

    def data_root(self):
        """The folder `read_fields` reads (default: `resolve_root`)."""
        return resolve_root(self.root, self)

    # ------------------------------------------------------------ shared
    def fields(self):
        """Field name -> `FieldStack`, in the dataset's order."""
        if self._fields is None:
            root = self.data_root()
            fields = self.read_fields(root)
            if not fields:
                raise InvalidInputError(f"{self.name}: no fields found in {root}")
            if self.only_fields is not None:
                known = {field.name for field in fields}
                unknown = [name for name in self.only_fields if name not in known]
                if unknown:
                    raise InvalidInputError(f"{self.name}: no field called {', '.join(unknown)} in {root}; "
                                            f"fields: {', '.join(sorted(known))}")
                fields = [field for field in fields if field.name in self.only_fields]
            index = {}
            for field in fields:
                if field.name in index:
                    raise InvalidInputError(f"{self.name}: two fields are called {field.name!r} in {root}")
                index[field.name] = field
            self._fields = index
        return self._fields

    def crops(self, name):
        """Top-left corners of the `crop_size` windows of field `name`, most structured first."""
        if name not in self._crops:
            field = self.fields()[name]
            self._crops[name] = field_crops(field.read_plane(field.focus_index), size=self.crop_size,
                                            count=self.crops_per_field)
        return self._crops[name]

    def index(self):
        """``{sample_id: entry}``, built once."""
        if self._index is None:
            self._index = self.build_index()
        return self._index

    def entry(self, sample_id):
        """The index entry of `sample_id`, or an error naming the dataset."""
        index = self.index()
        if sample_id not in index:
            raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}")
        return index[sample_id]

    def sample_ids(self, split):
        if check_split(self, split) != "test":
            return []
        return list(self.index())
