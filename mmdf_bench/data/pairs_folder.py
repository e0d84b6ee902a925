"""Blurred/sharp image pairs from a plain folder, e.g. fast and slow scans of one slide.

Layout::

    my-pairs/
        blurred/            the degraded images (fast scan)
            field-01.png
            field-02.jpg
        sharp/              their targets (slow scan), same names
            field-01.png
            field-02.png    the extension may differ; the stem must match
        psf/                optional: the kernel of a pair, same stem
            field-01.npy    a 2-D array, or
            field-02.png    a grey image of the kernel

The sample id is the file stem. Images may be PNG, JPEG, TIFF or BMP; other
files (notes, hidden files) are ignored. Kernels are normalised to sum 1 and
must be odd-sized. All samples are test samples. Problems with one pair (a
missing partner, a shape mismatch, an unreadable file, NaN) are raised when
that pair is loaded, so the runner records them and goes on with the others.
"""

import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from mmdf_bench.bit_depth import InferredBitDepthWarning
from mmdf_bench.data.base import Dataset, check_split, resolve_root
from mmdf_bench.data.folder import dataset_bits
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_image, read_image_with_depth, stack_bit_depth, to_gray

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
PSF_SUFFIXES = (".npy",) + IMAGE_SUFFIXES
BLURRED_FOLDER, SHARP_FOLDER, PSF_FOLDER = "blurred", "sharp", "psf"


def _files(folder, suffixes):
    """Map stem -> list of files in `folder` with one of `suffixes` (hidden files skipped)."""
    found = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in suffixes:
                found.setdefault(path.stem, []).append(path)
    return found


