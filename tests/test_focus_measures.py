import cv2
import numpy as np
import pytest
from scipy.fft import idctn
from skimage import data

from mmdf_bench.baselines import focus_measures as fm
from mmdf_bench.baselines.focus_measures import FAMILIES, FOCUS_MEASURES, HIGHER_IS_SHARPER
from mmdf_bench.data.optics import blur, defocus_psf
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray
from mmdf_bench.metrics.fusion import spatial_frequency as fusion_spatial_frequency

DEFOCUS_MICRONS = (0, 5, 10, 20, 40)
# Gland-rich and stroma-rich regions of the scikit-image IHC slide.
CROPS = {"glands": (slice(100, 196), slice(200, 296)), "stroma": (slice(300, 384), slice(400, 484))}
REQUIRED = ("variance-of-laplacian", "modified-laplacian", "tenengrad", "tenengrad-variance", "brenner",
            "gray-level-variance", "normalized-variance", "vollath-f4", "vollath-f5", "histogram-entropy",
            "wavelet-detail-energy", "dct-energy-ratio", "spatial-frequency", "cellprofiler-focus-score",
            "power-log-log-slope")


@pytest.fixture(scope="module")
def slide():
    return (data.immunohistochemistry() / 255.0).astype(np.float32)


@pytest.fixture(scope="module")
def textured(slide):
    return slide[CROPS["glands"]]


@pytest.fixture(scope="module", params=sorted(CROPS))
def defocus_stack(request, slide):
    crop = slide[CROPS[request.param]]
    return [blur(crop, defocus_psf(microns * 1e-6)) for microns in DEFOCUS_MICRONS]


def sharpness(name, image):
    """The operator's score, signed so that larger always means sharper."""
    score = FOCUS_MEASURES[name](image)
    return score if HIGHER_IS_SHARPER[name] else -score


def test_operators_cover_the_six_pertuz_families():
    assert len(FOCUS_MEASURES) >= 15
    assert set(REQUIRED) <= set(FOCUS_MEASURES)
    assert set(FAMILIES) == set(HIGHER_IS_SHARPER) == set(FOCUS_MEASURES)
    assert set(FAMILIES.values()) == {"gradient", "laplacian", "wavelet", "statistics", "dct", "miscellaneous"}
    assert all(isinstance(value, bool) for value in HIGHER_IS_SHARPER.values())


@pytest.mark.parametrize("name", sorted(FOCUS_MEASURES))
@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_constant_image_is_least_sharp(name, level, textured):
    constant = np.full(textured.shape, level, dtype=np.float32)
    assert sharpness(name, constant) < sharpness(name, textured)


@pytest.mark.parametrize("name", sorted(FOCUS_MEASURES))
def test_sharpness_falls_with_defocus(name, defocus_stack):
    scores = [sharpness(name, plane) for plane in defocus_stack]
    if name == "power-log-log-slope":
        # Documented limitation: beyond ~15 px of blur the slope rises again,
        # but the 40 µm plane still ranks below the 10 µm one.
        assert all(np.diff(scores[:4]) < 0), scores
        assert scores[4] < scores[2], scores
    else:
        assert all(np.diff(scores) < 0), scores


@pytest.mark.parametrize("name", sorted(FOCUS_MEASURES))
def test_rgb_is_measured_on_its_luminance(name, textured):
    assert FOCUS_MEASURES[name](textured) == pytest.approx(FOCUS_MEASURES[name](to_gray(textured)), rel=1e-6)


@pytest.mark.parametrize("name", sorted(FOCUS_MEASURES))
def test_integer_images_are_scaled_to_unit_range(name, textured):
    eight_bit = np.round(to_gray(textured) * 255).astype(np.uint8)
    assert FOCUS_MEASURES[name](eight_bit) == pytest.approx(
        FOCUS_MEASURES[name](eight_bit.astype(np.float64) / 255), rel=1e-4, abs=1e-12)


@pytest.mark.parametrize("dtype, depth", [(np.float32, cv2.CV_32F), (np.float64, cv2.CV_64F)])
def test_variance_of_laplacian_is_the_opencv_value(dtype, depth):
    image = np.random.default_rng(1).random((60, 70)).astype(dtype)
    laplacian = cv2.Laplacian(image, depth)[1:-1, 1:-1]
    _, deviation = cv2.meanStdDev(laplacian)
    assert fm.variance_of_laplacian(image) == float(deviation[0, 0]) ** 2
    assert fm.variance_of_laplacian(image) == pytest.approx(np.var(laplacian.astype(np.float64)), rel=1e-6)
    interior = image[1:-1, 1:-1].astype(np.float64)
    by_hand = (image[:-2, 1:-1] + image[2:, 1:-1] + image[1:-1, :-2] + image[1:-1, 2:] - 4 * interior)
    assert fm.variance_of_laplacian(image) == pytest.approx(np.var(by_hand), rel=1e-5)


