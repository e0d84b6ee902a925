import numpy as np
import pytest

from mmdf_bench.data import blur_kernels, optics
from mmdf_bench.data.blur_kernels import (
    gaussian_kernel,
    linear_motion_kernel,
    random_trajectory,
    random_trajectory_kernel,
    rasterize_points,
    scan_motion_kernel,
)
from mmdf_bench.errors import InvalidInputError


def moments(kernel):
    """Centre of mass (row, col) relative to the central pixel and the 2x2 covariance."""
    half_rows, half_cols = kernel.shape[0] // 2, kernel.shape[1] // 2
    rows, cols = np.mgrid[-half_rows : half_rows + 1, -half_cols : half_cols + 1]
    mean = np.array([(kernel * rows).sum(), (kernel * cols).sum()])
    rows, cols = rows - mean[0], cols - mean[1]
    covariance = np.array([[(kernel * rows * rows).sum(), (kernel * rows * cols).sum()],
                           [(kernel * rows * cols).sum(), (kernel * cols * cols).sum()]])
    return mean, covariance


def kernels_to_check():
    rng = np.random.default_rng(7)
    kernels = [linear_motion_kernel(length, angle) for length in (0, 1, 4.5, 13, 20)
               for angle in (0, 17, 45, 90, 133)]
    kernels += [scan_motion_kernel(rng=rng, min_length=5, max_length=21) for _ in range(5)]
    kernels += [random_trajectory_kernel(rng=rng, max_length=length, exposure=exposure)
                for length in (4, 16, 30) for exposure in (0.1, 0.5, 1.0)]
    kernels += [random_trajectory_kernel(rng=rng, anxiety=0.1) for _ in range(3)]
    kernels += [gaussian_kernel(sigma) for sigma in (0, 0.4, 1.0, 3.0)]
    return kernels


KERNELS = kernels_to_check()


@pytest.mark.parametrize("index", range(len(KERNELS)))
def test_every_kernel_is_odd_normalised_non_negative_and_centred(index):
    kernel = KERNELS[index]
    assert kernel.ndim == 2 and kernel.shape[0] % 2 == 1 and kernel.shape[1] % 2 == 1
    assert kernel.min() >= 0
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    mean, _ = moments(kernel)
    assert np.all(np.abs(mean) < 1e-9)  # centred exactly, not just within half a pixel


def test_horizontal_line_of_integer_length_matches_the_tent_integral():
    # A uniform segment on [-2, 2] spread with bilinear (tent) weights: the two
    # end pixels get half the mass of the inner ones.
    kernel = linear_motion_kernel(4, 0)
    assert kernel.shape == (5, 5)
    np.testing.assert_allclose(kernel[2], [0.125, 0.25, 0.25, 0.25, 0.125], atol=1e-12)
    assert kernel[[0, 1, 3, 4]].sum() == 0


def test_zero_length_is_a_delta_and_the_line_is_symmetric_under_half_turns():
    np.testing.assert_array_equal(linear_motion_kernel(0, 30), [[1.0]])
    np.testing.assert_allclose(linear_motion_kernel(11, 25), linear_motion_kernel(11, 205), atol=1e-12)
    np.testing.assert_allclose(linear_motion_kernel(11, 25), linear_motion_kernel(11, 25)[::-1, ::-1], atol=1e-12)


@pytest.mark.parametrize("angle", [0, 20, 45, 90, 120, 160])
def test_linear_kernel_energy_lies_along_its_angle(angle):
    length = 15.0
    kernel = linear_motion_kernel(length, angle)
    _, covariance = moments(kernel)
    values, vectors = np.linalg.eigh(covariance)
    # Direction of the principal axis in screen coordinates (up is positive).
    row, col = vectors[:, 1]
    found = np.rad2deg(np.arctan2(-row, col)) % 180
    assert min(abs(found - angle % 180), 180 - abs(found - angle % 180)) < 0.5
    # A uniform segment has variance L²/12; the bilinear spread adds about 1/6.
    assert values[1] == pytest.approx(length**2 / 12 + 1 / 6, abs=0.15)
    assert values[0] < 0.25
    # All energy within 1.5 px of the line through the centre.
    half = kernel.shape[0] // 2
    rows, cols = np.mgrid[-half : half + 1, -half : half + 1]
    theta = np.deg2rad(angle)
    distance = np.abs(rows * np.cos(theta) + cols * np.sin(theta))
    assert kernel[distance <= 1.5].sum() == pytest.approx(1.0, abs=1e-12)


def test_angle_convention_counter_clockwise_on_screen():
    # 45° goes up and to the right: rows fall as columns grow.
    _, covariance = moments(linear_motion_kernel(10, 45))
    assert covariance[0, 1] == pytest.approx(-10**2 / 12 / 2, abs=0.05)
    _, covariance = moments(linear_motion_kernel(10, 90))
    assert covariance[0, 0] > 8 and covariance[1, 1] < 1e-12


