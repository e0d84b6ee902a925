"""Multi-scale transform fusion: discrete wavelet transform and Laplacian pyramid.

Both decompose every plane with the same linear transform, keep the band-pass
coefficient of largest magnitude (the plane with most local contrast at that
scale and place), average the coarsest approximation, and invert the transform.
"""

import cv2
import numpy as np

from mmdf_bench.baselines._fusion_utils import check_option, checked_stack, finish, select_max_abs
from mmdf_bench.errors import InvalidInputError


def fuse_wavelet(stack, *, wavelet="db2", level=3):
    """Fuse a multi-focus stack in the 2-D discrete wavelet domain.

    Every plane (every colour channel) is decomposed with a separable 2-D DWT
    (PyWavelets, symmetric extension). The approximation band is averaged
    over the planes; each detail coefficient is taken from the plane where it
    is largest in absolute value. For RGB stacks the plane is chosen from the
    luminance coefficient (``0.299 R + 0.587 G + 0.114 B``) and all three
    channels are copied from that plane, so no colour is mixed from different
    planes. The inverse DWT is cropped back to the input size.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    wavelet : str, optional
        Name of a discrete wavelet known to PyWavelets.
    level : int, optional
        Number of decomposition levels. It is lowered to the largest level
        the image size allows (`pywt.dwt_max_level`); at level 0 (images
        smaller than the filter) the result is the average.

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1].

    References
    ----------
    .. [1] H. Li, B. S. Manjunath and S. K. Mitra, "Multisensor image fusion
       using the wavelet transform", Graphical Models and Image Processing
       57(3), 235-245, 1995.
    .. [2] G. Pajares and J. M. de la Cruz, "A wavelet-based image fusion
       tutorial", Pattern Recognition 37(9), 1855-1872, 2004.
    .. [3] G. R. Lee et al., "PyWavelets: A Python package for wavelet
       analysis", Journal of Open Source Software 4(36), 1237, 2019.
    """
    import pywt

    stack = checked_stack(stack)
    check_option("level", level, minimum=0)
    if wavelet not in pywt.wavelist(kind="discrete"):
        raise InvalidInputError(f"unknown discrete wavelet {wavelet!r}; see pywt.wavelist(kind='discrete')")
    height, width = stack.shape[1:3]
    level = min(level, pywt.dwt_max_level(min(height, width), pywt.Wavelet(wavelet).dec_len))
    # float64 keeps the reconstruction error of identical planes near 1e-12
    coefficients = pywt.wavedec2(
        stack.astype(np.float64), wavelet, mode="symmetric", level=level, axes=(1, 2)
    )
    fused = [coefficients[0].mean(axis=0)]
    for details in coefficients[1:]:
        fused.append(tuple(select_max_abs(band) for band in details))
    image = pywt.waverec2(fused, wavelet, mode="symmetric", axes=(0, 1))
    return finish(image[:height, :width])


def _max_pyramid_levels(height, width, levels):
    # each pyrDown halves (rounding up); stop before a side would drop below 2
    possible = 0
    while possible < levels and min(height, width) >= 4:
        height, width = (height + 1) // 2, (width + 1) // 2
        possible += 1
    return possible


def laplacian_pyramid(image, *, levels):
    """Burt-Adelson Laplacian pyramid of one image.

    Parameters
    ----------
    image : ndarray of float32, shape (H, W) or (H, W, C)
    levels : int
        Number of band-pass levels (already limited to what the size allows).

    Returns
    -------
    bands : list of ndarray
        Band-pass images from finest to coarsest.
    residual : ndarray
        The low-pass image left after `levels` reductions.
    """
    bands = []
    current = image
    for _ in range(levels):
        reduced = cv2.pyrDown(current)
        # dstsize makes odd sizes round-trip: pyrDown gives ceil(n / 2)
        expanded = cv2.pyrUp(reduced, dstsize=(current.shape[1], current.shape[0]))
        bands.append(current - expanded)
        current = reduced
    return bands, current


def reconstruct_laplacian_pyramid(bands, residual):
    """Invert `laplacian_pyramid`: expand the residual and add the bands back."""
    image = residual
    for band in reversed(bands):
        image = cv2.pyrUp(image, dstsize=(band.shape[1], band.shape[0])) + band
    return image


def fuse_laplacian_pyramid(stack, *, levels=4):
    """Fuse a multi-focus stack with a Laplacian pyramid.

    Each plane is decomposed into a Laplacian pyramid (5-tap Gaussian
    reduce / expand, OpenCV ``pyrDown`` / ``pyrUp``). At every band-pass level
    the coefficient of largest absolute value across planes is kept (for RGB
    the plane is chosen from the luminance band and all channels follow it);
    the coarsest low-pass residuals are averaged; the fused pyramid is
    collapsed. Odd sizes are handled by expanding each level to the exact
    size of the level above, so reconstruction is exact for any H, W.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    levels : int, optional
        Number of band-pass levels; lowered so that the coarsest level keeps
        at least two pixels per side (0 levels gives the average).

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1].

    References
    ----------
    .. [1] P. J. Burt and E. H. Adelson, "The Laplacian pyramid as a compact
       image code", IEEE Transactions on Communications 31(4), 532-540, 1983.
    .. [2] P. J. Burt and R. J. Kolczynski, "Enhanced image capture through
       fusion", Proc. 4th International Conference on Computer Vision,
       173-182, 1993.
    """
    stack = checked_stack(stack)
    check_option("levels", levels, minimum=0)
    levels = _max_pyramid_levels(stack.shape[1], stack.shape[2], levels)
    pyramids = [laplacian_pyramid(plane, levels=levels) for plane in stack]
    fused_bands = [select_max_abs(np.stack([bands[k] for bands, _ in pyramids])) for k in range(levels)]
    fused_residual = np.mean([residual for _, residual in pyramids], axis=0, dtype=np.float32)
    return finish(reconstruct_laplacian_pyramid(fused_bands, fused_residual))
