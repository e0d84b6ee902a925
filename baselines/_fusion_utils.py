"""Helpers shared by the classical fusion modules (not public API)."""

import cv2
import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray, validate_stack

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def checked_stack(stack, *, copy=True):
    """Validate a stack and return it as contiguous float32 (N, H, W[, 3]).

    ``copy=False`` may return the caller's own array (when it is already a
    valid contiguous float32 stack): for callers that only read it.
    """
    return np.ascontiguousarray(validate_stack(stack, copy=copy), dtype=np.float32)


def check_option(name, value, *, minimum, integer=True):
    """Raise `InvalidInputError` unless `value` is a number >= `minimum`."""
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
        expected = "an integer" if integer else "a number"
        raise InvalidInputError(f"{name} must be {expected} >= {minimum}, got {value!r}")
    return value


def luminance_planes(stack):
    """The (N, H, W) float32 luminance of a grey or RGB stack, C-contiguous."""
    return np.ascontiguousarray(to_gray(stack), dtype=np.float32)


def box_filter(image, size):
    """Mean over a ``size x size`` window with mirrored borders (cv2, fast)."""
    if size <= 1:
        return image
    return cv2.blur(image, (size, size), borderType=cv2.BORDER_REFLECT)


def gaussian_filter(image, sigma, *, radius=None):
    """Gaussian smoothing with mirrored borders; `radius` fixes the window size."""
    if sigma <= 0:
        return image
    size = (0, 0) if radius is None else (2 * radius + 1, 2 * radius + 1)
    return cv2.GaussianBlur(image, size, sigma, borderType=cv2.BORDER_REFLECT)


def first_maximum(activity):
    """Index of the first largest plane of finite (N, H, W) activity, as ``np.argmax(axis=0)``.

    A running comparison plane by plane (strictly greater replaces, so ties
    keep the first plane) reads each plane once; ``np.argmax`` along the
    first axis strides across planes and is several times slower.
    """
    activity = np.asarray(activity)
    best = activity[0].copy()
    winner = np.zeros(best.shape, dtype=np.intp)
    for index in range(1, activity.shape[0]):
        better = activity[index] > best
        np.copyto(best, activity[index], where=better)
        winner[better] = index
    return winner


def one_hot_argmax(activity):
    """(N, H, W) finite activity -> (N, H, W) float32 masks, 1 at the first maximum."""
    winner = first_maximum(activity)
    return (winner[None] == np.arange(activity.shape[0])[:, None, None]).astype(np.float32)


def blend(stack, weights):
    """Weighted sum over planes: stack (N, H, W[, 3]), weights (N, H, W)."""
    if stack.ndim == 4:
        weights = weights[..., None]
    return np.sum(weights * stack, axis=0, dtype=np.float32)


def select_max_abs(coefficients):
    """Per coefficient, keep the plane whose value is largest in magnitude.

    `coefficients` is (N, h, w) or (N, h, w, 3). For colour, the plane is
    chosen from the luminance coefficient (the transforms are linear, so this
    is the coefficient of the luminance image) and all three channels are
    taken from it, which keeps colours consistent.
    """
    if coefficients.ndim == 4:
        strength = coefficients @ LUMA_WEIGHTS.astype(coefficients.dtype)
        winner = np.argmax(np.abs(strength), axis=0)[None, ..., None]
    else:
        winner = np.argmax(np.abs(coefficients), axis=0)[None]
    return np.take_along_axis(coefficients, winner, axis=0)[0]


def finish(image):
    """Clip to [0, 1] and return float32."""
    return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)
