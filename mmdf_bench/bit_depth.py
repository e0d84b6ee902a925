"""Storage bit depth: how many bits of an integer image file hold data.

Microscopy cameras deliver 10, 12 or 14 bits in 16-bit containers, with
values 0..2**bits - 1. Dividing such an image by 65535 makes it nearly black
(a 12-bit image reaches 1/16 at most), which changes every focus measure,
every trained network's input and, by 24 dB, every PSNR. The readers of
`mmdf_bench.images` therefore scale integer files by ``2**bits - 1``, with
``bits`` decided as follows, first match wins:

1. the ``bits`` option of the reader (a dataset option such as
   ``--datasets zstack-folder=PATH:bits=12``);
2. the file's metadata: TIFF ``BitsPerSample`` below the container's (10-,
   12- or 14-bit TIFFs), OME-XML ``SignificantBits``, Micro-Manager's
   ``BitDepth``; in PNG the ``sBIT`` chunk (see below). ImageJ's TIFF
   metadata has no bit depth (its ``min``/``max`` are a display range);
3. the container: 8 for 8-bit files;
4. the data: for 16-bit files without metadata, the fewest of 10, 12, 14 and
   16 bits that hold the largest value (over the whole stack, so that a
   dark defocused plane cannot get another scale than the rest), with an
   `InferredBitDepthWarning` when that is fewer than 16.

Values and metadata follow the formats' own conventions: TIFF and OME store
b-bit values unscaled (0..2**b - 1 in the 16-bit container), PNG stores them
scaled to the full 16-bit range and records b in ``sBIT``; a PNG's values
are therefore divided by 65535 and then rounded to the b-bit grid. Either
way the image ends up on the grid ``k / (2**b - 1)``, and method outputs
are stored and scored on that grid too (`mmdf_bench.images.quantise`).
Float files have no bit depth; their outputs are stored at 16 bits.
"""

import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from mmdf_bench.errors import InvalidInputError

__all__ = ["FLOAT_STORAGE_BITS", "BitDepth", "InferredBitDepthWarning", "StackDepth", "check_bits",
           "decide_bit_depth", "infer_bits", "pixel_summary", "png_header", "png_significant_bits",
           "tiff_significant_bits", "to_unit_range"]

#: Bit depths a 16-bit container is guessed to hold, fewest first.
INFERRED_DEPTHS = (10, 12, 14, 16)
#: Storage depth of method outputs for inputs read from float files.
FLOAT_STORAGE_BITS = 16
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class InferredBitDepthWarning(UserWarning):
    """A 16-bit file's bit depth was guessed from its largest value."""


@dataclass(frozen=True)
class BitDepth:
    """The storage bit depth of an image or stack and where it came from.

    Attributes
    ----------
    bits : int
        Significant bits per sample, 1..16; method outputs are stored at it.
    source : str
        ``"option"``, ``"metadata"``, ``"container"``, ``"inferred"`` or
        ``"float"`` (a float file; outputs are stored at 16 bits).
    scaled : bool
        True when the values fill the container (PNG ``sBIT``), False when
        they are ``0..2**bits - 1`` in it.
    """

    bits: int
    source: str
    scaled: bool = False

    @property
    def maximum(self):
        """The largest value, ``2**bits - 1``."""
        return (1 << self.bits) - 1


def check_bits(bits, *, source=None):
    """Validate a user-given bit depth (1..16) and return it as an int."""
    text = str(bits).strip()
    if isinstance(bits, bool) or not text.isdigit() or not 1 <= int(text) <= 16:
        where = f" for {source}" if source else ""
        raise InvalidInputError(f"bits must be an integer from 1 to 16, got {bits!r}{where}")
    return int(text)


