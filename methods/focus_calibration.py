"""Calibration of a focus CNN's P(out of focus) on held-out patches (Platt scaling).

The focus CNNs are trained on the ranked probability score over defocus
levels, not for a decision at 0.5, so ``1 - p(level 0)`` need not be a
calibrated probability. `fit_calibration` fits a one-dimensional logistic
regression on its log-odds, as the focus-measure baselines fit their
thresholds (`mmdf_bench.baselines.focus`); `apply_calibration` puts the calibrated
value back into the level distribution. The CNN fits it on the validation
split when it is given one (patches it never trained on), else on its
train patches.

References
----------
.. [1] J. C. Platt, "Probabilistic outputs for support vector machines and
       comparisons to regularized likelihood methods", in Advances in Large
       Margin Classifiers, MIT Press, 1999.
"""

import numpy as np

from mmdf_bench.errors import InvalidInputError


def _out_of_focus_logit(distributions):
    probability = np.clip(1.0 - np.asarray(distributions, dtype=np.float64)[:, 0], 1e-9, 1.0 - 1e-9)
    return np.log(probability) - np.log1p(-probability)


def fit_calibration(distributions, out_of_focus, *, seed=0):
    """Fit P(out of focus) to the labels of some patches: a logistic regression on its log-odds.

    The CNN is trained on the ranked probability score (and an in-focus
    cross-entropy) with class weights, not for the 0.5 threshold, so
    ``1 - p(level 0)`` need not be a calibrated probability. As the
    focus-measure baselines do with their scores (`mmdf_bench.baselines.focus`), a
    one-dimensional logistic regression with both classes weighted equally
    maps its log-odds on the patches to their labels (Platt scaling). The
    patches should be held out from training (the validation split): on its
    own train patches a network looks more certain than it is.

    Parameters
    ----------
    distributions : ndarray, shape (N, K)
        Level distributions of the calibration patches.
    out_of_focus : ndarray of bool, shape (N,)
    seed : int

    Returns
    -------
    slope, intercept : float
        Calibrated log-odds ``slope * logit(1 - p0) + intercept``.

    References
    ----------
    .. [1] J. C. Platt, "Probabilistic outputs for support vector machines and
           comparisons to regularized likelihood methods", in Advances in Large
           Margin Classifiers, MIT Press, 1999.
    """
    from sklearn.linear_model import LogisticRegression

    out_of_focus = np.asarray(out_of_focus, dtype=bool)
    if out_of_focus.all() or not out_of_focus.any():
        raise InvalidInputError("calibration needs in-focus and out-of-focus patches")
    model = LogisticRegression(class_weight="balanced", random_state=seed)
    model.fit(_out_of_focus_logit(distributions)[:, None], out_of_focus.astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def apply_calibration(distributions, calibration):
    """Replace ``1 - p(level 0)`` by its calibrated value, keeping the shares of levels 1..K-1.

    Parameters
    ----------
    distributions : ndarray, shape (N, K)
    calibration : tuple of float
        ``(slope, intercept)`` from `fit_calibration`.

    Returns
    -------
    ndarray, shape (N, K)
        Rows summing to 1.
    """
    distributions = np.asarray(distributions, dtype=np.float64)
    slope, intercept = calibration
    probability = 0.5 * (1.0 + np.tanh(0.5 * (slope * _out_of_focus_logit(distributions) + intercept)))
    rest = distributions[:, 1:]
    total = rest.sum(axis=1, keepdims=True)
    # a row with all its mass on level 0 has no shares: spread the out-of-focus mass evenly
    shares = np.where(total > 0, rest / np.where(total > 0, total, 1.0), 1.0 / rest.shape[1])
    return np.concatenate([(1.0 - probability)[:, None], probability[:, None] * shares], axis=1)
