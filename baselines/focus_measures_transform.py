"""Focus-measure operators computed in a transform domain: wavelet, DCT, Fourier.

Every function maps one grey or RGB float image in [0, 1] to a float
(RGB is reduced to luminance); they are collected with the spatial
operators in `mmdf_bench.baselines.focus_measures.FOCUS_MEASURES`. All of them give a
higher value to a sharper image of the same scene.

References
----------
.. [1] S. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
       operators for shape-from-focus", Pattern Recognition 46(5),
       1415-1432, 2013. :DOI:`10.1016/j.patcog.2012.11.011`
"""

import numpy as np

from mmdf_bench.baselines._focus_utils import gray_image
from mmdf_bench.errors import InvalidInputError

__all__ = [
    "dct_energy_ratio",
    "dct_reduced_energy_ratio",
    "power_log_log_slope",
    "wavelet_detail_energy",
    "wavelet_ratio",
]

# Floor of a block's squared DC coefficient: keeps black blocks (DC = 0)
# from dividing by zero while far below the DC of any visible block
# (an 8x8 block of mean 1/255 has DC^2 = 64 / 255^2 ~ 1e-3).
_DC_FLOOR = 1e-8


def _level_one_energies(image, wavelet, name):
    import pywt

    gray = gray_image(image, name, minimum_size=2)
    # Symmetric extension: periodization would keep Parseval exact but wraps
    # the image, and the jump between opposite borders is a sharp edge that
    # no amount of defocus removes.
    approximation, details = pywt.dwt2(gray.astype(np.float64, copy=False), wavelet, mode="symmetric")
    # Elementwise sums rather than np.dot: BLAS threads waking up cost more
    # than the products on a busy machine.
    detail_energy = sum(float(np.einsum("ij,ij->", band, band)) for band in details)
    return detail_energy, float(np.einsum("ij,ij->", approximation, approximation)), gray.size


def wavelet_detail_energy(image, *, wavelet="db6"):
    """Energy of the first-level wavelet detail coefficients, per pixel.

    ``sum(H**2 + V**2 + D**2) / (M N)`` over the horizontal, vertical and
    diagonal detail bands of a one-level orthonormal 2-D DWT: the share of
    the image energy at the finest scale, which defocus removes first.
    Yang & Nelson sum absolute values instead; squaring gives the energy
    (Parseval) and ranks images the same way in practice.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    wavelet : str, optional
        A PyWavelets orthogonal wavelet; Daubechies-6 as in Pertuz et al.

    Returns
    -------
    energy : float
        >= 0; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] G. Yang and B. J. Nelson, "Wavelet-based autofocusing and
           unsupervised segmentation of microscopic images", IEEE/RSJ IROS,
           2143-2148, 2003.
    .. [2] Pertuz et al. 2013 (operator WAVS).
    """
    detail, _, size = _level_one_energies(image, wavelet, "wavelet detail energy")
    return detail / size


def wavelet_ratio(image, *, wavelet="db6"):
    """Ratio of first-level wavelet detail energy to approximation energy.

    ``sum(H**2 + V**2 + D**2) / sum(A**2)`` for a one-level orthonormal 2-D
    DWT. Dividing by the low-pass energy makes the measure insensitive to
    exposure (scaling the image leaves it unchanged), unlike
    `wavelet_detail_energy`.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    wavelet : str, optional
        A PyWavelets orthogonal wavelet.

    Returns
    -------
    ratio : float
        >= 0; 0 for a constant (or black) image. Higher is sharper.

    References
    ----------
    .. [1] H. Xie, W. Rong and L. Sun, "Wavelet-based focus measure and 3-D
           surface reconstruction method for microscopy images", IEEE/RSJ
           IROS, 229-234, 2006.
    .. [2] Pertuz et al. 2013 (operator WAVR).
    """
    detail, approximation, _ = _level_one_energies(image, wavelet, "wavelet ratio")
    return detail / approximation if approximation > 0 else 0.0