@pytest.mark.parametrize("sigma", [0.7, 2.5])
def test_gaussian_derivative_matches_scipy(sigma):
    from scipy import ndimage

    image = np.random.default_rng(4).random((50, 60))
    gx = ndimage.gaussian_filter(image, sigma, order=(0, 1))
    gy = ndimage.gaussian_filter(image, sigma, order=(1, 0))
    assert fm.gaussian_derivative(image, sigma=sigma) == pytest.approx(np.mean(gx**2 + gy**2), rel=1e-9)


def ramp(rows=40, cols=50, slope_x=0.01, slope_y=0.004):
    y, x = np.mgrid[:rows, :cols]
    return 0.1 + slope_x * x + slope_y * y


@pytest.mark.parametrize("name", ["variance-of-laplacian", "modified-laplacian", "diagonal-laplacian"])
def test_second_derivative_operators_vanish_on_a_ramp(name):
    assert FOCUS_MEASURES[name](ramp()) == pytest.approx(0.0, abs=1e-12)


def test_closed_forms_on_a_horizontal_ramp():
    slope = 0.01
    image = ramp(slope_x=slope, slope_y=0.0)
    cols = image.shape[1]
    # Sobel: central difference 2a weighted by 1 + 2 + 1; the reflected
    # first and last columns have zero horizontal gradient.
    assert fm.tenengrad(image) == pytest.approx((8 * slope) ** 2 * (cols - 2) / cols, rel=1e-9)
    assert fm.brenner(image) == pytest.approx((2 * slope) ** 2, rel=1e-9)
    assert fm.spatial_frequency(image) == pytest.approx(slope * np.sqrt((cols - 1) / cols), rel=1e-9)


