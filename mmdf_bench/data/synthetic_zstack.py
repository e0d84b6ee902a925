"""Synthetic bright-field z-stacks cut into labelled focus patches.

Every source image (`mmdf_bench.data.sources`) is one specimen. It is cut
into square fields (`mmdf_bench.data.layout`: test, validation and train
fields never overlap); each field is imaged at 11 focal planes, the in-focus
plane being the source at its native resolution and the others blurred by
the defocus PSF of `mmdf_bench.data.optics` (`optics.defocus_kernel`), each
plane with its own small exposure change, seen through the circular field
stop of a phone-on-eyepiece microscope (`field_of_view`). Patches are cut
only where the `specimen_mask` says there is specimen: test patches on a
non-overlapping grid, train and validation patches anywhere. In-focus
patches with dust, water drops or condensation (`artefacts`) are labelled
out of focus, as the MMDF authors did. Sensor noise is drawn per patch.

References
----------
.. [1] Born and Wolf, *Principles of Optics*, section 8.8.
.. [2] Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
.. [3] Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021 (arXiv:2007.13701).
"""

import hashlib
from collections import OrderedDict
from typing import ClassVar

import numpy as np

from mmdf_bench.data import optics
from mmdf_bench.data.artefacts import ARTEFACTS
from mmdf_bench.data.base import Dataset, check_split
from mmdf_bench.data.field_of_view import specimen_mask, vignette_factor
from mmdf_bench.data.layout import interleave, split_counts, split_fields
from mmdf_bench.data.patches import grid_positions, window_positions
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

#: Defocus between consecutive levels (metres). At 6 µm the geometric blur
#: disc (radius z NA / n = 1.5 µm = 3 px) just exceeds the in-focus Airy
#: radius (0.61 λ / NA = 1.34 µm): level 1 is visibly but modestly blurred.
#: It is 0.7 of the depth of field λ n / NA² = 8.8 µm; level 10 is 60 µm.
LEVEL_SPACING = 6e-6
NUM_LEVELS = 11
#: Side of the square fields: 4 per 512-pixel source, 9 in the Hubble field.
#: A field of this size holds 4 non-overlapping 84-pixel patches inside its
#: field stop; a 170-pixel one would hold a single patch.
FIELD_SIZE = 256
#: Share of the fields of the smallest source given to test and validation
#: (2 and 1 of 4); every source gives as many, the rest is train.
TEST_FRACTION = 2 / 4
VALIDATION_FRACTION = 1 / 4
#: Exposure of each plane is multiplied by a gain drawn in this range.
GAIN_RANGE = (0.92, 1.08)
#: Field-of-view radius, as a fraction of the field side: from a disc
#: just inside the frame (dark corners and sides) to one clipped by the
#: frame on all four sides, both common on phone images.
RADIUS_RANGE = (0.48, 0.6)
#: Patches whose in-focus luminance varies less than this (standard
#: deviation) show bare glass: their focus is undefined, so none are cut.
MIN_CONTENT = 0.03
#: Pixels between a patch and the edge of the specimen mask.
MASK_MARGIN = 3
#: Fraction of the out-of-focus samples that are artefact patches (test split).
TEST_ARTEFACT_FRACTION = 0.25
#: Fraction of the train and validation splits that is artefact patches.
TRAIN_ARTEFACT_FRACTION = 0.125
#: Fields held in memory (about 9 MB each).
CACHE_SIZE = 16


def _digest(*parts):
    text = "/".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _categories(total, artefacts):
    """``[(level, subset), ...]``: half in focus, `artefacts` artefact patches, the rest over levels 1..K-1."""
    in_focus = total // 2
    kinds = list(ARTEFACTS)
    categories = [(0, "clean")] * in_focus
    categories += [(None, kinds[index % len(kinds)]) for index in range(artefacts)]
    categories += [(1 + index % (NUM_LEVELS - 1), "clean") for index in range(total - in_focus - artefacts)]
    return categories


