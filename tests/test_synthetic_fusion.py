import numpy as np
import pytest

from mmdf_bench.data.base import Dataset
from mmdf_bench.data.sources import source_images
from mmdf_bench.data.synthetic_fusion import (
    SyntheticBrightfieldFusion,
    SyntheticBrightfieldFusionNoisy,
    nearest_plane_fusion,
    render_stack,
    smooth_depth_map,
)
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import quantise
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
    assert dataset.version == "2"
    # one test / validation sample per field: 7 and 2 fields of each of the 5 sources
    assert dataset.describe()["splits"] == {"train": 96, "validation": 10, "test": 35}
    assert dataset.provides == ("depth-oracle",)


def test_split_ids(dataset):
    test_ids = dataset.sample_ids("test")
    train_ids = dataset.sample_ids("train")
    validation_ids = dataset.sample_ids("validation")
    assert test_ids[0] == "test-000" and train_ids[0] == "train-000" and validation_ids[0] == "validation-000"
    assert len(set(test_ids + train_ids + validation_ids)) == len(test_ids) + len(train_ids) + len(validation_ids)
    with pytest.raises(InvalidInputError, match="test-999"):
        dataset.load("test-999")
    with pytest.raises(InvalidInputError, match="split"):
        dataset.sample_ids("val")
    with pytest.raises(InvalidInputError, match="one sample per test field"):
        SyntheticBrightfieldFusion(num_test=36)


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
        assert sample.stack.shape[1:] == (128, 128, 3)
        assert sample.reference.shape == (128, 128, 3)
        assert 2 <= sample.num_planes <= 5
        assert sample.stack.min() >= 0 and sample.stack.max() <= 1
        assert depth.shape == (128, 128) and depth.min() == 0 and depth.max() == 1
        np.testing.assert_array_equal(sample.depth_map, depth)
        assert sample.plane_depths == pytest.approx(sample.metadata["plane_depths"], abs=1e-6)
        assert len(sample.metadata["plane_depths"]) == sample.num_planes
        assert sample.metadata["plane_depths"] == sorted(sample.metadata["plane_depths"])
        assert all(0 < value < 1 for value in sample.metadata["plane_depths"])
        assert sample.group == sample.metadata["source_image"]


def test_every_plane_count_occurs(dataset):
    counts = {dataset.load(sample_id).num_planes for sample_id in dataset.sample_ids("test")}
    assert counts == {2, 3, 4, 5}


def test_the_reference_is_the_nearest_plane_at_every_pixel(test_samples):
    for sample, depth in test_samples:
        plane_depths = np.array(sample.metadata["plane_depths"])
        distance = np.abs(depth[None] - plane_depths[:, None, None])
        nearest = np.take_along_axis(sample.stack, distance.argmin(axis=0)[None, ..., None], axis=0)[0]
        np.testing.assert_array_equal(sample.reference, nearest)
        farthest = np.take_along_axis(sample.stack, distance.argmax(axis=0)[None, ..., None], axis=0)[0]
        assert np.abs(farthest - sample.reference).mean() > 0.003, sample.sample_id


def test_a_plane_at_the_depth_of_a_flat_specimen_is_the_source_itself():
    # the source is in focus at its native resolution: no extra in-focus blur
    image = source_images()["immunohistochemistry"][:64, :64]
    depth = np.full((64, 64), 0.3, dtype=np.float32)
    stack = render_stack(image, depth, [0.3, 0.9], depth_range=16e-6)
    np.testing.assert_allclose(stack[0], image, atol=1e-5)
    assert np.abs(stack[1] - image).mean() > 0.01
    np.testing.assert_array_equal(nearest_plane_fusion(stack, depth, [0.3, 0.9]), stack[0])


def test_nearest_plane_fusion_closed_form():
    stack = np.stack([np.full((2, 3), value, np.float32) for value in (0.1, 0.5, 0.9)])
    depth = np.array([[0.0, 0.4, 0.5], [0.9, 1.0, 0.21]])
    fused = nearest_plane_fusion(stack, depth, [0.2, 0.5, 0.8])
    # 0.0 -> plane 0; 0.4, 0.5 -> plane 1; 0.9, 1.0 -> plane 2; 0.21 -> plane 0
    np.testing.assert_array_equal(fused, np.array([[0.1, 0.5, 0.5], [0.9, 0.9, 0.1]], np.float32))


def test_default_planes_are_noise_free_and_the_noisy_variant_adds_only_noise(dataset):
    noisy = SyntheticBrightfieldFusionNoisy()
    assert noisy.name == "synthetic-brightfield-fusion-noisy" and noisy.noise and not dataset.noise
    for sample_id in ("test-002", "train-005"):
        clean, rough = dataset.load(sample_id), noisy.load(sample_id)
        assert clean.metadata["crop"] == rough.metadata["crop"]
        np.testing.assert_array_equal(clean.depth_map, rough.depth_map)
        residual = rough.stack - clean.stack
        # shot noise of 2000 photo-electrons: about 0.01-0.02 r.m.s.
        assert 0.005 < residual.std() < 0.03 and abs(residual.mean()) < 0.005
        # the noisy reference is the nearest noisy plane, noise included
        np.testing.assert_array_equal(
            rough.reference, nearest_plane_fusion(rough.stack, rough.depth_map, rough.plane_depths))
    # noise-free planes: rendering the same relief again gives the default stack exactly
    sample = dataset.load("test-002")
    crop = sample.metadata["crop"]
    source = source_images()[sample.metadata["source_image"]]
    image = source[crop["row"]:crop["row"] + crop["size"], crop["col"]:crop["col"] + crop["size"]]
    image = np.rot90(image, crop["rot90"])
    image = image[:, ::-1] if crop["flip"] else image
    again = render_stack(np.ascontiguousarray(image), sample.depth_map, sample.plane_depths,
                         depth_range=sample.metadata["depth_range_um"] * 1e-6)
    # stored at 8 bits, as a camera stores them
    assert sample.bit_depth == 8
    stored = quantise(again, bits=8)
    assert np.abs(sample.stack - stored).max() <= 1 / 255 + 1e-6  # rounding ties only
    assert (sample.stack == stored).mean() > 0.999


def test_depth_map_is_smooth_and_spans_unit_range():
    depth = smooth_depth_map((128, 128), rng=np.random.default_rng(5))
    assert depth.min() == 0 and depth.max() == 1
    # Neighbouring pixels differ by a tiny fraction of the range.
    assert np.abs(np.diff(depth, axis=0)).max() < 0.1
    assert np.abs(np.diff(depth, axis=1)).max() < 0.1


def test_options_are_checked():
    with pytest.raises(InvalidInputError):
        SyntheticBrightfieldFusion(min_planes=1)
    with pytest.raises(InvalidInputError, match="too large"):
        SyntheticBrightfieldFusion(size=300)
    small = SyntheticBrightfieldFusion(num_test=3, num_train=2, size=64, min_planes=3, max_planes=3)
    assert small.sample_ids("test") == ["test-000", "test-001", "test-002"]
    sample = small.load("train-001")
    assert sample.stack.shape == (3, 64, 64, 3)
    # 64-pixel fields: 64 per 512-pixel source, 28 to test and 8 to validation
    assert len(SyntheticBrightfieldFusion(size=64).sample_ids("test")) == 5 * 28
