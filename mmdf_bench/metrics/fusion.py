"""No-reference fusion metrics: how much of the sources a fused image keeps.

Every metric works on luminance: RGB sources and fused images are converted
with `mmdf_bench.images.to_gray` (ITU-R BT.601) before scoring. Pixel values
stay in [0, 1], so spatial frequency and standard deviation are in those
units (multiply by 255 to compare with papers that work on 8-bit values).

Entropy and normalised mutual information live in
`mmdf_bench.metrics.fusion_information` and are re-exported here.
"""

import numpy as np
from scipy import ndimage

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray, validate_image
from mmdf_bench.metrics.base import Metric
from mmdf_bench.metrics.full_reference import local_mean, ssim_from_moments
from mmdf_bench.metrics.fusion_information import (
    entropy,
    gray_inputs,
    normalized_mutual_information,
)

__all__ = [
    "entropy",
    "gradient_fusion_quality",
    "normalized_mutual_information",
    "spatial_frequency",
    "standard_deviation",
    "yang_structural_quality",
]

# Xydeas & Petrovic (2000): sigmoids of edge-strength (g) and orientation (alpha) preservation.
GAMMA_G, KAPPA_G, SIGMA_G = 0.9994, -15.0, 0.5
GAMMA_A, KAPPA_A, SIGMA_A = 0.9879, -22.0, 0.8
QABF_WEIGHT_EXPONENT = 1.0


def _sigmoid(preservation, gamma, kappa, sigma):
    return gamma / (1.0 + np.exp(kappa * (preservation - sigma)))


#: Q^AB/F of a perfect fusion: both sigmoids evaluated at full preservation (about 0.9748).
QABF_MAXIMUM = float(
    _sigmoid(1.0, GAMMA_G, KAPPA_G, SIGMA_G) * _sigmoid(1.0, GAMMA_A, KAPPA_A, SIGMA_A)
)

#: Grey levels per unit of the [0, 1] scale at which Q^AB/F computes its gradients: the
#: reference code works on 8-bit values (0..255), and its 1e-5 guards are in those units.
QABF_GREY_LEVELS = 255.0
# The reference code adds this to a zero g_x before the arctangent, and to a zero edge strength
# before dividing by it or using it as a weight (in grey levels of QABF_GREY_LEVELS).
_REFERENCE_GUARD = 1e-5
# Sobel responses below this (in [0, 1] units) are float32 rounding noise: an 8-bit step gives
# 1/255, a 16-bit step 1.5e-5. Zeroing them restores the exact zeros that the reference code
# gets from integer images; the orientation term jumps from 1 to -1 across g_x = 0.
_GRADIENT_NOISE = 1e-6

#: Border handling of `gradient_fusion_quality`: zero padding is what the literature's code does.
QABF_BORDERS = {"zero": "constant", "mirror": "reflect"}

YANG_SIGMA = 1.5
YANG_SIMILARITY_THRESHOLD = 0.75


def _sobel(image, border):
    """Edge strength and orientation in [-pi/2, pi/2] of a 2-D image, as the reference code has them.

    The image is scaled to `QABF_GREY_LEVELS`; where g_x is zero it is replaced by the reference's
    guard before ``arctan(g_y / g_x)``, so that a vertical edge has angle +-pi/2 (the sign of g_y)
    and a flat pixel angle 0.
    """
    scaled = np.asarray(image, dtype=np.float64) * QABF_GREY_LEVELS
    noise = _GRADIENT_NOISE * QABF_GREY_LEVELS
    mode = QABF_BORDERS[border]
    horizontal = ndimage.sobel(scaled, axis=1, mode=mode, cval=0.0)
    vertical = ndimage.sobel(scaled, axis=0, mode=mode, cval=0.0)
    horizontal[np.abs(horizontal) < noise] = 0.0
    vertical[np.abs(vertical) < noise] = 0.0
    strength = np.hypot(horizontal, vertical)
    horizontal[horizontal == 0.0] = _REFERENCE_GUARD
    return strength, np.arctan(vertical / horizontal)


