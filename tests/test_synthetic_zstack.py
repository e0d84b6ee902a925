from collections import Counter

import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr

from mmdf_bench.data.base import Dataset
from mmdf_bench.data.patches import window_positions
from mmdf_bench.data.sources import source_images
from mmdf_bench.data.synthetic_zstack import LEVEL_SPACING, NUM_LEVELS, SyntheticBrightfieldZStack
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray
from mmdf_bench.tasks.focus import FocusSample


def variance_of_laplacian(image):
    return float(cv2.Laplacian(to_gray(image).astype(np.float32), cv2.CV_32F).astype(np.float64).var())


@pytest.fixture(scope="module")
def dataset():
    return SyntheticBrightfieldZStack(seed=0)


@pytest.fixture(scope="module")
def test_samples(dataset):
    return [dataset.load(sample_id) for sample_id in dataset.sample_ids("test")]


def test_class_attributes(dataset):
    assert isinstance(dataset, Dataset)
    assert dataset.name == "synthetic-brightfield-zstack" and dataset.task == "focus"
    assert dataset.version == "2" and dataset.card == "synthetic-brightfield-zstack.md"
    assert dataset.num_levels == NUM_LEVELS == 11
    description = dataset.describe()
    # 4 non-overlapping patches in each of the 2 test fields of the 5 sources
    assert description["splits"] == {"train": 1600, "validation": 400, "test": 40}
    assert description["options"]["level_spacing_um"] == pytest.approx(LEVEL_SPACING * 1e6)


def test_ids_and_errors(dataset):
    test_ids, train_ids = dataset.sample_ids("test"), dataset.sample_ids("train")
    assert test_ids[0] == "test-0000" and train_ids[-1] == "train-1599"
    assert dataset.sample_ids("validation")[-1] == "validation-0399"
    assert not set(test_ids) & set(train_ids)
    for bad in ("test-0040", "test-12", "train", "validation-0400"):
        with pytest.raises(InvalidInputError):
            dataset.load(bad)
    with pytest.raises(InvalidInputError, match="split"):
        dataset.sample_ids("val")
    with pytest.raises(InvalidInputError, match="specimen"):
        dataset.specimen_stack("gravel-r9c9")
    with pytest.raises(InvalidInputError):
        SyntheticBrightfieldZStack(patch_size=200)
    with pytest.raises(InvalidInputError, match="non-overlapping"):
        SyntheticBrightfieldZStack(num_test=41).sample_ids("test")
    assert len(SyntheticBrightfieldZStack(num_test=10).sample_ids("test")) == 10


def test_determinism_and_seed(dataset):
    first = dataset.load("test-0007")
    again = SyntheticBrightfieldZStack(seed=0).load("test-0007")
    np.testing.assert_array_equal(first.patch, again.patch)
    assert (first.label, first.level, first.subset, first.metadata) == \
        (again.label, again.level, again.subset, again.metadata)
    # Loading order does not matter (each sample has its own generator).
    fresh = SyntheticBrightfieldZStack(seed=0)
    fresh.load("test-0030")
    np.testing.assert_array_equal(fresh.load("test-0007").patch, first.patch)
    other = SyntheticBrightfieldZStack(seed=1).load("test-0007")
    assert not np.array_equal(other.patch, first.patch)


def test_test_split_is_balanced_with_all_artefacts(test_samples):
    labels = Counter(sample.label for sample in test_samples)
    assert labels[0] == labels[1] == len(test_samples) // 2
    subsets = Counter(sample.subset for sample in test_samples)
    assert (subsets["dust"], subsets["water"], subsets["condensate"]) == (2, 2, 1)
    # every source gets as many in-focus as out-of-focus patches
    for source in source_images():
        mine = Counter(sample.label for sample in test_samples if sample.group == source)
        assert mine[0] == mine[1] == 4, source
    for sample in test_samples:
        assert isinstance(sample, FocusSample)
        assert sample.patch.shape == (84, 84, 3) and sample.patch.dtype == np.float32
        if sample.subset == "clean":
            assert sample.label == int(sample.level >= 1)
        else:
            assert sample.label == 1 and sample.level is None and sample.metadata["plane"] == 0
    levels = Counter(sample.level for sample in test_samples if sample.subset == "clean")
    assert levels[0] == 20 and set(levels) == set(range(NUM_LEVELS))
    assert {sample.group for sample in test_samples} == set(source_images())


@pytest.mark.parametrize("split, total", [("train", 1600), ("validation", 400)])
def test_train_and_validation_composition(dataset, split, total):
    plan = dataset.plan(split)
    assert len(plan) == total
    levels = Counter(level for _, level, subset, _ in plan if subset == "clean")
    assert set(levels) == set(range(NUM_LEVELS)) and levels[0] == total // 2
    assert sum(1 for _, _, subset, _ in plan if subset != "clean") == total // 8
    assert Counter(subset for _, _, subset, _ in plan if subset != "clean").keys() == {"dust", "water", "condensate"}
    # Every field gets in-focus and defocused patches; every source weighs the same.
    for field in dataset.specimen_ids(split):
        mine = [level for name, level, _, _ in plan if name == field]
        assert 0 in mine and any(level and level >= 1 for level in mine)
    per_source = Counter(name.rsplit("-r", 1)[0] for name, _, _, _ in plan)
    assert max(per_source.values()) - min(per_source.values()) <= 10


