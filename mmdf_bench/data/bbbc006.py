"""BBBC006: the Broad z-stacks of U2OS cells that Yang et al. (2018) trained their focus model on.

Human U2OS cells in a 384-well plate, two stains (Hoechst 33342, channel
``w1``; phalloidin, ``w2``), 768 sites (384 wells x 2), imaged by an
automated fluorescence microscope at 34 focal planes 2 µm apart; plane ``z = 16`` is the focus found by the
instrument's laser autofocus. The Broad Bioimage Benchmark Collection
publishes one zip archive per plane; each holds a folder of that plane's
TIFF images::

    bbbc006/
        BBBC006_v1_images_z_00/
            mcf-z-stacks-03212011_a01_s1_w1<id>.tif     well a01, site 1, channel w1
            ...
        ...
        BBBC006_v1_images_z_33/
        download-manifest.csv                          written by `download_bbbc006`

The ``<id>`` part of a file name differs between planes: fields are matched
by well, site and channel. No checksum is published: `download_bbbc006`
records the SHA-256 of every archive in ``download-manifest.csv``, and the
dataset reports them in the run manifest.

`Bbbc006` is a focus dataset like `wafer-defocus` (patches labelled in µm,
one z-stack per field for the autofocus metrics), with z = (plane - 16) x
2 µm. It is fluorescence, not bright field: its focus behaves like a blur,
the cells being bright on a dark background.

References
----------
.. [1] V. Ljosa, K. L. Sokolnicki and A. E. Carpenter, "Annotated
       high-throughput microscopy image sets for validation", Nature
       Methods 9(7): 637, 2012 (image set BBBC006v1).
.. [2] S. J. Yang et al., "Assessing microscope image focus quality with
       deep learning", BMC Bioinformatics 19:77, 2018.
"""

import re
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from mmdf_bench.data.field_focus import FieldFocusDataset, option_number
from mmdf_bench.data.field_stacks import FieldStack, Plane
from mmdf_bench.data.folder import dataset_bits
from mmdf_bench.downloads import fetch, read_download_records, record_download
from mmdf_bench.errors import InvalidInputError

__all__ = ["BASE_URL", "Bbbc006", "FOCUS_PLANE", "NUM_PLANES", "Z_STEP_UM", "archive_name", "download_bbbc006"]

BASE_URL = "https://data.broadinstitute.org/bbbc/BBBC006/"
NUM_PLANES = 34
#: The plane the instrument's laser autofocus put in focus.
FOCUS_PLANE = 16
Z_STEP_UM = 2.0
CITATION = ('V. Ljosa, K. L. Sokolnicki and A. E. Carpenter, "Annotated high-throughput microscopy image sets '
            'for validation", Nature Methods 9(7): 637, 2012 (image set BBBC006v1, Broad Bioimage Benchmark '
            'Collection)')
_PLANE_FOLDER = re.compile(r"BBBC006_v1_images_z_(\d{2})$")
_IMAGE = re.compile(r"^mcf-z-stacks-03212011_(?P<well>[a-p]\d{2})_s(?P<site>\d+)_w(?P<channel>\d)", re.IGNORECASE)


def archive_name(plane):
    """File name of the zip archive of plane `plane` (0..33)."""
    return f"BBBC006_v1_images_z_{int(plane):02d}.zip"


def _plane_list(planes):
    chosen = range(NUM_PLANES) if planes is None else planes
    chosen = sorted({int(plane) for plane in chosen})
    if not chosen or chosen[0] < 0 or chosen[-1] >= NUM_PLANES:
        raise InvalidInputError(f"bbbc006: planes must lie in 0..{NUM_PLANES - 1}, got {list(planes)}")
    return chosen


def _extract(archive, root, plane):
    """Unpack one plane's archive into ``root/BBBC006_v1_images_z_NN/``, refusing paths that leave it."""
    folder = root / Path(archive_name(plane)).stem
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            if member.is_dir():
                continue
            name = Path(member.filename)
            # the published archives hold the plane's folder; accept bare files too
            parts = name.parts[1:] if name.parts and name.parts[0] == folder.name else name.parts
            if not parts or any(part in ("..", "") for part in parts) or name.is_absolute():
                raise InvalidInputError(f"{archive}: unsafe path {member.filename!r} in the archive")
            destination = folder.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(destination, "wb") as target:
                while block := source.read(1 << 20):
                    target.write(block)
    return folder