def test_brenner_of_a_step_edge():
    rows, cols = 30, 40
    step = np.zeros((rows, cols))
    step[:, cols // 2:] = 1.0
    # Only the two pixel pairs straddling the edge differ (by 1) on each row.
    assert fm.brenner(step) == pytest.approx(2 / (cols - 2))
    assert fm.brenner(step.T) == pytest.approx(2 / (cols - 2))


def test_statistics_operators_match_numpy():
    image = np.random.default_rng(2).random((50, 64)).astype(np.float32)
    variance = np.var(image.astype(np.float64))
    assert fm.gray_level_variance(image) == pytest.approx(variance, rel=1e-6)
    assert fm.normalized_variance(image) == pytest.approx(variance / image.mean(dtype=np.float64), rel=1e-6)
    assert fm.cellprofiler_focus_score(image) == pytest.approx(fm.normalized_variance(image), rel=1e-12)
    assert fm.cellprofiler_focus_score(np.zeros((8, 8))) == 0.0


def test_histogram_entropy_counts_bits():
    two_levels = np.zeros((16, 16))
    two_levels[:, 8:] = 1.0
    assert fm.histogram_entropy(two_levels) == pytest.approx(1.0)
    four_levels = np.repeat(np.array([0.0, 0.2, 0.6, 1.0]), 64).reshape(16, 16)
    assert fm.histogram_entropy(four_levels) == pytest.approx(2.0)


def test_vollath_on_period_four_stripes():
    cols = 4 * 6
    stripes = np.tile(np.array([0.0, 0.0, 1.0, 1.0]), (10, cols // 4))
    # Centred values are +-1/2: lag-1 products alternate +-1/4 (mean 0 over
    # an even count), lag-2 products are all -1/4; columns are constant.
    assert fm.vollath_f4(stripes) == pytest.approx(0.25)
    # One (1, 1) pair in every four horizontal neighbours; rows repeat, so
    # the vertical lag-1 mean is mean(I**2) = 1/2; minus 2 mean**2 = 1/2.
    assert fm.vollath_f5(stripes) == pytest.approx((cols // 4) / (cols - 1))


def test_spatial_frequency_is_the_fusion_metric(textured):
    assert fm.spatial_frequency(textured) == pytest.approx(fusion_spatial_frequency(textured), rel=1e-6)


def test_dct_energy_ratio_is_block_variance_over_squared_mean():
    image = np.random.default_rng(3).uniform(0.2, 0.9, (36, 43))
    blocks = image[:32, :40].reshape(4, 8, 5, 8).swapaxes(1, 2).reshape(20, 64)
    expected = np.mean(blocks.var(axis=1) / blocks.mean(axis=1) ** 2)
    assert fm.dct_energy_ratio(image) == pytest.approx(expected, rel=1e-9)


def test_dct_reduced_energy_ratio_counts_five_low_coefficients():
    coefficients = np.zeros((8, 8))
    coefficients[0, 0], coefficients[0, 1], coefficients[2, 0], coefficients[5, 6] = 4.0, 0.3, -0.2, 0.5
    block = idctn(coefficients, type=2, norm="ortho")
    assert fm.dct_reduced_energy_ratio(block) == pytest.approx((0.3**2 + 0.2**2) / 16, rel=1e-9)
    assert fm.dct_energy_ratio(block) == pytest.approx((0.3**2 + 0.2**2 + 0.5**2) / 16, rel=1e-9)


def test_haar_wavelet_energies_of_a_checkerboard():
    checkerboard = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.float64)
    # Each 2x2 block [[0, 1], [1, 0]] has approximation 1 and diagonal
    # detail -1 (orthonormal Haar), so detail energy is 1/4 per pixel.
    assert fm.wavelet_detail_energy(checkerboard, wavelet="haar") == pytest.approx(0.25)
    assert fm.wavelet_ratio(checkerboard, wavelet="haar") == pytest.approx(1.0)


def test_helmli_mean_ratio_of_an_isolated_bright_pixel():
    image = np.full((9, 9), 0.5)
    image[4, 4] = 0.9
    # Local 3x3 mean is 0.5 + 0.4 / 9 on the pixel and its 8 neighbours.
    mean = 0.5 + 0.4 / 9
    expected = (0.9 / mean + 8 * mean / 0.5 + 72) / 81
    assert fm.helmli_mean_ratio(image) == pytest.approx(expected, rel=1e-6)


def _cellprofiler_power_slope(image):
    """Step-by-step transcription of CellProfiler's radial power spectrum and slope fit."""
    from scipy.linalg import lstsq
    from scipy.ndimage import sum as label_sum

    radii2 = (np.arange(image.shape[0]).reshape((image.shape[0], 1)) ** 2) + (np.arange(image.shape[1]) ** 2)
    radii2 = np.minimum(radii2, np.flipud(radii2))
    radii2 = np.minimum(radii2, np.fliplr(radii2))
    image = image / np.median(abs(image - image.mean()))
    power = abs(np.fft.fft2(image - np.mean(image))) ** 2
    radii = np.floor(np.sqrt(radii2)).astype(int) + 1
    labels = np.arange(2, np.floor(min(image.shape) / 8.0)).astype(int)
    sums = np.array(label_sum(power, radii, labels))
    design = np.column_stack([np.log(labels), np.ones(labels.size)])
    return lstsq(design, np.log(sums))[0][0]


@pytest.mark.parametrize("shape", [(84, 84), (96, 130)])
def test_power_log_log_slope_matches_cellprofiler_steps(shape, slide):
    image = to_gray(slide[:shape[0], 100:100 + shape[1]]).astype(np.float64)
    assert fm.power_log_log_slope(image) == pytest.approx(_cellprofiler_power_slope(image), rel=1e-9)


def test_power_log_log_slope_ignores_exposure_and_flags_blank_images(textured):
    gray = to_gray(textured)
    assert fm.power_log_log_slope(0.5 * gray + 0.2) == pytest.approx(fm.power_log_log_slope(gray), rel=1e-5)
    assert fm.power_log_log_slope(np.full((40, 40), 0.3)) == float("-inf")


@pytest.mark.parametrize("image, name", [
    (np.zeros((4, 8, 8)), "tenengrad"),
    (np.zeros((8, 8, 2)), "brenner"),
    (np.zeros((2, 50)), "modified-laplacian"),
    (np.zeros((24, 24)), "power-log-log-slope"),
])
def test_bad_shapes_are_rejected(image, name):
    with pytest.raises(InvalidInputError, match="image"):
        FOCUS_MEASURES[name](image)


def test_bad_options_are_rejected(textured):
    with pytest.raises(InvalidInputError, match="window"):
        fm.helmli_mean_ratio(textured, window=4)
    with pytest.raises(InvalidInputError, match="sigma"):
        fm.gaussian_derivative(textured, sigma=0)
