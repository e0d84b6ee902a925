"""Training losses shared by the deep methods (torch).

Imported only by network modules, never by registered ones, so importing it
may import torch.

References
----------
.. [1] A. H. Murphy, "A note on the ranked probability score", Journal of
       Applied Meteorology 10(1): 155-156, 1971.
.. [2] S. J. Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
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