def test_fields_are_disjoint_between_splits(dataset):
    fields = {split: dataset.specimen_ids(split) for split in ("test", "validation", "train")}
    assert [len(fields[split]) for split in ("test", "validation", "train")] == [10, 5, 10]
    assert len(set().union(*fields.values())) == 25
    assert {name for name, _, _, _ in dataset.plan("test")} == set(fields["test"])
    # Disjoint in pixels, not only in names: no two fields of one source overlap.
    boxes = {}
    for split in fields:
        for sample_id in dataset.sample_ids(split)[:80]:
            metadata = dataset.load(sample_id).metadata
            boxes.setdefault(split, set()).add((metadata["source_image"], metadata["tile_row"],
                                                metadata["tile_col"], metadata["tile_size"]))
    for split, other in (("test", "train"), ("test", "validation"), ("validation", "train")):
        for source, row, col, size in boxes[split]:
            for other_source, other_row, other_col, other_size in boxes[other]:
                overlap_rows = min(row + size, other_row + other_size) - max(row, other_row)
                overlap_cols = min(col + size, other_col + other_size) - max(col, other_col)
                assert source != other_source or overlap_rows <= 0 or overlap_cols <= 0


def test_test_patches_of_a_field_do_not_overlap(test_samples):
    by_field = {}
    for sample in test_samples:
        by_field.setdefault(sample.metadata["field"], []).append((sample.metadata["row"], sample.metadata["col"]))
    for field, corners in by_field.items():
        assert len(set(corners)) == len(corners), field
        for index, (row, col) in enumerate(corners):
            for other_row, other_col in corners[index + 1:]:
                assert abs(row - other_row) >= 84 or abs(col - other_col) >= 84, field


def test_patches_lie_inside_the_field_of_view(dataset, test_samples):
    for sample in test_samples[:80]:
        metadata = sample.metadata
        mask = dataset.specimen_mask(sample.metadata["field"])
        size = 84
        assert mask[metadata["row"] : metadata["row"] + size, metadata["col"] : metadata["col"] + size].all()
        center_row, center_col, radius = dataset.field_of_view(sample.metadata["field"])
        corners = [(metadata["row"] + dr, metadata["col"] + dc) for dr in (0, size - 1) for dc in (0, size - 1)]
        assert all(np.hypot(r - center_row, c - center_col) < radius for r, c in corners)
    # No dark surround in any patch: its mean luminance stays far above the surround (<= 5 %).
    assert min(to_gray(sample.patch).mean() for sample in test_samples) > 0.25


def test_the_mask_matters(dataset):
    # A crop anywhere in the specimen would often catch the dark surround.
    specimen = dataset.specimen_ids("test")[0]
    mask = dataset.specimen_mask(specimen)
    assert 0.5 < mask.mean() < 0.97
    everywhere = np.ones_like(mask)
    assert len(window_positions(mask, 84)) < 0.8 * len(window_positions(everywhere, 84))


def test_window_positions_closed_form():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:7, 3:11] = True
    positions = window_positions(mask, 4)
    expected = [(row, col) for row in range(2, 4) for col in range(3, 8)]
    assert [tuple(position) for position in positions] == expected
    luminance = np.zeros((10, 12))
    luminance[:, 9:] = 1.0
    textured = window_positions(mask, 4, luminance=luminance, min_content=0.1)
    assert [tuple(position) for position in textured] == [(row, col) for row in range(2, 4) for col in range(6, 8)]


def test_sharpness_falls_with_level(dataset, test_samples):
    clean = [(sample.level, variance_of_laplacian(sample.patch)) for sample in test_samples
             if sample.subset == "clean"]
    means = {level: np.mean([value for lv, value in clean if lv == level]) for level in range(NUM_LEVELS)}
    assert means[0] > means[1] > means[2]
    assert means[0] > 1.2 * np.mean([means[level] for level in range(6, NUM_LEVELS)])
    assert spearmanr(*zip(*clean)).statistic < -0.5
    # Without noise the fall is strict over the first levels of every field (centre crop).
    for specimen in dataset.specimen_ids("test")[:5]:
        stack = dataset.specimen_stack(specimen, noise=False)
        scores = [variance_of_laplacian(plane[88:168, 88:168]) for plane in stack[:7]]
        assert all(later < earlier for earlier, later in zip(scores, scores[1:])), scores


def test_specimen_stack(dataset):
    specimen = dataset.specimen_ids("train")[1]
    stack = dataset.specimen_stack(specimen)
    assert stack.shape == (NUM_LEVELS, dataset.tile_size, dataset.tile_size, 3) and stack.dtype == np.float32
    np.testing.assert_array_equal(stack, dataset.specimen_stack(specimen))
    clean = dataset.specimen_stack(specimen, noise=False)
    assert 0.003 < np.abs(stack - clean).mean() < 0.03
    # A patch at level L is the level-L plane at its position, plus noise.
    sample = next(dataset.load(sample_id) for sample_id, (name, level, subset, _)
                  in zip(dataset.sample_ids("train"), dataset.plan("train")) if name == specimen and level == 3)
    row, col = sample.metadata["row"], sample.metadata["col"]
    reference = clean[3, row : row + 84, col : col + 84]
    assert np.abs(sample.patch - reference).mean() < 0.03
    assert np.abs(sample.patch - clean[0, row : row + 84, col : col + 84]).mean() > \
        np.abs(sample.patch - reference).mean()