def _block_dct_power(image, block_size, name):
    from scipy.fft import dctn

    gray = gray_image(image, name, minimum_size=2)
    size = min(block_size, *gray.shape)
    rows, cols = (gray.shape[0] // size) * size, (gray.shape[1] // size) * size
    # Non-overlapping blocks, as in JPEG; the incomplete last row and column
    # of blocks are left out.
    blocks = gray[:rows, :cols].astype(np.float64).reshape(rows // size, size, cols // size, size)
    coefficients = dctn(blocks, type=2, axes=(1, 3), norm="ortho")
    return np.square(coefficients).transpose(0, 2, 1, 3)  # (block row, block col, u, v)


def dct_energy_ratio(image, *, block_size=8):
    """Mean over 8x8 blocks of the AC-to-DC energy ratio of the block DCT.

    For each block, ``sum(AC**2) / DC**2`` of its orthonormal 2-D DCT-II.
    By Parseval this equals the block's variance divided by its squared
    mean, so the measure is a contrast that does not depend on exposure.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    block_size : int, optional
        Side of the blocks (smaller images use one block of their own size).

    Returns
    -------
    ratio : float
        >= 0; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] C.-H. Shen and H. H. Chen, "Robust focus measure for low-contrast
           images", International Conference on Consumer Electronics (ICCE),
           69-70, 2006.
    .. [2] Pertuz et al. 2013 (operator DCTE).
    """
    power = _block_dct_power(image, block_size, "DCT energy ratio")
    dc = power[..., 0, 0].copy()
    power[..., 0, 0] = 0.0
    return float(np.mean(power.sum(axis=(2, 3)) / np.maximum(dc, _DC_FLOOR)))


def dct_reduced_energy_ratio(image, *, block_size=8):
    """Mean over blocks of the energy of five low AC coefficients over the DC energy.

    Per block, ``(C01**2 + C02**2 + C10**2 + C11**2 + C20**2) / C00**2``:
    the five AC coefficients nearest the DC term carry most of the focus
    information and little of the noise, which sits at high frequencies.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    block_size : int, optional
        Side of the blocks; at least 3.

    Returns
    -------
    ratio : float
        >= 0; 0 for a constant image. Higher is sharper.

    References
    ----------
    .. [1] S.-Y. Lee, Y. Kumar, J.-M. Cho, S.-W. Lee and S.-W. Kim,
           "Reduced energy-ratio measure for robust autofocusing in digital
           camera", IEEE Signal Processing Letters 16(2), 133-136, 2009.
    .. [2] Pertuz et al. 2013 (operator DCTR).
    """
    if block_size < 3:
        raise InvalidInputError(f"DCT reduced energy ratio: block_size must be at least 3, got {block_size}")
    power = _block_dct_power(image, block_size, "DCT reduced energy ratio")
    if power.shape[-1] < 3:
        raise InvalidInputError("DCT reduced energy ratio: the image must be at least 3x3 pixels")
    low = power[..., 0, 1] + power[..., 0, 2] + power[..., 1, 0] + power[..., 1, 1] + power[..., 2, 0]
    return float(np.mean(low / np.maximum(power[..., 0, 0], _DC_FLOOR)))


def power_log_log_slope(image):
    """Slope of the log-log radial power spectrum (CellProfiler's PowerLogLogSlope).

    Follows CellProfiler's MeasureImageQuality (radial power spectrum of
    the ``centrosome`` package): the image is divided by its median
    absolute deviation from the mean (so the slope does not depend on
    exposure or contrast), its mean is removed, the power ``|FFT|**2`` is
    summed over rings of integer radius 1 .. min(H, W) / 8 - 2 (the DC
    term and the high frequencies, where noise and edge effects dominate,
    are left out) and a least-squares line is fitted to log(ring power)
    against log(ring label), the label being the radius plus one.
    CellProfiler folds the negative frequencies onto the radius grid with
    a one-pixel offset; that binning is kept so values match its output.

    Natural images have slopes around -2 to -3; defocus removes high
    frequencies and makes the slope more negative. Higher (less negative)
    is sharper. The fall is not monotone under heavy defocus: once the blur
    disc is more than about 15 pixels wide, the side lobes of the defocus
    transfer function and the jump between opposite borders of the
    unwindowed FFT (whose spectrum falls as f**-2) take over the fitted
    band and the slope rises again, though it stays below that of a
    focused image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1], at least 32x32 pixels (for two rings).

    Returns
    -------
    slope : float
        ``-inf`` for a constant image. CellProfiler reports 0 there, which
        would rank a blank field as the sharpest image; a constant image is
        the limit of infinite blur, whose spectrum falls faster than any
        power law.

    References
    ----------
    .. [1] A. E. Carpenter et al., "CellProfiler: image analysis software
           for identifying and quantifying cell phenotypes", Genome Biology
           7:R100, 2006 (module MeasureImageQuality, feature PowerLogLogSlope).
    .. [2] M.-A. Bray, A. N. Fraser, T. P. Hasaka and A. E. Carpenter,
           "Workflow and metrics for image quality control in large-scale
           high-content screens", Journal of Biomolecular Screening 17(2),
           266-274, 2012.
    """
    from scipy.fft import fft2

    gray = gray_image(image, "power log-log slope", minimum_size=32).astype(np.float64)
    rows, cols = gray.shape
    centred = gray - gray.mean()
    if not np.any(centred):
        return float("-inf")
    spread = np.median(np.abs(centred))
    if spread > 0:
        centred /= spread
    power = np.square(np.abs(fft2(centred)))
    row_index, col_index = np.arange(rows), np.arange(cols)
    row_distance = np.minimum(row_index, rows - 1 - row_index)
    col_distance = np.minimum(col_index, cols - 1 - col_index)
    radius_squared = row_distance[:, None] ** 2 + col_distance[None, :] ** 2
    ring = np.floor(np.sqrt(radius_squared)).astype(np.intp) + 1
    labels = np.arange(2, int(np.floor(min(rows, cols) / 8.0)))
    ring_power = np.bincount(ring.ravel(), weights=power.ravel(), minlength=labels[-1] + 1)[labels]
    keep = ring_power > 0
    if np.count_nonzero(keep) < 2:
        return float("-inf")
    log_radius, log_power = np.log(labels[keep]), np.log(ring_power[keep])
    log_radius = log_radius - log_radius.mean()
    return float(np.dot(log_radius, log_power - log_power.mean()) / np.dot(log_radius, log_radius))
