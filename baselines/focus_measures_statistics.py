"""Focus-measure operators of the statistics and miscellaneous families.

Grey-level statistics (variance, normalized variance, CellProfiler's
FocusScore, histogram entropy) and the miscellaneous operators of Pertuz et
al. (2013): Brenner, Vollath's autocorrelations, spatial frequency and
Helmli's mean ratio. Each is ``name(image) -> float`` on a grey or RGB float
image in [0, 1]; all rise with sharpness. They are collected in
`mmdf_bench.baselines.focus_measures.FOCUS_MEASURES`.

References
----------
.. [1] S. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
       operators for shape-from-focus", Pattern Recognition 46(5),
       1415-1432, 2013. :DOI:`10.1016/j.patcog.2012.11.011`
"""

import cv2
import numpy as np

from mmdf_bench.baselines._focus_utils import gray_image
from mmdf_bench.errors import InvalidInputError

__all__ = [
    "brenner", "cellprofiler_focus_score", "gray_level_variance", "helmli_mean_ratio", "histogram_entropy",
    "normalized_variance", "spatial_frequency", "vollath_f4", "vollath_f5",
]


def gray_level_variance(image):
    """Variance of the grey levels (population form, divisor M N).

    Statistics family: defocus averages neighbouring pixels and so lowers
    the contrast of detail finer than the blur.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        ``numpy.var`` of the luminance; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] E. Krotkov, "Focusing", International Journal of Computer Vision
           1(3), 223-237, 1988.
    .. [2] Pertuz et al. 2013 (operator GLVA).
    """
    _, deviation = cv2.meanStdDev(gray_image(image, "gray-level variance", minimum_size=1))
    return float(deviation[0, 0]) ** 2


def _variance_over_mean(image, name):
    mean, deviation = cv2.meanStdDev(gray_image(image, name, minimum_size=1))
    mean = float(mean[0, 0])
    return float(deviation[0, 0]) ** 2 / mean if mean > 0 else 0.0


def normalized_variance(image):
    """Grey-level variance divided by the mean grey level.

    Statistics family (Pertuz's GLVN): dividing by the mean compensates
    for exposure differences between images of one scene.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        ``var / mean``; 0 for a constant or black image. Higher is sharper.

    References
    ----------
    .. [1] F. C. A. Groen, I. T. Young and G. Ligthart, "A comparison of
           different focus functions for use in autofocus algorithms",
           Cytometry 6(2), 81-91, 1985.
    .. [2] Pertuz et al. 2013 (operator GLVN).
    """
    return _variance_over_mean(image, "normalized variance")


def cellprofiler_focus_score(image):
    """CellProfiler's FocusScore: ``sum((I - mean)**2) / (M N mean)``.

    MeasureImageQuality computes the normalized variance ranked best for
    bright-field autofocus by Sun et al. (2004); it is 0 when the mean is
    not positive. On any image with a positive mean it equals
    `normalized_variance` (Groen et al. 1985 define the same quantity);
    it is kept under CellProfiler's name so that results can be matched
    with CellProfiler quality-control pipelines.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] Y. Sun, S. Duthaler and B. J. Nelson, "Autofocusing in computer
           microscopy: selecting the optimal focus algorithm", Microscopy
           Research and Technique 65(3), 139-149, 2004.
    .. [2] A. E. Carpenter et al., "CellProfiler: image analysis software
           for identifying and quantifying cell phenotypes", Genome Biology
           7:R100, 2006 (module MeasureImageQuality, feature FocusScore).
    """
    return _variance_over_mean(image, "CellProfiler focus score")


def histogram_entropy(image):
    """Shannon entropy (bits) of the 256-bin grey-level histogram.

    Statistics family: a focused image spreads its pixels over more grey
    levels; defocus mixes them towards the local mean and concentrates the
    histogram. Grey levels are quantised to 8 bits by rounding.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    entropy : float
        In [0, 8]; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] E. Krotkov, "Focusing", International Journal of Computer Vision
           1(3), 223-237, 1988.
    .. [2] Pertuz et al. 2013 (operator HISE).
    """
    gray = gray_image(image, "histogram entropy", minimum_size=1)
    levels = np.clip(gray * 255 + 0.5, 0, 255).astype(np.uint8)
    counts = cv2.calcHist([levels], [0], None, [256], [0, 256]).ravel()
    probabilities = counts[counts > 0] / levels.size
    return float(-np.dot(probabilities, np.log2(probabilities)))


def brenner(image):
    """Brenner's gradient: mean squared difference of pixels two apart.

    Miscellaneous family. ``mean((I[x+2, y] - I[x, y])**2) +
    mean((I[x, y+2] - I[x, y])**2)``, each mean over the pixel pairs that
    fit in the image. Brenner et al. used the horizontal direction only;
    the vertical term makes the score independent of edge orientation.

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
    .. [1] J. F. Brenner, B. S. Dew, J. B. Horton, T. King, P. W. Neurath and
           W. D. Selles, "An automated microscope for cytologic research: a
           preliminary evaluation", Journal of Histochemistry & Cytochemistry
           24(1), 100-111, 1976.
    .. [2] Pertuz et al. 2013 (operator BREN).
    """
    gray = gray_image(image, "Brenner")
    horizontal = gray[:, 2:] - gray[:, :-2]
    vertical = gray[2:, :] - gray[:-2, :]
    return float(np.mean(horizontal * horizontal, dtype=np.float64) + np.mean(vertical * vertical, dtype=np.float64))


