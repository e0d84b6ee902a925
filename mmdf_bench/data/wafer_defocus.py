"""`wafer-defocus`: reflected-light defocus series of a wafer, with the z of every plane.

Seven fields (tiles of a scan) of a reflected-light microscope, eleven
planes each, between 50 µm below and 50 µm above the focal plane the
instrument found (z = 0): three tiles of metal test patterns on a wafer
(``level1_*``) and four of two-dimensional flakes on SiO2/Si (``level2_*``),
1920x1200 grey. The planes of a field are registered to within 4 pixels.

Expected layout (as prepared beside the project, see its ``SOURCE.md``)::

    wafer-defocus/
        manifest.csv          file, level, field, z_offset_um, ...
        level1_iy000_z-037.812um.png
        ...

`read_wafer_fields` reads the manifest into `FieldStack` fields; the focus
dataset is `WaferDefocus`, the deblur dataset of real defocus pairs
`WaferDefocusPairs` (`mmdf_bench.data.real_pairs`); the semi-real sets built
from the same fields live in `mmdf_bench.data.semi_real_deblur` and
`mmdf_bench.data.semi_real_fusion`.

References
----------
.. [1] E. MacBride et al., microscope-autofocus (repository
       evanmacbride/microscope-autofocus, commit 55b2ba6), images provided
       by H. Jang, Brookhaven National Laboratory; Lu and MacBride (2022),
       autofocusing optical microscope using an artificial neural network.
"""

from typing import ClassVar

from mmdf_bench.data.field_focus import FieldFocusDataset
from mmdf_bench.data.field_stacks import FieldStack, Plane, manifest_number, read_manifest
from mmdf_bench.data.real_pairs import FieldPairsDataset
from mmdf_bench.errors import InvalidInputError

__all__ = ["WAFER_CITATION", "WaferDefocus", "WaferDefocusPairs", "read_wafer_fields"]

WAFER_CITATION = (
    "Images by H. Jang (Brookhaven National Laboratory), repository evanmacbride/microscope-autofocus "
    "(MIT licence); Lu and MacBride (2022), autofocusing optical microscope using an artificial neural "
    "network for large-area, high-magnification scanning"
)
WAFER_SPECIMENS = {"level1": "metal test patterns on a wafer", "level2": "2-D flakes on SiO2/Si"}
_COLUMNS = ("file", "level", "field", "z_offset_um")


def read_wafer_fields(root, *, dataset="wafer-defocus"):
    """The fields of a ``wafer-defocus`` folder, planes sorted by z (z = 0 is focus).

    Parameters
    ----------
    root : Path
    dataset : str, optional
        Name used in error messages.

    Returns
    -------
    fields : list of FieldStack
        In manifest order of first appearance.

    Raises
    ------
    InvalidInputError
        Naming the file: no manifest, a missing column, a bad number, an
        image listed but absent, a field without a plane at z = 0.
    """
    path = root / "manifest.csv"
    rows = read_manifest(path, required=_COLUMNS, dataset=dataset)
    planes, specimens = {}, {}
    for row in rows:
        image = root / row["file"]
        if not image.is_file():
            raise InvalidInputError(f"{path}, line {row['_line']}: {image} is listed but missing")
        planes.setdefault(row["field"], []).append(Plane(image, manifest_number(row, "z_offset_um", path)))
        specimens[row["field"]] = row["level"]
    fields = []
    for name, field_planes in planes.items():
        if not any(plane.z_um == 0 for plane in field_planes):
            raise InvalidInputError(f"{path}: field {name} has no plane at z_offset_um = 0 (its focus)")
        metadata = {"specimen": WAFER_SPECIMENS.get(specimens[name], specimens[name])}
        fields.append(FieldStack(name, tuple(field_planes), focus_z_um=0.0, metadata=metadata))
    return fields


class WaferDefocus(FieldFocusDataset):
    """Focus patches and z-stacks of the `wafer-defocus` series (7 fields x 11 planes, real).

    See `mmdf_bench.data.field_focus.FieldFocusDataset` for the samples and
    the card ``datasets/wafer-defocus.md`` for the data.
    """

    name: ClassVar[str] = "wafer-defocus"
    summary: ClassVar[str] = ("reflected-light defocus series of a wafer (7 fields x 11 planes, -50..+50 µm): "
                              "textured 84x84 patches labelled in µm, and one z-stack per field for autofocus")
    citation: ClassVar[str] = WAFER_CITATION
    licence: ClassVar[str] = "MIT (evanmacbride/microscope-autofocus)"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "wafer-defocus"
    card: ClassVar[str] = "wafer-defocus.md"

    def read_fields(self, root):
        return read_wafer_fields(root, dataset=self.name)


class WaferDefocusPairs(FieldPairsDataset):
    """Registered real defocus pairs of `wafer-defocus`: planes 1.5-20 µm from focus vs the focal plane.

    See `mmdf_bench.data.real_pairs.FieldPairsDataset` for the samples and
    the card ``datasets/wafer-defocus-pairs.md``.
    """

    name: ClassVar[str] = "wafer-defocus-pairs"
    summary: ClassVar[str] = ("real defocus pairs of the wafer series: planes 1.5-20 µm out of focus, registered to "
                              "1/20 px, 256x256 crops, with a fitted disc/Gaussian PSF (oracle)")
    citation: ClassVar[str] = WAFER_CITATION
    licence: ClassVar[str] = WaferDefocus.licence
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "wafer-defocus"
    card: ClassVar[str] = "wafer-defocus-pairs.md"

    def read_fields(self, root):
        return read_wafer_fields(root, dataset=self.name)
