"""Classical multi-focus fusion methods and their registered wrappers.

The functions take a stack ``(N, H, W)`` or ``(N, H, W, 3)`` of N >= 2
registered planes (float in [0, 1]) and return one float32 image
``(H, W[, 3])`` clipped to [0, 1]. The multi-scale methods live in
`mmdf_bench.baselines.fusion_multiscale`, the focus-selection methods in
`mmdf_bench.baselines.fusion_selection`; everything is re-exported here so that the
registry targets ``mmdf_bench.baselines.fusion:<ClassName>`` resolve.
"""

import numpy as np

from mmdf_bench.baselines._fusion_utils import (blend, check_option, checked_stack, finish,
                                     gaussian_filter, luminance_planes, one_hot_argmax)
from mmdf_bench.baselines.fusion_multiscale import fuse_laplacian_pyramid, fuse_wavelet
from mmdf_bench.baselines.fusion_selection import (
    fuse_focus_selection,
    fuse_guided_filter,
    fuse_harris_selection,
    harris_focus_masks,
    harris_focus_response,
)
from mmdf_bench.tasks.fusion import FusionMethod

__all__ = [
    "AverageFusion",
    "FocusSelectionFusion",
    "GuidedFilterFusion",
    "HarrisSelectionFusion",
    "LaplacianPyramidFusion",
    "MaxAbsFusion",
    "WaveletFusion",
    "fuse_average",
    "fuse_focus_selection",
    "fuse_guided_filter",
    "fuse_harris_selection",
    "fuse_laplacian_pyramid",
    "fuse_max_abs",
    "fuse_wavelet",
    "harris_focus_masks",
    "harris_focus_response",
]


def fuse_average(stack):
    """Fuse a stack by the pixel-wise mean of its planes.

    The simplest fusion rule and the floor every other method should beat:
    it keeps the low frequencies but halves (for two planes) the contrast of
    detail that is sharp in only one plane.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1].

    References
    ----------
    .. [1] A. A. Goshtasby and S. Nikolov, "Image fusion: advances in the
       state of the art", Information Fusion 8(2), 114-118, 2007.
    """
    return finish(np.mean(checked_stack(stack), axis=0, dtype=np.float32))



def fuse_max_abs(stack, *, sigma=2.0):
    """Fuse a stack pixel by pixel, keeping the plane with the strongest local detail.

    Each plane is split into a smooth layer (Gaussian, `sigma`) and a detail
    layer (the rest); at each pixel the plane whose detail is largest in
    absolute value wins and its pixel is copied. This is the maximum-absolute
    rule of multiscale fusion with a single detail band and no smoothing of
    the decision: fast, but noise-sensitive, which makes it the floor the
    region-based selection methods should beat.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, values in [0, 1].
    sigma : float, optional
        Standard deviation, in pixels, of the smooth layer.

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3)
        Clipped to [0, 1]. For colour, the plane is chosen on the luminance
        and all three channels are copied from it.

    References
    ----------
    .. [1] G. Piella, "A general framework for multiresolution image fusion:
       from pixels to regions", Information Fusion 4(4), 259-280, 2003.
    """
    stack = checked_stack(stack)
    check_option("sigma", sigma, minimum=0, integer=False)
    luminance = luminance_planes(stack)
    detail = np.stack([plane - gaussian_filter(plane, sigma) for plane in luminance])
    return finish(blend(stack, one_hot_argmax(np.abs(detail))))


class AverageFusion(FusionMethod):
    """Pixel-wise mean of the planes (`fuse_average`)."""

    name = "average"
    summary = "pixel-wise mean of the planes"
    citation = (
        "A. A. Goshtasby and S. Nikolov, Image fusion: advances in the state of the art, "
        "Information Fusion 8(2), 114-118, 2007"
    )

    def fuse(self, stack):
        return fuse_average(stack)


