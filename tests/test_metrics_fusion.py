import functools

import numpy as np
import pytest
from scipy import ndimage, signal

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray
from mmdf_bench.metrics import fusion
from mmdf_bench.metrics.fusion import (
    QABF_MAXIMUM,
    entropy,
    gradient_fusion_quality,
    normalized_mutual_information,
    spatial_frequency,
    standard_deviation,
    yang_structural_quality,
)
from mmdf_bench.tasks.fusion import FusionSample


def texture(shape, seed=0, sigma=1.0):
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(
        rng.random(shape), sigma=(sigma, sigma) + (0,) * (len(shape) - 2)
    )
    image -= image.min()
    return image / image.max()


def half_focused_pair(size=96, seed=0):
    """Sharp texture, its blur, and two sources each sharp on one half."""
    sharp = texture((size, size), seed=seed)
    blurred = ndimage.gaussian_filter(sharp, 3.0)
    left = np.arange(size) < size // 2
    source_a = np.where(left, sharp, blurred)
    source_b = np.where(left, blurred, sharp)
    return sharp, np.stack([source_a, source_b])


# --- Q^AB/F ---------------------------------------------------------------------------------


def test_qabf_maximum_is_the_product_of_the_paper_sigmoids_at_full_preservation():
    strength = 0.9994 / (1 + np.exp(-15 * (1 - 0.5)))
    orientation = 0.9879 / (1 + np.exp(-22 * (1 - 0.8)))
    assert QABF_MAXIMUM == pytest.approx(strength * orientation, rel=1e-12)
    assert QABF_MAXIMUM == pytest.approx(0.97479, abs=1e-5)


def test_qabf_of_a_fused_image_equal_to_identical_sources_is_the_maximum():
    image = texture((64, 64))
    assert gradient_fusion_quality(np.stack([image, image]), image) == pytest.approx(
        QABF_MAXIMUM, abs=1e-6
    )
    assert gradient_fusion_quality(np.stack([image] * 3), image) == pytest.approx(
        QABF_MAXIMUM, abs=1e-6
    )


def test_qabf_of_a_half_contrast_fused_image_scores_half_the_strength_gamma():
    # Sobel is linear, so F = S / 2 + c halves every edge (G = 1/2) and keeps every
    # orientation (A = 1): Q = Gamma_g / 2 * Q_alpha(1) at every weighted pixel.
    # (mirrored border: zero padding would add the offset c as an edge along the border)
    image = texture((64, 64), seed=2)
    expected = 0.9994 / 2 * 0.9879 / (1 + np.exp(-22 * (1 - 0.8)))
    score = gradient_fusion_quality(np.stack([image, image]), 0.5 * image + 0.25, border="mirror")
    assert score == pytest.approx(expected, abs=1e-6)


def test_qabf_orientation_term_is_linear_in_the_angle_difference():
    # an edge turned by pi/4 with the same strength has A = 1 - (pi/4)/(pi/2) = 1/2
    strength = np.array([1.0, 1.0])
    quality = fusion._edge_preservation(
        strength, np.array([0.0, np.pi / 2]), strength, np.array([np.pi / 4, np.pi / 4])
    )
    expected = 0.9994 / (1 + np.exp(-15 * 0.5)) * 0.9879 / (1 + np.exp(-22 * (0.5 - 0.8)))
    np.testing.assert_allclose(quality, expected, rtol=1e-12)


def test_qabf_ignores_contrast_inversion_of_the_fused_image():
    # arctan(g_y / g_x) is pi-periodic, so F = 1 - S keeps orientations and strengths
    # (inside the image: zero padding makes the border of S and of 1 - S different edges)
    image = texture((48, 48), seed=6)
    score = gradient_fusion_quality(np.stack([image, image]), 1.0 - image, border="mirror")
    assert score == pytest.approx(QABF_MAXIMUM, abs=1e-6)


