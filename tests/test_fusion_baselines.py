import cv2
import numpy as np
import pytest
from skimage import data

from mmdf_bench.baselines import fusion
from mmdf_bench.baselines._fusion_utils import select_max_abs
from mmdf_bench.baselines.fusion_multiscale import laplacian_pyramid, reconstruct_laplacian_pyramid
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.fusion import FusionMethod

METHODS = {
    "average": fusion.fuse_average,
    "wavelet": fusion.fuse_wavelet,
    "laplacian-pyramid": fusion.fuse_laplacian_pyramid,
    "guided-filter": fusion.fuse_guided_filter,
    "harris-selection": fusion.fuse_harris_selection,
    "focus-selection": fusion.fuse_focus_selection,
}
CLASSES = {
    "average": fusion.AverageFusion,
    "wavelet": fusion.WaveletFusion,
    "laplacian-pyramid": fusion.LaplacianPyramidFusion,
    "guided-filter": fusion.GuidedFilterFusion,
    "harris-selection": fusion.HarrisSelectionFusion,
    "focus-selection": fusion.FocusSelectionFusion,
}


def _textured(shape, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.0)


def _half_focused(image, sigma=2.0):
    """Plane A sharp on the left half and blurred on the right; B the opposite."""
    blurred = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    middle = image.shape[1] // 2
    plane_a, plane_b = image.copy(), image.copy()
    plane_a[:, middle:] = blurred[:, middle:]
    plane_b[:, :middle] = blurred[:, :middle]
    return np.stack([plane_a, plane_b])


@pytest.fixture(scope="module", params=["grey", "rgb"])
def sharp_image(request):
    if request.param == "grey":
        return (data.camera()[100:228, 150:290] / 255.0).astype(np.float32)
    return (data.immunohistochemistry()[:131, :149] / 255.0).astype(np.float32)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("num_planes", [2, 5])
@pytest.mark.parametrize("channels", [(), (3,)])
def test_identical_planes_fuse_to_that_plane(name, num_planes, channels):
    plane = _textured((67, 83) + channels)
    stack = np.repeat(plane[None], num_planes, axis=0)
    np.testing.assert_allclose(METHODS[name](stack), plane, atol=1e-5)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("shape", [(2, 67, 83), (3, 64, 50, 3), (4, 33, 17), (5, 2, 2, 3), (2, 3, 5)])
def test_output_shape_dtype_and_range(name, shape):
    stack = np.random.default_rng(1).random(shape).astype(np.float32)
    fused = METHODS[name](stack)
    assert fused.shape == shape[1:]
    assert fused.dtype == np.float32
    assert fused.min() >= 0.0 and fused.max() <= 1.0
    assert np.all(np.isfinite(fused))


@pytest.mark.parametrize("name", [name for name in METHODS if name != "average"])
def test_fusion_beats_average_on_half_focused_pair(name, sharp_image):
    stack = _half_focused(sharp_image)
    error = np.mean((METHODS[name](stack) - sharp_image) ** 2)
    average_error = np.mean((fusion.fuse_average(stack) - sharp_image) ** 2)
    # measured ratios are 0.001-0.2; 0.5 leaves room while still meaning "much better"
    assert error < 0.5 * average_error


def test_focus_selection_copies_the_sharp_plane_away_from_the_seam(sharp_image):
    stack = _half_focused(sharp_image)
    fused = fusion.fuse_focus_selection(stack)
    middle = sharp_image.shape[1] // 2
    np.testing.assert_array_equal(fused[:, : middle - 15], sharp_image[:, : middle - 15])
    np.testing.assert_array_equal(fused[:, middle + 15 :], sharp_image[:, middle + 15 :])


def test_harris_masks_sum_to_one_and_prefer_the_sharp_plane(sharp_image):
    stack = _half_focused(sharp_image)
    masks = fusion.harris_focus_masks(stack)
    assert masks.shape == (2,) + sharp_image.shape[:2] and masks.dtype == np.float32
    assert masks.min() >= 0.0
    np.testing.assert_allclose(masks.sum(axis=0), 1.0, atol=1e-6)
    middle = sharp_image.shape[1] // 2
    assert masks[0, :, : middle - 10].mean() > 0.9
    assert masks[1, :, middle + 10 :].mean() > 0.9


def test_harris_masks_sum_to_one_for_many_planes():
    stack = np.random.default_rng(2).random((5, 40, 31, 3)).astype(np.float32)
    masks = fusion.harris_focus_masks(stack)
    assert masks.shape == (5, 40, 31)
    np.testing.assert_allclose(masks.sum(axis=0), 1.0, atol=1e-6)


def test_harris_response_vanishes_on_flat_areas_and_straight_edges():
    flat = np.full((32, 32), 0.4, dtype=np.float32)
    edge = np.zeros((32, 32), dtype=np.float32)
    edge[:, 16:] = 1.0  # one eigenvalue of the structure tensor is zero
    assert np.abs(fusion.harris_focus_response(flat)).max() < 1e-6
    assert np.abs(fusion.harris_focus_response(edge)).max() < 1e-6


