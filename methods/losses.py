"""Training losses shared by the deep methods (torch).

Imported only by network modules, never by registered ones, so importing it
may import torch.

References
----------
.. [1] A. H. Murphy, "A note on the ranked probability score", Journal of
       Applied Meteorology 10(1): 155-156, 1971.
.. [2] S. J. Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
.. [3] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image
       quality assessment: from error visibility to structural similarity",
       IEEE TIP 13(4): 600-612, 2004.
"""

import torch
import torch.nn.functional as F


def ranked_probability_score_loss(logits_or_probs, levels, *, from_logits=True, weights=None):
    """Ranked probability score between predicted and true level distributions.

    For K ordered levels the score of one sample is

        RPS = 1/(K-1) * sum_{k=0}^{K-2} (CDF_pred(k) - CDF_true(k))**2

    The last threshold is left out because both cumulative distributions
    reach 1 there. Unlike cross-entropy, a prediction two levels off costs
    more than one a single level off: for one-hot predictions the score is
    the absolute level error divided by K-1, so it lies in [0, 1].
    Yang et al. (2018) sum over the thresholds instead of averaging; the two
    differ by the constant factor K-1.

    Parameters
    ----------
    logits_or_probs : Tensor, shape (N, K)
        Unnormalised scores (``from_logits=True``) or probabilities.
    levels : Tensor, shape (N,) of int, or (N, K) of float
        True levels, or true distributions over the levels (rows summing to 1).
    from_logits : bool, optional
        Apply a softmax over the last axis first.
    weights : Tensor, shape (N,), optional
        Per-sample weights; the result is their weighted mean.

    Returns
    -------
    loss : Tensor, scalar
        Mean score over the batch.

    References
    ----------
    .. [1] Murphy, "A note on the ranked probability score", 1971.
    .. [2] Yang et al., BMC Bioinformatics 19:77, 2018 (the training loss of
           their focus network).
    """
    if logits_or_probs.ndim != 2 or logits_or_probs.shape[1] < 2:
        raise ValueError(f"expected predictions shaped (N, K) with K >= 2, got {tuple(logits_or_probs.shape)}")
    num_levels = logits_or_probs.shape[1]
    probabilities = F.softmax(logits_or_probs, dim=1) if from_logits else logits_or_probs
    if levels.ndim == 1:
        if levels.dtype.is_floating_point or levels.min() < 0 or levels.max() >= num_levels:
            raise ValueError(f"integer levels in [0, {num_levels - 1}] expected")
        target = F.one_hot(levels.long(), num_levels).to(probabilities.dtype)
    else:
        target = levels.to(probabilities.dtype)
    if target.shape != probabilities.shape:
        raise ValueError(f"targets {tuple(target.shape)} do not match predictions {tuple(probabilities.shape)}")
    difference = torch.cumsum(probabilities, dim=1) - torch.cumsum(target, dim=1)
    per_sample = (difference[:, :-1] ** 2).mean(dim=1)
    if weights is None:
        return per_sample.mean()
    weights = weights.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum()


# Wang et al. (2004) window, the same as `mmdf_bench.metrics.full_reference.ssim`.
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _gaussian_taps(sigma, radius, *, dtype, device):
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def _local_mean(planes, taps):
    """Separable Gaussian mean of ``(M, 1, H, W)`` planes over valid positions only."""
    size = taps.numel()
    planes = F.conv2d(planes, taps.view(1, 1, size, 1))
    return F.conv2d(planes, taps.view(1, 1, 1, size))


def ssim_index(prediction, target, *, data_range=1.0, sigma=SSIM_SIGMA, radius=SSIM_RADIUS):
    """Differentiable mean SSIM of two image batches (Wang et al. 2004).

    Uses the conventions of `mmdf_bench.metrics.full_reference.ssim`: a
    Gaussian window of standard deviation 1.5 truncated to 11 x 11,
    population moments, ``K1 = 0.01``, ``K2 = 0.03``, and only the window
    positions that lie wholly inside the image (the metric's border crop).
    Each channel is scored separately; the result is the mean over
    channels and images.

    Parameters
    ----------
    prediction, target : Tensor, shape (N, C, H, W)
        H and W at least ``2 * radius + 1``.
    data_range : float
        Dynamic range of the images (1 for [0, 1]).

    Returns
    -------
    Tensor, scalar

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image
           quality assessment: from error visibility to structural
           similarity", IEEE TIP 13(4): 600-612, 2004.
    """
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) batches of one shape, got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")
    if min(prediction.shape[-2:]) < 2 * radius + 1:
        raise ValueError(f"images must be at least {2 * radius + 1} pixels wide for SSIM")
    taps = _gaussian_taps(sigma, radius, dtype=prediction.dtype, device=prediction.device)
    x = prediction.reshape(-1, 1, *prediction.shape[-2:])
    y = target.reshape(-1, 1, *target.shape[-2:]).to(prediction.dtype)
    # one convolution pass over the five stacked moment planes
    moments = _local_mean(torch.cat([x, y, x * x, y * y, x * y]), taps).chunk(5)
    mean_x, mean_y, square_x, square_y, product = moments
    var_x = square_x - mean_x**2
    var_y = square_y - mean_y**2
    covariance = product - mean_x * mean_y
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def ssim_loss(prediction, target, *, data_range=1.0):
    """``1 - SSIM`` (see `ssim_index`): 0 for identical images, differentiable.

    Parameters
    ----------
    prediction, target : Tensor, shape (N, C, H, W)
    data_range : float

    Returns
    -------
    Tensor, scalar
    """
    return 1.0 - ssim_index(prediction, target, data_range=data_range)