class SyntheticBrightfieldZStack(Dataset):
    """Focus patches from synthetic bright-field z-stacks with 11 defocus levels.

    Fields: each source is cut into fields of 256 pixels
    (`mmdf_bench.data.layout`); every source gives 2 fields to test, 1 to
    validation and the rest (1, or 6 of the Hubble field's 9) to train.
    Field ids read ``<source>-r<row>c<col>``; `specimen_ids` lists them (a
    field is one view of its specimen). A sample's ``group``, which the
    bootstrap resamples, is its source image.

    Samples: every *test* patch sits on its own cell of a non-overlapping
    84-pixel grid inside a test field's field stop (`patches.grid_positions`),
    so no two test patches share a pixel; there are as many as the test
    fields hold, in an order that takes the sources in turn. Half are in
    focus (level 0, label 0, subset ``"clean"``); of the out-of-focus half a
    quarter are artefact patches (level None, label 1, subset ``"dust"``,
    ``"water"`` or ``"condensate"``) and the rest spread over levels 1..10,
    in focus and out of focus alternating along that order so that every
    source gets both. *Validation* and *train* patches (ids
    ``validation-0000``, ``train-0000``, ...) lie anywhere inside the field
    stops of their split's fields: half in focus, 1/8 artefacts, the rest
    over levels 1..10, sources taken in turn.

    Parameters
    ----------
    root : ignored
    seed : int, optional
        Changes every field rendering (orientation, field of view, gains)
        and sample, never which fields belong to which split.
    num_test : int, optional
        At most (and by default) one patch per test grid cell.
    num_validation, num_train : int, optional
    patch_size : int, optional
        Side of the square patches (84 in Yang et al. 2018).

    Attributes
    ----------
    num_levels : int
        11: levels 0 (in focus) to 10, ``level * LEVEL_SPACING`` from focus.
    """

    name: ClassVar[str] = "synthetic-brightfield-zstack"
    task: ClassVar[str] = "focus"
    summary: ClassVar[str] = (
        "84x84 bright-field patches at 11 defocus levels (physical PSF) and with dust, water and condensate artefacts"
    )
    citation: ClassVar[str] = (
        "Defocus model: M. Born and E. Wolf, Principles of Optics, 7th ed., section 8.8, as used by S. J. Yang et al., "
        "BMC Bioinformatics 19:77 (2018). Artefact protocol: A. Kornilova et al., IEEE ISBI 2021 (arXiv:2007.13701). "
        "Source images: scikit-image data (S. van der Walt et al., PeerJ 2:e453, 2014)."
    )
    licence: ClassVar[str] = "generated; source images CC0, public domain or without known copyright restrictions"
    version: ClassVar[str] = "2"
    card: ClassVar[str] = "synthetic-brightfield-zstack.md"
    num_levels: ClassVar[int] = NUM_LEVELS

    def __init__(self, *, root=None, seed=0, num_test=None, num_validation=400, num_train=1600, patch_size=84):
        super().__init__(root=root, seed=seed)
        for label, count in (("num_validation", num_validation), ("num_train", num_train), ("num_test", num_test)):
            if count is not None and not 0 <= count <= 9999:
                raise InvalidInputError(f"{self.name}: {label} must lie in [0, 9999], got {count}")
        self.num_validation, self.num_train = int(num_validation), int(num_train)
        self.patch_size = int(patch_size)
        self.tile_size = FIELD_SIZE
        largest = int(FIELD_SIZE * RADIUS_RANGE[0] * np.sqrt(2)) - 2 * MASK_MARGIN
        if not 8 <= self.patch_size <= largest:
            raise InvalidInputError(
                f"{self.name}: patch_size must lie in [8, {largest}] to fit inside the field of view of a "
                f"{FIELD_SIZE}-pixel field, got {patch_size}")
        shapes = {name: image.shape for name, image in source_images().items()}
        test, validation = split_counts(shapes, FIELD_SIZE, test_fraction=TEST_FRACTION,
                                        validation_fraction=VALIDATION_FRACTION)
        self._fields = split_fields(shapes, FIELD_SIZE, test=test, validation=validation)
        self._by_name = {field.name: field for fields in self._fields.values() for field in fields}
        self._requested_test = num_test
        self._plans = {}
        self._cache = OrderedDict()

    # ------------------------------------------------------------------ ids
    def specimen_ids(self, split):
        """Return the ids of the fields of `split` (one field is one view of its source specimen)."""
        return [field.name for field in self._fields[check_split(self, split)]]

    @property
    def num_test(self):
        """Test patches: one per cell of the test fields' grids (or the `num_test` asked for)."""
        return len(self.plan("test"))

    def sample_ids(self, split):
        count = {"test": self.num_test, "validation": self.num_validation,
                 "train": self.num_train}[check_split(self, split)]
        return [f"{split}-{index:04d}" for index in range(count)]

    def describe(self):
        description = super().describe()
        description["options"] = {
            "patch_size": self.patch_size,
            "num_levels": NUM_LEVELS,
            "level_spacing_um": LEVEL_SPACING * 1e6,
            "field_size": FIELD_SIZE,
            "sources": list(source_images()),
            **{f"{split}_fields": len(self._fields[split]) for split in ("test", "validation", "train")},
        }
        return description

    # ----------------------------------------------------------------- plan
    def plan(self, split):
        """Return ``[(field_id, level, subset, position), ...]``, one entry per sample of `split`.

        ``level`` is None for artefact patches; ``subset`` is ``"clean"`` or
        the artefact kind; ``position`` is the patch's ``(row, col)`` in its
        field for test samples and None for the others (drawn per sample).
        """
        check_split(self, split)
        if split not in self._plans:
            self._plans[split] = self._test_plan() if split == "test" else self._random_plan(split)
        return self._plans[split]

    def _test_plan(self):
        rng = np.random.default_rng([int(self.seed), _digest("plan", "test")])
        cells = {}
        for field in self._fields["test"]:
            cells.setdefault(field.source, []).extend(
                (field.name, tuple(position)) for position in self._render(field.name)["grid"])
        ordered = interleave(list(cells.values()))
        total = len(ordered)
        if self._requested_test is not None:
            if self._requested_test > total:
                raise InvalidInputError(
                    f"{self.name}: num_test must be at most {total}, one patch per cell of the test fields' "
                    f"non-overlapping grids; got {self._requested_test}")
            total = int(self._requested_test)
            ordered = ordered[:total]
        categories = _categories(total, (total - total // 2) // round(1 / TEST_ARTEFACT_FRACTION))
        in_focus = [category for category in categories if category[0] == 0]
        other = [category for category in categories if category[0] != 0]
        other = [other[index] for index in rng.permutation(len(other))]
        # alternate along the source-interleaved order: each source gets both labels
        merged = []
        for index in range(total):
            pool = in_focus if (index % 2 == 0 and in_focus) or not other else other
            merged.append(pool.pop(0))
        return [(name, level, subset, position) for (name, position), (level, subset) in zip(ordered, merged)]

    def _random_plan(self, split):
        rng = np.random.default_rng([int(self.seed), _digest("plan", split)])
        total = self.num_validation if split == "validation" else self.num_train
        categories = _categories(total, round(total * TRAIN_ARTEFACT_FRACTION))
        by_source = {}
        for field in self._fields[split]:
            by_source.setdefault(field.source, []).append(field.name)
        sources = list(by_source)
        # Round-robin over sources, then over each source's fields, within each category.
        counters, entries = {}, []
        for level, subset in categories:
            key = (level, subset)
            position = counters.get(key, int(rng.integers(len(sources) * 64)))
            counters[key] = position + 1
            fields = by_source[sources[position % len(sources)]]
            entries.append((fields[(position // len(sources)) % len(fields)], level, subset, None))
        order = rng.permutation(len(entries))
        return [entries[index] for index in order]

    # ------------------------------------------------------------- fields
    def _field(self, field_id):
        if field_id not in self._by_name:
            known = ", ".join(self._by_name)
            raise InvalidInputError(f"{self.name}: unknown field (specimen) id {field_id!r}; known: {known}")
        return self._by_name[field_id]

    def _render(self, field_id):
        """Noise-free planes, allowed patch corners and the field of view of one field (cached)."""
        if field_id in self._cache:
            self._cache.move_to_end(field_id)
            return self._cache[field_id]
        from scipy.ndimage import binary_erosion

        field = self._field(field_id)
        rng = np.random.default_rng([int(self.seed), _digest("specimen", field_id)])
        size = field.size
        tile = field.crop(source_images()[field.source])
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        tile = np.rot90(tile, turns)
        tile = np.ascontiguousarray(tile[:, ::-1] if flip else tile)
        # level 0 is the source itself: sharp micrographs at native resolution are in focus
        planes = optics.blur_many(tile, [optics.defocus_kernel(level * LEVEL_SPACING) for level in range(NUM_LEVELS)])
        gains = rng.uniform(*GAIN_RANGE, size=NUM_LEVELS).astype(np.float32)
        center = (size - 1) / 2 + rng.uniform(-0.05, 0.05, size=2) * size
        radius = float(rng.uniform(*RADIUS_RANGE) * size)
        # The field stop is in an image plane: its edge stays sharp whatever the specimen focus.
        factor = vignette_factor((size, size), center=center, radius=radius, rng=rng)
        planes = np.clip(planes * gains[:, None, None, None] * factor[None, :, :, None], 0.0, 1.0)
        planes = planes.astype(np.float32)
        planes.flags.writeable = False
        mask = specimen_mask(planes[0])
        # A margin keeps patches off the soft edge of the field stop (up to 2 px each side).
        inner = binary_erosion(mask, iterations=MASK_MARGIN)
        luminance = to_gray(planes[0])
        positions = window_positions(inner, self.patch_size, luminance=luminance, min_content=MIN_CONTENT)
        if len(positions) == 0:
            raise InvalidInputError(f"{self.name}: field {field_id} has no patch inside its field of view")
        grid = grid_positions(inner, self.patch_size, luminance=luminance, min_content=MIN_CONTENT)
        record = {
            "planes": planes,
            "positions": positions,
            "grid": grid,
            "mask": mask,
            "field_of_view": (float(center[0]), float(center[1]), radius),
            "gains": gains,
            "orientation": {"rot90": turns, "flip": flip},
            "tile": {"source_image": field.source, "tile_row": field.top, "tile_col": field.left,
                     "tile_size": size},
        }
        self._cache[field_id] = record
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return record

    def specimen_stack(self, specimen_id, *, noise=True):
        """Return the z-stack of one field, shape ``(11, S, S, 3)``, plane k at level k.

        With `noise`, each plane gets sensor noise drawn from the dataset seed
        and the field id (the same on every call).
        """
        planes = self._render(specimen_id)["planes"]
        if not noise:
            return planes.copy()
        rng = np.random.default_rng([int(self.seed), _digest("noise", specimen_id)])
        return np.stack([optics.add_sensor_noise(plane, rng=rng) for plane in planes])

    def specimen_mask(self, specimen_id):
        """Return the mask (bool, ``(S, S)``) inside which the patches of field `specimen_id` are cut."""
        return self._render(specimen_id)["mask"].copy()

    def field_of_view(self, specimen_id):
        """Return the ``(center_row, center_col, radius)`` the field was vignetted with."""
        return self._render(specimen_id)["field_of_view"]

    # -------------------------------------------------------------- samples
    def _parse(self, sample_id):
        split, _, number = str(sample_id).partition("-")
        if split in ("test", "validation", "train") and number.isdigit() and len(number) == 4:
            index = int(number)
            if index < len(self.sample_ids(split)):
                return split, index
        ranges = ", ".join(f"{split}-0000..{split}-{len(self.sample_ids(split)) - 1:04d}"
                           for split in ("test", "validation", "train") if self.sample_ids(split))
        raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}; ids are {ranges}")

    def load(self, sample_id):
        from mmdf_bench.tasks.focus import IN_FOCUS, OUT_OF_FOCUS, FocusSample

        split, index = self._parse(sample_id)
        field_id, level, subset, position = self.plan(split)[index]
        record = self._render(field_id)
        rng = np.random.default_rng([int(self.seed), _digest("sample", sample_id)])
        if position is None:
            position = record["positions"][rng.integers(len(record["positions"]))]
        row, col = (int(value) for value in position)
        plane = 0 if level is None else level
        size = self.patch_size
        patch = record["planes"][plane, row : row + size, col : col + size]
        if subset != "clean":
            patch = ARTEFACTS[subset](patch, rng=rng)
        # Artefacts are optical: they come before the camera adds its noise.
        patch = optics.add_sensor_noise(patch, rng=rng)
        label = IN_FOCUS if level == 0 else OUT_OF_FOCUS
        metadata = {
            "specimen": field_id,
            "field": field_id,
            "split": split,
            "row": row,
            "col": col,
            "plane": plane,
            "defocus_um": round(plane * LEVEL_SPACING * 1e6, 4),
            "gain": round(float(record["gains"][plane]), 6),
            "artefact": None if subset == "clean" else subset,
            **record["tile"],
            **record["orientation"],
        }
        return FocusSample(patch=patch, label=label, sample_id=sample_id, group=record["tile"]["source_image"],
                           level=level, subset=subset, metadata=metadata, source=f"{self.name}:{sample_id}")
