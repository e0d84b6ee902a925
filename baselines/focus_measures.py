"""Focus-measure operators: one number per image, higher for a sharper image.

The operators cover the six families of Pertuz et al. (2013): gradient,
Laplacian, wavelet, statistics, DCT and miscellaneous, plus the two blur
features of CellProfiler's MeasureImageQuality (FocusScore and
PowerLogLogSlope). The gradient and Laplacian operators live here, the
statistics and miscellaneous ones in `mmdf_bench.baselines.focus_measures_statistics`,
the wavelet, DCT and Fourier ones in `mmdf_bench.baselines.focus_measures_transform`.

Every operator is ``name(image) -> float`` on a grey ``(H, W)`` or RGB
``(H, W, 3)`` float image in [0, 1] (RGB is reduced to its BT.601
luminance with `mmdf_bench.images.to_gray`). Whole-image means are used
rather than sums, so scores of different image sizes are comparable.

`FOCUS_MEASURES` maps registry-style names to the functions,
`HIGHER_IS_SHARPER` gives the direction of each (all of them rise with
sharpness) and `FAMILIES` the Pertuz family.

References
----------
.. [1] S. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
       operators for shape-from-focus", Pattern Recognition 46(5),
       1415-1432, 2013. :DOI:`10.1016/j.patcog.2012.11.011`
"""

import cv2
import numpy as np

from mmdf_bench.baselines._focus_utils import gray_image
from mmdf_bench.baselines.focus_measures_statistics import (
    brenner,
    cellprofiler_focus_score,
    gray_level_variance,
    helmli_mean_ratio,
    histogram_entropy,
    normalized_variance,
    spatial_frequency,
    vollath_f4,
    vollath_f5,
)
from mmdf_bench.baselines.focus_measures_transform import (
    dct_energy_ratio,
    dct_reduced_energy_ratio,
    power_log_log_slope,
    wavelet_detail_energy,
    wavelet_ratio,
)
from mmdf_bench.errors import InvalidInputError

__all__ = [
    "FAMILIES", "FOCUS_MEASURES", "HIGHER_IS_SHARPER",
    "brenner", "cellprofiler_focus_score", "dct_energy_ratio", "dct_reduced_energy_ratio",
    "diagonal_laplacian", "gaussian_derivative", "gray_level_variance", "helmli_mean_ratio",
    "histogram_entropy", "modified_laplacian", "normalized_variance", "power_log_log_slope",
    "spatial_frequency", "tenengrad", "tenengrad_variance", "variance_of_laplacian",
    "vollath_f4", "vollath_f5", "wavelet_detail_energy", "wavelet_ratio",
]


def _depth(gray):
    # OpenCV filters keep the input precision; float32 is ample for [0, 1]
    # images and about three times faster than widening to float64.
    return cv2.CV_64F if gray.dtype == np.float64 else cv2.CV_32F


def _sobel_energy(image, name):
    gray = gray_image(image, name)
    gx = cv2.Sobel(gray, _depth(gray), 1, 0, ksize=3)
    gy = cv2.Sobel(gray, _depth(gray), 0, 1, ksize=3)
    return gx * gx + gy * gy


def tenengrad(image):
    """Mean squared Sobel gradient magnitude, ``mean(Gx**2 + Gy**2)``.

    Gradient family. 3x3 Sobel kernels, borders reflected (OpenCV default).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        >= 0; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] E. Krotkov, "Focusing", International Journal of Computer Vision
           1(3), 223-237, 1988.
    .. [2] Pertuz et al. 2013 (operator TENG).
    """
    return float(np.mean(_sobel_energy(image, "Tenengrad"), dtype=np.float64))


def tenengrad_variance(image):
    """Variance of the squared Sobel gradient magnitude ``Gx**2 + Gy**2``.

    Gradient family, as defined by Pertuz et al. (TENV): a focused image
    has a few very strong edges among flat areas, so the spread of the
    gradient energy grows faster with sharpness than its mean. Scores span
    many decades (fourth power of the gradients).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        >= 0; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] J. L. Pech-Pacheco, G. Cristobal, J. Chamorro-Martinez and
           J. Fernandez-Valdivia, "Diatom autofocusing in brightfield
           microscopy: a comparative study", ICPR 2000, vol. 3, 314-317.
    .. [2] Pertuz et al. 2013 (operator TENV).
    """
    return float(np.var(_sobel_energy(image, "Tenengrad variance"), dtype=np.float64))


