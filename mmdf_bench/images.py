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


def as_float_image(array, *, source=None, copy=True):
    """Convert an integer or float array to float32 in [0, 1].

    Integer arrays are divided by the largest value of their dtype; float
    arrays must already lie in [0, 1] (a small tolerance is clipped).

    Parameters
    ----------
    array : array_like
        The image.
    source : str, optional
        Where the image came from, for error messages.
    copy : bool, optional
        Always return a new array (the default). False returns a valid
        float32 input itself, for callers that only read it.

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
        return image.copy() if copy and image is array else image
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


def validate_stack(stack, *, source=None, min_planes=2, copy=True):
    """Check that `stack` holds at least `min_planes` images of one shape.

    Parameters
    ----------
    stack : array_like or sequence of array_like
        ``(N, H, W)`` or ``(N, H, W, 3)``, or a list of images.
    source : str, optional
        Where the stack came from, for error messages.
    min_planes : int, optional
        Fewest planes accepted.
    copy : bool, optional
        See `as_float_image`.

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
    return as_float_image(stack, source=source, copy=copy)


def to_gray(image):
    """Return the luminance (ITU-R BT.601) of an RGB image, or a grey image unchanged.

    Works on single images ``(H, W[, 3])`` and on stacks ``(N, H, W[, 3])``
    as long as RGB is the last axis of length 3.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape[-1] == 3 and image.ndim >= 3:
        return image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return image


def _read_pixels(path):
    """The pixels of an image file as stored (alpha dropped) and its recorded bit depth.

    Returns ``(array, recorded_bits, scaled)``; see `mmdf_bench.bit_depth`.
    """
    import imageio.v3 as iio

    from mmdf_bench.bit_depth import png_significant_bits, tiff_significant_bits

    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise InvalidInputError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"cannot read image file {path}: the file is empty (0 bytes)")
    recorded, scaled = None, False
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tiff:
                array = tiff.pages[0].asarray()
                if tiff.pages[0].axes.startswith("S") and array.ndim == 3:
                    array = np.moveaxis(array, 0, -1)  # colour stored as separate planes
                recorded = tiff_significant_bits(tiff)
        elif _is_sixteen_bit_colour_png(path):
            array = _read_sixteen_bit_png(path)
            recorded, scaled = png_significant_bits(path), True
        else:
            with warnings.catch_warnings():
                # on a corrupt file imageio tries every plugin, some of them deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                array = iio.imread(path)
            if path.suffix.lower() == ".png":
                recorded, scaled = png_significant_bits(path), True
    except InvalidInputError:
        raise
    except Exception as error:  # imageio and tifffile raise many types for a bad file
        raise InvalidInputError(f"cannot read image file {path}: {_read_failure(error)}") from error
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return array, recorded, scaled


def _is_sixteen_bit_colour_png(path):
    from mmdf_bench.bit_depth import png_header

    header = png_header(path)
    return header is not None and header[0] == 16 and header[1] in (2, 6)


def _read_sixteen_bit_png(path):
    """A 16-bit RGB(A) PNG as uint16 RGB: Pillow (imageio's PNG reader) would cut it to 8 bits."""
    import cv2

    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InvalidInputError(f"cannot read image file {path}: OpenCV cannot decode it")
    return cv2.cvtColor(array[..., :3], cv2.COLOR_BGR2RGB)


def _read_failure(error):
    """One line saying why imageio could not read a file."""
    text = str(error)
    if text.startswith("Could not find a backend"):
        # imageio then suggests installing a video plugin, which never helps with
        # a corrupt or misnamed file: no installed reader recognises its contents
        return ("its contents are not an image format that can be read (PNG, JPEG, TIFF, BMP, "
                "...); the file is corrupt or not an image")
    return " ".join(text.split())


def read_image_with_depth(path, *, bits=None, depth=None):
    """Read an image file as float32 in [0, 1] together with its storage bit depth.

    Integer files are scaled by ``2**bits - 1`` with ``bits`` from the
    option, the file's metadata, its container or its data, in that order
    (see `mmdf_bench.bit_depth`), so a 12-bit image stored in 16 bits
    reads like the same image stored in 8 bits.

    Parameters
    ----------
    path : str or Path
    bits : int, optional
        The file's bit depth when known to the caller (e.g. 12 for a
        camera's 12-bit values in a 16-bit file).
    depth : mmdf_bench.bit_depth.StackDepth, optional
        A depth already decided for the stack the file belongs to
        (`stack_bit_depth`); applied as it is.

    Returns
    -------
    image : ndarray of float32, shape (H, W) or (H, W, 3)
    depth : mmdf_bench.bit_depth.StackDepth

    Raises
    ------
    InvalidInputError
        Naming the file when it is missing, unreadable or not an image, or
        when its values do not fit the given `bits`.
    """
    from mmdf_bench.bit_depth import decide_bit_depth, pixel_summary, to_unit_range

    array, recorded, scaled = _read_pixels(path)
    if depth is None:
        depth = decide_bit_depth([pixel_summary(array, recorded=recorded, scaled=scaled)],
                                 bits=bits, source=str(path))
    # a value beyond a given depth's range fails validation, naming the file
    return validate_image(to_unit_range(array, depth), source=str(path)), depth


def read_image(path, *, bits=None):
    """Read an image file as float32 in [0, 1] (grey or RGB; alpha is dropped).

    See `read_image_with_depth` for how integer files are scaled.

    Raises `InvalidInputError` naming the file when it is missing or unreadable.
    """
    return read_image_with_depth(path, bits=bits)[0]


def stack_bit_depth(paths, *, bits=None, source=None):
    """One bit depth for the image files of one stack, decided over all of them.

    Deciding per file would let a dark, defocused plane of a 16-bit stack
    look like 12-bit data and be scaled 16 times brighter than its
    neighbours; here the metadata and the largest value of every file count
    together. Files are read one at a time and not kept.

    Parameters
    ----------
    paths : sequence of path-like
    bits : int, optional
        As in `read_image_with_depth`.
    source : str, optional
        Names the stack in messages (default: the first file's folder).

    Returns
    -------
    mmdf_bench.bit_depth.StackDepth
    """
    from mmdf_bench.bit_depth import decide_bit_depth, pixel_summary

    paths = [Path(path) for path in paths]
    summaries = []
    for path in paths:
        quick = None if bits is not None else _eight_bit_summary(path)
        if quick is None:
            array, recorded, scaled = _read_pixels(path)
            quick = pixel_summary(array, recorded=recorded, scaled=scaled)
        summaries.append(quick)
    source = source or (str(paths[0].parent) if paths else "stack")
    return decide_bit_depth(summaries, bits=bits, source=source)


def _eight_bit_summary(path):
    """`pixel_summary` of an 8-bit PNG or a JPEG from its header, or None (decode it).

    Without a `bits` option the largest value of 8-bit data decides nothing,
    so large 8-bit planes need not be decoded to learn their depth.
    """
    from mmdf_bench.bit_depth import png_header

    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg") and path.is_file():
        return np.dtype(np.uint8), 0, None, False
    if suffix == ".png" and path.is_file():
        try:
            header = png_header(path)
        except OSError:
            return None
        if header is not None and header[0] is not None and header[0] <= 8:
            return np.dtype(np.uint8), 0, header[2], True
    return None


def read_images(paths, *, bits=None, source=None):
    """Read the image files of one stack at one bit depth (`stack_bit_depth`).

    Returns
    -------
    images : list of ndarray of float32
    depth : mmdf_bench.bit_depth.StackDepth
    """
    depth = stack_bit_depth(paths, bits=bits, source=source)
    return [read_image_with_depth(path, depth=depth)[0] for path in paths], depth


def quantise(image, *, bits=8):
    """Round an image in [0, 1] to the grid ``k / (2**bits - 1)`` of a `bits`-bit file.

    What a method's output becomes when it is stored at its input's bit
    depth; the runner scores that, so that a saved output scores what
    ``scores.csv`` says.

    Parameters
    ----------
    image : ndarray
        Float image (or stack) in [0, 1].
    bits : int, optional

    Returns
    -------
    quantised : ndarray of float32
    """
    maximum = (1 << int(bits)) - 1
    levels = np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * maximum)
    return (levels / maximum).astype(np.float32)