def test_harris_response_drops_with_defocus():
    texture = _textured((64, 64), seed=3)
    blurred = cv2.GaussianBlur(texture, (0, 0), 2.0)
    sharp_response = fusion.harris_focus_response(texture)
    assert sharp_response.min() >= 0.0
    assert sharp_response.mean() > 4 * fusion.harris_focus_response(blurred).mean()


def test_harris_response_of_rgb_equals_response_of_its_luminance():
    image = np.random.default_rng(4).random((20, 30, 3)).astype(np.float32)
    luminance = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(
        fusion.harris_focus_response(image), fusion.harris_focus_response(luminance), rtol=1e-4, atol=1e-9
    )


@pytest.mark.parametrize("shape", [(67, 83), (31, 17, 3), (5, 4)])
def test_laplacian_pyramid_reconstructs_odd_sizes(shape):
    image = _textured(shape, seed=5)
    bands, residual = laplacian_pyramid(image, levels=2 if min(shape) >= 8 else 1)
    np.testing.assert_allclose(reconstruct_laplacian_pyramid(bands, residual), image, atol=1e-6)


def test_colour_coefficients_are_taken_whole_from_the_plane_with_larger_luminance():
    # plane 0: pure red detail (luminance 0.299); plane 1: weaker green detail
    # (luminance 0.352). Per-channel max-abs would return the mix (1, 0.6, 0).
    coefficients = np.zeros((2, 3, 4, 3))
    coefficients[0, ..., 0] = 1.0
    coefficients[1, ..., 1] = 0.6
    coefficients[0, 1, 2] = [0.0, 0.0, -2.0]  # |luminance| 0.228 < 0.352
    coefficients[1, 2, 3] = [0.0, -0.1, 0.0]  # |luminance| 0.0587 < 0.299
    chosen = select_max_abs(coefficients)
    expected = np.broadcast_to([0.0, 0.6, 0.0], (3, 4, 3)).copy()
    expected[2, 3] = [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(chosen, expected)


def test_guided_filter_matches_paper_parameters():
    method = fusion.GuidedFilterFusion()
    assert (method.average_size, method.base_radius, method.base_eps) == (31, 45, 0.3)
    assert (method.detail_radius, method.detail_eps) == (7, 1e-6)


@pytest.mark.parametrize("name", CLASSES)
def test_registered_classes_wrap_the_functions(name):
    cls = CLASSES[name]
    assert issubclass(cls, FusionMethod) and cls.name == name
    assert cls.task == "fusion" and cls.summary and cls.citation
    stack = _half_focused(_textured((40, 44, 3), seed=7))
    method = cls()
    np.testing.assert_array_equal(method.fuse(stack), METHODS[name](stack))
    assert all(not key.startswith("_") for key in method.config())


def test_class_options_reach_the_function():
    stack = _half_focused(_textured((64, 64), seed=8))
    method = fusion.WaveletFusion(wavelet="haar", level=1)
    assert method.config() == {"wavelet": "haar", "level": 1}
    np.testing.assert_array_equal(method.fuse(stack), fusion.fuse_wavelet(stack, wavelet="haar", level=1))
    assert not np.array_equal(method.fuse(stack), fusion.fuse_wavelet(stack))


@pytest.mark.parametrize("name", METHODS)
def test_single_plane_is_rejected(name):
    with pytest.raises(InvalidInputError, match="at least 2"):
        METHODS[name](np.zeros((1, 8, 8), dtype=np.float32))


@pytest.mark.parametrize(
    "call",
    [
        lambda stack: fusion.fuse_wavelet(stack, level=-1),
        lambda stack: fusion.fuse_wavelet(stack, wavelet="no-such-wavelet"),
        lambda stack: fusion.fuse_laplacian_pyramid(stack, levels=1.5),
        lambda stack: fusion.fuse_focus_selection(stack, window=0),
        lambda stack: fusion.fuse_harris_selection(stack, mask_sigma=-1.0),
        lambda stack: fusion.fuse_guided_filter(stack, base_eps=-0.1),
    ],
)
def test_bad_options_are_rejected(call):
    with pytest.raises(InvalidInputError):
        call(np.zeros((2, 8, 8), dtype=np.float32))


def test_max_abs_takes_each_pixel_from_the_plane_with_more_detail():
    from mmdf_bench.baselines.fusion import fuse_max_abs

    rng = np.random.default_rng(3)
    texture = rng.random((40, 40)).astype(np.float32)
    flat = np.full_like(texture, texture.mean())
    left_sharp = np.concatenate([texture[:, :20], flat[:, 20:]], axis=1)
    right_sharp = np.concatenate([flat[:, :20], texture[:, 20:]], axis=1)
    fused = fuse_max_abs(np.stack([left_sharp, right_sharp]), sigma=2.0)
    # away from the seam (where the blur of one half leaks into the other) the texture is recovered
    np.testing.assert_allclose(fused[:, :14], texture[:, :14], atol=1e-6)
    np.testing.assert_allclose(fused[:, 26:], texture[:, 26:], atol=1e-6)