def _edge_preservation(strength, angle, strength_fused, angle_fused):
    """Per-pixel edge preservation Q^SF = Q_g Q_alpha of one source S (Xydeas & Petrovic)."""
    # zero strengths take the reference's guard, so that two flat pixels preserve fully (G = 1)
    guarded = np.where(strength == 0.0, _REFERENCE_GUARD, strength)
    guarded_fused = np.where(strength_fused == 0.0, _REFERENCE_GUARD, strength_fused)
    relative_strength = np.minimum(guarded, guarded_fused) / np.maximum(guarded, guarded_fused)
    relative_angle = 1.0 - np.abs(angle - angle_fused) / (np.pi / 2)
    return _sigmoid(relative_strength, GAMMA_G, KAPPA_G, SIGMA_G) * _sigmoid(
        relative_angle, GAMMA_A, KAPPA_A, SIGMA_A
    )


def gradient_fusion_quality(sources, fused, *, border="zero"):
    """Gradient-based fusion quality Q^AB/F of Xydeas & Petrovic (2000).

    At each pixel, Sobel gradients give an edge strength ``g`` and an
    orientation ``alpha = arctan(g_y / g_x)`` for each source S and for the
    fused image F. Their preservation is

    * strength: ``G = g_F / g_S`` if ``g_S > g_F`` else ``g_S / g_F`` (1 when both are 0),
    * orientation: ``A = 1 - |alpha_S - alpha_F| / (pi / 2)``,

    each mapped through the paper's sigmoid
    ``Q = Gamma / (1 + exp(kappa (x - sigma)))`` with
    ``Gamma_g = 0.9994, kappa_g = -15, sigma_g = 0.5`` and
    ``Gamma_a = 0.9879, kappa_a = -22, sigma_a = 0.8``; ``Q^SF = Q_g Q_a``.
    The score is the edge-strength weighted mean
    ``sum_S sum_px Q^SF w_S / sum_S sum_px w_S`` with ``w_S = g_S**L``, L = 1.
    That sum runs over all N sources, which is the paper's two-source formula
    for N = 2 and weights every source by its own edges for N > 2.

    Conventions follow the MATLAB code the multi-focus fusion literature
    reports its Q^AB/F with (``metricXydeas`` of Liu et al.'s MFIF-Metrics,
    after Z. Liu's implementation) [3]_: gradients are taken on the image in
    8-bit grey levels (0..255), the Sobel filter pads the border with zeros,
    and 1e-5 is added to a zero ``g_x`` before the arctangent and to a zero
    edge strength before it divides or weights. Zero padding makes the image
    border an edge that every fused image preserves, which raises scores by
    0.002-0.03 on typical images; ``border="mirror"`` mirrors the border
    instead (the registered metric ``qabf-mirror``), which scores only the
    image content but cannot be compared with published tables. With the
    default, on the 20 Lytro images of ``tests/test_fusion_metric_reference.py``
    this function matches the MATLAB code under GNU Octave to 1e-4.

    With these constants a perfect fusion scores `QABF_MAXIMUM` (about
    0.9748, not exactly 1), as in the implementations used by the fusion
    literature; no edge preserved scores about 0. RGB images are converted
    to luminance.

    Parameters
    ----------
    sources : ndarray, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered source images in [0, 1].
    fused : ndarray, shape (H, W) or (H, W, 3)
        The fused image in [0, 1].
    border : {"zero", "mirror"}, optional
        How the Sobel filter extends the image: zero padding (the reference
        code's) or mirror reflection.

    Returns
    -------
    q_abf : float
        In [0, `QABF_MAXIMUM`].

    Raises
    ------
    InvalidInputError
        When no source has any edge (all sources flat, and zero under zero
        padding), so that only the guards would weigh.

    References
    ----------
    .. [1] Xydeas, C. S., & Petrovic, V. (2000). Objective image fusion
       performance measure. Electronics Letters, 36(4), 308-309.
       :DOI:`10.1049/el:20000267`
    .. [2] Liu, Z., Blasch, E., Xue, Z., Zhao, J., Laganiere, R., & Wu, W.
       (2012). Objective assessment of multiresolution image fusion
       algorithms for context enhancement in night vision: a comparative
       study. IEEE TPAMI, 34(1), 94-109. :DOI:`10.1109/TPAMI.2011.109`
    .. [3] Liu, Y., Wang, L., Cheng, J., Li, C., & Chen, X. (2020).
       Multi-focus image fusion: a survey of the state of the art.
       Information Fusion, 64, 71-91. :DOI:`10.1016/j.inffus.2020.06.013`
       Code: https://github.com/yuliu316316/MFIF-Metrics
    """
    if border not in QABF_BORDERS:
        raise InvalidInputError(
            f"border must be one of {', '.join(map(repr, QABF_BORDERS))}, got {border!r}"
        )
    sources, fused = gray_inputs(sources, fused)
    strength_fused, angle_fused = _sobel(fused, border)
    numerator = 0.0
    denominator = 0.0
    has_edges = False
    for plane in sources:
        strength, angle = _sobel(plane, border)
        has_edges = has_edges or bool(np.any(strength > 0.0))
        quality = _edge_preservation(strength, angle, strength_fused, angle_fused)
        weight = np.where(strength == 0.0, _REFERENCE_GUARD, strength) ** QABF_WEIGHT_EXPONENT
        numerator += float(np.sum(quality * weight, dtype=np.float64))
        denominator += float(np.sum(weight, dtype=np.float64))
    if not has_edges:
        raise InvalidInputError("Q^AB/F is undefined: the source images have no edges (all flat)")
    return numerator / denominator