def write_image(path, image, *, bits=8):
    """Write a float image in [0, 1] at `bits` bits per sample (PNG, or any format imageio knows).

    Up to 8 bits the file is 8-bit with values ``round(image * (2**bits - 1))``
    scaled to 0..255 (8 bits: exactly ``round(image * 255)``). Above 8 bits
    it is 16-bit, holding the image rounded to the `bits`-bit grid and
    scaled to 0..65535 as PNG requires; a PNG also records `bits` in its
    ``sBIT`` chunk, so `read_image` returns exactly ``quantise(image, bits=bits)``.
    """
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bits = int(bits)
    quantised = quantise(image, bits=bits).astype(np.float64)
    container = 8 if bits <= 8 else 16
    dtype = np.uint8 if container == 8 else np.uint16
    levels = np.round(quantised * ((1 << container) - 1)).astype(dtype)
    extension = (path.suffix or ".png").lower()
    # encoded in memory, then written: on a full disk imageio's own file handling
    # would print a second traceback while it is garbage-collected
    if extension == ".png" and container == 16 and levels.ndim == 3:
        import cv2  # Pillow, imageio's PNG writer, has no 16-bit RGB

        ok, encoded = cv2.imencode(".png", cv2.cvtColor(levels, cv2.COLOR_RGB2BGR))
        if not ok:
            raise InvalidInputError(f"cannot encode {path} as a 16-bit PNG")
        encoded = encoded.tobytes()
    else:
        encoded = iio.imwrite("<bytes>", levels, extension=extension)
    if bits < container and extension == ".png":
        encoded = _with_png_significant_bits(encoded, bits, channels=1 if levels.ndim == 2 else 3)
    path.write_bytes(encoded)


def _with_png_significant_bits(encoded, bits, *, channels):
    """Insert an ``sBIT`` chunk after ``IHDR`` into encoded PNG bytes."""
    import struct
    import zlib

    header_end = 8 + 8 + 13 + 4  # signature, IHDR length and type, IHDR data, CRC
    body = bytes([bits] * channels)
    chunk = struct.pack(">I4s", len(body), b"sBIT") + body
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]) & 0xFFFFFFFF)
    return encoded[:header_end] + chunk + encoded[header_end:]