class WaveletFusion(FusionMethod):
    """2-D DWT fusion: mean approximation, max-abs details (`fuse_wavelet`)."""

    name = "wavelet"
    summary = "2-D DWT, averaged approximation, max-abs detail coefficients"
    citation = (
        "H. Li, B. S. Manjunath and S. K. Mitra, Multisensor image fusion using the wavelet "
        "transform, Graphical Models and Image Processing 57(3), 235-245, 1995"
    )

    def __init__(self, *, wavelet="db2", level=3):
        self.wavelet = wavelet
        self.level = level

    def fuse(self, stack):
        return fuse_wavelet(stack, wavelet=self.wavelet, level=self.level)


class LaplacianPyramidFusion(FusionMethod):
    """Laplacian pyramid fusion, max-abs band-pass (`fuse_laplacian_pyramid`)."""

    name = "laplacian-pyramid"
    summary = "Laplacian pyramid, max-abs band-pass coefficients, averaged residual"
    citation = (
        "P. J. Burt and E. H. Adelson, The Laplacian pyramid as a compact image code, "
        "IEEE Transactions on Communications 31(4), 532-540, 1983"
    )

    def __init__(self, *, levels=4):
        self.levels = levels

    def fuse(self, stack):
        return fuse_laplacian_pyramid(stack, levels=self.levels)


class GuidedFilterFusion(FusionMethod):
    """Guided-filter fusion, GFF (`fuse_guided_filter`)."""

    name = "guided-filter"
    summary = "two-scale fusion with guided-filter-refined saliency weights (GFF)"
    citation = (
        "S. Li, X. Kang and J. Hu, Image fusion with guided filtering, "
        "IEEE Transactions on Image Processing 22(7), 2864-2875, 2013"
    )

    def __init__(
        self,
        *,
        average_size=31,
        saliency_radius=5,
        saliency_sigma=5.0,
        base_radius=45,
        base_eps=0.3,
        detail_radius=7,
        detail_eps=1e-6,
    ):
        self.average_size = average_size
        self.saliency_radius = saliency_radius
        self.saliency_sigma = saliency_sigma
        self.base_radius = base_radius
        self.base_eps = base_eps
        self.detail_radius = detail_radius
        self.detail_eps = detail_eps

    def fuse(self, stack):
        return fuse_guided_filter(stack, **self.config())


class HarrisSelectionFusion(FusionMethod):
    """Selection by modified Harris (Noble) focus masks (`fuse_harris_selection`)."""

    name = "harris-selection"
    summary = "per-pixel selection by the modified Harris corner response, smoothed masks"
    citation = (
        "Madhu et al., 2015 (modified Harris corner response as focus mask); "
        "J. A. Noble, Finding corners, Image and Vision Computing 6(2), 121-128, 1988"
    )

    def __init__(self, *, sigma=1.5, window=9, mask_sigma=3.0, eps=1e-8):
        self.sigma = sigma
        self.window = window
        self.mask_sigma = mask_sigma
        self.eps = eps

    def fuse(self, stack):
        return fuse_harris_selection(stack, **self.config())


class FocusSelectionFusion(FusionMethod):
    """Selection by sum-modified-Laplacian with a majority filter (`fuse_focus_selection`)."""

    name = "focus-selection"
    summary = "per-pixel selection by sum-modified-Laplacian, majority-filtered decision map"
    citation = (
        "S. K. Nayar and Y. Nakagawa, Shape from focus, IEEE Transactions on Pattern "
        "Analysis and Machine Intelligence 16(8), 824-831, 1994"
    )

    def __init__(self, *, window=9, majority_window=9):
        self.window = window
        self.majority_window = majority_window

    def fuse(self, stack):
        return fuse_focus_selection(stack, **self.config())


class MaxAbsFusion(FusionMethod):
    """Pixel-wise selection of the plane with the largest absolute detail (`fuse_max_abs`)."""

    name = "max-abs"
    summary = "per-pixel plane with the largest absolute detail (image minus its Gaussian blur)"
    citation = (
        "G. Piella, A general framework for multiresolution image fusion: from pixels to "
        "regions, Information Fusion 4(4), 259-280, 2003"
    )

    def __init__(self, *, sigma=2.0):
        self.sigma = sigma

    def fuse(self, stack):
        return fuse_max_abs(stack, **self.config())