def yang_structural_quality(sources, fused, *, window=7):
    """SSIM-based fusion quality Q_Y of Yang et al. (2008).

    In each local window w, with ``lambda = s(A|w) / (s(A|w) + s(B|w))``
    the share of local variance (saliency) of source A,

    * ``Q_Y(w) = lambda SSIM(A,F|w) + (1 - lambda) SSIM(B,F|w)`` when the
      sources are alike there, ``SSIM(A,B|w) >= 0.75``,
    * ``Q_Y(w) = max(SSIM(A,F|w), SSIM(B,F|w))`` otherwise,

    and Q_Y is the mean over windows. For N sources the same rule is applied
    with ``lambda_i = s(S_i|w) / sum_j s(S_j|w)`` (equal weights where every
    source is flat), and the sources count as alike only where every pair of
    them has SSIM >= 0.75; for N = 2 this is the paper's definition.

    Local statistics use a Gaussian window of `window` x `window` pixels
    with sigma 1.5 (the window of the widely used implementation by Z. Liu)
    and the SSIM constants of Wang et al. (2004) for a data range of 1, which
    keep flat regions defined. Only windows lying wholly inside the image are
    averaged. RGB images are converted to luminance.

    The MATLAB code the fusion literature reports Q_Y with (``metricYang`` of
    Liu et al.'s MFIF-Metrics) uses the same window but SSIM constants of
    2e-16: its SSIM is then unstable in flat or saturated windows, and it
    returns 4.26 on one Lytro image pair (see
    ``tests/test_fusion_metric_reference.py``), impossible for Q_Y <= 1.
    This function keeps Wang et al.'s constants, so its values differ from
    published ones (by up to 0.1 on those 20 Lytro images).

    Parameters
    ----------
    sources : ndarray, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered source images in [0, 1].
    fused : ndarray, shape (H, W) or (H, W, 3)
        The fused image in [0, 1].
    window : int, optional
        Odd side of the local window, at most the smaller image side.

    Returns
    -------
    q_y : float
        At most 1; 1 when the fused image equals identical sources.

    References
    ----------
    .. [1] Yang, C., Zhang, J.-Q., Wang, X.-R., & Liu, X. (2008). A novel
       similarity based quality metric for image fusion. Information Fusion,
       9(2), 156-160. :DOI:`10.1016/j.inffus.2006.09.001`
    .. [2] Wang, Z., Bovik, A. C., Sheikh, H. R., & Simoncelli, E. P. (2004).
       Image quality assessment: from error visibility to structural
       similarity. IEEE Transactions on Image Processing, 13(4), 600-612.
       :DOI:`10.1109/TIP.2003.819861`
    """
    if int(window) != window or window < 3 or window % 2 == 0:
        raise InvalidInputError(f"window must be an odd integer >= 3, got {window}")
    sources, fused = gray_inputs(sources, fused)
    radius = int(window) // 2
    if min(fused.shape) < window:
        raise InvalidInputError(f"window {window} is larger than the image {fused.shape}")

    def mean(image):
        return local_mean(image, sigma=YANG_SIGMA, radius=radius)

    def moments(image):
        average = mean(image)
        return average, np.maximum(mean(image * image) - average**2, 0.0)

    fused_mean, fused_var = moments(fused)
    planes = [moments(plane) for plane in sources]
    to_fused = np.stack(
        [
            ssim_from_moments(m, fused_mean, v, fused_var, mean(plane * fused) - m * fused_mean)
            for plane, (m, v) in zip(sources, planes)
        ]
    )
    alike = np.ones(fused.shape, dtype=bool)
    for i in range(len(sources)):
        for j in range(i + 1, len(sources)):
            (mean_i, var_i), (mean_j, var_j) = planes[i], planes[j]
            covariance = mean(sources[i] * sources[j]) - mean_i * mean_j
            similarity = ssim_from_moments(mean_i, mean_j, var_i, var_j, covariance)
            alike &= similarity >= YANG_SIMILARITY_THRESHOLD
    variances = np.stack([v for _, v in planes])
    total = variances.sum(axis=0)
    weights = np.divide(
        variances, total, out=np.full_like(variances, 1.0 / len(sources)), where=total > 0
    )
    quality = np.where(alike, np.sum(weights * to_fused, axis=0), to_fused.max(axis=0))
    return float(quality[radius:-radius, radius:-radius].mean(dtype=np.float64))


