"""Non-blind deconvolution functions: edge handling, Wiener, Richardson-Lucy, unsupervised Wiener."""

import itertools

import numpy as np
import pytest
from scipy import fft
from skimage import data

from mmdf_bench.baselines.deconvolution import (EDGE_MODES, edge_taper, transfer_function, unsupervised_wiener,
                                     wiener_deconvolution)
from mmdf_bench.baselines.richardson_lucy import (MAX_TV_WEIGHT, richardson_lucy, richardson_lucy_iterates,
                                       total_variation_divergence)
from mmdf_bench.data import optics
from mmdf_bench.data.blur_kernels import gaussian_kernel, linear_motion_kernel
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.full_reference import psnr

DELTA = np.array([[1.0]])


@pytest.fixture(scope="module")
def scene():
    """A 512x512 RGB bright-field image (immunohistochemistry), float32 in [0, 1]."""
    return data.immunohistochemistry().astype(np.float32) / 255


def crop_of_blurred_scene(scene, psf, *, top=200, left=300, size=128):
    """Sharp and blurred crops of a larger scene: the blur brought in light from past the crop's border."""
    window = (slice(top, top + size), slice(left, left + size))
    return scene[window], optics.blur(scene, psf)[window]


def circular_blur(image, psf):
    """Periodic convolution: the blur model FFT deconvolution assumes."""
    transfer = transfer_function(psf, image.shape)
    transfer = transfer[..., None] if image.ndim == 3 else transfer
    return fft.irfft2(fft.rfft2(image, axes=(0, 1)) * transfer, s=image.shape[:2], axes=(0, 1))


def smooth_periodic_image(size=64):
    rows, cols = np.mgrid[0:size, 0:size] * (2 * np.pi / size)
    return (0.5 + 0.2 * np.sin(3 * cols) * np.cos(2 * rows) + 0.15 * np.cos(5 * rows + cols)).astype(np.float32)


# Edge handling ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("psf", [linear_motion_kernel(11, 0), linear_motion_kernel(9, 30), gaussian_kernel(2.0)],
                         ids=["horizontal-motion", "oblique-motion", "gaussian"])
def test_plain_wiener_on_non_periodic_borders_loses_to_the_blurred_input_and_tapering_fixes_it(scene, psf):
    sharp, blurred = crop_of_blurred_scene(scene, psf)
    blurred_psnr = psnr(blurred, sharp)
    periodic = psnr(wiener_deconvolution(blurred, psf, balance=0.01, edges="periodic"), sharp)
    tapered = psnr(wiener_deconvolution(blurred, psf, balance=0.01, edges="taper"), sharp)
    padded = psnr(wiener_deconvolution(blurred, psf, balance=0.01, edges="pad"), sharp)
    # The wrap-around jump is "explained" as a sharp edge whose ringing covers the image.
    assert periodic < blurred_psnr
    assert tapered > max(blurred_psnr, periodic) + 1.0
    assert padded > max(blurred_psnr, periodic) + 1.0


def test_periodic_wiener_is_exact_on_a_circular_blur_and_the_edge_treatments_cost_little_there():
    # Border handling is needed only because real borders are not periodic.
    sharp = smooth_periodic_image()
    psf = gaussian_kernel(1.5)
    blurred = circular_blur(sharp, psf).astype(np.float32)
    assert psnr(wiener_deconvolution(blurred, psf, balance=1e-7, edges="periodic"), sharp) > 60
    for edges in ("taper", "pad"):
        assert psnr(wiener_deconvolution(blurred, psf, balance=1e-3, edges=edges), sharp) > 35


def test_edge_taper_keeps_the_interior_and_makes_the_outermost_pixels_a_periodic_blur(scene):
    image = scene[:96, :80]
    psf = linear_motion_kernel(6, 20)
    tapered = edge_taper(image, psf)
    margin_rows, margin_cols = psf.shape
    np.testing.assert_allclose(tapered[margin_rows:-margin_rows, margin_cols:-margin_cols],
                               image[margin_rows:-margin_rows, margin_cols:-margin_cols], atol=1e-6)
    periodic = circular_blur(image.astype(np.float64), psf)
    for border in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        np.testing.assert_allclose(tapered[border], periodic[border], atol=1e-5)
    assert tapered.dtype == np.float32 and tapered.shape == image.shape


