"""Information-theoretic fusion metrics: entropy and normalised mutual information.

Grey levels are histogrammed in `bins` equal-width bins over ``[0, 1]`` (the
last bin closed, as ``numpy.histogram(range=(0, 1))``), so that with the
default 256 bins every grey level of an 8-bit image has a bin of its own.
RGB images are reduced to their luminance (`mmdf_bench.images.to_gray`,
ITU-R BT.601) first.
"""

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray, validate_image, validate_stack


def gray_inputs(sources, fused):
    """Validate a source stack and a fused image; return both as float32 luminance.

    Parameters
    ----------
    sources : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered source images in [0, 1].
    fused : array_like, shape (H, W) or (H, W, 3)

    Returns
    -------
    sources : ndarray of float32, shape (N, H, W)
    fused : ndarray of float32, shape (H, W)
    """
    sources = to_gray(validate_stack(sources, source="fusion metric sources"))
    fused = to_gray(validate_image(fused, source="fused image"))
    if fused.shape != sources.shape[1:]:
        raise InvalidInputError(
            f"fused image of shape {fused.shape} does not match source planes of shape "
            f"{sources.shape[1:]}"
        )
    return sources, fused


def _check_bins(bins):
    if int(bins) != bins or bins < 2:
        raise InvalidInputError(f"bins must be an integer >= 2, got {bins}")
    return int(bins)


def _quantise(image, bins):
    return np.minimum(image * bins, bins - 1).astype(np.intp)


def _entropy_of_counts(counts):
    probabilities = counts[counts > 0] / counts.sum()
    # abs() turns the -0.0 of a single-level histogram into 0.0
    return abs(float(-np.sum(probabilities * np.log2(probabilities))))


def entropy(image, *, bins=256):
    """Shannon entropy of the grey-level histogram, in bits.

    ``H = -sum_k p_k log2 p_k`` over the `bins` grey-level bins
    (see the module notes); an RGB image is converted to luminance first.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    bins : int, optional
        Number of grey levels; 256 treats the image as 8-bit.

    Returns
    -------
    entropy : float
        Between 0 (constant image) and ``log2(bins)`` (flat histogram).

    References
    ----------
    .. [1] Shannon, C. E. (1948). A mathematical theory of communication.
       Bell System Technical Journal, 27(3), 379-423.
       :DOI:`10.1002/j.1538-7305.1948.tb01338.x`
    .. [2] Tsai, D.-Y., Lee, Y., & Matsuyama, E. (2008). Information entropy
       measure for evaluation of image quality. Journal of Digital Imaging,
       21(3), 338-347. :DOI:`10.1007/s10278-007-9044-5`
    """
    bins = _check_bins(bins)
    image = to_gray(validate_image(image, source="entropy input")).astype(np.float64)
    counts = np.bincount(_quantise(image, bins).ravel(), minlength=bins)
    return _entropy_of_counts(counts)


def _mutual_information(levels_a, levels_b, bins):
    """Return MI(a, b), H(a), H(b) in bits from quantised level images."""
    joint = np.bincount((levels_a * bins + levels_b).ravel(), minlength=bins * bins)
    joint = joint.reshape(bins, bins)
    entropy_a = _entropy_of_counts(joint.sum(axis=1))
    entropy_b = _entropy_of_counts(joint.sum(axis=0))
    entropy_ab = _entropy_of_counts(joint.ravel())
    return max(entropy_a + entropy_b - entropy_ab, 0.0), entropy_a, entropy_b


def normalized_mutual_information(sources, fused, *, bins=256):
    """Normalised mutual information fusion metric Q_MI of Hossny et al. (2008).

    For two sources A and B,
    ``Q_MI = 2 [MI(A,F) / (H(A) + H(F)) + MI(B,F) / (H(B) + H(F))]``,
    the entropy-normalised correction of the plain fusion MI of Qu et al.
    (2002), which is biased towards fused images close to one source. Each
    term ``2 MI(S,F) / (H(S) + H(F))`` lies in [0, 1]; with N sources this
    function averages the N terms and multiplies by 2,
    ``Q_MI = (4 / N) sum_i MI(S_i,F) / (H(S_i) + H(F))``, which is the paper's
    formula for N = 2 and keeps the range [0, 2] for any N. A source and a
    fused image that are both constant share all their (zero) information:
    their term counts as 1.

    Probabilities are plain histogram frequencies over `bins` grey levels of
    the luminance (see the module notes). The histogram estimate of MI is
    biased upwards by about ``(bins - 1)**2 / (2 n ln 2)`` bits for n pixels,
    so unrelated images of a few hundred pixels square do not score exactly 0.

    Parameters
    ----------
    sources : ndarray, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered source images in [0, 1].
    fused : ndarray, shape (H, W) or (H, W, 3)
        The fused image in [0, 1].
    bins : int, optional
        Number of grey levels of the histograms.

    Returns
    -------
    q_mi : float
        In [0, 2]; 2 when the fused image determines every source and vice versa.

    References
    ----------
    .. [1] Hossny, M., Nahavandi, S., & Creighton, D. (2008). Comments on
       'Information measure for performance of image fusion'. Electronics
       Letters, 44(18), 1066-1067. :DOI:`10.1049/el:20081754`
    .. [2] Qu, G., Zhang, D., & Yan, P. (2002). Information measure for
       performance of image fusion. Electronics Letters, 38(7), 313-315.
       :DOI:`10.1049/el:20020212`
    """
    bins = _check_bins(bins)
    sources, fused = gray_inputs(sources, fused)
    fused_levels = _quantise(fused, bins)
    terms = []
    for plane in sources:
        information, entropy_source, entropy_fused = _mutual_information(
            _quantise(plane, bins), fused_levels, bins
        )
        total = entropy_source + entropy_fused
        terms.append(1.0 if total == 0.0 else 2.0 * information / total)
    return 2.0 * float(np.mean(terms))
