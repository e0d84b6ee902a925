"""Spatial-domain fusion by focus selection: guided-filter weights, modified
Harris corner response, sum-modified-Laplacian.

Each method measures, per pixel, how sharp every plane is, turns the measures
into weights that sum to one over the planes, and takes the weighted sum.
All activity measures are computed on the luminance; colour planes follow the
same weights, so colours are never mixed across channels differently.
"""

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from mmdf_bench.baselines._fusion_utils import (
    blend,
    box_filter,
    check_option,
    checked_stack,
    finish,
    gaussian_filter,
    luminance_planes,
    one_hot_argmax,
)
from mmdf_bench.errors import InvalidInputError, MmdfBenchError
from mmdf_bench.images import to_gray, validate_image

_REFLECT = cv2.BORDER_REFLECT


def _guided_filter_function():
    ximgproc = getattr(cv2, "ximgproc", None)
    if ximgproc is None:
        raise MmdfBenchError(
            "guided-filter fusion needs cv2.ximgproc.guidedFilter from OpenCV's contrib modules: "
            "install opencv-contrib-python-headless (and no other opencv-python wheel)"
        )
    return ximgproc.guidedFilter


def fuse_guided_filter(
    stack,
    *,
    average_size=31,
    saliency_radius=5,
    saliency_sigma=5.0,
    base_radius=45,
    base_eps=0.3,
    detail_radius=7,
    detail_eps=1e-6,
):
    """Fuse a multi-focus stack with guided-filter weights (GFF).

    1. Two-scale decomposition: base layer = ``average_size`` box mean of each
       plane, detail layer = plane - base.
    2. Saliency: absolute 3x3 Laplacian of the luminance, smoothed by a
       Gaussian of radius `saliency_radius` and standard deviation
       `saliency_sigma`.
    3. Binary weight maps: 1 where a plane has the largest saliency (ties go
       to the first plane, so the maps partition the image).
    4. Each binary map is refined by a guided filter whose guide is that
       plane itself (colour guide for RGB), with ``(base_radius, base_eps)``
       for the base weights and ``(detail_radius, detail_eps)`` for the detail
       weights, using ``cv2.ximgproc.guidedFilter``.
    5. Weights are clipped at 0 (the guided filter can overshoot slightly) and
       normalised to sum to one; where all weights vanish the binary map is
       used. The fused image is the weighted base plus the weighted detail.

    The defaults are the values of the paper, for intensities in [0, 1].

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    average_size : int, optional
        Side of the box filter of the two-scale decomposition.
    saliency_radius : int, optional
        Radius of the Gaussian window smoothing the Laplacian magnitude.
    saliency_sigma : float, optional
        Standard deviation of that Gaussian.
    base_radius, base_eps : int, float, optional
        Guided-filter radius and regularisation for the base-layer weights.
    detail_radius, detail_eps : int, float, optional
        Guided-filter radius and regularisation for the detail-layer weights.

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1].

    References
    ----------
    .. [1] S. Li, X. Kang and J. Hu, "Image fusion with guided filtering",
       IEEE Transactions on Image Processing 22(7), 2864-2875, 2013.
    .. [2] K. He, J. Sun and X. Tang, "Guided image filtering", IEEE
       Transactions on Pattern Analysis and Machine Intelligence 35(6),
       1397-1409, 2013.
    """
    guided_filter = _guided_filter_function()
    stack = checked_stack(stack, copy=False)  # read, never written
    check_option("average_size", average_size, minimum=1)
    check_option("saliency_radius", saliency_radius, minimum=0)
    check_option("saliency_sigma", saliency_sigma, minimum=0, integer=False)
    for name, value in (("base_radius", base_radius), ("detail_radius", detail_radius)):
        check_option(name, value, minimum=1)
    for name, value in (("base_eps", base_eps), ("detail_eps", detail_eps)):
        check_option(name, value, minimum=0, integer=False)

    gray = luminance_planes(stack)
    saliency = np.stack(
        [
            gaussian_filter(
                np.abs(cv2.Laplacian(plane, cv2.CV_32F, ksize=1, borderType=_REFLECT)),
                saliency_sigma,
                radius=saliency_radius,
            )
            for plane in gray
        ]
    )
    decision = one_hot_argmax(saliency)
    colour = stack.ndim == 4
    settings = ((base_radius, base_eps), (detail_radius, detail_eps))
    calls = [(guide, mask, radius, eps) for radius, eps in settings for guide, mask in zip(stack, decision)]
    # OpenCV runs its own filters on cv2.getNumThreads() threads, but guidedFilter on one:
    # the 2N independent calls share that allowance (one thread in worker processes)
    threads = min(cv2.getNumThreads(), len(calls))
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            filtered = list(pool.map(lambda call: guided_filter(*call), calls))
    else:
        filtered = [guided_filter(*call) for call in calls]
    count = len(stack)

    def refined(weights):
        # in place, plane by plane: the same float32 operations as clipping, summing and
        # dividing whole (N, H, W) arrays, without their temporaries
        total = np.zeros_like(weights[0])
        for weight in weights:
            np.maximum(weight, 0.0, out=weight)
            total += weight
        unusable = total <= 1e-6
        np.copyto(total, 1.0, where=unusable)
        for weight, mask in zip(weights, decision):
            np.divide(weight, total, out=weight)
            np.copyto(weight, mask, where=unusable)
        return weights

    # sum_i wb_i B_i + wd_i (P_i - B_i) = sum_i wd_i P_i + (wb_i - wd_i) B_i: one subtraction of
    # weight maps instead of one of colour images, accumulated plane by plane. Colour weights are
    # spelled out to three channels first: NumPy broadcasting over a last axis of 3 runs its inner
    # loop three elements at a time, OpenCV's arithmetic on matching arrays does not.
    fused, scratch = np.zeros_like(stack[0]), np.empty_like(stack[0])
    for plane, base_weight, detail_weight in zip(stack, refined(filtered[:count]), refined(filtered[count:])):
        np.subtract(base_weight, detail_weight, out=base_weight)
        if colour:
            base_weight, detail_weight = cv2.merge([base_weight] * 3), cv2.merge([detail_weight] * 3)
        cv2.multiply(detail_weight, plane, dst=scratch)
        cv2.add(fused, scratch, dst=fused)
        cv2.multiply(base_weight, box_filter(plane, average_size), dst=scratch)
        cv2.add(fused, scratch, dst=fused)
    return finish(fused)


