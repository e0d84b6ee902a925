"""Real z-stacks for the focus task: folders, multi-page TIFFs and z-scan videos.

A z-stack is a series of images of one field at focal planes ordered by z.
It may be stored as a folder of images (planes in file-name order), as a
multi-page TIFF (planes in page order) or as a video recorded while the
focus knob is turned (`stack_from_video` picks planes from it).

`mmdf_bench.data.zstack_folder.ZStackFolder` (the ``zstack-folder`` dataset)
turns a folder of such stacks into focus samples labelled in micrometres.
"""

import re
from pathlib import Path

import numpy as np

from mmdf_bench.data.folder import read_folder_stack
from mmdf_bench.errors import InvalidInputError, OutputError
from mmdf_bench.images import to_gray, validate_image, validate_stack, write_image
from mmdf_bench.tiff_stacks import read_tiff_stack as _read_tiff


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


def read_zstack_folder(folder, *, bits=None):
    """Read a folder of images, sorted by file name, as a z-stack.

    Parameters
    ----------
    folder : str or Path
    bits : int, optional
        Bit depth of the stored values (see `mmdf_bench.bit_depth`).

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])
    names : list of str
        The file names, in plane order.
    """
    stack, names, _ = read_folder_stack(folder, bits=bits)
    return stack, names


def read_tiff_stack(path, *, bits=None, channel=None):
    """Read a TIFF file as a z-stack, following the axes it declares.

    See `mmdf_bench.tiff_stacks.read_tiff_stack` for the rules (z, channel and
    colour axes; plain multi-page files in page order).

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])

    Raises
    ------
    InvalidInputError
        Naming the file: missing, unreadable, several channels without
        `channel`, no identifiable z axis, fewer than two planes.
    """
    return validate_stack(_read_tiff(path, bits=bits, channel=channel)[0], source=str(path))


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


#: The tables ``mmdf-bench stack-from-video`` writes beside the planes.
EXTRACTION_TABLES = ("planes.csv", "frame_scores.csv")


def stale_planes(folder, *, replace=False, prefix="plane"):
    """The files of an earlier extraction in `folder` that a new one must remove first.

    A folder of planes is read whole (`read_zstack_folder`), so planes left
    from an earlier, longer extraction would mix into the new stack. A
    folder that holds anything is therefore refused, unless `replace` is
    given and all it holds is an earlier extraction (``<prefix>_NNN.png``
    planes and `EXTRACTION_TABLES`).

    Returns
    -------
    list of Path
        What to delete before writing (empty for a new or empty folder).

    Raises
    ------
    OutputError
        When the folder is not empty and `replace` is false, or it holds
        files that are not an earlier extraction's.
    """
    folder = Path(folder)
    present = sorted(folder.iterdir()) if folder.is_dir() else []
    if not present:
        return []
    ours = [path for path in present if path.is_file() and (
        path.name in EXTRACTION_TABLES or re.fullmatch(rf"{re.escape(prefix)}_\d+\.png", path.name))]
    others = [path.name for path in present if path not in ours]
    shown = ", ".join(path.name for path in present[:4]) + (" ..." if len(present) > 4 else "")
    if others:
        raise OutputError(f"output folder {folder} holds other files ({', '.join(others[:4])}); "
                          "planes written beside them would be read as one stack: give an "
                          "empty folder")
    if not replace:
        raise OutputError(f"output folder {folder} already holds planes ({shown}); leftover "
                          "planes would mix into the new stack: give an empty folder, or "
                          "--overwrite to replace them")
    return ours


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