def test_edge_taper_leaves_a_constant_image_and_any_image_under_a_delta_psf_unchanged(scene):
    constant = np.full((40, 50), 0.3, dtype=np.float32)
    np.testing.assert_allclose(edge_taper(constant, gaussian_kernel(2.0)), constant, atol=1e-6)
    np.testing.assert_allclose(edge_taper(scene[:40, :50], DELTA), scene[:40, :50], atol=1e-6)


# Wiener --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("edges", EDGE_MODES)
def test_wiener_with_a_delta_psf_and_a_vanishing_balance_returns_the_input(scene, edges):
    image = scene[:64, :72]
    np.testing.assert_allclose(wiener_deconvolution(image, DELTA, balance=1e-9, edges=edges), image, atol=1e-5)


def test_wiener_with_a_delta_psf_is_the_closed_form_laplacian_smoother():
    # X = Y / (1 + balance |L|^2): a cosine along the columns at frequency omega keeps its
    # mean and has its amplitude scaled by 1 / (1 + balance (2 - 2 cos omega)^2).
    size, cycles, balance = 64, 5, 0.2
    omega = 2 * np.pi * cycles / size
    wave = np.cos(omega * np.arange(size))[None, :].repeat(size, axis=0)
    restored = wiener_deconvolution(0.5 + 0.25 * wave, DELTA, balance=balance, edges="periodic")
    gain = 1.0 / (1.0 + balance * (2 - 2 * np.cos(omega)) ** 2)
    np.testing.assert_allclose(restored, 0.5 + 0.25 * gain * wave, atol=1e-6)


def test_wiener_inverts_a_circular_blur_without_spectral_zeros():
    sharp = smooth_periodic_image()
    psf = np.array([[0.0, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]])  # |H| >= 0.2: invertible
    blurred = circular_blur(sharp, psf).astype(np.float32)
    restored = wiener_deconvolution(blurred, psf, balance=1e-9, regularizer="identity", edges="periodic")
    np.testing.assert_allclose(restored, sharp, atol=1e-5)


def test_wiener_restores_rgb_channel_by_channel(scene):
    image = scene[100:164, 100:170]
    psf = linear_motion_kernel(7, 10)
    restored = wiener_deconvolution(image, psf, balance=0.02)
    assert restored.shape == image.shape and restored.dtype == np.float32
    for channel in range(3):
        np.testing.assert_allclose(restored[..., channel],
                                   wiener_deconvolution(image[..., channel], psf, balance=0.02), atol=1e-6)


# Richardson-Lucy --------------------------------------------------------------------------------------

@pytest.mark.parametrize("edges", EDGE_MODES)
@pytest.mark.parametrize("tv_weight", [0.0, 0.01])
def test_richardson_lucy_with_a_delta_psf_returns_the_input(scene, edges, tv_weight):
    image = scene[:48, :56]
    restored = richardson_lucy(image, DELTA, num_iter=7, edges=edges, tv_weight=0.0)
    np.testing.assert_allclose(restored, image, atol=1e-6)
    if tv_weight:
        # With a delta PSF the likelihood is at its optimum: only the prior moves the image, smoothing it.
        smoothed = richardson_lucy(image, DELTA, num_iter=7, edges=edges, tv_weight=tv_weight)
        assert np.abs(np.diff(smoothed, axis=1)).sum() < np.abs(np.diff(image, axis=1)).sum()


