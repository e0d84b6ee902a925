"""Real z-stacks for the focus task: folders, multi-page TIFFs and z-scan videos.

A z-stack is a series of images of one field at focal planes ordered by z.
It may be stored as a folder of images (planes in file-name order), as a
multi-page TIFF (planes in page order) or as a video recorded while the
focus knob is turned (`stack_from_video` picks planes from it).

`ZStackFolder` turns a folder of such stacks into focus samples: square
patches, cut on a grid inside the bright field of view, from every plane,
labelled by their distance (in planes) from the in-focus plane.
"""

import csv
from collections import OrderedDict
from pathlib import Path
from typing import ClassVar

import numpy as np

from mmdf_bench.data.base import Dataset, resolve_root
from mmdf_bench.data.field_of_view import specimen_mask
from mmdf_bench.data.folder import IMAGE_SUFFIXES, TIFF_SUFFIXES, read_folder_stack
from mmdf_bench.data.folder import read_tiff_stack as _read_tiff_pages
from mmdf_bench.data.patches import grid_positions
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_image, to_gray, validate_image, validate_stack, write_image

#: Name of the optional table of in-focus planes in a `ZStackFolder`.
FOCUS_TABLE = "focus.csv"
#: Levels farther than this from focus are reported as this level.
MAX_LEVEL = 10
#: Pixels between a patch and the edge of the field of view.
MASK_MARGIN = 3


def variance_of_laplacian(image, *, mask=None):
    """Variance of the 4-neighbour Laplacian of the luminance: the classic focus measure.

    Kept here (not imported from the baselines) so that the data readers do
    not depend on the methods they are used to evaluate.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    mask : ndarray of bool, shape (H, W), optional
        Pixels over which the variance is taken.

    Returns
    -------
    score : float
        Larger is sharper.

    References
    ----------
    .. [1] J. L. Pech-Pacheco, G. Cristóbal, J. Chamorro-Martínez and
           J. Fernández-Valdivia, "Diatom autofocusing in brightfield
           microscopy: a comparative study", ICPR 2000, vol. 3, pp. 314-317.
    """
    import cv2

    laplacian = cv2.Laplacian(np.ascontiguousarray(to_gray(image), dtype=np.float32), cv2.CV_32F)
    values = laplacian if mask is None else laplacian[mask]
    return float(values.astype(np.float64).var()) if values.size else 0.0


def read_zstack_folder(folder):
    """Read a folder of images, sorted by file name, as a z-stack.

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])
    names : list of str
        The file names, in plane order.
    """
    return read_folder_stack(folder)


def read_tiff_stack(path):
    """Read a multi-page TIFF as a z-stack, one plane per page.

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])

    Raises
    ------
    InvalidInputError
        Naming the file: missing, unreadable, pages of different shapes,
        fewer than two pages.
    """
    return validate_stack(_read_tiff_pages(path), source=str(path))