def test_scan_motion_draws_length_and_angle_in_range_and_is_deterministic():
    kernels, lengths, angles = [], [], []
    for seed in range(20):
        kernel, parameters = scan_motion_kernel(rng=np.random.default_rng(seed), min_length=5, max_length=21,
                                                scan_angle=90, angle_jitter=4, return_parameters=True)
        again = scan_motion_kernel(rng=np.random.default_rng(seed), min_length=5, max_length=21,
                                   scan_angle=90, angle_jitter=4)
        np.testing.assert_array_equal(kernel, again)
        np.testing.assert_allclose(kernel, linear_motion_kernel(parameters["length"], parameters["angle"]))
        kernels.append(kernel)
        lengths.append(parameters["length"])
        angles.append(parameters["angle"])
    assert 5 <= min(lengths) and max(lengths) <= 21 and max(lengths) - min(lengths) > 8
    assert all(86 <= angle <= 94 for angle in angles)
    assert not np.array_equal(kernels[0], kernels[1])


def test_trajectory_steps_have_equal_length_so_the_path_length_is_exact():
    rows, cols, parameters = random_trajectory(rng=np.random.default_rng(3), max_length=20, anxiety=0.05)
    steps = np.hypot(np.diff(rows), np.diff(cols))
    np.testing.assert_allclose(steps, 20 / 1999, rtol=1e-9)
    assert rows[0] == 0 and cols[0] == 0
    assert set(parameters) >= {"anxiety", "gaussian_shake", "centripetal", "big_shake_probability"}
    # With perturbations the path bends: the end is nearer than the path length.
    assert np.hypot(rows[-1], cols[-1]) < 20 - 1e-6


def test_trajectory_without_anxiety_is_a_straight_line():
    kernel, parameters = random_trajectory_kernel(rng=np.random.default_rng(5), max_length=12, anxiety=0,
                                                  return_parameters=True)
    line = linear_motion_kernel(12, parameters["initial_angle"], size=kernel.shape[0])
    # Point samples including both ends versus midpoints: equal up to ~1/2000 of the mass per pixel.
    np.testing.assert_allclose(kernel, line, atol=2e-3)
    half, _ = random_trajectory_kernel(rng=np.random.default_rng(5), max_length=12, anxiety=0, exposure=0.5,
                                       return_parameters=True)
    assert np.linalg.eigvalsh(moments(half)[1])[1] == pytest.approx(6**2 / 12 + 1 / 6, abs=0.2)


def test_trajectory_kernel_is_deterministic_for_a_seed_and_varies_between_seeds():
    first = random_trajectory_kernel(rng=np.random.default_rng(11), max_length=16)
    second = random_trajectory_kernel(rng=np.random.default_rng(11), max_length=16)
    other = random_trajectory_kernel(rng=np.random.default_rng(12), max_length=16)
    np.testing.assert_array_equal(first, second)
    assert first.shape != other.shape or not np.allclose(first, other)


def test_trajectory_kernel_fits_the_requested_size_or_says_so():
    kernel = random_trajectory_kernel(rng=np.random.default_rng(2), max_length=10, size=31)
    assert kernel.shape == (31, 31)
    assert moments(kernel)[0] == pytest.approx([0, 0], abs=1e-9)
    with pytest.raises(InvalidInputError, match="at least"):
        random_trajectory_kernel(rng=np.random.default_rng(2), max_length=40, anxiety=0, size=9)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_pixel_integrated_gaussian_has_variance_sigma_squared_plus_a_twelfth(sigma):
    kernel = gaussian_kernel(sigma, size=41)
    _, covariance = moments(kernel)
    np.testing.assert_allclose(np.diag(covariance), sigma**2 + 1 / 12, rtol=2e-3)
    assert abs(covariance[0, 1]) < 1e-12
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-15)


def test_gaussian_defaults_and_agreement_with_point_sampling_for_wide_kernels():
    assert gaussian_kernel(blur_kernels.SMALL_GAUSSIAN_SIGMA).shape == (7, 7)
    assert gaussian_kernel(blur_kernels.LARGE_GAUSSIAN_SIGMA).shape == (19, 19)
    np.testing.assert_array_equal(gaussian_kernel(0), [[1.0]])
    # For σ = 3 the pixel box hardly matters; below a pixel it does (point
    # sampling puts too much weight in the centre).
    np.testing.assert_allclose(gaussian_kernel(3.0), optics.gaussian_psf(3.0), atol=2e-4)
    assert gaussian_kernel(0.4, size=3)[1, 1] < optics.gaussian_psf(0.4, size=3)[1, 1] - 0.1


def test_rasterize_points_keeps_the_mean_of_sub_pixel_points():
    kernel = rasterize_points([0.3, 1.7, -0.2], [2.25, -1.5, 0.0], weights=[1, 2, 1])
    assert moments(kernel)[0] == pytest.approx([0, 0], abs=1e-12)
    assert kernel.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("call", [
    lambda: linear_motion_kernel(-1, 0),
    lambda: linear_motion_kernel(5, 0, size=4),
    lambda: linear_motion_kernel(20, 0, size=9),
    lambda: gaussian_kernel(-1),
    lambda: gaussian_kernel(1, size=6),
    lambda: random_trajectory_kernel(rng=np.random.default_rng(0), exposure=0),
    lambda: scan_motion_kernel(rng=np.random.default_rng(0), min_length=10, max_length=5),
])
def test_bad_parameters_raise_invalid_input(call):
    with pytest.raises(InvalidInputError):
        call()
