from collections import Counter

import cv2
import numpy as np
import pytest
import tifffile

from mmdf_bench.data.field_of_view import apply_vignette
from mmdf_bench.data.patches import grid_positions
from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack
from mmdf_bench.data.zstack import (
    ZStackFolder,
    read_tiff_stack,
    read_video_frames,
    read_zstack_folder,
    stack_from_video,
    variance_of_laplacian,
    write_stack,
)
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.focus import FocusSample

# Defocus level of each frame of the test scan: in focus at frame 4, then
# farther and farther out (a scan that starts a little above focus).
SCAN_LEVELS = [4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


@pytest.fixture(scope="module")
def specimen_stack():
    dataset = SyntheticBrightfieldZStack(seed=0)
    return dataset.specimen_stack(dataset.specimen_ids("test")[4], noise=False)


def write_video(path, frames, fourcc="MJPG"):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} videos here"
    for frame in frames:
        writer.write(cv2.cvtColor(np.round(frame * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()


def test_variance_of_laplacian_closed_form():
    # The 4-neighbour Laplacian of a checkerboard of ±a is ±8a inside: variance 64 a².
    board = (np.indices((20, 20)).sum(axis=0) % 2).astype(np.float32) * 0.5 + 0.25
    inner = np.zeros((20, 20), dtype=bool)
    inner[1:-1, 1:-1] = True
    assert variance_of_laplacian(board, mask=inner) == pytest.approx(64 * 0.25**2, rel=1e-5)
    assert variance_of_laplacian(np.full((10, 10), 0.3, dtype=np.float32)) == 0.0


def test_video_round_trip_finds_the_in_focus_frame(tmp_path, specimen_stack):
    path = tmp_path / "scan.avi"
    write_video(path, [specimen_stack[level] for level in SCAN_LEVELS])
    frames = read_video_frames(path)
    assert frames.shape == (len(SCAN_LEVELS),) + specimen_stack.shape[1:] and frames.dtype == np.float32
    # MJPG is lossy but close.
    assert np.abs(frames[4] - specimen_stack[0]).mean() < 0.02
    assert read_video_frames(path, step=3, max_frames=2).shape[0] == 2
    np.testing.assert_array_equal(read_video_frames(path, step=3)[1], frames[3])

    stack, frame_indices, scores = stack_from_video(path)
    assert stack.shape == (11,) + specimen_stack.shape[1:]
    assert int(np.argmax(scores)) == 4 and len(scores) == len(SCAN_LEVELS)
    # Plane k is k frames after focus on the longer (later) side: level k.
    assert list(frame_indices) == list(range(4, 15))
    for plane, frame in zip(stack, frame_indices):
        np.testing.assert_array_equal(plane, frames[frame])

    # Fewer planes spread over the same side; the scores are the measure of each frame.
    stack, frame_indices, scores = stack_from_video(path, num_planes=3)
    assert list(frame_indices) == [4, 9, 14]
    assert scores[4] == pytest.approx(variance_of_laplacian(frames[4]), rel=1e-6)
    # Earlier side longer: a reversed scan gives planes going back in time.
    reverse = tmp_path / "reverse.avi"
    write_video(reverse, [specimen_stack[level] for level in SCAN_LEVELS[::-1]])
    _, frame_indices, _ = stack_from_video(reverse, num_planes=4, spacing=2)
    assert list(frame_indices) == [10, 8, 6, 4]
    with pytest.raises(InvalidInputError, match="scan.avi"):
        stack_from_video(path, num_planes=12)


def test_unreadable_video_names_the_file(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InvalidInputError, match="broken.avi"):
        read_video_frames(broken)
    with pytest.raises(InvalidInputError, match="missing.mp4"):
        stack_from_video(tmp_path / "missing.mp4")
    with pytest.raises(InvalidInputError):
        read_video_frames(broken, step=0)


def test_write_and_read_stack_folder_and_tiff(tmp_path, specimen_stack):
    paths = write_stack(specimen_stack[:4], tmp_path / "stack")
    assert [path.name for path in paths] == ["plane_000.png", "plane_001.png", "plane_002.png", "plane_003.png"]
    stack, names = read_zstack_folder(tmp_path / "stack")
    assert names == [path.name for path in paths]
    assert np.abs(stack - specimen_stack[:4]).max() <= 0.5 / 255 + 1e-6

    tiff = tmp_path / "stack.tif"
    tifffile.imwrite(tiff, np.round(specimen_stack[:3] * 65535).astype(np.uint16), photometric="rgb")
    read = read_tiff_stack(tiff)
    assert read.shape == specimen_stack[:3].shape and read.dtype == np.float32
    assert np.abs(read - specimen_stack[:3]).max() < 1e-4
    with pytest.raises(InvalidInputError, match="nothing.tif"):
        read_tiff_stack(tmp_path / "nothing.tif")


def test_grid_positions_closed_form():
    mask = np.zeros((20, 30), dtype=bool)
    mask[2:15, 5:28] = True
    # Rows 2..14 hold two 6-pixel cells (only with row offset 2), columns 5..27
    # three (column offsets 0 to 5 all fit three: the smallest, 0, wins).
    assert grid_positions(mask, 6) == [(2, 6), (2, 12), (2, 18), (8, 6), (8, 12), (8, 18)]
    assert grid_positions(np.zeros((5, 5), dtype=bool), 2) == []
    # A disc of radius 15 centred at (15.5, 15.5) holds a 2x2 block of 10-pixel cells
    # and no more; the smallest grid offset that reaches 4 is (4, 6). A grid from (0, 0) fits 3.
    rows, cols = np.indices((32, 32))
    disc = np.hypot(rows - 15.5, cols - 15.5) <= 15
    positions = grid_positions(disc, 10)
    assert positions == [(4, 6), (4, 16), (14, 6), (14, 16)]
    for row, col in positions:
        assert disc[row : row + 10, col : col + 10].all()


@pytest.fixture
def zstack_root(tmp_path, specimen_stack):
    # Two stacks with a dark surround: one folder (in focus at plane 2, found by
    # the focus measure) and one TIFF (in focus at plane 1, stated in focus.csv
    # although plane 0 is sharper, to show that the table wins).
    center, radius = (84.5, 84.5), 84.0
    vignetted = np.stack([apply_vignette(plane, center=center, radius=radius, edge_width=2.0, falloff=0.1,
                                         surround=0.02) for plane in specimen_stack])
    write_stack(vignetted[[3, 1, 0, 2, 5]], tmp_path / "alpha")
    tifffile.imwrite(tmp_path / "beta.tif", np.round(vignetted[[0, 2, 4]] * 255).astype(np.uint8),
                     photometric="rgb")
    (tmp_path / "focus.csv").write_text("stack,in_focus_plane\nbeta,1\n")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_zstack_folder_round_trip(zstack_root):
    dataset = ZStackFolder(root=zstack_root)
    assert dataset.name == "zstack-folder" and dataset.task == "focus"
    assert dataset.sample_ids("train") == []
    ids = dataset.sample_ids("test")
    assert dataset.in_focus_plane("alpha") == 2 and dataset.in_focus_plane("beta") == 1
    samples = [dataset.load(sample_id) for sample_id in ids]
    assert all(isinstance(sample, FocusSample) for sample in samples)
    per_stack = Counter(sample.group for sample in samples)
    # A 170-pixel frame with a radius-84 field holds exactly one 84-pixel grid
    # window inside the (slightly shrunk) field: 5 + 3 planes of it.
    assert per_stack == {"alpha": 5, "beta": 3}
    for sample in samples:
        plane, in_focus = sample.metadata["plane"], sample.metadata["in_focus_plane"]
        assert sample.level == min(abs(plane - in_focus), 10)
        assert sample.label == int(sample.level >= 1)
        assert sample.patch.shape == (84, 84, 3)
        # Inside the field: no dark surround in the patch.
        assert sample.patch.mean() > 0.2
    levels = sorted(sample.level for sample in samples if sample.group == "alpha")
    assert levels == [0, 1, 1, 2, 2]
    with pytest.raises(InvalidInputError):
        dataset.load("alpha-z099-y0x0")


def test_zstack_folder_errors(tmp_path, zstack_root):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no stacks"):
        ZStackFolder(root=empty).sample_ids("test")
    (zstack_root / "focus.csv").write_text("stack,in_focus_plane\nbeta,7\n")
    with pytest.raises(InvalidInputError, match="beta"):
        ZStackFolder(root=zstack_root).sample_ids("test")
    (zstack_root / "focus.csv").write_text("stack,in_focus_plane\ngamma,1\n")
    with pytest.raises(InvalidInputError, match="gamma"):
        ZStackFolder(root=zstack_root).sample_ids("test")
    (zstack_root / "focus.csv").write_text("name,plane\nbeta,1\n")
    with pytest.raises(InvalidInputError, match="in_focus_plane"):
        ZStackFolder(root=zstack_root).sample_ids("test")