def iter_video_frames(path, *, step=1, max_frames=None):
    """Yield ``(frame_index, frame)`` for every `step`-th frame of a video.

    Frames are decoded by OpenCV (FFmpeg) and returned as RGB float32 in
    [0, 1], one at a time, so that long videos need not fit in memory.

    Raises
    ------
    InvalidInputError
        Naming the file when it is missing, cannot be opened or yields no frame.
    """
    import cv2

    path = Path(path)
    if int(step) != step or step < 1:
        raise InvalidInputError(f"step must be a positive integer, got {step}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise InvalidInputError(f"max_frames must be a positive integer, got {max_frames}")
    if not path.is_file():
        raise InvalidInputError(f"video file not found: {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InvalidInputError(f"cannot open video {path}: OpenCV cannot decode it")
        index = kept = 0
        while max_frames is None or kept < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                if frame.ndim == 2:
                    frame = np.repeat(frame[..., None], 3, axis=-1)
                rgb = cv2.cvtColor(frame[..., :3], cv2.COLOR_BGR2RGB)
                yield index, validate_image(rgb, source=f"{path} frame {index}")
                kept += 1
            index += 1
        if index == 0:
            raise InvalidInputError(f"cannot read video {path}: no frame could be decoded")
    finally:
        capture.release()


def read_video_frames(path, *, step=1, max_frames=None):
    """Read every `step`-th frame of a video (at most `max_frames`) as RGB float32.

    Returns
    -------
    frames : ndarray of float32, shape (N, H, W, 3)
        Frame k is frame ``k * step`` of the video.
    """
    frames = [frame for _, frame in iter_video_frames(path, step=step, max_frames=max_frames)]
    return np.stack(frames)


def stack_from_video(path, *, num_planes=11, measure=variance_of_laplacian, step=1, spacing=None):
    """Turn a z-scan video into a z-stack that starts at the in-focus frame.

    Rule: every `step`-th frame is scored with `measure`; the frame with the
    highest score is the in-focus plane. A scan at constant speed maps time
    to z, so the other planes are taken, `spacing` frames apart, on the side
    of that frame (earlier or later) that holds more frames; by default the
    spacing spreads the planes over that whole side. Plane k of the stack is
    then k spacings from focus. The video is decoded twice (scoring, then
    collecting) so that only the chosen frames are held in memory.

    Parameters
    ----------
    path : str or Path
    num_planes : int, optional
        Planes of the stack, the in-focus one included.
    measure : callable, optional
        ``measure(frame) -> float``, larger is sharper; default the
        variance of the Laplacian.
    step : int, optional
        Score only every `step`-th frame (a plane is always a scored frame).
    spacing : int, optional
        Scored frames between consecutive planes.

    Returns
    -------
    stack : ndarray of float32, shape (num_planes, H, W, 3)
        Plane 0 in focus, then increasingly defocused.
    frame_indices : ndarray of int, shape (num_planes,)
        The video frame of each plane.
    scores : ndarray of float, shape (M,)
        The focus score of every scored frame (frame ``m * step``).

    Raises
    ------
    InvalidInputError
        Naming the file when it cannot be read or is too short.
    """
    if int(num_planes) != num_planes or num_planes < 2:
        raise InvalidInputError(f"num_planes must be an integer of at least 2, got {num_planes}")
    scores = np.array([measure(frame) for _, frame in iter_video_frames(path, step=step)], dtype=np.float64)
    best = int(np.argmax(scores))
    before, after = best, len(scores) - 1 - best
    direction, available = (1, after) if after >= before else (-1, before)
    if spacing is None:
        spacing = available // (num_planes - 1)
    if int(spacing) != spacing or spacing < 1 or spacing * (num_planes - 1) > available:
        raise InvalidInputError(
            f"{path}: the sharpest scored frame is frame {best * step}, with {available} scored frames on its "
            f"longer side; {num_planes} planes {spacing} scored frames apart do not fit (record a longer scan, "
            f"or lower num_planes or step)")
    positions = best + direction * int(spacing) * np.arange(num_planes)
    frame_indices = positions * step
    wanted = {int(frame): plane for plane, frame in enumerate(frame_indices)}
    planes = [None] * num_planes
    for index, frame in iter_video_frames(path, step=step):
        if index in wanted:
            planes[wanted[index]] = frame
    if any(plane is None for plane in planes):
        raise InvalidInputError(f"{path}: the video returned fewer frames on the second reading")
    return np.stack(planes), frame_indices.astype(int), scores


def write_stack(stack, folder, *, prefix="plane"):
    """Write the planes of `stack` as ``<prefix>_000.png``, ``<prefix>_001.png``, ... (8-bit).

    Returns
    -------
    paths : list of Path
    """
    stack = validate_stack(stack, source="stack to write", min_planes=1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(len(stack) - 1)))
    paths = []
    for index, plane in enumerate(stack):
        path = folder / f"{prefix}_{index:0{width}d}.png"
        write_image(path, plane)
        paths.append(path)
    return paths


class ZStackFolder(Dataset):
    """Focus patches from your own z-stacks: one sub-folder or multi-page TIFF per stack.

    Layout (see the card ``datasets/zstack-folder.md``)::

        my-zstacks/
            specimen-a/          planes in file-name order, ordered by z
            specimen-b.tif       planes in page order
            focus.csv            optional: columns stack, in_focus_plane (0-based)

    The field of view is the `specimen_mask` of the plane-average image (the
    field stop is the same on every plane). The in-focus plane comes from
    ``focus.csv`` or, for stacks it does not list, is the plane with the
    highest variance of the Laplacian inside the field. Samples are the
    patches of the non-overlapping ``patch_size`` grid that fits most
    patches inside the field (`grid_positions`), from every plane, with
    ``level = min(|plane - in_focus_plane|, 10)`` and label ``level >= 1``;
    ids read ``<stack>-z<plane>-y<row>x<col>``. The field is shrunk by 3
    pixels for both, so that the soft edge of the field stop never counts.
    All samples are test samples.

    Parameters
    ----------
    root : str or Path, optional
        Default ``$MMDF_BENCH_DATA/zstack-folder``.
    seed : int, optional
        Unused.
    patch_size : int, optional
    """

    name: ClassVar[str] = "zstack-folder"
    task: ClassVar[str] = "focus"
    summary: ClassVar[str] = "your own z-stacks (folders, multi-page TIFFs, planes from videos) cut into focus patches"
    citation: ClassVar[str] = ""
    licence: ClassVar[str] = "that of the user's data"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "zstack-folder"
    card: ClassVar[str] = "zstack-folder.md"
    realism = "real"
    num_levels: ClassVar[int] = MAX_LEVEL + 1

    def __init__(self, *, root=None, seed=0, patch_size=84):
        super().__init__(root=root, seed=seed)
        if int(patch_size) != patch_size or patch_size < 8:
            raise InvalidInputError(f"{self.name}: patch_size must be an integer of at least 8, got {patch_size}")
        self.patch_size = int(patch_size)
        self._stacks = None
        self._samples = None
        self._info = None
        self._files = {}
        self._planes = OrderedDict()

    # ------------------------------------------------------------- stacks
    def stacks(self):
        """Map stack name -> path of its sub-folder or TIFF file."""
        if self._stacks is None:
            root = resolve_root(self.root, self)
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
            self._stacks = index
        return self._stacks

    def _focus_table(self):
        path = resolve_root(self.root, self) / FOCUS_TABLE
        if not path.is_file():
            return {}
        table = {}
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"stack", "in_focus_plane"} <= set(reader.fieldnames):
                raise InvalidInputError(f"{path}: expected the columns 'stack' and 'in_focus_plane'")
            for line, record in enumerate(reader, start=2):
                try:
                    table[record["stack"].strip()] = int(record["in_focus_plane"])
                except (TypeError, ValueError):
                    raise InvalidInputError(
                        f"{path}, line {line}: in_focus_plane must be an integer, got {record['in_focus_plane']!r}"
                    ) from None
        unknown = set(table) - set(self.stacks())
        if unknown:
            raise InvalidInputError(f"{path}: no stack called {', '.join(sorted(unknown))} in {path.parent}")
        return table

    def _plane_files(self, name):
        """The plane files of a folder stack in z order, or None for a TIFF stack."""
        if name not in self._files:
            path = self.stacks()[name]
            files = None
            if path.is_dir():
                files = sorted(child for child in path.iterdir() if child.is_file()
                               and not child.name.startswith(".") and child.suffix.lower() in IMAGE_SUFFIXES)
                if len(files) < 2:
                    raise InvalidInputError(f"a stack needs at least 2 images, {path} holds {len(files)}")
            self._files[name] = files
        return self._files[name]

    def _num_planes(self, name):
        files = self._plane_files(name)
        if files is not None:
            return len(files)
        return len(self._read_tiff(name))

    def _read_tiff(self, name):
        key = (name, "tiff")
        if key not in self._planes:
            self._remember(key, read_tiff_stack(self.stacks()[name]))
        return self._planes[key]

    def _remember(self, key, value):
        self._planes[key] = value
        self._planes.move_to_end(key)
        while len(self._planes) > 3:
            self._planes.popitem(last=False)

    def read_plane(self, name, plane):
        """Return plane `plane` of stack `name` (float32), keeping the last few in memory."""
        files = self._plane_files(name)
        if files is None:
            return self._read_tiff(name)[plane]
        key = (name, plane)
        if key not in self._planes:
            image = read_image(files[plane])
            self._remember(key, image)
        else:
            self._planes.move_to_end(key)
        return self._planes[key]

    def _describe_stack(self, name, in_focus):
        from scipy.ndimage import binary_erosion

        count = self._num_planes(name)
        total, shape = None, None
        for plane in range(count):
            image = self.read_plane(name, plane)
            if shape is not None and image.shape != shape:
                raise InvalidInputError(f"{self.stacks()[name]}: plane {plane} has shape {image.shape}, "
                                        f"plane 0 has {shape}")
            shape = image.shape
            total = image.astype(np.float64) if total is None else total + image
        mask = specimen_mask((total / count).astype(np.float32))
        # Off the soft edge of the field stop, for patches and for the focus measure.
        inner = binary_erosion(mask, iterations=MASK_MARGIN)
        if in_focus is None:
            scores = [variance_of_laplacian(self.read_plane(name, plane), mask=inner) for plane in range(count)]
            in_focus = int(np.argmax(scores))
        elif not 0 <= in_focus < count:
            raise InvalidInputError(f"{FOCUS_TABLE}: in_focus_plane {in_focus} of stack {name!r} is outside "
                                    f"0..{count - 1}")
        return count, in_focus, grid_positions(inner, self.patch_size)

    def _index(self):
        if self._samples is None:
            table = self._focus_table()
            info, samples = {}, {}
            for name in self.stacks():
                count, in_focus, positions = info[name] = self._describe_stack(name, table.get(name))
                for plane in range(count):
                    for row, col in positions:
                        samples[f"{name}-z{plane:03d}-y{row}x{col}"] = (name, plane, in_focus, row, col)
            self._info, self._samples = info, samples
        return self._samples

    # ------------------------------------------------------------ samples
    def sample_ids(self, split):
        if split == "train":
            return []
        if split == "test":
            return list(self._index())
        raise InvalidInputError(f"{self.name}: unknown split {split!r}; use 'train' or 'test'")

    def in_focus_plane(self, name):
        """The in-focus plane of stack `name` (from ``focus.csv`` or the focus measure)."""
        self._index()
        if name not in self._info:
            raise InvalidInputError(f"{self.name}: unknown stack {name!r}; known: {', '.join(self._info)}")
        return self._info[name][1]

    def load(self, sample_id):
        from mmdf_bench.tasks.focus import FocusSample

        index = self._index()
        if sample_id not in index:
            raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}")
        name, plane, in_focus, row, col = index[sample_id]
        image = self.read_plane(name, plane)
        patch = image[row : row + self.patch_size, col : col + self.patch_size]
        level = min(abs(plane - in_focus), MAX_LEVEL)
        files = self._plane_files(name)
        source = str(files[plane]) if files is not None else f"{self.stacks()[name]} page {plane}"
        metadata = {"stack": name, "plane": plane, "in_focus_plane": in_focus, "row": row, "col": col}
        return FocusSample(patch=patch, label=int(level >= 1), sample_id=sample_id, group=name, level=level,
                           subset="clean", metadata=metadata, source=source)
