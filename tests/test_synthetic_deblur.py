from collections import Counter

import numpy as np
import pytest

from mmdf_bench.data import optics
from mmdf_bench.data.sources import source_images
from mmdf_bench.data.synthetic_deblur import (
    BLUR_KINDS,
    IMAGE_SIZE,
    SyntheticBrightfieldDeblur,
    draw_blur_kernel,
    preprocess_frame,
)
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import quantise
from mmdf_bench.tasks.deblur import DeblurSample


@pytest.fixture(scope="module")
def dataset():
    return SyntheticBrightfieldDeblur()


@pytest.fixture(scope="module")
def test_samples(dataset):
    return [dataset.load(sample_id) for sample_id in dataset.sample_ids("test")]


def test_default_splits_have_the_promised_sizes(dataset):
    # one test and one validation sample per region: 4 and 2 regions of each of the 5 sources
    assert len(dataset.sample_ids("test")) == 20
    assert len(dataset.sample_ids("validation")) == 10
    assert len(dataset.sample_ids("train")) == 200
    assert dataset.sample_ids("test")[0] == "test-000"
    assert dataset.sample_ids("validation")[-1] == "validation-009"
    with pytest.raises(InvalidInputError, match="split"):
        dataset.sample_ids("val")


def test_samples_are_256_square_rgb_pairs_with_a_valid_psf(test_samples):
    for sample in test_samples:
        assert isinstance(sample, DeblurSample)
        assert sample.blurred.shape == sample.reference.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert sample.blurred.dtype == sample.reference.dtype == np.float32
        assert sample.psf.shape[0] % 2 == 1 and sample.psf.shape[1] % 2 == 1
        assert sample.psf.sum() == pytest.approx(1.0, abs=1e-9)
        assert sample.metadata["blur"] in BLUR_KINDS


def test_every_blur_kind_is_in_the_test_split_in_the_planned_proportions(test_samples):
    # exact proportions in every whole block of eight samples
    counts = Counter(sample.metadata["blur"] for sample in test_samples[:16])
    assert counts == {"linear-motion": 8, "trajectory-motion": 4, "gaussian": 4}
    scales = Counter(sample.metadata["kernel"]["scale"] for sample in test_samples[:16]
                     if sample.metadata["blur"] == "gaussian")
    assert scales == {"small": 2, "large": 2}
    assert {sample.metadata["blur"] for sample in test_samples} == set(BLUR_KINDS)


def test_linear_motion_runs_along_the_scan_axis(test_samples):
    for sample in test_samples:
        if sample.metadata["blur"] == "linear-motion":
            assert 5 <= sample.metadata["kernel"]["length"] <= 21
            assert abs(sample.metadata["kernel"]["angle"]) <= 5
            # A near-horizontal line: the kernel is wider than tall.
            assert sample.psf.sum(axis=0).std() > 0
            assert np.count_nonzero(sample.psf.sum(axis=1) > 1e-3) <= 3


def test_loading_is_deterministic_and_depends_on_the_seed(dataset):
    again = SyntheticBrightfieldDeblur().load("test-005")
    first = dataset.load("test-005")
    np.testing.assert_array_equal(first.blurred, again.blurred)
    np.testing.assert_array_equal(first.reference, again.reference)
    np.testing.assert_array_equal(first.psf, again.psf)
    assert first.metadata == again.metadata
    other = SyntheticBrightfieldDeblur(seed=1).load("test-005")
    assert not np.array_equal(first.blurred, other.blurred)


def test_splits_use_disjoint_regions_and_groups_name_the_source(dataset, test_samples):
    test_regions = set(dataset.region_ids("test"))
    validation_regions = set(dataset.region_ids("validation"))
    train_regions = set(dataset.region_ids("train"))
    assert len(test_regions) == 20 and len(validation_regions) == 10 and len(train_regions) == 31
    assert not test_regions & train_regions and not validation_regions & (test_regions | train_regions)
    # one test sample per region, and the bootstrap group is the source image
    assert sorted(sample.metadata["field"] for sample in test_samples) == sorted(test_regions)
    assert {sample.group for sample in test_samples} == set(source_images())
    assert all(sample.group == sample.metadata["source_image"] for sample in test_samples)
    assert {region.name for region, _ in dataset.plan("train")} == train_regions
    # every source gives as many train samples, however many regions it has
    assert set(Counter(region.source for region, _ in dataset.plan("train")).values()) == {40}
    for sample_id in ("train-000", "train-137", "validation-003"):
        sample = dataset.load(sample_id)
        assert sample.metadata["field"] in (train_regions if sample_id.startswith("train") else validation_regions)


def test_without_noise_blurred_is_exactly_the_reference_blurred_by_the_psf_and_stored_at_8_bits():
    clean = SyntheticBrightfieldDeblur(noise=False)
    noisy = SyntheticBrightfieldDeblur()
    for sample_id in ("test-000", "test-001", "test-002", "test-003", "train-010"):
        sample = clean.load(sample_id)
        np.testing.assert_array_equal(sample.blurred, quantise(optics.blur(sample.reference, sample.psf)))
        # Noise is drawn last: the noisy twin has the same target and kernel.
        twin = noisy.load(sample_id)
        np.testing.assert_array_equal(twin.reference, sample.reference)
        np.testing.assert_array_equal(twin.psf, sample.psf)
        # Shot noise of 2000 photo-electrons: std sqrt(I / 2000) on a mean intensity I.
        residual = twin.blurred - sample.blurred
        bright = sample.blurred > 0.3
        expected = np.sqrt(np.mean(sample.blurred[bright]) / optics.DEFAULT_PHOTONS)
        assert np.std(residual[bright]) == pytest.approx(expected, rel=0.15)