def png_header(path):
    """Sample depth, colour type and ``sBIT`` of a PNG file, or None when it is no PNG.

    Only the chunks before the image data are read.

    Returns
    -------
    tuple or None
        ``(bit_depth, colour_type, significant_bits)``; `significant_bits` is
        the largest ``sBIT`` entry, or None without that chunk.
    """
    with open(path, "rb") as handle:
        if handle.read(8) != _PNG_SIGNATURE:
            return None
        depth = colour = significant = None
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            length, kind = struct.unpack(">I4s", header)
            if kind in (b"IDAT", b"IEND"):
                break
            body = handle.read(length)
            handle.read(4)  # CRC
            if kind == b"IHDR" and len(body) >= 10:
                depth, colour = body[8], body[9]
            elif kind == b"sBIT" and body:
                significant = max(body)
    return depth, colour, significant


def png_significant_bits(path):
    """The ``sBIT`` chunk of a PNG file: the largest significant bits of its channels, or None."""
    header = png_header(path)
    return None if header is None else header[2]


def tiff_significant_bits(tiff):
    """Significant bits recorded in an open ``tifffile.TiffFile``, or None.

    Looks at ``BitsPerSample`` of the first page, OME-XML ``SignificantBits``
    of the first image and Micro-Manager's summary ``BitDepth``.
    """
    page = tiff.pages[0]
    stored = page.bitspersample
    container = np.dtype(page.dtype).itemsize * 8 if page.dtype is not None else stored
    if np.issubdtype(np.dtype(page.dtype), np.integer) and stored < container:
        return int(stored)
    if tiff.is_ome and tiff.ome_metadata:
        match = re.search(r"<(?:\w+:)?Pixels\b[^>]*\bSignificantBits=\"(\d+)\"", tiff.ome_metadata)
        if match:
            return int(match.group(1))
    micromanager = getattr(tiff, "micromanager_metadata", None) or {}
    summary = micromanager.get("Summary") if isinstance(micromanager, dict) else None
    if isinstance(summary, dict) and str(summary.get("BitDepth", "")).isdigit():
        return int(summary["BitDepth"])
    return None


def infer_bits(maximum):
    """The fewest of `INFERRED_DEPTHS` bits that hold `maximum`."""
    for bits in INFERRED_DEPTHS:
        if maximum <= (1 << bits) - 1:
            return bits
    return INFERRED_DEPTHS[-1]


def pixel_summary(array, *, recorded=None, scaled=False):
    """What `decide_bit_depth` needs of one stored array: pixel type, largest value, metadata.

    Parameters
    ----------
    array : ndarray
        The pixels as stored.
    recorded : int, optional
        Significant bits from the file's metadata.
    scaled : bool, optional
        True when `recorded` comes from PNG ``sBIT`` (values fill the container).

    Returns
    -------
    tuple
        ``(dtype, largest, recorded, scaled)``.
    """
    array = np.asarray(array)
    largest = array.max(initial=0) if array.size else 0
    largest = float(largest) if np.issubdtype(array.dtype, np.floating) else int(largest)
    return array.dtype, largest, recorded, scaled


@dataclass(frozen=True)
class StackDepth:
    """The bit depths of the files of one image, pair or stack, one per pixel type.

    Files of one pixel type share one depth (decided over all of them); a
    stack that mixes, say, 8-bit PNG and 16-bit TIFF planes keeps each on its
    own scale. Method outputs are stored at the largest depth, `bits`.

    Attributes
    ----------
    depths : tuple of (str, BitDepth)
        Pixel type (numpy ``dtype.str``) and its depth.
    """

    depths: tuple

    def for_dtype(self, dtype):
        """The `BitDepth` of files of pixel type `dtype`."""
        key = np.dtype(dtype).str
        for name, depth in self.depths:
            if name == key:
                return depth
        raise InvalidInputError(f"no bit depth was decided for {np.dtype(dtype)} pixels")

    @property
    def bits(self):
        """The storage depth of outputs: the largest depth of the files."""
        return max(depth.bits for _, depth in self.depths)

    @property
    def source(self):
        """Where the depth came from (e.g. ``"metadata"``; several joined by ``+``)."""
        return "+".join(sorted({depth.source for _, depth in self.depths}))


