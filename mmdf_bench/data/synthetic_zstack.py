"""Synthetic bright-field z-stacks cut into labelled focus patches.

Every specimen is a tile of a bundled source image (`mmdf_bench.data.sources`)
imaged at 11 focal planes through the defocus PSF of `mmdf_bench.data.optics`,
each plane with its own small exposure change, seen through the circular
field stop of a phone-on-eyepiece microscope (`field_of_view`). Patches are
cut only where the `specimen_mask` says there is specimen; in-focus patches
with dust, water drops or condensation (`artefacts`) are labelled out of
focus, as the MMDF authors did. Sensor noise is drawn per patch.

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
from mmdf_bench.data.base import Dataset
from mmdf_bench.data.field_of_view import specimen_mask, vignette_factor
from mmdf_bench.data.patches import window_positions
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

#: Defocus between consecutive levels (metres). At 6 µm the geometric blur
#: disc (radius z NA / n = 1.5 µm = 3 px) just exceeds the in-focus Airy
#: radius (0.61 λ / NA = 1.34 µm): level 1 is visibly but modestly blurred.
#: It is 0.7 of the depth of field λ n / NA² = 8.8 µm; level 10 is 60 µm.
LEVEL_SPACING = 6e-6
NUM_LEVELS = 11
#: Each source image is cut into a GRID x GRID array of square specimens.
GRID = 3
#: Exposure of each plane is multiplied by a gain drawn in this range.
GAIN_RANGE = (0.92, 1.08)
#: Field-of-view radius, as a fraction of the specimen side: from a disc
#: just inside the frame (dark corners and sides) to one clipped by the
#: frame on all four sides, both common on phone images. A random 84-pixel
#: crop would then catch the dark surround in 18-65 % of the positions (seed 0).
RADIUS_RANGE = (0.48, 0.6)
#: Patches whose in-focus luminance varies less than this (standard
#: deviation) show bare glass: their focus is undefined, so none are cut.
MIN_CONTENT = 0.03
#: Pixels between a patch and the edge of the specimen mask.
MASK_MARGIN = 3
#: Fraction of the out-of-focus samples that are artefact patches (test split).
TEST_ARTEFACT_FRACTION = 0.25
#: Fraction of the train split that is artefact patches.
TRAIN_ARTEFACT_FRACTION = 0.125
#: Specimens held in memory (about 4 MB each).
CACHE_SIZE = 32


def _digest(*parts):
    text = "/".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


class SyntheticBrightfieldZStack(Dataset):
    """Focus patches from synthetic bright-field z-stacks with 11 defocus levels.

    Specimens: each of the three bundled sources is cut into a 3x3 grid of
    170-pixel tiles; tile (row, col) is a *test* specimen when
    ``(row + col) % 3 == 0`` (3 per source, one in each grid row and column)
    and a *train* specimen otherwise, so the splits share no specimen pixel.
    Specimen ids read ``<source>-r<row>c<col>``.

    Samples (ids ``test-0000``, ``train-0000``, ...): half of every split is
    in focus (level 0, label 0, subset ``"clean"``). Of the test split's
    out-of-focus half a quarter are artefact patches (level None, label 1,
    subset ``"dust"``, ``"water"`` or ``"condensate"``, in equal numbers)
    and the rest spread evenly over levels 1..10; in the train split the
    artefact patches make 1/8 of the whole. Every category is spread
    round-robin over the split's specimens.

    Parameters
    ----------
    root : ignored
    seed : int, optional
        Changes every specimen (orientation, field of view, gains) and sample.
    num_test, num_train : int, optional
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
    licence: ClassVar[str] = "generated; source images CC0 or without known copyright restrictions"
    version: ClassVar[str] = "1"
    card: ClassVar[str] = "synthetic-brightfield-zstack.md"
    num_levels: ClassVar[int] = NUM_LEVELS

    def __init__(self, *, root=None, seed=0, num_test=240, num_train=1600, patch_size=84):
        super().__init__(root=root, seed=seed)
        if num_test < 0 or num_train < 0:
            raise InvalidInputError(f"{self.name}: sample counts must be non-negative")
        if num_test > 9999 or num_train > 9999:
            raise InvalidInputError(f"{self.name}: at most 9999 samples per split")
        self.num_test, self.num_train = int(num_test), int(num_train)
        self.patch_size = int(patch_size)
        sources = source_images()
        self.tile_size = min(min(image.shape[:2]) for image in sources.values()) // GRID
        if not 8 <= self.patch_size <= int(self.tile_size * RADIUS_RANGE[0] * np.sqrt(2)):
            raise InvalidInputError(
                f"{self.name}: patch_size must lie in [8, {int(self.tile_size * RADIUS_RANGE[0] * np.sqrt(2))}] "
                f"to fit inside the field of view of a {self.tile_size}-pixel specimen, got {patch_size}")
        self._specimens = {"test": [], "train": []}
        for source in sources:
            for row in range(GRID):
                for col in range(GRID):
                    split = "test" if (row + col) % GRID == 0 else "train"
                    self._specimens[split].append(f"{source}-r{row}c{col}")
        self._plans = {}
        self._cache = OrderedDict()

    # ------------------------------------------------------------------ ids
    def specimen_ids(self, split):
        """Return the specimen ids of `split`."""
        self._check_split(split)
        return list(self._specimens[split])

    def sample_ids(self, split):
        self._check_split(split)
        count = self.num_test if split == "test" else self.num_train
        return [f"{split}-{index:04d}" for index in range(count)]

    def _check_split(self, split):
        if split not in self._specimens:
            raise InvalidInputError(f"{self.name}: unknown split {split!r}; use 'train' or 'test'")

    def describe(self):
        description = super().describe()
        description["options"] = {
            "patch_size": self.patch_size,
            "num_levels": NUM_LEVELS,
            "level_spacing_um": LEVEL_SPACING * 1e6,
            "specimen_size": self.tile_size,
            "test_specimens": len(self._specimens["test"]),
            "train_specimens": len(self._specimens["train"]),
        }
        return description

    # ----------------------------------------------------------------- plan
    def plan(self, split):
        """Return ``[(specimen_id, level, subset), ...]``, one entry per sample of `split`.

        ``level`` is None for artefact patches; ``subset`` is ``"clean"`` or the artefact kind.
        """
        self._check_split(split)
        if split not in self._plans:
            self._plans[split] = self._make_plan(split)
        return self._plans[split]

    def _make_plan(self, split):
        rng = np.random.default_rng([int(self.seed), _digest("plan", split)])
        total = self.num_test if split == "test" else self.num_train
        in_focus = total // 2
        if split == "test":
            artefacts = (total - in_focus) // round(1 / TEST_ARTEFACT_FRACTION)
        else:
            artefacts = round(total * TRAIN_ARTEFACT_FRACTION)
        defocused = total - in_focus - artefacts
        categories = [(0, "clean")] * in_focus
        kinds = list(ARTEFACTS)
        categories += [(None, kinds[index % len(kinds)]) for index in range(artefacts)]
        categories += [(1 + index % (NUM_LEVELS - 1), "clean") for index in range(defocused)]
        # Round-robin over specimens within each category, from a shuffled start.
        specimens = list(self._specimens[split])
        rng.shuffle(specimens)
        counters, entries = {}, []
        for level, subset in categories:
            key = (level, subset)
            position = counters.get(key, int(rng.integers(len(specimens))))
            counters[key] = position + 1
            entries.append((specimens[position % len(specimens)], level, subset))
        order = rng.permutation(len(entries))
        return [entries[index] for index in order]

    # ------------------------------------------------------------ specimens
    def _parse_specimen(self, specimen_id):
        source, _, tile = str(specimen_id).rpartition("-")
        if source in source_images() and len(tile) == 4 and tile[0] == "r" and tile[2] == "c" \
                and tile[1].isdigit() and tile[3].isdigit() and int(tile[1]) < GRID and int(tile[3]) < GRID:
            return source, int(tile[1]), int(tile[3])
        known = ", ".join(self._specimens["test"] + self._specimens["train"])
        raise InvalidInputError(f"{self.name}: unknown specimen id {specimen_id!r}; known: {known}")

    def _render(self, specimen_id):
        """Noise-free planes, valid patch corners and the field of view of one specimen (cached)."""
        if specimen_id in self._cache:
            self._cache.move_to_end(specimen_id)
            return self._cache[specimen_id]
        from scipy.ndimage import binary_erosion

        source, row, col = self._parse_specimen(specimen_id)
        rng = np.random.default_rng([int(self.seed), _digest("specimen", specimen_id)])
        size = self.tile_size
        tile = source_images()[source][row * size : (row + 1) * size, col * size : (col + 1) * size]
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        tile = np.rot90(tile, turns)
        tile = np.ascontiguousarray(tile[:, ::-1] if flip else tile)
        psfs = [optics.defocus_psf(level * LEVEL_SPACING) for level in range(NUM_LEVELS)]
        planes = optics.blur_many(tile, psfs)
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
        positions = window_positions(inner, self.patch_size, luminance=to_gray(planes[0]), min_content=MIN_CONTENT)
        if len(positions) == 0:
            raise InvalidInputError(f"{self.name}: specimen {specimen_id} has no patch inside its field of view")
        record = {
            "planes": planes,
            "positions": positions,
            "mask": mask,
            "field_of_view": (float(center[0]), float(center[1]), radius),
            "gains": gains,
            "orientation": {"rot90": turns, "flip": flip},
            "tile": {"source_image": source, "tile_row": row * size, "tile_col": col * size, "tile_size": size},
        }
        self._cache[specimen_id] = record
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return record

    def specimen_stack(self, specimen_id, *, noise=True):
        """Return the z-stack of one specimen, shape ``(11, S, S, 3)``, plane k at level k.

        With `noise`, each plane gets sensor noise drawn from the dataset seed
        and the specimen id (the same on every call).
        """
        planes = self._render(specimen_id)["planes"]
        if not noise:
            return planes.copy()
        rng = np.random.default_rng([int(self.seed), _digest("noise", specimen_id)])
        return np.stack([optics.add_sensor_noise(plane, rng=rng) for plane in planes])

    def specimen_mask(self, specimen_id):
        """Return the mask (bool, ``(S, S)``) inside which the patches of `specimen_id` are cut."""
        return self._render(specimen_id)["mask"].copy()

    def field_of_view(self, specimen_id):
        """Return the ``(center_row, center_col, radius)`` the specimen was vignetted with."""
        return self._render(specimen_id)["field_of_view"]

    # -------------------------------------------------------------- samples
    def _parse(self, sample_id):
        split, _, number = str(sample_id).partition("-")
        if split in self._specimens and number.isdigit() and len(number) == 4:
            index = int(number)
            if index < len(self.sample_ids(split)):
                return split, index
        raise InvalidInputError(
            f"{self.name}: unknown sample id {sample_id!r}; ids are test-0000..test-{self.num_test - 1:04d} "
            f"and train-0000..train-{self.num_train - 1:04d}")

    def load(self, sample_id):
        from mmdf_bench.tasks.focus import IN_FOCUS, OUT_OF_FOCUS, FocusSample

        split, index = self._parse(sample_id)
        specimen_id, level, subset = self.plan(split)[index]
        record = self._render(specimen_id)
        rng = np.random.default_rng([int(self.seed), _digest("sample", sample_id)])
        row, col = (int(value) for value in record["positions"][rng.integers(len(record["positions"]))])
        plane = 0 if level is None else level
        size = self.patch_size
        patch = record["planes"][plane, row : row + size, col : col + size]
        if subset != "clean":
            patch = ARTEFACTS[subset](patch, rng=rng)
        # Artefacts are optical: they come before the camera adds its noise.
        patch = optics.add_sensor_noise(patch, rng=rng)
        label = IN_FOCUS if level == 0 else OUT_OF_FOCUS
        metadata = {
            "specimen": specimen_id,
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
        return FocusSample(patch=patch, label=label, sample_id=sample_id, group=specimen_id, level=level,
                           subset=subset, metadata=metadata, source=f"{self.name}:{sample_id}")
