"""Image conventions: validation, conversion and file input/output.

Images are ``numpy.float32`` arrays in [0, 1], shaped ``(H, W)`` (grey) or
``(H, W, 3)`` (RGB). A stack is ``(N, H, W)`` or ``(N, H, W, 3)``.
Every check names the source (a file or a sample id) in its error message.
"""

import warnings
from pathlib import Path

import numpy as np

from mmdf_bench.errors import InvalidInputError


def _where(source):
    return f" in {source}" if source else ""


def as_float_image(array, *, source=None):
    """Convert an integer or float array to float32 in [0, 1].

    Integer arrays are divided by the largest value of their dtype; float
    arrays must already lie in [0, 1] (a small tolerance is clipped).

    Parameters
    ----------
    array : array_like
        The image.
    source : str, optional
        Where the image came from, for error messages.

    Returns
    -------
    image : ndarray of float32
    """
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        return (array / np.iinfo(array.dtype).max).astype(np.float32)
    if array.dtype == bool:
        return array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidInputError(f"unsupported pixel type {array.dtype}{_where(source)}")
    image = array.astype(np.float32, copy=False)
    # the extremes are NaN when any value is, and infinite when any value is: two fast
    # reductions check finiteness without a boolean array the size of the image
    low, high = float(image.min(initial=0.0)), float(image.max(initial=0.0))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInputError(f"image contains NaN or infinite values{_where(source)}")
    if low < -1e-3 or high > 1 + 1e-3:
        raise InvalidInputError(
            f"float image values must lie in [0, 1], found [{low:.4g}, {high:.4g}]{_where(source)}"
        )
    if low >= 0.0 and high <= 1.0:
        # nothing to clip; still a new array, as np.clip returns, so callers may modify it
        return image.copy() if image is array else image
    return np.clip(image, 0.0, 1.0)


def validate_image(image, *, source=None):
    """Check that `image` is a finite 2-D grey or (H, W, 3) RGB image.

    Returns the image as float32 in [0, 1]. Raises `InvalidInputError`.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise InvalidInputError(
            f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}{_where(source)}"
        )
    if min(image.shape[:2]) < 2:
        raise InvalidInputError(f"image of shape {image.shape} is too small{_where(source)}")
    return as_float_image(image, source=source)


def validate_stack(stack, *, source=None, min_planes=2):
    """Check that `stack` holds at least `min_planes` images of one shape.

    Parameters
    ----------
    stack : array_like or sequence of array_like
        ``(N, H, W)`` or ``(N, H, W, 3)``, or a list of images.
    source : str, optional
        Where the stack came from, for error messages.
    min_planes : int, optional
        Fewest planes accepted.

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])
    """
    if isinstance(stack, (list, tuple)):
        shapes = [np.shape(plane) for plane in stack]
        if len(set(shapes)) > 1:
            raise InvalidInputError(
                f"the planes of a stack must share one shape, got {shapes}{_where(source)}"
            )
        stack = np.stack([np.asarray(plane) for plane in stack]) if stack else np.empty((0,))
    stack = np.asarray(stack)
    if stack.ndim not in (3, 4) or (stack.ndim == 4 and stack.shape[-1] != 3):
        raise InvalidInputError(
            f"expected a stack shaped (N, H, W) or (N, H, W, 3), got {stack.shape}{_where(source)}"
        )
    if stack.shape[0] < min_planes:
        raise InvalidInputError(
            f"a stack needs at least {min_planes} images, got {stack.shape[0]}{_where(source)}"
        )
    if min(stack.shape[1:3]) < 2:
        raise InvalidInputError(f"stack planes of shape {stack.shape[1:]} are too small{_where(source)}")
    return as_float_image(stack, source=source)


def to_gray(image):
    """Return the luminance (ITU-R BT.601) of an RGB image, or a grey image unchanged.

    Works on single images ``(H, W[, 3])`` and on stacks ``(N, H, W[, 3])``
    as long as RGB is the last axis of length 3.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape[-1] == 3 and image.ndim >= 3:
        return image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return image


def read_image(path):
    """Read an image file as float32 in [0, 1] (grey or RGB; alpha is dropped).

    Raises `InvalidInputError` naming the file when it is missing or unreadable.
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise InvalidInputError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"cannot read image file {path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # on a corrupt file imageio tries every plugin, some of them deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            array = iio.imread(path)
    except Exception as error:  # imageio raises many types for a bad file
        raise InvalidInputError(f"cannot read image file {path}: {_read_failure(error)}") from error
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    return validate_image(array, source=str(path))


def _read_failure(error):
    """One line saying why imageio could not read a file."""
    text = str(error)
    if text.startswith("Could not find a backend"):
        # imageio then suggests installing a video plugin, which never helps with
        # a corrupt or misnamed file: no installed reader recognises its contents
        return ("its contents are not an image format that can be read (PNG, JPEG, TIFF, BMP, "
                "...); the file is corrupt or not an image")
    return " ".join(text.split())


def write_image(path, image):
    """Write a float image in [0, 1] as an 8-bit PNG (or any format imageio knows)."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    # encoded in memory, then written: on a full disk imageio's own file handling
    # would print a second traceback while it is garbage-collected
    encoded = iio.imwrite("<bytes>", np.round(image * 255).astype(np.uint8),
                          extension=path.suffix or ".png")
    path.write_bytes(encoded)
