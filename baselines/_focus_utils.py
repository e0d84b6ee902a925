"""Input handling shared by the focus-measure operators."""

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import as_float_image, to_gray


def gray_image(image, name, *, minimum_size=3):
    """Return `image` as a C-contiguous 2-D float array (luminance for RGB).

    Float32 and float64 grey images pass through without a copy: the
    operators run on every patch of a benchmark, and a full range check
    would cost as much as a cheap operator. Samples are validated when
    they are built (`FocusSample`); other dtypes are converted and checked.

    Parameters
    ----------
    image : array_like, shape (H, W), (H, W, 1) or (H, W, 3)
    name : str
        The operator, for error messages.
    minimum_size : int, optional
        Smallest accepted height and width.

    Returns
    -------
    gray : ndarray of float32 or float64, shape (H, W)
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype not in (np.float32, np.float64):
        image = as_float_image(image, source=f"input of {name}")
    if image.ndim == 3 and image.shape[-1] == 3:
        image = to_gray(image)
    if image.ndim != 2:
        raise InvalidInputError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    if min(image.shape) < minimum_size:
        raise InvalidInputError(
            f"{name}: the image must be at least {minimum_size}x{minimum_size} pixels, got {image.shape}")
    return np.ascontiguousarray(image)
