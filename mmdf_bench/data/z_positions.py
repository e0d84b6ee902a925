"""Where the planes of a z-stack lie, in micrometres: from file names or TIFF metadata.

A focus label in micrometres needs the z of every plane. Microscopes write
it in two common places, both read here:

* **File names** such as ``cells_z+012.5um.png``, ``plane-z-3um.tif`` or
  ``z7.25µm.png``: a ``z`` followed by a signed number and ``um``, ``µm``
  or ``micron``, not preceded by a letter or digit (`z_from_name`).
* **TIFF metadata** of a multi-page stack: ImageJ's ``spacing`` (with
  ``unit`` micron, µm or um) or OME-XML's ``PhysicalSizeZ`` (in µm, or in
  nm / mm converted), giving the step between consecutive pages
  (`tiff_z_step`).

References
----------
.. [1] I. G. Goldberg et al., "The Open Microscopy Environment (OME) Data
       Model and XML file", Genome Biology 6: R47, 2005 (``PhysicalSizeZ``).
.. [2] C. Gohlke, tifffile, https://github.com/cgohlke/tifffile
       (``imagej_metadata``, ``ome_metadata``).
"""

import math
import re
from pathlib import Path

from mmdf_bench.errors import InvalidInputError

__all__ = ["tiff_z_step", "z_from_name"]

_Z_IN_NAME = re.compile(r"(?<![A-Za-z0-9])z[=_]?([+-]?\d+(?:\.\d*)?)\s*(?:um|µm|μm|micron)", re.IGNORECASE)
_MICROMETRE_UNITS = {"micron": 1.0, "microns": 1.0, "um": 1.0, "µm": 1.0, "μm": 1.0, "\\u00b5m": 1.0,
                     "nm": 1e-3, "mm": 1e3}


def z_from_name(name):
    """The z (µm) written in a file name, or None.

    Examples
    --------
    >>> z_from_name("level1_iy000_z-037.812um.png")
    -37.812
    >>> z_from_name("plane_z+4µm.tif"), z_from_name("cells_z=2.5micron.png"), z_from_name("plane_007.png")
    (4.0, 2.5, None)
    """
    found = _Z_IN_NAME.findall(Path(name).name)
    if len(found) != 1:
        return None
    return float(found[0])


def _ome_z_step(xml, path):
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise InvalidInputError(f"{path}: unreadable OME-XML metadata ({error})") from error
    for element in root.iter():
        if element.tag.endswith("Pixels") and element.get("PhysicalSizeZ"):
            unit = element.get("PhysicalSizeZUnit", "µm")
            if unit not in _MICROMETRE_UNITS:
                raise InvalidInputError(f"{path}: OME PhysicalSizeZ is in {unit!r}; expected µm, nm or mm")
            return float(element.get("PhysicalSizeZ")) * _MICROMETRE_UNITS[unit]
    return None


def tiff_z_step(path):
    """The step (µm) between consecutive pages of a TIFF stack, from its metadata, or None.

    Reads ImageJ metadata (``spacing``, ``unit``) and OME-XML
    (``PhysicalSizeZ``, ``PhysicalSizeZUnit``).

    Raises
    ------
    InvalidInputError
        Naming the file when the metadata gives a spacing in a unit that is
        not a length, or a non-positive spacing.
    """
    import tifffile

    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tiff:
            imagej = tiff.imagej_metadata or {}
            ome = tiff.ome_metadata
    except Exception as error:  # tifffile raises many types for a bad file
        raise InvalidInputError(f"cannot read TIFF stack {path}: {error}") from error
    step = None
    if imagej.get("spacing") is not None:
        unit = str(imagej.get("unit", "micron")).strip().lower()
        if unit not in _MICROMETRE_UNITS:
            raise InvalidInputError(f"{path}: ImageJ spacing is in {unit!r}; expected micron, nm or mm")
        step = float(imagej["spacing"]) * _MICROMETRE_UNITS[unit]
    elif ome:
        step = _ome_z_step(ome, path)
    if step is not None and not (math.isfinite(step) and step > 0):
        raise InvalidInputError(f"{path}: the z spacing in its metadata must be positive, got {step}")
    return step