def download_bbbc006(root, *, planes=None, progress=True, base_url=BASE_URL, keep_archives=False):
    """Download and unpack the BBBC006 plane archives into `root`.

    Planes already unpacked are skipped. The Broad publishes no checksum:
    each archive's SHA-256 is recorded in ``root/download-manifest.csv``.

    Parameters
    ----------
    root : str or Path
        Folder to fill (created).
    planes : iterable of int, optional
        Plane indices 0..33 (default all; 16 is the focal plane).
    progress : bool, optional
        Progress bars on stderr.
    base_url : str, optional
        Where the archives are (the official location by default).
    keep_archives : bool, optional
        Keep the zip files after unpacking them.

    Returns
    -------
    root : Path
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for plane in _plane_list(planes):
        folder = root / Path(archive_name(plane)).stem
        if folder.is_dir() and any(folder.iterdir()):
            continue
        url = base_url.rstrip("/") + "/" + archive_name(plane)
        archive = root / archive_name(plane)
        sha256 = fetch(url, archive, progress=progress)
        record_download(root, file=archive.name, url=url, sha256=sha256, size=archive.stat().st_size)
        try:
            _extract(archive, root, plane)
        except zipfile.BadZipFile as error:
            raise InvalidInputError(f"{archive} downloaded from {url} is not a zip archive ({error})") from error
        if not keep_archives:
            archive.unlink()
    return root


class Bbbc006(FieldFocusDataset):
    """BBBC006 z-stacks (U2OS cells, 34 planes 2 µm apart, focus at plane 16) as focus patches and stacks.

    Parameters
    ----------
    root : str or Path, optional
        Default ``$MMDF_BENCH_DATA/bbbc006``, then ``<cache>/data/bbbc006``.
    seed : int, optional
        Unused.
    channel : int, optional
        1 (Hoechst, nuclei; the stain Yang et al. trained on) or 2 (phalloidin, actin).
    max_fields : int, optional
        Fields (well and site) used, spread evenly over the plate in well
        order; 0 for all 768.
    bits : int, optional
        Bit depth of the stored values; by default from the files, else guessed.
    patch_size, min_contrast, tolerance_um, level_step_um, fields : optional
        As in `FieldFocusDataset` (`fields` names ``<well>_s<site>``, e.g. ``a01_s1``).
    """

    name: ClassVar[str] = "bbbc006"
    summary: ClassVar[str] = ("Broad BBBC006 z-stacks: U2OS cells (Hoechst or phalloidin fluorescence), 34 planes "
                              "2 µm apart, focus at plane 16: patches labelled in µm and autofocus stacks")
    citation: ClassVar[str] = CITATION
    licence: ClassVar[str] = "as stated on https://bbbc.broadinstitute.org/BBBC006 (cite Ljosa et al. 2012)"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "bbbc006"
    card: ClassVar[str] = "bbbc006.md"

    def __init__(self, *, root=None, seed=0, channel=1, max_fields=24, bits=None, patch_size=84,
                 min_contrast=0.03, tolerance_um=None, level_step_um=5.0, fields=None):
        super().__init__(root=root, seed=seed, patch_size=patch_size, min_contrast=min_contrast,
                         tolerance_um=tolerance_um, level_step_um=level_step_um, fields=fields)
        self.channel = int(option_number(channel, "channel", self.name))
        if self.channel not in (1, 2):
            raise InvalidInputError(f"{self.name}: channel must be 1 (Hoechst) or 2 (phalloidin), got {channel}")
        self.max_fields = int(option_number(max_fields, "max_fields", self.name))
        self.bits = dataset_bits(bits, self.name)

    @staticmethod
    def download(root, *, progress=True, planes=None, base_url=BASE_URL, keep_archives=False):
        """`download_bbbc006` (``mmdf-bench download bbbc006``)."""
        return download_bbbc006(root, planes=planes, progress=progress, base_url=base_url,
                                keep_archives=keep_archives)

    def read_fields(self, root):
        planes = {}
        for folder in sorted(root.iterdir()):
            match = _PLANE_FOLDER.match(folder.name)
            if match and folder.is_dir():
                planes[int(match.group(1))] = folder
        if FOCUS_PLANE not in planes or len(planes) < 2:
            raise InvalidInputError(
                f"{self.name}: {root} needs the focal plane folder BBBC006_v1_images_z_{FOCUS_PLANE:02d}/ and at "
                f"least one other plane; found {len(planes)} plane folder(s). Download them with "
                f"`mmdf-bench download bbbc006`")
        files = {}
        for plane, folder in planes.items():
            for path in folder.iterdir():
                match = _IMAGE.match(path.name)
                if match and path.suffix.lower() in (".tif", ".tiff") and int(match["channel"]) == self.channel:
                    key = (match["well"].lower(), int(match["site"]))
                    if (key, plane) in files:
                        raise InvalidInputError(f"{self.name}: two images of well {key[0]} site {key[1]} in {folder}")
                    files[(key, plane)] = path
        keys = sorted({key for key, plane in files if plane == FOCUS_PLANE})
        if not keys:
            raise InvalidInputError(f"{self.name}: no channel w{self.channel} images in "
                                    f"{planes[FOCUS_PLANE]}")
        if 0 < self.max_fields < len(keys):
            keys = [keys[int(index)] for index in np.linspace(0, len(keys) - 1, self.max_fields).round()]
        fields = []
        for well, site in keys:
            stack = [Plane(files[((well, site), plane)], (plane - FOCUS_PLANE) * Z_STEP_UM)
                     for plane in sorted(planes) if ((well, site), plane) in files]
            if len(stack) < 2:
                continue
            fields.append(FieldStack(f"{well}_s{site}", tuple(stack), focus_z_um=0.0, bits=self.bits,
                                     metadata={"well": well, "site": site, "channel": f"w{self.channel}"}))
        return fields

    def describe(self):
        description = super().describe()
        description["options"].update(channel=self.channel, max_fields=self.max_fields, bits=self.bits)
        from mmdf_bench.data.base import resolve_root

        description["downloads"] = read_download_records(resolve_root(self.root, self))
        return description