def test_richardson_lucy_converges_towards_the_truth_on_a_noise_free_circular_blur():
    sharp = smooth_periodic_image()
    psf = gaussian_kernel(2.0)
    blurred = circular_blur(sharp, psf).astype(np.float32)
    errors = [np.abs(restored - sharp).mean()
              for _, restored in richardson_lucy_iterates(blurred, psf, [1, 5, 25, 125], edges="periodic")]
    assert all(later < earlier for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < 0.2 * np.abs(blurred - sharp).mean()


def test_richardson_lucy_preserves_the_total_intensity_of_a_periodic_image():
    sharp = smooth_periodic_image()
    psf = linear_motion_kernel(9, 45)
    blurred = circular_blur(sharp, psf).astype(np.float32)
    restored = richardson_lucy(blurred, psf, num_iter=10, edges="periodic")
    assert restored.sum() == pytest.approx(blurred.sum(), rel=1e-4)


def test_richardson_lucy_iterates_match_separate_runs_and_ignore_duplicate_counts(scene):
    image = scene[:40, :40, 0]
    psf = gaussian_kernel(1.0)
    by_count = dict(richardson_lucy_iterates(image, psf, [4, 2, 4]))
    assert list(by_count) == [2, 4]
    for count, restored in by_count.items():
        np.testing.assert_array_equal(restored, richardson_lucy(image, psf, num_iter=count))


def test_richardson_lucy_restores_rgb_channel_by_channel(scene):
    image = scene[200:250, 200:260]
    psf = gaussian_kernel(1.5)
    restored = richardson_lucy(image, psf, num_iter=5, tv_weight=0.005)
    for channel in range(3):
        np.testing.assert_allclose(restored[..., channel],
                                   richardson_lucy(image[..., channel], psf, num_iter=5, tv_weight=0.005),
                                   atol=1e-6)


def test_the_total_variation_prior_damps_noise_that_plain_richardson_lucy_amplifies():
    rng = np.random.default_rng(3)
    sharp = np.full((64, 64), 0.5, dtype=np.float32)
    psf = gaussian_kernel(1.5)
    noisy = optics.add_sensor_noise(sharp, rng=rng)
    plain = richardson_lucy(noisy, psf, num_iter=30, edges="periodic")
    regularised = richardson_lucy(noisy, psf, num_iter=30, tv_weight=0.01, edges="periodic")
    assert plain.std() > noisy.std()
    assert regularised.std() < 0.5 * plain.std()


def test_total_variation_divergence_is_minus_the_gradient_of_the_smoothed_total_variation():
    rng = np.random.default_rng(0)
    image = rng.random((12, 10))
    epsilon = 0.05

    def energy(values):
        gradient_cols = np.roll(values, -1, axis=1) - values
        gradient_rows = np.roll(values, -1, axis=0) - values
        return np.sqrt(gradient_cols**2 + gradient_rows**2 + epsilon**2).sum()

    divergence = total_variation_divergence(image, epsilon=epsilon)
    step = 1e-6
    for row, col in [(0, 0), (5, 4), (11, 9), (3, 9)]:
        shifted = image.copy()
        shifted[row, col] += step
        derivative = (energy(shifted) - energy(image)) / step
        assert derivative == pytest.approx(-divergence[row, col], abs=1e-4)
    assert np.abs(total_variation_divergence(rng.random((30, 30)))).max() <= 4


# Unsupervised Wiener --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def noisy_blurred_pair(scene):
    psf = linear_motion_kernel(9, 0)
    sharp, blurred = crop_of_blurred_scene(scene, psf, size=64)
    return sharp, optics.add_sensor_noise(blurred, rng=np.random.default_rng(5)), psf


def test_unsupervised_wiener_is_reproducible_from_its_seed_and_restores(noisy_blurred_pair):
    sharp, blurred, psf = noisy_blurred_pair
    image = blurred[..., 1]
    first = unsupervised_wiener(image, psf, rng=np.random.default_rng(11))
    again = unsupervised_wiener(image, psf, rng=np.random.default_rng(11))
    other = unsupervised_wiener(image, psf, rng=np.random.default_rng(12))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # The sampler finds its own regularisation about as well as a grid search on the truth does.
    best_wiener = max(psnr(wiener_deconvolution(image, psf, balance=balance), sharp[..., 1])
                      for balance in (0.003, 0.01, 0.03, 0.1))
    assert psnr(first, sharp[..., 1]) > max(psnr(image, sharp[..., 1]) + 1.0, best_wiener - 0.5)


def test_unsupervised_wiener_restores_rgb_channels_with_independent_child_generators(noisy_blurred_pair):
    _, blurred, psf = noisy_blurred_pair
    colour = unsupervised_wiener(blurred, psf, rng=np.random.default_rng(4))
    # Channel 0 gets the first child of the generator, as a grey image alone does.
    grey = unsupervised_wiener(blurred[..., 0], psf, rng=np.random.default_rng(4))
    assert colour.shape == blurred.shape
    np.testing.assert_allclose(colour[..., 0], grey, atol=1e-6)


# Bad input ------------------------------------------------------------------------------------------------

def all_functions():
    return {
        "wiener": lambda image, psf: wiener_deconvolution(image, psf),
        "richardson-lucy": lambda image, psf: richardson_lucy(image, psf, num_iter=2),
        "unsupervised-wiener": lambda image, psf: unsupervised_wiener(image, psf, rng=np.random.default_rng(0)),
        "edge-taper": edge_taper,
    }


@pytest.mark.parametrize("function", list(all_functions()))
@pytest.mark.parametrize("psf, message", [
    (np.ones((4, 4)) / 16, "odd size"),
    (np.ones(5) / 5, "odd size"),
    (np.array([[0.0, -0.5, 0.0], [0.5, 1.0, 0.5], [0.0, -0.5, 0.0]]), "non-negative"),
    (np.array([[np.nan, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), "finite"),
    (np.full((3, 3), 0.5), "sum to 1"),
], ids=["even", "one-dimensional", "negative", "nan", "unnormalised"])
def test_bad_psfs_are_rejected_with_the_reason(function, psf, message):
    image = np.full((32, 32), 0.5, dtype=np.float32)
    with pytest.raises(InvalidInputError, match=message):
        all_functions()[function](image, psf)


@pytest.mark.parametrize("function", list(all_functions()))
@pytest.mark.parametrize("shape", [(32,), (32, 32, 4), (2, 32, 32, 3)])
def test_images_of_the_wrong_shape_are_rejected(function, shape):
    with pytest.raises(InvalidInputError, match="expected an"):
        all_functions()[function](np.full(shape, 0.5, dtype=np.float32), gaussian_kernel(1.0))


def test_images_out_of_range_or_with_nan_are_rejected():
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        wiener_deconvolution(np.full((16, 16), 255.0), DELTA)
    with pytest.raises(InvalidInputError, match="NaN"):
        richardson_lucy(np.full((16, 16), np.nan), DELTA)


def test_a_psf_too_large_for_the_image_or_for_tapering_is_rejected():
    image = np.full((20, 30), 0.5, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="larger than the image"):
        wiener_deconvolution(image, np.ones((21, 1)) / 21, edges="periodic")
    with pytest.raises(InvalidInputError, match="half the image size"):
        wiener_deconvolution(image, np.ones((11, 1)) / 11, edges="taper")
    # Padding has no such limit.
    assert wiener_deconvolution(image, np.ones((11, 1)) / 11, edges="pad").shape == image.shape


def test_bad_options_are_rejected():
    image = np.full((16, 16), 0.5, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="edges"):
        wiener_deconvolution(image, DELTA, edges="mirror")
    with pytest.raises(InvalidInputError, match="balance"):
        wiener_deconvolution(image, DELTA, balance=0)
    with pytest.raises(InvalidInputError, match="regularizer"):
        wiener_deconvolution(image, DELTA, regularizer="tikhonov")
    for num_iter in (0, 2.5, True):
        with pytest.raises(InvalidInputError, match="num_iter"):
            richardson_lucy(image, DELTA, num_iter=num_iter)
    for tv_weight in (-0.1, MAX_TV_WEIGHT, "0.01"):
        with pytest.raises(InvalidInputError, match="tv_weight"):
            richardson_lucy(image, DELTA, tv_weight=tv_weight)
    with pytest.raises(InvalidInputError, match="iteration counts"):
        next(richardson_lucy_iterates(image, DELTA, [0, 3]))
    with pytest.raises(InvalidInputError, match="Generator"):
        unsupervised_wiener(image, DELTA, rng=0)
    with pytest.raises(InvalidInputError, match="estimate"):
        unsupervised_wiener(image, DELTA, rng=np.random.default_rng(0), estimate="map")
