"""Full-reference image quality: PSNR and SSIM against a known sharp image.

Both compare a restored (or fused) image with its reference pixel by pixel
and are used by the deblurring task and by fusion samples that carry an
all-in-focus reference.
"""

import math

import numpy as np
from scipy import ndimage

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.base import Metric

# Wang et al. (2004): 11x11 circular-symmetric Gaussian window, sigma 1.5.
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: The PSNR the registered metric reports for a perfect restoration.
PSNR_CAP_DB = 100.0


def _image_pair(image, reference):
    image = np.asarray(image, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if image.shape != reference.shape:
        raise InvalidInputError(
            f"image shape {image.shape} differs from reference shape {reference.shape}"
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise InvalidInputError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    if not (np.all(np.isfinite(image)) and np.all(np.isfinite(reference))):
        raise InvalidInputError("image or reference contains NaN or infinite values")
    return image, reference


def _check_data_range(data_range):
    if not data_range > 0:
        raise InvalidInputError(f"data_range must be positive, got {data_range}")
    return float(data_range)


def local_mean(image, *, sigma=SSIM_SIGMA, radius=SSIM_RADIUS):
    """Gaussian-weighted local mean of a 2-D image (normalised, truncated window).

    The border is handled by mirror reflection; callers that follow Wang et al.
    discard the `radius`-pixel strip where the window leaves the image.
    """
    return ndimage.gaussian_filter(image, sigma, radius=radius, mode="reflect")


def ssim_from_moments(mean_x, mean_y, var_x, var_y, covariance, *, data_range=1.0):
    """SSIM map from local means, variances and covariance (Wang et al. 2004, eq. 13)."""
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    return numerator / denominator


def _ssim_plane(x, y, *, data_range):
    mean_x, mean_y = local_mean(x), local_mean(y)
    # Population (not sample) moments, as in Wang et al.
    var_x = local_mean(x * x) - mean_x**2
    var_y = local_mean(y * y) - mean_y**2
    covariance = local_mean(x * y) - mean_x * mean_y
    ssim_map = ssim_from_moments(mean_x, mean_y, var_x, var_y, covariance, data_range=data_range)
    return float(ssim_map[SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS].mean())


def psnr(image, reference, *, data_range=1.0):
    """Peak signal-to-noise ratio of `image` against `reference`, in decibels.

    ``PSNR = 10 log10(data_range**2 / MSE)``, the mean squared error being
    taken over all pixels (and all channels of an RGB image).

    Parameters
    ----------
    image, reference : ndarray, shape (H, W) or (H, W, 3)
        Images of the same shape, float in ``[0, data_range]``.
    data_range : float, optional
        Distance between the smallest and largest possible pixel value.

    Returns
    -------
    psnr : float
        In dB; ``inf`` when the images are identical.

    References
    ----------
    .. [1] Huynh-Thu, Q., & Ghanbari, M. (2008). Scope of validity of PSNR in
       image/video quality assessment. Electronics Letters, 44(13), 800-801.
       :DOI:`10.1049/el:20080522`
    """
    image, reference = _image_pair(image, reference)
    data_range = _check_data_range(data_range)
    mse = float(np.mean((image - reference) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(image, reference, *, data_range=1.0):
    """Mean structural similarity index of `image` against `reference`.

    Follows Wang et al. (2004): a Gaussian window with sigma 1.5 truncated to
    11 x 11 (3.5 sigma), population local variances and covariance, and
    stabilising constants ``C1 = (0.01 L)**2``, ``C2 = (0.03 L)**2`` with
    ``L = data_range``. Local statistics near the border use mirror
    reflection and the 5-pixel strip along each border is left out of the
    mean. These are the conventions of
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=L)``, whose results this function
    reproduces. An RGB image scores the mean of its three channel SSIMs.

    Parameters
    ----------
    image, reference : ndarray, shape (H, W) or (H, W, 3)
        Images of the same shape, at least 11 x 11 pixels.
    data_range : float, optional
        Distance between the smallest and largest possible pixel value.

    Returns
    -------
    ssim : float
        1 for identical images; at most 1.

    References
    ----------
    .. [1] Wang, Z., Bovik, A. C., Sheikh, H. R., & Simoncelli, E. P. (2004).
       Image quality assessment: from error visibility to structural
       similarity. IEEE Transactions on Image Processing, 13(4), 600-612.
       :DOI:`10.1109/TIP.2003.819861`
    """
    image, reference = _image_pair(image, reference)
    data_range = _check_data_range(data_range)
    if min(image.shape[:2]) < 2 * SSIM_RADIUS + 1:
        raise InvalidInputError(
            f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} x {2 * SSIM_RADIUS + 1} "
            f"pixels, got {image.shape[:2]}"
        )
    if image.ndim == 2:
        return _ssim_plane(image, reference, data_range=data_range)
    channels = [
        _ssim_plane(image[..., c], reference[..., c], data_range=data_range) for c in range(3)
    ]
    return float(np.mean(channels))


class PSNR(Metric):
    """PSNR against the sample's reference, capped at 100 dB.

    A perfect restoration has infinite PSNR; the registered metric reports
    `PSNR_CAP_DB` instead so that means and bootstrap intervals stay finite.
    """

    name = "psnr"
    value_range = "dB, 100 when identical"
    tasks = ("fusion", "deblur")
    higher_is_better = True
    requires_reference = True
    summary = "peak signal-to-noise ratio against the reference (dB, capped at 100)"
    citation = (
        "Huynh-Thu & Ghanbari (2008), Scope of validity of PSNR in image/video quality "
        "assessment, Electronics Letters 44(13)"
    )

    def compute(self, output, sample):
        return min(psnr(output, sample.reference), PSNR_CAP_DB)


class SSIM(Metric):
    """Mean SSIM against the sample's reference (Gaussian window, sigma 1.5)."""

    name = "ssim"
    value_range = "-1..1"
    tasks = ("fusion", "deblur")
    higher_is_better = True
    requires_reference = True
    summary = "structural similarity against the reference (Gaussian 11x11 window)"
    citation = (
        "Wang, Bovik, Sheikh & Simoncelli (2004), Image quality assessment: from error "
        "visibility to structural similarity, IEEE TIP 13(4)"
    )

    def compute(self, output, sample):
        return ssim(output, sample.reference)
