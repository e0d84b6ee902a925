"""`sephace-brightfield`: transmitted bright-field planes of adherent cells at known z.

Two fields of unstained adherent cells on a Nikon 90i (40x air objective,
0.2004 µm pixels), six bright-field planes each at about -25, -10, -0.6, 0,
+10 and +25 µm from the plane the authors call in focus, 1344x1024 grey,
plus one DAPI fluorescence image per field (not used). Unstained cells are
phase objects: near focus they show the *least* contrast, and defocus
turns them into dark or bright halos rather than blurring them.

Expected layout (as prepared beside the project, see its ``SOURCE.md``)::

    sephace-brightfield/
        manifest.csv      file, field, modality, z_rel_focus_um, pixel_size_um, ...
        set_1_fine_Point0001_empty-Time3s-Z1352.25.png
        ...

References
----------
.. [1] R. Ali, M. Gooding, T. Szilágyi, B. Vojnovic, M. Christlieb and
       M. Brady, "Automatic segmentation of adherent biological cell
       boundaries and nuclei from brightfield microscopy images", Machine
       Vision and Applications 23(4): 607-621, 2012 (sephaCe, repository
       bobbyali/sephace).
"""

from typing import ClassVar

from mmdf_bench.data.field_focus import FieldFocusDataset
from mmdf_bench.data.field_stacks import FieldStack, Plane, manifest_number, read_manifest
from mmdf_bench.data.real_pairs import FieldPairsDataset
from mmdf_bench.errors import InvalidInputError

__all__ = ["SEPHACE_CITATION", "SephaceBrightfield", "SephaceBrightfieldPairs", "read_sephace_fields"]

SEPHACE_CITATION = (
    "R. Ali et al., \"Automatic segmentation of adherent biological cell boundaries and nuclei from "
    "brightfield microscopy images\", Machine Vision and Applications 23(4), 2012 (repository bobbyali/sephace)"
)
BRIGHT_FIELD = "bright-field"
_COLUMNS = ("file", "field", "modality", "z_rel_focus_um")


def read_sephace_fields(root, *, dataset="sephace-brightfield"):
    """The bright-field fields of a ``sephace-brightfield`` folder (z relative to focus).

    Rows whose ``modality`` does not start with "bright-field" (the DAPI
    images) are skipped.

    Returns
    -------
    fields : list of FieldStack

    Raises
    ------
    InvalidInputError
        Naming the file: no manifest, a missing column, a bad number or an
        image listed but absent.
    """
    path = root / "manifest.csv"
    rows = read_manifest(path, required=_COLUMNS, dataset=dataset)
    planes, metadata = {}, {}
    for row in rows:
        if not row["modality"].startswith(BRIGHT_FIELD):
            continue
        image = root / row["file"]
        if not image.is_file():
            raise InvalidInputError(f"{path}, line {row['_line']}: {image} is listed but missing")
        planes.setdefault(row["field"], []).append(Plane(image, manifest_number(row, "z_rel_focus_um", path)))
        facts = {"modality": row["modality"]}
        if row.get("pixel_size_um"):
            facts["pixel_size_um"] = manifest_number(row, "pixel_size_um", path)
        if row.get("objective"):
            facts["objective"] = row["objective"]
        metadata[row["field"]] = facts
    if not planes:
        raise InvalidInputError(f"{path}: no bright-field rows (modality starting with {BRIGHT_FIELD!r})")
    return [FieldStack(name, tuple(field_planes), focus_z_um=0.0, metadata=metadata[name])
            for name, field_planes in planes.items()]


class SephaceBrightfield(FieldFocusDataset):
    """Focus patches and z-stacks of unstained cells in transmitted bright field (2 fields x 6 planes, real).

    See `mmdf_bench.data.field_focus.FieldFocusDataset` for the samples and
    the card ``datasets/sephace-brightfield.md`` for the data.
    """

    name: ClassVar[str] = "sephace-brightfield"
    summary: ClassVar[str] = ("transmitted bright-field planes of unstained adherent cells (2 fields x 6 planes, "
                              "-25..+25 µm): 84x84 patches labelled in µm and one z-stack per field")
    citation: ClassVar[str] = SEPHACE_CITATION
    licence: ClassVar[str] = "MIT, for noncommercial and research purposes (bobbyali/sephace)"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "sephace-brightfield"
    card: ClassVar[str] = "sephace-brightfield.md"

    def read_fields(self, root):
        return read_sephace_fields(root, dataset=self.name)


class SephaceBrightfieldPairs(FieldPairsDataset):
    """Registered real defocus pairs of unstained cells: the ±10 µm planes vs the focal plane.

    Defocus of a phase object is not a blur (halos replace the faint
    in-focus contrast), so the fitted PSF explains these pairs poorly; see
    the card ``datasets/sephace-brightfield-pairs.md``.
    """

    name: ClassVar[str] = "sephace-brightfield-pairs"
    summary: ClassVar[str] = ("real bright-field defocus pairs of unstained cells: the ±10 µm planes vs the focal "
                              "plane, registered, 256x256 crops, fitted PSF (oracle)")
    citation: ClassVar[str] = SEPHACE_CITATION
    licence: ClassVar[str] = SephaceBrightfield.licence
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "sephace-brightfield"
    card: ClassVar[str] = "sephace-brightfield-pairs.md"

    def read_fields(self, root):
        return read_sephace_fields(root, dataset=self.name)