def read_psf(path):
    """Read a blur kernel from ``.npy`` or an image file, normalised to sum 1.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    psf : ndarray of float64, 2-D, odd-sized, non-negative, summing to 1

    Raises
    ------
    InvalidInputError
        Naming the file: unreadable, not 2-D, even-sized, negative, NaN or all zero.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            psf = np.load(path, allow_pickle=False)
        except Exception as error:  # numpy raises several types for a bad file
            raise InvalidInputError(f"cannot read PSF file {path}: {error}") from error
        if not (np.issubdtype(psf.dtype, np.number) and not np.iscomplexobj(psf)):
            raise InvalidInputError(f"PSF file {path} holds {psf.dtype} values, expected real numbers")
        psf = psf.astype(np.float64)
    else:
        with warnings.catch_warnings():
            # the kernel is normalised to sum 1: the scale of its values does not matter
            warnings.simplefilter("ignore", InferredBitDepthWarning)
            psf = to_gray(read_image(path)).astype(np.float64)
    if psf.ndim != 2 or psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
        raise InvalidInputError(f"a PSF must be a 2-D array of odd size, got shape {psf.shape} in {path}")
    if not np.all(np.isfinite(psf)):
        raise InvalidInputError(f"PSF contains NaN or infinite values in {path}")
    if np.any(psf < 0) or psf.sum() <= 0:
        raise InvalidInputError(f"a PSF must be non-negative and not all zero in {path}")
    return psf / psf.sum()


class DeblurPairsFolder(Dataset):
    """Blurred/sharp pairs from ``blurred/`` and ``sharp/`` sub-folders with matching names.

    See the module docstring for the layout. Without `root`, the folder is
    ``$MMDF_BENCH_DATA/deblur-folder``.

    Parameters
    ----------
    root : str or Path, optional
    seed : int, optional
        Unused.
    bits : int, optional
        Bit depth of the stored values, e.g. 12 for 12-bit data in 16-bit
        files (``--datasets deblur-folder=PATH:bits=12``); by default read from
        the files' metadata, else guessed from the pair's data with a warning
        (see `mmdf_bench.bit_depth`). Both images of a pair are read at one
        depth, so PSNR and SSIM use the data's true range; restored images
        are stored and scored at it.
    """

    name: ClassVar[str] = "deblur-folder"
    task: ClassVar[str] = "deblur"
    summary: ClassVar[str] = "your own blurred/sharp pairs (e.g. fast and slow scans): blurred/ and sharp/ folders"
    citation: ClassVar[str] = ""
    licence: ClassVar[str] = "that of the user's data"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "deblur-folder"
    card: ClassVar[str] = "deblur-folder.md"
    realism = "real"

    def __init__(self, *, root=None, seed=0, bits=None):
        super().__init__(root=root, seed=seed)
        self.bits = dataset_bits(bits, self.name)
        self._index = None

    def _scan(self):
        """Stem -> {"blurred": [...], "sharp": [...], "psf": [...]}, scanned once."""
        if self._index is None:
            root = resolve_root(self.root, self)
            missing = [name for name in (BLURRED_FOLDER, SHARP_FOLDER) if not (root / name).is_dir()]
            if missing:
                raise InvalidInputError(
                    f"{self.name}: {root} needs sub-folders 'blurred/' and 'sharp/'; missing: "
                    f"{', '.join(str(root / name) for name in missing)}")
            blurred = _files(root / BLURRED_FOLDER, IMAGE_SUFFIXES)
            sharp = _files(root / SHARP_FOLDER, IMAGE_SUFFIXES)
            psfs = _files(root / PSF_FOLDER, PSF_SUFFIXES)
            stems = sorted(set(blurred) | set(sharp))
            if not stems:
                raise InvalidInputError(f"{self.name}: no images in {root / BLURRED_FOLDER} or {root / SHARP_FOLDER}")
            self._root = root
            self._index = {stem: {"blurred": blurred.get(stem, []), "sharp": sharp.get(stem, []),
                                  "psf": psfs.get(stem, [])} for stem in stems}
        return self._index

    def sample_ids(self, split):
        # test data only: no train or validation split (`check_split` refuses unknown names)
        return list(self._scan()) if check_split(self, split) == "test" else []

    def _one(self, stem, kind, files, *, required=True):
        folder = self._root / kind
        if len(files) > 1:
            raise InvalidInputError(
                f"{self.name}: several {kind} files for {stem!r}: {', '.join(str(path) for path in files)}")
        if not files:
            if not required:
                return None
            partner = "sharp" if kind == "blurred" else "blurred"
            there = self._index[stem][partner][0]
            raise InvalidInputError(f"{there} has no partner: no file named {stem}.* in {folder}")
        return files[0]

    def load(self, sample_id):
        from mmdf_bench.tasks.deblur import DeblurSample

        index = self._scan()
        if sample_id not in index:
            raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}; known: {', '.join(index)}")
        entry = index[sample_id]
        blurred_path = self._one(sample_id, BLURRED_FOLDER, entry["blurred"])
        sharp_path = self._one(sample_id, SHARP_FOLDER, entry["sharp"])
        psf_path = self._one(sample_id, PSF_FOLDER, entry["psf"], required=False)
        depth = stack_bit_depth([blurred_path, sharp_path], bits=self.bits,
                                source=f"the pair {blurred_path} / {sharp_path}")
        blurred = read_image_with_depth(blurred_path, depth=depth)[0]
        sharp = read_image_with_depth(sharp_path, depth=depth)[0]
        if blurred.shape != sharp.shape:
            raise InvalidInputError(
                f"{blurred_path}: shape {blurred.shape} differs from its sharp partner {sharp_path} "
                f"with shape {sharp.shape}")
        psf = read_psf(psf_path) if psf_path is not None else None
        metadata = {"blurred_file": blurred_path.name, "sharp_file": sharp_path.name,
                    "bit_depth_source": depth.source}
        if psf_path is not None:
            metadata["psf_file"] = psf_path.name
        return DeblurSample(blurred=blurred, reference=sharp, sample_id=sample_id, psf=psf,
                            metadata=metadata, source=str(blurred_path), bit_depth=depth.bits)