def test_qabf_of_a_constant_fused_image_scores_only_its_zero_padded_border():
    _, sources = half_focused_pair()
    constant = np.full(sources.shape[1:], 0.5)
    mirrored = gradient_fusion_quality(sources, constant, border="mirror")
    padded = gradient_fusion_quality(sources, constant)
    assert mirrored < 1e-3
    # zero padding turns the frame of any non-black image into an edge the fused image keeps
    assert padded > mirrored + 0.05


def test_qabf_horizontal_edges_follow_the_sign_convention_of_the_reference_code():
    # stripes along x have g_x = 0 exactly: the reference code takes arctan(g_y / 1e-5), i.e.
    # +pi/2 or -pi/2 by the sign of g_y, so an inverted horizontal edge counts as turned by pi
    # (A = -1, not preserved) while an inverted oblique edge keeps its orientation
    stripes = np.repeat((np.arange(32) // 4 % 2 * 0.5 + 0.25)[:, None], 32, axis=1)
    sources = np.stack([stripes, stripes])
    assert gradient_fusion_quality(sources, stripes, border="mirror") == pytest.approx(
        QABF_MAXIMUM, abs=1e-9
    )
    assert gradient_fusion_quality(sources, 1.0 - stripes, border="mirror") < 1e-3


def test_qabf_rejects_an_unknown_border():
    _, sources = half_focused_pair(size=16)
    with pytest.raises(InvalidInputError, match="border"):
        gradient_fusion_quality(sources, sources[0], border="wrap")


def test_qabf_prefers_the_all_in_focus_image_to_the_average():
    sharp, sources = half_focused_pair()
    all_sharp = gradient_fusion_quality(sources, sharp)
    average = gradient_fusion_quality(sources, sources.mean(axis=0))
    assert all_sharp > average + 0.03


def test_qabf_is_symmetric_in_the_source_order():
    _, sources = half_focused_pair(seed=3)
    fused = 0.7 * sources[0] + 0.3 * sources[1]
    assert gradient_fusion_quality(sources, fused) == pytest.approx(
        gradient_fusion_quality(sources[::-1], fused), rel=1e-12
    )


def test_qabf_rejects_flat_sources():
    with pytest.raises(InvalidInputError, match="no edges"):
        gradient_fusion_quality(np.full((2, 16, 16), 0.3), texture((16, 16)), border="mirror")
    # with zero padding a flat grey source has an edge at its border; a black one has none
    assert gradient_fusion_quality(np.full((2, 16, 16), 0.3), texture((16, 16))) > 0
    with pytest.raises(InvalidInputError, match="no edges"):
        gradient_fusion_quality(np.zeros((2, 16, 16)), texture((16, 16)))


# --- normalised mutual information ---------------------------------------------------------


def quantised(image):
    return np.round(image * 255) / 255


def test_nmi_of_identical_sources_and_fused_is_two():
    image = quantised(texture((64, 64)))
    assert normalized_mutual_information(np.stack([image, image]), image) == pytest.approx(
        2.0, abs=1e-12
    )
    assert normalized_mutual_information(np.stack([image] * 4), image) == pytest.approx(
        2.0, abs=1e-12
    )


def test_nmi_of_independent_noise_is_near_zero():
    rng = np.random.default_rng(7)
    sources = rng.random((2, 256, 256))
    fused = rng.random((256, 256))
    # 32 bins keep the histogram bias of the MI estimate (~0.01 bit here) negligible.
    assert normalized_mutual_information(sources, fused, bins=32) < 0.01


def test_nmi_is_invariant_to_a_bijective_relabelling_of_the_fused_grey_levels():
    _, sources = half_focused_pair(seed=5)
    sources = quantised(sources)
    fused = quantised(sources.mean(axis=0))
    permutation = np.random.default_rng(8).permutation(256)
    relabelled = permutation[np.round(fused * 255).astype(int)] / 255
    original = normalized_mutual_information(sources, fused)
    assert 0.3 < original < 1.9
    assert normalized_mutual_information(sources, relabelled) == pytest.approx(original, rel=1e-12)


def test_nmi_matches_the_two_source_formula_of_hossny():
    _, sources = half_focused_pair(seed=9)
    sources = quantised(sources)
    fused = quantised(0.6 * sources[0] + 0.4 * sources[1])
    levels = [np.round(x * 255).astype(int).ravel() for x in (*sources, fused)]

    def entropy_bits(*arrays):
        _, counts = np.unique(np.stack(arrays), axis=1, return_counts=True)
        p = counts / counts.sum()
        return -np.sum(p * np.log2(p))

    h_a, h_b, h_f = (entropy_bits(x) for x in levels)
    mi_af = h_a + h_f - entropy_bits(levels[0], levels[2])
    mi_bf = h_b + h_f - entropy_bits(levels[1], levels[2])
    expected = 2 * (mi_af / (h_a + h_f) + mi_bf / (h_b + h_f))
    assert normalized_mutual_information(sources, fused) == pytest.approx(expected, rel=1e-10)


# --- Q_Y -----------------------------------------------------------------------------------


def test_qy_of_identical_sources_and_fused_is_one():
    image = texture((48, 48))
    assert yang_structural_quality(np.stack([image, image]), image) == pytest.approx(1.0, abs=1e-12)
    assert yang_structural_quality(np.stack([image] * 3), image) == pytest.approx(1.0, abs=1e-12)


def test_qy_takes_the_best_source_where_the_sources_differ():
    first = texture((48, 48), seed=1)
    second = 1.0 - first
    # a contrast-inverted pair has negative SSIM everywhere: the max branch must pick SSIM = 1,
    # where the variance-weighted branch would mix in the negative SSIM of the other source
    sources = np.stack([first, second])
    assert yang_structural_quality(sources, first) == pytest.approx(1.0, abs=1e-12)
    assert yang_structural_quality(sources, second) == pytest.approx(1.0, abs=1e-12)


def reference_qy(source_a, source_b, fused, window=7, sigma=1.5):
    """Direct two-source Q_Y with an explicit kernel and 'valid' correlation."""
    axis = np.arange(window) - window // 2
    kernel = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * sigma**2))
    kernel /= kernel.sum()

    def filt(x):
        return signal.correlate2d(x, kernel, mode="valid")

    def moments(x, y):
        mx, my = filt(x), filt(y)
        return mx, my, filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my

    def ssim_map(x, y):
        mx, my, vx, vy, cxy = moments(x, y)
        c1, c2 = 0.01**2, 0.03**2
        return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))

    _, _, var_a, var_b, _ = moments(source_a, source_b)
    weight = var_a / (var_a + var_b)
    s_ab, s_af, s_bf = (
        ssim_map(source_a, source_b),
        ssim_map(source_a, fused),
        ssim_map(source_b, fused),
    )
    quality = np.where(s_ab >= 0.75, weight * s_af + (1 - weight) * s_bf, np.maximum(s_af, s_bf))
    return quality.mean()


