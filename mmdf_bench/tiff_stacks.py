"""Z-stacks from TIFF files, reading the axes the file declares.

A multi-dimensional TIFF (OME-TIFF, an ImageJ hyperstack, a tifffile
"shaped" file) says what its dimensions are: z (``Z``), time (``T``),
channels (``C``), colour samples (``S``). Reading its pages one after the
other would turn channels or time points into focal planes without a word,
so `read_tiff_stack` reads the axes of the file's image series (tifffile's
``series[0].axes``) and

* takes the planes along ``Z``;
* takes the pages of a plain multi-page TIFF, whose pages carry no axis
  (tifffile calls them ``I`` or ``Q``), in page order, as the documented
  layout of the folder datasets says;
* selects one channel (``C``, or ``S`` when there is no ``C``) given by the
  `channel` option, and refuses a file with several channels without it;
* keeps three colour samples (``S``, RGB, alpha dropped) as the last axis;
* refuses a file whose z axis cannot be identified: time points, positions
  or any other axis with more than one entry and no ``Z``, or a ``Z`` beside
  another such axis.

Pixel values are scaled by `mmdf_bench.bit_depth`'s rules, one bit depth
for the whole stack.
"""

from pathlib import Path

import numpy as np

from mmdf_bench.errors import InvalidInputError

__all__ = ["PAGE_AXES", "read_tiff_stack"]

#: Axis letters tifffile gives to pages that carry no meaning of their own.
PAGE_AXES = ("I", "Q")
_AXIS_NAMES = {"T": "time", "C": "channel", "Z": "z", "S": "colour sample", "P": "position",
               "R": "tile", "E": "wavelength", "H": "lifetime histogram", "A": "angle",
               "L": "exposure", "V": "view", "M": "mosaic"}


def _describe(axes, shape):
    return " x ".join(f"{axis}={size}" for axis, size in zip(axes, shape))


def _select_channel(array, axes, channel, path):
    """Apply the channel option: index the C axis, else the S axis; drop it."""
    axis_letter = "C" if "C" in axes else ("S" if "S" in axes else None)
    if axis_letter is None:
        raise InvalidInputError(
            f"{path}: channel={channel} given, but the file has no channel axis "
            f"(axes {_describe(axes, array.shape)})")
    axis = axes.index(axis_letter)
    if not 0 <= channel < array.shape[axis]:
        raise InvalidInputError(
            f"{path}: channel={channel} is out of range: the file has {array.shape[axis]} "
            f"channels (0..{array.shape[axis] - 1})")
    return np.take(array, channel, axis=axis), axes.replace(axis_letter, "")


def _arrange(array, axes, *, channel, path):
    """Return ``(N, Y, X[, 3])`` from an array with tifffile axes, or raise."""
    if channel is not None:
        array, axes = _select_channel(array, axes, int(channel), path)
    if "S" in axes:
        samples = array.shape[axes.index("S")]
        if samples not in (3, 4):
            raise InvalidInputError(
                f"{path}: {samples} samples per pixel (axes {_describe(axes, array.shape)}); "
                "choose one with the dataset option channel=K")
        array = np.moveaxis(array, axes.index("S"), -1)[..., :3]
        axes = axes.replace("S", "") + "S"
    if "C" in axes and array.shape[axes.index("C")] > 1:
        raise InvalidInputError(
            f"{path}: {array.shape[axes.index('C')]} channels (axes {_describe(axes, array.shape)}); "
            "choose one with the dataset option channel=K (e.g. --datasets NAME=PATH:channel=0)")
    # drop every axis of length one but the image plane
    keep = [index for index, axis in enumerate(axes)
            if axis in "YXS" or array.shape[index] > 1]
    array = array.reshape([array.shape[index] for index in keep])
    axes = "".join(axes[index] for index in keep)
    extra = [axis for axis in axes if axis not in "YXS"]
    if not extra:
        return array[None]
    if len(extra) == 1 and (extra[0] == "Z" or extra[0] in PAGE_AXES):
        return np.moveaxis(array, axes.index(extra[0]), 0)
    named = ", ".join(f"{_AXIS_NAMES.get(axis, 'unknown axis ' + repr(axis))} ({axis}) of "
                      f"{array.shape[axes.index(axis)]}" for axis in extra if axis != "Z")
    if "Z" in extra:
        problem = f"besides z it has {named}"
    else:
        problem = f"it has {named} and no z axis"
    raise InvalidInputError(
        f"{path}: cannot identify the z axis of this file (axes {_describe(axes, array.shape)}): "
        f"{problem}; save one z-stack per file (ImageJ: Image > Hyperstacks > Reduce Dimensionality)")


def read_tiff_stack(path, *, bits=None, channel=None):
    """Read a TIFF file as a z-stack, following the axes it declares.

    See the module notes for the rules.

    Parameters
    ----------
    path : str or Path
    bits : int, optional
        Bit depth of the stored values (see `mmdf_bench.bit_depth`).
    channel : int, optional
        The channel to read from a multi-channel file (0-based).

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W) or (N, H, W, 3)
        N may be 1; callers that need two planes check it.
    depth : mmdf_bench.bit_depth.StackDepth

    Raises
    ------
    InvalidInputError
        Naming the file: missing, unreadable, several image series, several
        channels without `channel`, or no identifiable z axis.
    """
    import tifffile

    from mmdf_bench.bit_depth import (
        decide_bit_depth,
        pixel_summary,
        tiff_significant_bits,
        to_unit_range,
    )

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"TIFF stack not found: {path}")
    try:
        with tifffile.TiffFile(path) as tiff:
            if not tiff.series:
                raise InvalidInputError(f"cannot read TIFF stack {path}: no readable pages")
            if len(tiff.series) > 1:
                shapes = ", ".join(str(series.shape) for series in tiff.series[:4])
                raise InvalidInputError(
                    f"{path} holds {len(tiff.series)} image series of shapes {shapes}; "
                    "expected one stack of planes of one shape")
            series = tiff.series[0]
            array, axes = series.asarray(), series.axes
            recorded = tiff_significant_bits(tiff)
    except InvalidInputError:
        raise
    except Exception as error:  # tifffile raises many types for a bad file
        raise InvalidInputError(f"cannot read TIFF stack {path}: {error}") from error
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    stack = _arrange(array, axes, channel=channel, path=path)
    depth = decide_bit_depth([pixel_summary(stack, recorded=recorded)], bits=bits, source=str(path))
    stack = to_unit_range(stack, depth)
    if not np.all(np.isfinite(stack)):
        raise InvalidInputError(f"image contains NaN or infinite values in {path}")
    return stack, depth