def test_blur_really_degrades_the_target(test_samples):
    psnr = [10 * np.log10(1 / np.mean((sample.blurred - sample.reference) ** 2)) for sample in test_samples]
    assert 20 < np.median(psnr) < 32
    assert max(psnr) < 40


def test_target_is_the_square_around_the_detected_circular_field(dataset):
    sample, frame = dataset.generate("test-007")
    true_field = sample.metadata["field_of_view"]["true"]
    found = sample.metadata["field_of_view"]["detected"]
    np.testing.assert_allclose(found, true_field, atol=1.0)
    reference = sample.reference.mean(axis=-1)
    # The disc touches the four sides; the corners are the dark surround.
    for corner in (reference[:12, :12], reference[:12, -12:], reference[-12:, :12], reference[-12:, -12:]):
        assert corner.mean() < 0.08
    assert reference[96:160, 96:160].mean() > 0.3
    for middle in (reference[128, :6], reference[128, -6:], reference[:6, 128], reference[-6:, 128]):
        assert middle.max() > 0.2
    # The frame shows the same field in its own pixels, with a dark border.
    assert frame.shape[0] < frame.shape[1]
    assert frame[:4].mean() < 0.06


def test_preprocess_frame_rescales_a_synthetic_disc_to_fill_the_square():
    rows, cols = np.indices((200, 260), dtype=np.float64)
    disc = np.clip(60 - np.hypot(rows - 90, cols - 140) + 0.5, 0, 1)
    frame = np.repeat((0.02 + 0.78 * disc)[..., None], 3, axis=-1).astype(np.float32)
    image, field = preprocess_frame(frame, size=128)
    assert image.shape == (128, 128, 3)
    np.testing.assert_allclose(field, (90, 140, 60), atol=0.5)
    # The disc spans the output: bright at the middle of each side, dark corners.
    assert image[64, 2, 0] > 0.5 and image[2, 64, 0] > 0.5 and image[125, 64, 0] > 0.5
    assert image[2, 2, 0] < 0.1


def test_draw_blur_kernel_kinds():
    rng = np.random.default_rng(0)
    small, small_parameters = draw_blur_kernel("gaussian", rng=rng, scale="small")
    large, large_parameters = draw_blur_kernel("gaussian", rng=rng, scale="large")
    assert 0.8 <= small_parameters["sigma"] <= 1.2 and 2.4 <= large_parameters["sigma"] <= 3.6
    assert small.shape[0] < large.shape[0]
    _, trajectory = draw_blur_kernel("trajectory-motion", rng=rng)
    assert 8 <= trajectory["max_length"] <= 24
    with pytest.raises(InvalidInputError, match="unknown blur kind"):
        draw_blur_kernel("defocus", rng=rng)


def test_unknown_ids_and_bad_counts_are_rejected(dataset):
    for sample_id in ("test-020", "test-1", "val-000", "train-200", "validation-010"):
        with pytest.raises(InvalidInputError, match="unknown sample id"):
            dataset.load(sample_id)
    with pytest.raises(InvalidInputError):
        SyntheticBrightfieldDeblur(num_test=-1)
    # more test samples than regions would overlap: refused
    with pytest.raises(InvalidInputError, match="one sample per test region"):
        SyntheticBrightfieldDeblur(num_test=21)
    assert SyntheticBrightfieldDeblur(num_test=4, num_validation=2, num_train=6).sample_ids("validation") == [
        "validation-000", "validation-001"]


def test_describe_reports_the_options(dataset):
    description = dataset.describe()
    assert description["version"] == "3"
    assert description["splits"] == {"train": 200, "validation": 10, "test": 20}
    assert description["options"]["test_regions"] == 20
    assert description["options"]["noise"] is True


def test_a_perfect_restoration_scores_perfectly_and_identity_returns_its_input(dataset, test_samples):
    # Both images lie on the 8-bit grid the runner rounds restored images to, so
    # rounding takes nothing away from a method that returns the sharp image.
    from mmdf_bench.metrics.full_reference import SSIM
    from mmdf_bench.tasks.deblur import predict

    class Perfect:
        name = "perfect"

        def restore(self, blurred):
            return self.reference

    class Identity:
        name = "identity"

        def restore(self, blurred):
            return blurred

    perfect, identity = Perfect(), Identity()
    for sample in test_samples[:4]:
        assert sample.bit_depth == 8
        for image in (sample.blurred, sample.reference):
            assert np.abs(image * 255.0 - np.round(image * 255.0)).max() < 1e-4
        perfect.reference = sample.reference
        restored = predict(perfect, sample)
        assert np.array_equal(restored, sample.reference)
        assert SSIM().compute(restored, sample) == pytest.approx(1.0)
        assert np.array_equal(predict(identity, sample), sample.blurred)