def test_qy_matches_a_direct_implementation_of_the_paper_for_two_sources():
    sharp, sources = half_focused_pair(size=64, seed=11)
    for fused in (sharp, sources.mean(axis=0), np.clip(sharp + 0.05, 0, 1)):
        expected = reference_qy(*sources, fused)
        assert yang_structural_quality(sources, fused) == pytest.approx(expected, abs=1e-6)


def test_qy_prefers_the_all_in_focus_image_to_the_average():
    sharp, sources = half_focused_pair(seed=12)
    assert yang_structural_quality(sources, sharp) > yang_structural_quality(
        sources, sources.mean(axis=0)
    )


def test_qy_rejects_an_even_window():
    image = texture((16, 16))
    with pytest.raises(InvalidInputError, match="odd"):
        yang_structural_quality(np.stack([image, image]), image, window=6)


# --- single-image statistics ---------------------------------------------------------------


def test_spatial_frequency_of_a_constant_image_is_zero():
    assert spatial_frequency(np.full((12, 17), 0.4)) == 0.0


def test_spatial_frequency_of_a_checkerboard_has_the_closed_form():
    rows, columns, centre, amplitude = 10, 16, 0.5, 0.2
    signs = (-1.0) ** np.add.outer(np.arange(rows), np.arange(columns))
    board = centre + amplitude * signs
    # every neighbour difference is 2a; M(N-1) row pairs and (M-1)N column pairs over MN pixels
    expected = 2 * amplitude * np.sqrt((columns - 1) / columns + (rows - 1) / rows)
    assert spatial_frequency(board) == pytest.approx(expected, rel=1e-6)  # float32 input