def harris_focus_response(image, *, sigma=1.5, eps=1e-8):
    """Modified Harris corner response of an image, used as a focus measure.

    The structure tensor ``M = G_sigma * [[Ix^2, Ix Iy], [Ix Iy, Iy^2]]`` is
    built from Sobel derivatives of the luminance (scaled to intensity per
    pixel) and smoothed by a Gaussian of standard deviation `sigma`. The
    response is Noble's corner measure ``det(M) / (trace(M) + eps)``, the
    harmonic mean of the two eigenvalues up to a factor 2: it needs no
    Harris ``k`` constant, is near zero on flat areas and straight edges and
    large on in-focus texture, and drops quickly with defocus (both
    eigenvalues shrink).

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3)
        Values in [0, 1]; colour images are reduced to luminance.
    sigma : float, optional
        Integration scale (standard deviation of the tensor smoothing).
    eps : float, optional
        Keeps the ratio finite on flat areas.

    Returns
    -------
    response : ndarray of float32, shape (H, W)
        Non-negative.

    References
    ----------
    .. [1] C. Harris and M. Stephens, "A combined corner and edge detector",
       Proc. 4th Alvey Vision Conference, 147-151, 1988.
    .. [2] J. A. Noble, "Finding corners", Image and Vision Computing 6(2),
       121-128, 1988.
    .. [3] Madhu et al., 2015: the modified Harris response as a focus mask
       for multi-focus fusion, as adopted by the MMDF paper.
    """
    gray = np.ascontiguousarray(to_gray(validate_image(image)), dtype=np.float32)
    check_option("sigma", sigma, minimum=0, integer=False)
    check_option("eps", eps, minimum=0, integer=False)
    if eps == 0:
        raise InvalidInputError("eps must be positive")
    dx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=_REFLECT)
    dy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=_REFLECT)
    xx = gaussian_filter(dx * dx, sigma)
    yy = gaussian_filter(dy * dy, sigma)
    xy = gaussian_filter(dx * dy, sigma)
    determinant = np.clip(xx * yy - xy * xy, 0.0, None)
    return (determinant / (xx + yy + eps)).astype(np.float32)