def gaussian_derivative(image, *, sigma=1.0):
    """Mean squared gradient of the image smoothed by a Gaussian of width `sigma`.

    Gradient family: ``mean((G_x * I)**2 + (G_y * I)**2)`` with first
    derivatives of a Gaussian, which measure edges at one scale and
    ignore pixel noise finer than `sigma`.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    sigma : float, optional
        Scale in pixels.

    Returns
    -------
    score : float
        >= 0; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] J.-M. Geusebroek, F. Cornelissen, A. W. M. Smeulders and H. Geerts,
           "Robust autofocusing in microscopy", Cytometry 39(1), 1-9, 2000.
    .. [2] Pertuz et al. 2013 (operator GDER).
    """
    if not sigma > 0:
        raise InvalidInputError(f"Gaussian derivative: sigma must be positive, got {sigma}")
    gray = gray_image(image, "Gaussian derivative")
    # Kernels cut at 4 sigma with mirrored borders, as scipy.ndimage's
    # gaussian_filter(order=1); OpenCV's separable filter is ~10x faster.
    offsets = np.arange(-int(4 * sigma + 0.5), int(4 * sigma + 0.5) + 1)
    smooth = np.exp(-0.5 * (offsets / sigma) ** 2)
    smooth /= smooth.sum()
    derivative = -offsets / sigma**2 * smooth
    depth = _depth(gray)
    gx = cv2.sepFilter2D(gray, depth, derivative, smooth, borderType=cv2.BORDER_REFLECT)
    gy = cv2.sepFilter2D(gray, depth, smooth, derivative, borderType=cv2.BORDER_REFLECT)
    return float(np.mean(gx * gx + gy * gy, dtype=np.float64))


def variance_of_laplacian(image):
    """Variance of the 4-neighbour Laplacian (``cv2.Laplacian``, 3x3 kernel).

    Laplacian family. Computed as ``cv2.Laplacian(image, ddepth)`` followed
    by ``cv2.meanStdDev`` (variance = std**2), so it costs no more than the
    bare OpenCV calls. The one-pixel border is left out of the statistics:
    there the 3x3 kernel reaches outside the image and OpenCV's reflected
    border invents curvature (a linear ramp would get a Laplacian of twice
    its slope along its edges). Apart from the border this is the common
    ``cv2.Laplacian(image, cv2.CV_64F).var()`` idiom. The Laplacian keeps
    the input precision (``CV_64F`` for float64, ``CV_32F`` for float32:
    OpenCV 5 has no float32 -> float64 Laplacian); mean and deviation are
    accumulated in double precision either way.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1], at least 3x3 pixels.

    Returns
    -------
    score : float
        >= 0; 0 for a constant image or a linear ramp. Higher is sharper.

    References
    ----------
    .. [1] J. L. Pech-Pacheco, G. Cristobal, J. Chamorro-Martinez and
           J. Fernandez-Valdivia, "Diatom autofocusing in brightfield
           microscopy: a comparative study", ICPR 2000, vol. 3, 314-317.
    .. [2] Pertuz et al. 2013 (operator LAPV).
    """
    gray = gray_image(image, "variance of Laplacian")
    _, deviation = cv2.meanStdDev(cv2.Laplacian(gray, _depth(gray))[1:-1, 1:-1])
    return float(deviation[0, 0]) ** 2


def _second_differences(gray):
    # Valid interior only: borders would add spurious curvature.
    horizontal = gray[:, :-2] - 2 * gray[:, 1:-1] + gray[:, 2:]
    vertical = gray[:-2, :] - 2 * gray[1:-1, :] + gray[2:, :]
    return horizontal, vertical


