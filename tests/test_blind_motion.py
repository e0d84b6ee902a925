"""Blind straight-line motion: cepstral estimation of length and angle, then deconvolution."""

import numpy as np
import pytest
from skimage import data

from mmdf_bench.baselines.blind_motion import (DEFAULT_MIN_STRENGTH, LinearMotion, blind_motion_deconvolution,
                                    estimate_linear_motion, kernel_fits, log_spectrum_cepstrum, motion_kernel)
from mmdf_bench.data import optics
from mmdf_bench.data.blur_kernels import gaussian_kernel, linear_motion_kernel
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.full_reference import psnr


@pytest.fixture(scope="module")
def scene():
    return data.immunohistochemistry().astype(np.float32) / 255


def blurred_crop(scene, psf, *, seed=0, size=256, top=122, left=100):
    """A noisy crop of the blurred scene (not periodic: the scene goes on past its border)."""
    window = (slice(top, top + size), slice(left, left + size))
    blurred = optics.add_sensor_noise(optics.blur(scene, psf)[window], rng=np.random.default_rng(seed))
    return scene[window], blurred


def angle_difference(first, second):
    """Distance between two line directions, in degrees (a line and its reverse are the same)."""
    return abs((first - second + 90.0) % 180.0 - 90.0)


@pytest.mark.parametrize("length, angle", [(9, 30), (12, 0), (15, 60), (18, 90), (20, 135), (10, 170), (21, 176),
                                           (8, 3)])
def test_the_cepstrum_recovers_the_length_and_angle_of_a_linear_motion(scene, length, angle):
    _, blurred = blurred_crop(scene, linear_motion_kernel(length, angle), seed=length)
    motion = estimate_linear_motion(blurred)
    assert motion.length == pytest.approx(length, abs=1.0)
    assert angle_difference(motion.angle, angle) <= 4.0
    assert 0 <= motion.angle < 180
    assert motion.strength >= DEFAULT_MIN_STRENGTH


def test_a_grey_image_gives_the_same_estimate_as_its_colour_version(scene):
    _, blurred = blurred_crop(scene, linear_motion_kernel(14, 45))
    colour = estimate_linear_motion(blurred)
    grey = estimate_linear_motion(blurred.mean(axis=2))
    assert grey.length == pytest.approx(colour.length, abs=0.5)
    assert angle_difference(grey.angle, colour.angle) <= 1.0


def test_the_cepstrum_of_a_motion_blur_has_its_minimum_at_the_motion_offset(scene):
    _, blurred = blurred_crop(scene, linear_motion_kernel(16, 0))
    cepstrum = log_spectrum_cepstrum(blurred)
    center = np.array(cepstrum.shape) // 2
    # Search away from the origin, where the image's own cepstrum lives.
    masked = cepstrum.copy()
    masked[center[0] - 3 : center[0] + 4, center[1] - 3 : center[1] + 4] = np.inf
    offset = np.array(np.unravel_index(np.argmin(masked), masked.shape)) - center
    assert abs(offset[0]) <= 1 and abs(abs(offset[1]) - 16) <= 1


def test_blind_deconvolution_restores_a_linear_motion_blur(scene):
    sharp, blurred = blurred_crop(scene, linear_motion_kernel(13, 20), seed=4)
    restored, motion = blind_motion_deconvolution(blurred, balance=0.03)
    assert motion.length == pytest.approx(13, abs=1.0)
    assert restored.shape == blurred.shape and restored.dtype == np.float32
    assert psnr(restored, sharp) > psnr(blurred, sharp) + 2.0


def test_blur_without_a_direction_is_left_alone(scene):
    # A Gaussian blur has no line in its cepstrum: the detection is weak and the input comes back unchanged.
    _, blurred = blurred_crop(scene, gaussian_kernel(2.5), seed=2)
    restored, motion = blind_motion_deconvolution(blurred)
    assert motion.strength < DEFAULT_MIN_STRENGTH
    np.testing.assert_array_equal(restored, blurred)


def test_a_threshold_of_one_always_deconvolves(scene):
    _, blurred = blurred_crop(scene, gaussian_kernel(2.5), seed=2)
    restored, motion = blind_motion_deconvolution(blurred, min_strength=1.0)
    assert motion.strength >= 1.0
    assert not np.array_equal(restored, blurred)


def test_linear_motion_unpacks_and_motion_kernel_is_the_dataset_kernel():
    motion = LinearMotion(7.5, 30.0, 2.0)
    length, angle = motion
    assert (length, angle, motion.length, motion.angle, motion.strength) == (7.5, 30.0, 7.5, 30.0, 2.0)
    np.testing.assert_array_equal(motion_kernel(*motion), linear_motion_kernel(7.5, 30.0))


def test_kernel_fits_requires_half_the_image_size():
    image = np.zeros((40, 30))
    assert kernel_fits(np.ones((19, 15)), image)
    assert not kernel_fits(np.ones((21, 15)), image)
    assert not kernel_fits(np.ones((19, 17)), image)


def test_a_kernel_too_long_for_a_small_image_leaves_it_unchanged():
    rng = np.random.default_rng(0)
    image = optics.blur(rng.random((36, 36)).astype(np.float32), linear_motion_kernel(17, 0))
    # Every length searched needs a 19-pixel kernel, more than half of 36.
    restored, motion = blind_motion_deconvolution(image, min_length=17, max_length=17.75, min_strength=1.0)
    assert not kernel_fits(motion_kernel(*motion), image)
    np.testing.assert_array_equal(restored, image)


def test_bad_search_ranges_and_images_are_rejected():
    image = np.full((64, 64), 0.5, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="half the image side"):
        estimate_linear_motion(image, max_length=32)
    with pytest.raises(InvalidInputError, match="min_length < max_length"):
        estimate_linear_motion(image, min_length=10, max_length=8)
    with pytest.raises(InvalidInputError, match="expected an"):
        estimate_linear_motion(np.full((64, 64, 4), 0.5, dtype=np.float32), max_length=20)