def test_entropy_closed_forms():
    assert entropy(np.full((16, 16), 0.7)) == 0.0
    two_levels = np.zeros((16, 16))
    two_levels[:, ::2] = 1.0
    assert entropy(two_levels) == pytest.approx(1.0, abs=1e-12)
    ramp = np.tile(np.arange(256) / 255, (8, 1))
    assert entropy(ramp) == pytest.approx(8.0, abs=1e-12)
    assert entropy(ramp, bins=16) == pytest.approx(4.0, abs=1e-12)


def test_standard_deviation_closed_form():
    image = np.full((10, 10), 0.2)
    image[:, :5] = 0.8
    assert standard_deviation(image) == pytest.approx(0.3, abs=1e-6)


def test_rgb_inputs_are_scored_on_their_luminance():
    rng = np.random.default_rng(13)
    rgb = texture((32, 32, 3), seed=14)
    gray = to_gray(rgb)
    assert standard_deviation(rgb) == pytest.approx(standard_deviation(gray), rel=1e-12)
    assert spatial_frequency(rgb) == pytest.approx(spatial_frequency(gray), rel=1e-12)
    stack = np.stack([rgb, np.clip(rgb + rng.normal(0, 0.05, rgb.shape), 0, 1)])
    assert gradient_fusion_quality(stack, rgb) == pytest.approx(
        gradient_fusion_quality(to_gray(stack), gray), rel=1e-12
    )


def test_inputs_are_validated():
    image = texture((16, 16))
    with pytest.raises(InvalidInputError, match="at least 2"):
        normalized_mutual_information(image[None], image)
    with pytest.raises(InvalidInputError, match="does not match"):
        gradient_fusion_quality(np.stack([image, image]), image[:15])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        entropy(image * 3)


# --- registered metric classes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, name, function, on_stack",
    [
        (fusion.GradientFusionQuality, "qabf", gradient_fusion_quality, True),
        (
            fusion.MirroredGradientFusionQuality,
            "qabf-mirror",
            functools.partial(gradient_fusion_quality, border="mirror"),
            True,
        ),
        (fusion.NormalizedMutualInformation, "nmi", normalized_mutual_information, True),
        (fusion.YangStructuralQuality, "qy", yang_structural_quality, True),
        (fusion.SpatialFrequency, "spatial-frequency", spatial_frequency, False),
        (fusion.Entropy, "entropy", entropy, False),
        (fusion.StandardDeviation, "std", standard_deviation, False),
    ],
)
def test_metric_classes_wrap_the_functions(cls, name, function, on_stack):
    _, sources = half_focused_pair(size=48, seed=15)
    sample = FusionSample(stack=sources.astype(np.float32), sample_id="s")
    fused = sources.mean(axis=0).astype(np.float32)
    expected = function(sample.stack, fused) if on_stack else function(fused)
    assert cls().compute(fused, sample) == pytest.approx(expected, rel=1e-12)
    assert cls.name == name
    assert cls.tasks == ("fusion",)
    assert cls.higher_is_better and not cls.requires_reference
    assert cls.summary and cls.citation