def decide_bit_depth(summaries, *, bits=None, source):
    """Decide the bit depths of one image or stack, in the order of the module notes.

    Parameters
    ----------
    summaries : sequence of tuple
        `pixel_summary` of every stored array (every plane of a stack).
    bits : int, optional
        The user's option; it applies to the integer files whose container
        holds that many bits (an 8-bit file beside 16-bit ones stays 8-bit).
    source : str
        Names the file or stack in warnings and errors.

    Returns
    -------
    StackDepth
    """
    groups = {}
    for dtype, largest, recorded, scaled in summaries:
        groups.setdefault(np.dtype(dtype), []).append((largest, recorded, scaled))
    if bits is not None:
        bits = check_bits(bits, source=source)
        containers = [dtype.itemsize * 8 for dtype in groups if np.issubdtype(dtype, np.integer)]
        if containers and max(containers) < bits:
            raise InvalidInputError(f"bits={bits} given for {source}, whose pixels are "
                                    f"{max(containers)}-bit")
    depths = []
    for dtype, files in groups.items():
        depths.append((dtype.str, _decide_group(dtype, files, bits=bits, source=source)))
    return StackDepth(tuple(depths))


def _decide_group(dtype, files, *, bits, source):
    """The `BitDepth` of the files of one pixel type."""
    if np.issubdtype(dtype, np.floating):
        return BitDepth(FLOAT_STORAGE_BITS, "float")
    if not np.issubdtype(dtype, np.unsignedinteger) or dtype.itemsize > 2:
        raise InvalidInputError(f"unsupported pixel type {dtype} in {source}: expected 8- or 16-bit "
                                "unsigned integers or floats in [0, 1]")
    container = dtype.itemsize * 8
    largest = max(value for value, _, _ in files)
    recorded = {(value, scaled) for _, value, scaled in files if value is not None}
    if bits is not None and bits <= container:
        if largest > (1 << bits) - 1:
            raise InvalidInputError(f"{source} holds values up to {largest}, more than bits={bits} "
                                    f"allows ({(1 << bits) - 1}); give the right bit depth")
        return BitDepth(bits, "option")
    if bits is not None:
        return BitDepth(container, "container")
    recorded_bits, scaled = max(recorded) if recorded else (None, False)
    if recorded_bits is not None and 1 <= recorded_bits < container:
        if scaled:
            return BitDepth(int(recorded_bits), "metadata", scaled=True)
        if largest <= (1 << recorded_bits) - 1:
            return BitDepth(int(recorded_bits), "metadata")
        warnings.warn(f"{source}: metadata says {recorded_bits} significant bits but values reach "
                      f"{largest}; reading it as {container}-bit", InferredBitDepthWarning, stacklevel=4)
        return BitDepth(container, "container")
    if container == 8:
        return BitDepth(8, "container")
    inferred = infer_bits(largest)
    if inferred < container:
        warnings.warn(
            f"{source}: no bit depth in the file; its largest value {largest} suggests {inferred}-bit "
            f"data in a {container}-bit container, so it is read as {inferred}-bit (give the dataset "
            f"option bits=N, e.g. bits={container}, to override)",
            InferredBitDepthWarning, stacklevel=4)
    return BitDepth(inferred, "inferred")


def to_unit_range(array, depth):
    """Pixels as stored -> float32 in [0, 1] on the grid ``k / (2**bits - 1)``.

    Parameters
    ----------
    array : ndarray
        Unsigned integers (or floats, returned as float32 unchanged).
    depth : BitDepth or StackDepth
        A `StackDepth` applies its depth for the array's pixel type.

    Returns
    -------
    image : ndarray of float32
    """
    if isinstance(depth, StackDepth):
        depth = depth.for_dtype(array.dtype)
    if depth.source == "float":
        return array.astype(np.float32)
    if depth.scaled:
        container = np.iinfo(array.dtype).max
        levels = np.round(array.astype(np.float64) * (depth.maximum / container))
        return (levels / depth.maximum).astype(np.float32)
    return (array / depth.maximum).astype(np.float32)
