import numpy as np
import pytest

from mmdf_bench.data.base import Dataset
from mmdf_bench.data.sources import source_images
from mmdf_bench.data.synthetic_fusion import SyntheticBrightfieldFusion, smooth_depth_map
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.fusion import FusionSample


@pytest.fixture(scope="module")
def dataset():
    return SyntheticBrightfieldFusion(seed=0)


@pytest.fixture(scope="module")
def test_samples(dataset):
    return [dataset.generate(sample_id) for sample_id in dataset.sample_ids("test")[:15]]


def test_class_attributes(dataset):
    assert isinstance(dataset, Dataset)
    assert dataset.name == "synthetic-brightfield-fusion"
    assert dataset.task == "fusion"
    assert dataset.card == "synthetic-brightfield-fusion.md"
    assert dataset.describe()["splits"] == {"train": 96, "validation": 0, "test": 48}


def test_split_ids(dataset):
    test_ids = dataset.sample_ids("test")
    train_ids = dataset.sample_ids("train")
    assert len(test_ids) >= 40
    assert test_ids[0] == "test-000" and train_ids[0] == "train-000"
    assert len(set(test_ids)) == len(test_ids) and not set(test_ids) & set(train_ids)
    with pytest.raises(InvalidInputError, match="test-999"):
        dataset.load("test-999")
    with pytest.raises(InvalidInputError):
        dataset.sample_ids("validation")


def test_sources_are_bundled_rgb():
    images = source_images()
    assert "immunohistochemistry" in images
    for name, image in images.items():
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3, name
        assert 0 <= image.min() and image.max() <= 1, name
        assert not image.flags.writeable


def test_same_seed_same_arrays_and_other_seed_differs(dataset):
    first = dataset.load("test-003")
    again = SyntheticBrightfieldFusion(seed=0).load("test-003")
    np.testing.assert_array_equal(first.stack, again.stack)
    np.testing.assert_array_equal(first.reference, again.reference)
    assert first.metadata == again.metadata
    other = SyntheticBrightfieldFusion(seed=1).load("test-003")
    assert other.stack.shape != first.stack.shape or not np.array_equal(other.stack, first.stack)


def test_samples_have_the_expected_shapes_and_ranges(test_samples):
    for sample, depth in test_samples:
        assert isinstance(sample, FusionSample)
        assert sample.stack.dtype == np.float32 and sample.reference.dtype == np.float32
        assert sample.stack.shape[1:] == (256, 256, 3)
        assert sample.reference.shape == (256, 256, 3)
        assert 2 <= sample.num_planes <= 5
        assert sample.stack.min() >= 0 and sample.stack.max() <= 1
        assert depth.shape == (256, 256) and depth.min() == 0 and depth.max() == 1
        assert len(sample.metadata["plane_depths"]) == sample.num_planes
        assert sample.metadata["plane_depths"] == sorted(sample.metadata["plane_depths"])
        assert all(0 < value < 1 for value in sample.metadata["plane_depths"])
        assert sample.group.startswith(sample.metadata["source_image"])


def test_every_plane_count_occurs(dataset):
    counts = {dataset.load(sample_id).num_planes for sample_id in dataset.sample_ids("test")}
    assert counts == {2, 3, 4, 5}


def test_plane_closest_in_depth_is_closest_to_the_reference(test_samples):
    wins = 0
    for sample, depth in test_samples:
        plane_depths = np.array(sample.metadata["plane_depths"])
        distance = np.abs(depth[None] - plane_depths[:, None, None])
        error = np.abs(sample.stack - sample.reference[None]).mean(axis=-1)
        nearest = np.take_along_axis(error, distance.argmin(axis=0)[None], axis=0).mean()
        farthest = np.take_along_axis(error, distance.argmax(axis=0)[None], axis=0).mean()
        wins += nearest < farthest
        assert nearest < farthest, sample.sample_id
        # Noise alone (about 0.01 mean absolute) bounds the nearest error from below.
        assert nearest > 0.005
    assert wins == len(test_samples)


def test_a_single_plane_at_the_depth_of_a_flat_specimen_is_the_reference_plus_noise():
    from mmdf_bench.data.synthetic_fusion import render_stack

    image = source_images()["immunohistochemistry"][:64, :64]
    depth = np.full((64, 64), 0.3, dtype=np.float32)
    stack, reference = render_stack(
        image, depth, [0.3, 0.9], depth_range=16e-6, rng=np.random.default_rng(0), noise=False
    )
    np.testing.assert_allclose(stack[0], reference, atol=1e-6)
    assert np.abs(stack[1] - reference).mean() > 0.01


def test_train_and_test_crops_do_not_overlap(dataset):
    def boxes(split):
        for sample_id in dataset.sample_ids(split)[:12]:
            metadata = dataset.load(sample_id).metadata
            crop = metadata["crop"]
            yield metadata["source_image"], crop["col"], crop["col"] + crop["size"]

    test_boxes = list(boxes("test"))
    train_boxes = list(boxes("train"))
    for source, test_start, test_stop in test_boxes:
        for other, train_start, train_stop in train_boxes:
            if source == other:
                assert test_stop <= train_start or train_stop <= test_start
    assert {box[0] for box in test_boxes} == set(source_images())


def test_depth_map_is_smooth_and_spans_unit_range():
    depth = smooth_depth_map((128, 128), rng=np.random.default_rng(5))
    assert depth.min() == 0 and depth.max() == 1
    # Neighbouring pixels differ by a tiny fraction of the range.
    assert np.abs(np.diff(depth, axis=0)).max() < 0.1
    assert np.abs(np.diff(depth, axis=1)).max() < 0.1


def test_options_are_checked():
    with pytest.raises(InvalidInputError):
        SyntheticBrightfieldFusion(min_planes=1)
    with pytest.raises(InvalidInputError):
        SyntheticBrightfieldFusion(size=300)
    small = SyntheticBrightfieldFusion(num_test=3, num_train=2, size=64, min_planes=3, max_planes=3)
    assert small.sample_ids("test") == ["test-000", "test-001", "test-002"]
    sample = small.load("train-001")
    assert sample.stack.shape == (3, 64, 64, 3)