def _gray_image(image, name):
    return to_gray(validate_image(image, source=f"{name} input")).astype(np.float64)


def spatial_frequency(image):
    """Spatial frequency ``SF = sqrt(RF**2 + CF**2)`` of an image.

    ``RF**2 = sum (F[m, n] - F[m, n-1])**2 / (M N)`` (row frequency, over
    horizontal neighbours) and ``CF**2`` the same over vertical neighbours,
    both divided by the number of pixels M N as in Eskicioglu & Fisher.
    Values are in units of the [0, 1] pixel scale; RGB images are converted
    to luminance.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    sf : float
        0 for a constant image.

    References
    ----------
    .. [1] Eskicioglu, A. M., & Fisher, P. S. (1995). Image quality measures
       and their performance. IEEE Transactions on Communications, 43(12),
       2959-2965. :DOI:`10.1109/26.477498`
    .. [2] Li, S., Kwok, J. T., & Wang, Y. (2001). Combination of images with
       diverse focuses using the spatial frequency. Information Fusion, 2(3),
       169-176. :DOI:`10.1016/S1566-2535(01)00038-0`
    """
    image = _gray_image(image, "spatial frequency")
    row_energy = np.sum(np.diff(image, axis=1) ** 2)
    column_energy = np.sum(np.diff(image, axis=0) ** 2)
    return float(np.sqrt((row_energy + column_energy) / image.size))


def standard_deviation(image):
    """Standard deviation of the grey levels (population form, divisor M N).

    A contrast measure: higher means more spread of intensities. Values are
    in units of the [0, 1] pixel scale (multiply by 255 for 8-bit units);
    RGB images are converted to luminance.

    This is the standard deviation of the image. The ``SD`` function of the
    MATLAB code used by the multi-focus fusion literature (Liu et al.'s
    MFIF-Metrics) returns something else: the mean, over columns, of each
    column's standard deviation (divisor M - 1). That ignores the spread
    between columns, so it is smaller (36.4 against 39.6 in 8-bit units on
    the IFCNN fusion of Lytro pair 01); published ``SD`` values cannot be
    compared with this one.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    std : float

    References
    ----------
    .. [1] Jagalingam, P., & Hegde, A. V. (2015). A review of quality metrics
       for fused image. Aquatic Procedia, 4, 133-142.
       :DOI:`10.1016/j.aqpro.2015.02.019`
    .. [2] Liu, Y., Wang, L., Cheng, J., Li, C., & Chen, X. (2020).
       Multi-focus image fusion: a survey of the state of the art.
       Information Fusion, 64, 71-91. :DOI:`10.1016/j.inffus.2020.06.013`
    """
    return float(np.std(_gray_image(image, "standard deviation")))


