"""`zstack-folder`: your own z-stacks, labelled in micrometres, as focus patches and autofocus stacks.

Layout (see the card ``datasets/zstack-folder.md``)::

    my-zstacks/
        specimen-a/              one stack as separate images
            cells_z-004.0um.png  z from the file names, or planes in name order
            ...
        specimen-b.tif           one stack as a multi-page TIFF (z step from ImageJ / OME metadata)
        focus.csv                optional: stack, in_focus_plane or in_focus_z_um, z_step_um

Every plane needs a z in micrometres, taken (first that applies) from the
plane file names (`z_from_name`), from the TIFF metadata (`tiff_z_step`),
from the ``z_step_um`` column of ``focus.csv`` or from the dataset option
``z_step_um`` (planes in name or page order, plane 0 at z = 0). The focal
plane comes from ``focus.csv`` (``in_focus_plane``, 0-based in z order,
or ``in_focus_z_um``); a stack it does not list gets the plane chosen by
`FOCUS_RULE`, and says so in the run manifest and the leaderboard.

Samples are those of every real z-stack set
(`mmdf_bench.data.field_focus.FieldFocusDataset`): textured patches labelled
by their distance from focus in µm, and one z-stack sample per stack for the
autofocus metrics. Patches are cut inside the field of view, found as the
`specimen_mask` of the plane-average image (the eyepiece field stop is the
same on every plane), shrunk by 3 pixels. All samples are test samples.
"""

import csv
from typing import ClassVar

import numpy as np

from mmdf_bench.data.field_focus import MIN_CONTRAST, FieldFocusDataset, option_number
from mmdf_bench.data.field_of_view import specimen_mask
from mmdf_bench.data.field_stacks import FieldStack, Plane, tiff_pages
from mmdf_bench.data.folder import (
    IMAGE_SUFFIXES,
    TIFF_SUFFIXES,
    dataset_bits,
    dataset_channel,
)
from mmdf_bench.data.z_positions import tiff_z_step, z_from_name
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

__all__ = ["FOCUS_RULE", "FOCUS_TABLE", "ZStackFolder", "band_pass_energy"]

#: Name of the optional table of focal planes and z steps.
FOCUS_TABLE = "focus.csv"
#: Pixels between a patch and the edge of the field of view.
MASK_MARGIN = 3
#: Standard deviations (pixels) of the two Gaussians of the band-pass focus rule.
BAND_PASS_SIGMAS = (1.0, 2.0)
#: How the focal plane of a stack without a measured focus is chosen.
FOCUS_RULE = ("band-pass rule: the plane with the largest variance of a difference of Gaussians "
              "(sigma 1 and 2 px) of the luminance inside the field of view, divided by the squared "
              "mean luminance; not one of the evaluated methods, but a sharpness measure like the "
              "gradient and Laplacian operators, so it favours them")


def band_pass_energy(image, *, mask=None, sigmas=BAND_PASS_SIGMAS):
    """Exposure-normalised energy of a band-pass (difference of Gaussians) of the luminance.

    The in-focus rule of `zstack-folder` for stacks without a measured
    focus. The band (about 2 to 6 pixels per cycle) leaves out the pixel
    noise that raw derivatives amplify and the slow shading that grey-level
    variance counts; dividing by the squared mean makes it independent of
    the exposure of each plane.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    mask : ndarray of bool, shape (H, W), optional
        Pixels over which the energy is taken.
    sigmas : (float, float), optional

    Returns
    -------
    energy : float
        Larger is sharper.

    References
    ----------
    .. [1] D. Marr and E. Hildreth, "Theory of edge detection", Proceedings
           of the Royal Society of London B 207: 187-217, 1980.
    """
    from scipy.ndimage import gaussian_filter

    grey = to_gray(image).astype(np.float64)
    band = gaussian_filter(grey, sigmas[0]) - gaussian_filter(grey, sigmas[1])
    inside = (slice(None),) if mask is None else (mask,)
    mean = float(grey[inside].mean()) if grey[inside].size else 0.0
    return float(band[inside].var() / max(mean, 1e-6) ** 2) if band[inside].size else 0.0