def harris_focus_masks(stack, *, sigma=1.5, window=9, mask_sigma=3.0, eps=1e-8):
    """Soft focus masks of a stack from the modified Harris response.

    The response of each plane (`harris_focus_response`) is averaged over a
    ``window x window`` box so that a decision rests on a neighbourhood, not
    on single corners. Each pixel is given to the plane with the largest
    averaged response (ties to the first plane), and the resulting binary
    maps are smoothed with a Gaussian of standard deviation `mask_sigma`:
    this removes isolated decisions at the level of the mask values and gives
    soft transitions between regions. Smoothing a partition of unity keeps it
    one, so the masks sum to 1 at every pixel.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    sigma : float, optional
        Integration scale of the structure tensor.
    window : int, optional
        Side of the box over which responses are averaged (1: none).
    mask_sigma : float, optional
        Smoothing of the decision maps (0: hard masks).
    eps : float, optional
        Regulariser of the response.

    Returns
    -------
    masks : ndarray of float32, shape (N, H, W)
        Non-negative, summing to 1 over the planes at every pixel.

    References
    ----------
    .. [1] J. A. Noble, "Finding corners", Image and Vision Computing 6(2),
       121-128, 1988.
    .. [2] Madhu et al., 2015: the modified Harris response as a focus mask
       for multi-focus fusion, as adopted by the MMDF paper.
    """
    stack = checked_stack(stack)
    check_option("window", window, minimum=1)
    check_option("mask_sigma", mask_sigma, minimum=0, integer=False)
    responses = np.stack([harris_focus_response(plane, sigma=sigma, eps=eps) for plane in stack])
    activity = np.stack([box_filter(response, window) for response in responses])
    masks = np.stack([gaussian_filter(mask, mask_sigma) for mask in one_hot_argmax(activity)])
    # float rounding of the filter can leave the sum a few ulp away from 1
    return (masks / masks.sum(axis=0)).astype(np.float32)


def fuse_harris_selection(stack, *, sigma=1.5, window=9, mask_sigma=3.0, eps=1e-8):
    """Fuse a stack by weighting each plane with its Harris focus mask.

    The fused pixel is ``sum_n masks[n] * stack[n]`` with the soft masks of
    `harris_focus_masks`: hard selection inside regions, a smooth blend over
    a few pixels where the sharpest plane changes.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    sigma, window, mask_sigma, eps
        See `harris_focus_masks`.

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1].

    References
    ----------
    .. [1] J. A. Noble, "Finding corners", Image and Vision Computing 6(2),
       121-128, 1988.
    .. [2] Madhu et al., 2015: the modified Harris response as a focus mask
       for multi-focus fusion, as adopted by the MMDF paper.
    """
    stack = checked_stack(stack)
    masks = harris_focus_masks(stack, sigma=sigma, window=window, mask_sigma=mask_sigma, eps=eps)
    return finish(blend(stack, masks))


def sum_modified_laplacian(image, *, window=9):
    """Sum-modified-Laplacian focus measure of a grey image (window mean).

    ``ML = |2 I(x, y) - I(x - 1, y) - I(x + 1, y)| + |2 I(x, y) - I(x, y - 1)
    - I(x, y + 1)|``, averaged over a ``window x window`` box (a mean rather
    than a sum, which only rescales it, and no threshold).

    References
    ----------
    .. [1] S. K. Nayar and Y. Nakagawa, "Shape from focus", IEEE Transactions
       on Pattern Analysis and Machine Intelligence 16(8), 824-831, 1994.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    kernel = np.array([[-1.0, 2.0, -1.0]], dtype=np.float32)
    across = np.abs(cv2.filter2D(image, cv2.CV_32F, kernel, borderType=_REFLECT))
    down = np.abs(cv2.filter2D(image, cv2.CV_32F, kernel.T, borderType=_REFLECT))
    return box_filter(across + down, window)


def fuse_focus_selection(stack, *, window=9, majority_window=9):
    """Fuse a stack by picking, per pixel, the plane of largest local focus.

    The focus measure is the sum-modified-Laplacian of the luminance over a
    ``window x window`` box (`sum_modified_laplacian`). The per-pixel
    decision (index of the sharpest plane) is then made consistent by a
    majority filter: each pixel takes the plane chosen most often in its
    ``majority_window x majority_window`` neighbourhood (ties to the first
    plane), the consistency verification of Li et al. Pixels are copied from
    the chosen plane without blending.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    window : int, optional
        Side of the focus-measure window.
    majority_window : int, optional
        Side of the majority filter (1: none).

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1].

    References
    ----------
    .. [1] S. K. Nayar and Y. Nakagawa, "Shape from focus", IEEE Transactions
       on Pattern Analysis and Machine Intelligence 16(8), 824-831, 1994.
    .. [2] W. Huang and Z. Jing, "Evaluation of focus measures in multi-focus
       image fusion", Pattern Recognition Letters 28(4), 493-500, 2007.
    .. [3] H. Li, B. S. Manjunath and S. K. Mitra, "Multisensor image fusion
       using the wavelet transform", Graphical Models and Image Processing
       57(3), 235-245, 1995.
    """
    stack = checked_stack(stack)
    check_option("window", window, minimum=1)
    check_option("majority_window", majority_window, minimum=1)
    activity = np.stack([sum_modified_laplacian(plane, window=window) for plane in luminance_planes(stack)])
    decision = one_hot_argmax(activity)
    if majority_window > 1:
        decision = one_hot_argmax(np.stack([box_filter(mask, majority_window) for mask in decision]))
    return finish(blend(stack, decision))