def vollath_f4(image):
    """Vollath's F4 autocorrelation: ``mean(I(x) I(x+1)) - mean(I(x) I(x+2))``.

    Miscellaneous family. The difference of the autocorrelation at lags 1
    and 2 responds to detail at the pixel scale; it is summed over the
    horizontal and vertical directions, each averaged over the pixels that
    have both neighbours. The image mean is subtracted first: on a finite
    image the raw sums differ from the centred ones only by ``mean *
    (I[1] - I[-1])`` per line, a boundary term that follows the brightness
    gradient across the image rather than its focus.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        0 for a constant image; positive for natural images (it can be
        negative for pixel-period patterns). Higher is sharper.

    References
    ----------
    .. [1] D. Vollath, "Automatic focusing by correlative methods", Journal
           of Microscopy 147(3), 279-288, 1987.
    .. [2] Pertuz et al. 2013 (operator VOLA).
    """
    gray = gray_image(image, "Vollath F4").astype(np.float64)
    # On the raw image the sums telescope into mean * (first - last column),
    # a term set by the brightness trend across the image, not by focus.
    gray -= gray.mean()
    horizontal = np.mean(gray[:, :-2] * (gray[:, 1:-1] - gray[:, 2:]))
    vertical = np.mean(gray[:-2, :] * (gray[1:-1, :] - gray[2:, :]))
    return float(horizontal + vertical)


def vollath_f5(image):
    """Vollath's F5 autocorrelation: ``mean(I(x) I(x+1)) - mean(I)**2``.

    Miscellaneous family: the autocovariance at lag one, which falls with
    defocus like the variance but suppresses uncorrelated pixel noise.
    Summed over the horizontal and vertical directions.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].

    Returns
    -------
    score : float
        0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] D. Vollath, "The influence of the scene parameters and of noise on
           the behaviour of automatic focusing algorithms", Journal of
           Microscopy 151(2), 133-146, 1988.
    """
    gray = gray_image(image, "Vollath F5").astype(np.float64)
    mean_squared = gray.mean() ** 2
    horizontal = np.mean(gray[:, :-1] * gray[:, 1:])
    vertical = np.mean(gray[:-1, :] * gray[1:, :])
    return float(horizontal + vertical - 2 * mean_squared)


def spatial_frequency(image):
    """Spatial frequency ``sqrt(RF**2 + CF**2)`` of Eskicioglu & Fisher.

    Miscellaneous family. ``RF**2`` and ``CF**2`` are the sums of squared
    differences of horizontal and vertical neighbours divided by the number
    of pixels M N; the same value as the `spatial-frequency` fusion metric.

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
    .. [1] A. M. Eskicioglu and P. S. Fisher, "Image quality measures and
           their performance", IEEE Transactions on Communications 43(12),
           2959-2965, 1995.
    .. [2] Pertuz et al. 2013 (operator SFRQ).
    """
    gray = gray_image(image, "spatial frequency", minimum_size=2)
    rows = gray[:, 1:] - gray[:, :-1]
    columns = gray[1:, :] - gray[:-1, :]
    energy = np.sum(rows * rows, dtype=np.float64) + np.sum(columns * columns, dtype=np.float64)
    return float(np.sqrt(energy / gray.size))


def helmli_mean_ratio(image, *, window=3):
    """Helmli and Scherer's mean method: mean of ``max(U / I, I / U)``.

    Miscellaneous family. ``U`` is the local mean over a `window` square;
    the ratio is 1 where a pixel equals its neighbourhood mean and grows
    with local contrast. Pixels where either value is 0 count as 1.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    window : int, optional
        Odd side of the local-mean window.

    Returns
    -------
    score : float
        >= 1; exactly 1 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] F. S. Helmli and S. Scherer, "Adaptive shape from focus with an
           error estimation in light microscopy", Proceedings of the 2nd
           International Symposium on Image and Signal Processing and
           Analysis (ISPA), 188-193, 2001.
    .. [2] Pertuz et al. 2013 (operator HELM).
    """
    if int(window) != window or window < 1 or window % 2 == 0:
        raise InvalidInputError(f"Helmli mean ratio: window must be a positive odd integer, got {window}")
    gray = gray_image(image, "Helmli mean ratio").astype(np.float32)
    local_mean = cv2.blur(gray, (int(window), int(window)), borderType=cv2.BORDER_REFLECT_101)
    larger, smaller = np.maximum(gray, local_mean), np.minimum(gray, local_mean)
    ratio = np.divide(larger, smaller, out=np.ones_like(gray), where=smaller > 0)
    return float(np.mean(ratio, dtype=np.float64))