class _FusionMetric(Metric):
    tasks = ("fusion",)
    higher_is_better = True
    requires_reference = False


class GradientFusionQuality(_FusionMetric):
    """Q^AB/F edge-preservation score of the fused image against the stack."""

    name = "qabf"
    value_range = "0..0.975"
    summary = (
        "gradient (edge strength and orientation) preservation Q^AB/F, Xydeas & Petrovic; "
        "zero-padded as the MFIF-Metrics MATLAB code"
    )
    citation = (
        "Xydeas & Petrovic (2000), Objective image fusion performance measure, "
        "Electronics Letters 36(4)"
    )
    border = "zero"

    def compute(self, output, sample):
        return gradient_fusion_quality(sample.stack, output, border=self.border)


class MirroredGradientFusionQuality(GradientFusionQuality):
    """Q^AB/F with a mirrored border: scores image content only, not comparable with papers."""

    name = "qabf-mirror"
    value_range = "0..0.975"
    summary = (
        "Q^AB/F with mirrored instead of zero-padded borders (the image border is no edge); "
        "not comparable with published values"
    )
    border = "mirror"
    # a variant for those who want it by name; the default run reports the literature's Q^AB/F
    in_default_run = False


class NormalizedMutualInformation(_FusionMetric):
    """Hossny's normalised mutual information Q_MI between the stack and the fused image."""

    name = "nmi"
    value_range = "0..2"
    summary = "normalised mutual information Q_MI between sources and fused image (0..2)"
    citation = (
        "Hossny, Nahavandi & Creighton (2008), Comments on 'Information measure for "
        "performance of image fusion', Electronics Letters 44(18)"
    )

    def compute(self, output, sample):
        return normalized_mutual_information(sample.stack, output)


class YangStructuralQuality(_FusionMetric):
    """Yang's SSIM-based fusion quality Q_Y (7 x 7 windows)."""

    name = "qy"
    value_range = "-1..1"
    summary = "SSIM-based structural fusion quality Q_Y, Yang et al."
    citation = (
        "Yang, Zhang, Wang & Liu (2008), A novel similarity based quality metric for "
        "image fusion, Information Fusion 9(2)"
    )

    def compute(self, output, sample):
        return yang_structural_quality(sample.stack, output)


class SpatialFrequency(_FusionMetric):
    """Spatial frequency (activity) of the fused image."""

    name = "spatial-frequency"
    value_range = ">= 0, in [0, 1] pixel units (x255 for 8-bit units)"
    summary = "spatial frequency of the fused image (row and column differences)"
    citation = (
        "Eskicioglu & Fisher (1995), Image quality measures and their performance, "
        "IEEE Transactions on Communications 43(12)"
    )

    def compute(self, output, sample):
        return spatial_frequency(output)


class Entropy(_FusionMetric):
    """Shannon entropy of the fused image's 8-bit grey-level histogram."""

    name = "entropy"
    value_range = "0..8 bits"
    summary = "Shannon entropy of the fused image (bits, 256 grey levels)"
    citation = (
        "Shannon (1948), A mathematical theory of communication, "
        "Bell System Technical Journal 27(3)"
    )

    def compute(self, output, sample):
        return entropy(output)


class StandardDeviation(_FusionMetric):
    """Grey-level standard deviation (contrast) of the fused image."""

    name = "std"
    value_range = "0..0.5, in [0, 1] pixel units (x255 for 8-bit units)"
    summary = "standard deviation of the fused image's grey levels (contrast)"
    citation = (
        "Jagalingam & Hegde (2015), A review of quality metrics for fused image, Aquatic Procedia 4"
    )

    def compute(self, output, sample):
        return standard_deviation(output)