def _number(record, column, path, line):
    try:
        return float(record[column])
    except (TypeError, ValueError):
        raise InvalidInputError(f"{path}, line {line}: {column} must be a number, got "
                                f"{record[column]!r}") from None


class ZStackFolder(FieldFocusDataset):
    """Focus patches and autofocus z-stacks from your own stacks, labelled in micrometres.

    Parameters
    ----------
    root : str or Path, optional
        Default ``$MMDF_BENCH_DATA/zstack-folder``.
    seed : int, optional
        Unused.
    patch_size : int, optional
    z_step_um : float, optional
        Distance between consecutive planes (µm) of stacks whose z is
        neither in their file names, nor in their TIFF metadata, nor in
        ``focus.csv``.
    bits : int, optional
        Bit depth of the stored values, e.g. 12 for 12-bit data in 16-bit
        files (``--datasets zstack-folder=PATH:bits=12``); by default read from
        the files' metadata, else guessed from each stack's data with a
        warning (see `mmdf_bench.bit_depth`).
    channel : int, optional
        The channel to read from multi-channel TIFF files (0-based); see
        `mmdf_bench.tiff_stacks` for how their axes are read.
    min_contrast, tolerance_um, level_step_um, fields : optional
        As in `FieldFocusDataset`.
    """

    name: ClassVar[str] = "zstack-folder"
    summary: ClassVar[str] = ("your own z-stacks (folders, multi-page TIFFs, planes from videos) labelled in µm: "
                              "focus patches and autofocus stacks")
    citation: ClassVar[str] = ""
    licence: ClassVar[str] = "that of the user's data"
    version: ClassVar[str] = "2"
    default_folder: ClassVar[str] = "zstack-folder"
    card: ClassVar[str] = "zstack-folder.md"

    def __init__(self, *, root=None, seed=0, patch_size=84, z_step_um=None, min_contrast=MIN_CONTRAST,
                 tolerance_um=None, level_step_um=5.0, bits=None, channel=None, fields=None):
        super().__init__(root=root, seed=seed, patch_size=patch_size, min_contrast=min_contrast,
                         tolerance_um=tolerance_um, level_step_um=level_step_um, fields=fields)
        self.bits = dataset_bits(bits, self.name)
        self.channel = dataset_channel(channel, self.name)
        self.z_step_um = None if z_step_um is None else option_number(z_step_um, "z_step_um", self.name,
                                                                      positive=True)
        self._masks = {}
        self._z_sources = {}

    # ------------------------------------------------------------ stacks
    def _stack_paths(self, root):
        index = {}
        for path in sorted(root.iterdir()):
            if path.name.startswith("."):
                continue
            if path.is_dir():
                name = path.name
            elif path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
                name = path.stem
            else:
                continue
            if name in index:
                raise InvalidInputError(f"{self.name}: two stacks are called {name!r}: {index[name]} and {path}")
            index[name] = path
        if not index:
            raise InvalidInputError(
                f"{self.name}: no stacks in {root}; expected sub-folders of images or multi-page TIFF files")
        return index

    def _focus_table(self, root, names):
        path = root / FOCUS_TABLE
        if not path.is_file():
            return {}
        table = {}
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            if "stack" not in columns or not columns & {"in_focus_plane", "in_focus_z_um", "z_step_um"}:
                raise InvalidInputError(f"{path}: expected the column 'stack' and at least one of "
                                        "'in_focus_plane', 'in_focus_z_um', 'z_step_um'")
            for line, record in enumerate(reader, start=2):
                entry = {}
                if (record.get("in_focus_plane") or "").strip():
                    try:
                        entry["in_focus_plane"] = int(record["in_focus_plane"])
                    except ValueError:
                        raise InvalidInputError(f"{path}, line {line}: in_focus_plane must be an integer, got "
                                                f"{record['in_focus_plane']!r}") from None
                for column in ("in_focus_z_um", "z_step_um"):
                    if (record.get(column) or "").strip():
                        entry[column] = _number(record, column, path, line)
                if entry.get("z_step_um", 1.0) <= 0:
                    raise InvalidInputError(f"{path}, line {line}: z_step_um must be positive")
                table[record["stack"].strip()] = entry
        unknown = set(table) - set(names)
        if unknown:
            raise InvalidInputError(f"{path}: no stack called {', '.join(sorted(unknown))} in {path.parent}")
        return table

    def _planes(self, name, path, entry):
        """The planes of one stack with their z, and where the z came from."""
        if path.is_dir():
            files = sorted(child for child in path.iterdir() if child.is_file()
                           and not child.name.startswith(".") and child.suffix.lower() in IMAGE_SUFFIXES)
            if len(files) < 2:
                raise InvalidInputError(f"a stack needs at least 2 images, {path} holds {len(files)}")
            if self.channel is not None:
                raise InvalidInputError(f"{self.name}: channel={self.channel} applies to TIFF stacks, "
                                        f"but {path} is a folder of images")
            named = [z_from_name(file.name) for file in files]
            if all(z is not None for z in named):
                return [Plane(file, z) for file, z in zip(files, named)], "file names"
            locations, count, step = [(file, None) for file in files], len(files), None
        else:
            count = len(tiff_pages(path, bits=self.bits, channel=self.channel)[0])
            if count < 2:
                raise InvalidInputError(f"a stack needs at least 2 planes, {path} holds {count}")
            locations = [(path, page) for page in range(count)]
            step = tiff_z_step(path)
            if step is not None:
                return [Plane(file, k * step, page) for k, (file, page) in enumerate(locations)], "TIFF metadata"
        if "z_step_um" in entry:
            step, source = entry["z_step_um"], f"{FOCUS_TABLE} z_step_um"
        elif self.z_step_um is not None:
            step, source = self.z_step_um, "option z_step_um"
        else:
            raise InvalidInputError(
                f"{self.name}: no z positions for stack {name!r} ({path}): name its planes with their z "
                f"(e.g. plane_z+2.5um.png), store the z spacing in the TIFF (ImageJ or OME metadata), give "
                f"z_step_um in {FOCUS_TABLE}, or pass the dataset option z_step_um")
        return [Plane(file, k * step, page) for k, (file, page) in enumerate(locations)], source

    def read_fields(self, root):
        from scipy.ndimage import binary_erosion

        paths = self._stack_paths(root)
        table = self._focus_table(root, paths)
        fields = []
        for name, path in paths.items():
            entry = table.get(name, {})
            planes, source = self._planes(name, path, entry)
            field = FieldStack(name, tuple(planes), focus_z_um=0.0, grey=False,
                               metadata={"stack": name, "z_source": source}, bits=self.bits,
                               channel=self.channel)
            total = None
            for index in range(len(field)):
                image = field.read_plane(index)
                if total is not None and image.shape != total.shape:
                    raise InvalidInputError(f"{field.planes[index].describe()}: shape {image.shape} differs from "
                                            f"the first plane of stack {name!r}, {total.shape}")
                total = image.astype(np.float64) if total is None else total + image
            inner = binary_erosion(specimen_mask((total / len(field)).astype(np.float32)), iterations=MASK_MARGIN)
            self._masks[name] = inner
            if "in_focus_z_um" in entry:
                field.focus_z_um = entry["in_focus_z_um"]
            elif "in_focus_plane" in entry:
                plane = entry["in_focus_plane"]
                if not 0 <= plane < len(field):
                    raise InvalidInputError(f"{FOCUS_TABLE}: in_focus_plane {plane} of stack {name!r} is outside "
                                            f"0..{len(field) - 1}")
                field.focus_z_um = float(field.z_um[plane])
            else:
                energies = [band_pass_energy(field.read_plane(index), mask=inner) for index in range(len(field))]
                field.focus_z_um = float(field.z_um[int(np.argmax(energies))])
                field.focus_rule = FOCUS_RULE
            self._z_sources[name] = source
            fields.append(field)
        return fields

    def patch_region(self, field):
        return self._masks[field.name]

    def in_focus_plane(self, name):
        """Index (in z order) of the focal plane of stack `name`."""
        fields = self.fields()
        if name not in fields:
            raise InvalidInputError(f"{self.name}: unknown stack {name!r}; known: {', '.join(fields)}")
        return fields[name].focus_index

    def describe(self):
        description = super().describe()
        description["options"].update(z_step_um=self.z_step_um, bits=self.bits, channel=self.channel)
        return description
