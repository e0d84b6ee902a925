import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import j0, j1

from mmdf_bench.data import optics
from mmdf_bench.errors import InvalidInputError

WAVELENGTH = 0.55e-6
NA = 0.25
PIXEL = 0.5e-6


def _rms_radius(psf):
    half = psf.shape[0] // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    return float(np.sqrt((psf * (x**2 + y**2)).sum()))


def _quad_profile(radius, defocus, refractive_index=1.0):
    k = 2 * np.pi / WAVELENGTH
    v = k * NA * radius
    u = k * defocus * NA**2 / refractive_index

    def part(function):
        return quad(
            lambda rho: j0(v * rho) * function(0.5 * u * rho**2) * rho, 0, 1, epsabs=1e-13, epsrel=1e-10, limit=400
        )[0]

    return part(np.cos) ** 2 + part(np.sin) ** 2


@pytest.mark.parametrize("defocus", [0.0, 2e-6, 10e-6, 40e-6])
def test_psf_is_normalised_and_symmetric(defocus):
    psf = optics.defocus_psf(defocus)
    assert psf.shape[0] == psf.shape[1] and psf.shape[0] % 2 == 1
    assert psf.min() >= 0
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(psf, psf.T, atol=1e-15)
    np.testing.assert_allclose(psf, psf[::-1], atol=1e-15)
    np.testing.assert_allclose(psf, psf[:, ::-1], atol=1e-15)
    # The peak sits in the centre pixel only near focus; far out of focus the
    # disc has rings, but the centre is still a symmetry centre.
    if defocus <= 2e-6:
        assert np.unravel_index(psf.argmax(), psf.shape) == (psf.shape[0] // 2,) * 2


def test_defocus_sign_does_not_matter():
    np.testing.assert_array_equal(optics.defocus_psf(7e-6), optics.defocus_psf(-7e-6))


def test_in_focus_psf_is_far_more_concentrated_than_defocused():
    focused = optics.defocus_psf(0.0)
    defocused = optics.defocus_psf(10e-6)
    centre_focused = focused[focused.shape[0] // 2, focused.shape[1] // 2]
    centre_defocused = defocused[defocused.shape[0] // 2, defocused.shape[1] // 2]
    assert centre_focused > 3 * centre_defocused


def test_width_grows_monotonically_with_defocus():
    widths = [_rms_radius(optics.defocus_psf(z)) for z in [0, 2e-6, 5e-6, 10e-6, 20e-6, 40e-6]]
    assert all(later > earlier for earlier, later in zip(widths, widths[1:])), widths


def test_far_from_focus_the_psf_approaches_the_geometric_disc():
    # A uniform disc of radius R has an RMS radius of R / sqrt(2); with
    # R = z NA / n, 40 µm of defocus gives 10 µm = 20 pixels.
    defocus = 40e-6
    disc_radius = optics.geometric_blur_radius(defocus, numerical_aperture=NA) / PIXEL
    assert _rms_radius(optics.defocus_psf(defocus)) == pytest.approx(disc_radius / np.sqrt(2), rel=0.05)


def test_in_focus_profile_is_the_airy_pattern():
    # ∫0^1 J0(vρ) ρ dρ = J1(v) / v, so the in-focus intensity is (J1(v)/v)².
    radii = np.array([0.05, 0.3, 0.8, 1.34, 2.0, 3.7, 9.0]) * 1e-6
    v = 2 * np.pi / WAVELENGTH * NA * radii
    expected = (j1(v) / v) ** 2
    computed = optics.defocus_profile(radii, 0.0, wavelength=WAVELENGTH, numerical_aperture=NA)
    np.testing.assert_allclose(computed, expected, rtol=1e-9)
    assert optics.defocus_profile(np.array([0.0]), 0.0)[0] == pytest.approx(0.25, rel=1e-12)


def test_first_dark_ring_of_the_airy_pattern():
    # The first zero of J1 is at v = 3.8317, i.e. r = 0.61 λ / NA.
    radius = 3.831705970207512 / (2 * np.pi / WAVELENGTH * NA)
    assert optics.defocus_profile(np.array([radius]), 0.0)[0] < 1e-20


@pytest.mark.parametrize("defocus", [1e-6, 6e-6, 25e-6])
@pytest.mark.parametrize("radius", [0.0, 0.7e-6, 3e-6, 12e-6])
def test_defocused_profile_matches_adaptive_quadrature(defocus, radius):
    computed = optics.defocus_profile(np.array([radius]), defocus)[0]
    assert computed == pytest.approx(_quad_profile(radius, defocus), rel=1e-6)


def test_refractive_index_scales_the_defocus():
    # In the paraxial model only z NA² / n matters.
    radii = np.array([0.0, 1e-6, 4e-6])
    in_water = optics.defocus_profile(radii, 13.3e-6, refractive_index=1.33)
    in_air = optics.defocus_profile(radii, 10e-6, refractive_index=1.0)
    np.testing.assert_allclose(in_water, in_air, rtol=1e-9)


def test_psf_size_is_odd_and_grows_with_defocus():
    sizes = [optics.defocus_psf(z).shape[0] for z in [0, 10e-6, 40e-6]]
    assert all(size % 2 == 1 for size in sizes)
    assert sizes[0] < sizes[1] < sizes[2]
    assert optics.defocus_psf(5e-6, size=11).shape == (11, 11)
    with pytest.raises(InvalidInputError):
        optics.defocus_psf(5e-6, size=10)
    with pytest.raises(InvalidInputError):
        optics.defocus_psf(5e-6, numerical_aperture=1.2)


def test_gaussian_psf():
    psf = optics.gaussian_psf(2.0)
    assert psf.shape == (13, 13)
    assert psf.sum() == pytest.approx(1.0)
    # Variance along one axis equals sigma² (up to truncation at 3 sigma).
    offsets = np.arange(13) - 6
    assert (psf.sum(axis=0) * offsets**2).sum() == pytest.approx(4.0, rel=0.03)
    np.testing.assert_array_equal(optics.gaussian_psf(0.0), [[1.0]])


def test_blur_keeps_constant_images_and_matches_direct_convolution():
    from scipy.ndimage import convolve

    rng = np.random.default_rng(0)
    image = rng.uniform(size=(40, 50, 3)).astype(np.float32)
    psf = optics.defocus_psf(6e-6)
    blurred = optics.blur(image, psf)
    assert blurred.shape == image.shape and blurred.dtype == np.float32
    direct = np.stack([convolve(image[..., c].astype(np.float64), psf, mode="mirror") for c in range(3)], axis=-1)
    np.testing.assert_allclose(blurred, direct, atol=1e-5)
    flat = np.full((30, 30), 0.4, dtype=np.float32)
    np.testing.assert_allclose(optics.blur(flat, psf), flat, atol=1e-6)


def test_blur_many_matches_blur():
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(33, 47)).astype(np.float32)
    psfs = [optics.defocus_psf(z) for z in (0.0, 5e-6, 20e-6)] + [optics.gaussian_psf(1.5)]
    many = optics.blur_many(image, psfs)
    assert many.shape == (4, 33, 47)
    for single, psf in zip(many, psfs):
        np.testing.assert_allclose(single, optics.blur(image, psf), atol=1e-5)


def test_sensor_noise_statistics():
    rng = np.random.default_rng(2)
    image = np.full((200, 200), 0.5, dtype=np.float32)
    noisy = optics.add_sensor_noise(image, rng=rng, photons=1000.0, read_noise=10.0)
    assert noisy.dtype == np.float32
    assert noisy.mean() == pytest.approx(0.5, abs=0.002)
    # Shot noise variance 500 e⁻² plus read noise 100 e⁻².
    assert noisy.std() == pytest.approx(np.sqrt(600) / 1000, rel=0.03)
    extreme = optics.add_sensor_noise(np.ones((50, 50)), rng=rng, photons=50.0)
    assert extreme.min() >= 0 and extreme.max() <= 1
    again = optics.add_sensor_noise(image, rng=np.random.default_rng(2), photons=1000.0, read_noise=10.0)
    np.testing.assert_array_equal(noisy, again)