def modified_laplacian(image):
    """Mean modified Laplacian ``|d2I/dx2| + |d2I/dy2|`` (sum-modified-Laplacian).

    Laplacian family. Second differences ``[1, -2, 1]`` along rows and
    columns, taken in absolute value separately so that they cannot cancel
    (as they do in the plain Laplacian at saddle points). Over the whole
    image this is Nayar & Nakagawa's sum-modified-Laplacian with zero
    threshold, divided by the number of pixels.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        >= 0; 0 for a constant image or a linear ramp. Higher is sharper.

    References
    ----------
    .. [1] S. K. Nayar and Y. Nakagawa, "Shape from focus", IEEE Transactions
           on Pattern Analysis and Machine Intelligence 16(8), 824-831, 1994.
    .. [2] Pertuz et al. 2013 (operator LAPM).
    """
    horizontal, vertical = _second_differences(gray_image(image, "modified Laplacian"))
    return float(np.mean(np.abs(horizontal), dtype=np.float64) + np.mean(np.abs(vertical), dtype=np.float64))


def diagonal_laplacian(image):
    """Mean of the absolute second differences along rows, columns and both diagonals.

    Laplacian family: the modified Laplacian extended with the two
    diagonal directions (each divided by sqrt(2), their pixel spacing), so
    that edges at 45 degrees count as much as horizontal ones.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        >= 0; 0 for a constant image or a linear ramp. Higher is sharper.

    References
    ----------
    .. [1] A. Thelen, S. Frey, S. Hirsch and P. Hering, "Improvements in
           shape-from-focus for holographic reconstructions with regard to
           focus operators, neighborhood-size, and height value
           interpolation", IEEE Transactions on Image Processing 18(1),
           151-157, 2009.
    .. [2] Pertuz et al. 2013 (operator LAPD).
    """
    gray = gray_image(image, "diagonal Laplacian")
    centre = 2 * gray[1:-1, 1:-1]
    total = np.abs(centre - gray[1:-1, :-2] - gray[1:-1, 2:])
    total += np.abs(centre - gray[:-2, 1:-1] - gray[2:, 1:-1])
    diagonals = np.abs(centre - gray[:-2, :-2] - gray[2:, 2:]) + np.abs(centre - gray[:-2, 2:] - gray[2:, :-2])
    total += diagonals / np.sqrt(2)
    return float(np.mean(total, dtype=np.float64))


FOCUS_MEASURES = {
    "tenengrad": tenengrad,
    "tenengrad-variance": tenengrad_variance,
    "gaussian-derivative": gaussian_derivative,
    "variance-of-laplacian": variance_of_laplacian,
    "modified-laplacian": modified_laplacian,
    "diagonal-laplacian": diagonal_laplacian,
    "wavelet-detail-energy": wavelet_detail_energy,
    "wavelet-ratio": wavelet_ratio,
    "gray-level-variance": gray_level_variance,
    "normalized-variance": normalized_variance,
    "histogram-entropy": histogram_entropy,
    "cellprofiler-focus-score": cellprofiler_focus_score,
    "dct-energy-ratio": dct_energy_ratio,
    "dct-reduced-energy-ratio": dct_reduced_energy_ratio,
    "brenner": brenner,
    "vollath-f4": vollath_f4,
    "vollath-f5": vollath_f5,
    "spatial-frequency": spatial_frequency,
    "helmli-mean-ratio": helmli_mean_ratio,
    "power-log-log-slope": power_log_log_slope,
}
"""Registry-style operator name -> ``function(image) -> float``."""

FAMILIES = {
    **dict.fromkeys(("tenengrad", "tenengrad-variance", "gaussian-derivative"), "gradient"),
    **dict.fromkeys(("variance-of-laplacian", "modified-laplacian", "diagonal-laplacian"), "laplacian"),
    **dict.fromkeys(("wavelet-detail-energy", "wavelet-ratio"), "wavelet"),
    **dict.fromkeys(("gray-level-variance", "normalized-variance", "histogram-entropy",
                     "cellprofiler-focus-score"), "statistics"),
    **dict.fromkeys(("dct-energy-ratio", "dct-reduced-energy-ratio"), "dct"),
    **dict.fromkeys(("brenner", "vollath-f4", "vollath-f5", "spatial-frequency", "helmli-mean-ratio",
                     "power-log-log-slope"), "miscellaneous"),
}
"""Operator name -> family of Pertuz et al. (2013); CellProfiler's PowerLogLogSlope,
a Fourier measure outside their survey, is filed under miscellaneous."""

HIGHER_IS_SHARPER = {
    # Every operator peaks at best focus. For the power log-log slope that
    # means the least negative slope: blur steepens the spectral fall-off.
    name: True for name in FOCUS_MEASURES
}
"""Operator name -> True when a larger score means a sharper image."""
