from collections import Counter

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from mmdf_bench.data.field_of_view import apply_vignette
from mmdf_bench.data.patches import grid_positions
from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack
from mmdf_bench.data.z_positions import tiff_z_step, z_from_name
from mmdf_bench.data.zstack import (
    read_tiff_stack,
    read_video_frames,
    read_zstack_folder,
    stack_from_video,
    variance_of_laplacian,
    write_stack,
)
from mmdf_bench.data.zstack_folder import FOCUS_RULE, ZStackFolder, band_pass_energy
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
    # Two stacks with a dark surround, planes 6 µm apart (the synthetic level spacing):
    # a folder whose file names carry z (focus found by the band-pass rule), and a TIFF
    # whose ImageJ metadata gives the z step (focus at page 1, stated in focus.csv
    # although page 0 is sharper, to show that the table wins).
    center, radius = (84.5, 84.5), 84.0
    vignetted = np.stack([apply_vignette(plane, center=center, radius=radius, edge_width=2.0, falloff=0.1,
                                         surround=0.02) for plane in specimen_stack])
    alpha = tmp_path / "alpha"
    alpha.mkdir()
    for level, z in [(3, -18.0), (1, -6.0), (0, 0.0), (2, 12.0), (5, 30.0)]:
        iio.imwrite(alpha / f"cells_z{z:+05.1f}um.png", np.round(vignetted[level] * 255).astype(np.uint8))
    tifffile.imwrite(tmp_path / "beta.tif", np.round(vignetted[[0, 2, 4]] * 255).astype(np.uint8),
                     imagej=True, metadata={"spacing": 6.0, "unit": "micron", "axes": "ZYXS"})
    (tmp_path / "focus.csv").write_text("stack,in_focus_plane\nbeta,1\n")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_zstack_folder_labels_in_micrometres(zstack_root):
    dataset = ZStackFolder(root=zstack_root)
    assert dataset.name == "zstack-folder" and dataset.task == "focus" and dataset.realism == "real"
    assert dataset.sample_ids("train") == [] and dataset.sample_ids("validation") == []
    ids = dataset.sample_ids("test")
    assert ids[:2] == ["alpha-stack", "beta-stack"]
    fields = dataset.fields()
    np.testing.assert_array_equal(fields["alpha"].z_um, [-18.0, -6.0, 0.0, 12.0, 30.0])
    np.testing.assert_array_equal(fields["beta"].z_um, [0.0, 6.0, 12.0])
    # alpha: the band-pass rule finds the sharp plane; beta: focus.csv wins
    assert fields["alpha"].focus_z_um == 0.0 and fields["beta"].focus_z_um == 6.0
    assert dataset.in_focus_plane("alpha") == 2 and dataset.in_focus_plane("beta") == 1
    samples = [dataset.load(sample_id) for sample_id in ids[2:]]
    assert all(isinstance(sample, FocusSample) for sample in samples)
    # A 170-pixel frame with a radius-84 field holds exactly one 84-pixel grid
    # window inside the (slightly shrunk) field: 5 + 3 planes of it.
    assert Counter(sample.group for sample in samples) == {"alpha": 5, "beta": 3}
    for sample in samples:
        assert sample.patch.shape == (84, 84, 3) and sample.patch.mean() > 0.2  # inside the field
    # 5 µm per level, in focus within 1 µm: 6 µm -> 1, 12 -> 2, 18 -> 4, 30 -> 6
    assert sorted(s.level for s in samples if s.group == "alpha") == [0, 1, 2, 4, 6]
    assert sorted(s.level for s in samples if s.group == "beta") == [0, 1, 1]
    assert all(sample.label == int(sample.level >= 1) for sample in samples)
    stack = dataset.load("beta-stack")
    assert stack.focus_z_um == 6.0 and stack.group == "beta" and stack.num_planes == 3
    description = dataset.describe()
    assert description["fields"]["alpha"]["focus_rule"] == FOCUS_RULE
    assert "focus_rule" not in description["fields"]["beta"]
    assert description["notes"] == [f"in-focus plane chosen by rule (no measured focus): {FOCUS_RULE}"]
    with pytest.raises(InvalidInputError):
        dataset.load("alpha-z+099.000um-y0x0")


def test_zstack_folder_z_step_option_and_table(tmp_path, specimen_stack):
    write_stack(specimen_stack[[2, 0, 1]], tmp_path / "gamma")
    with pytest.raises(InvalidInputError, match="no z positions for stack 'gamma'.*z_step_um"):
        ZStackFolder(root=tmp_path).sample_ids("test")
    # options may arrive as text from the command line
    np.testing.assert_array_equal(ZStackFolder(root=tmp_path, z_step_um="2.5").fields()["gamma"].z_um,
                                  [0.0, 2.5, 5.0])
    with pytest.raises(InvalidInputError, match="z_step_um must be a positive number"):
        ZStackFolder(root=tmp_path, z_step_um="-1")
    (tmp_path / "focus.csv").write_text("stack,z_step_um,in_focus_z_um\ngamma,4,4.5\n")
    dataset = ZStackFolder(root=tmp_path, z_step_um=2.5)
    field = dataset.fields()["gamma"]
    np.testing.assert_array_equal(field.z_um, [0.0, 4.0, 8.0])
    assert field.focus_z_um == 4.5 and field.metadata["z_source"] == "focus.csv z_step_um"


def test_z_positions_from_names_and_tiff_metadata(tmp_path):
    assert z_from_name("s1_z-0.5um.png") == -0.5 and z_from_name("cells_z=3micron.tif") == 3.0
    assert z_from_name("zebrafish_12um.png") is None and z_from_name("z1um_z2um.png") is None
    data = np.zeros((3, 8, 8), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, metadata={"spacing": 0.5, "unit": "micron"})
    tifffile.imwrite(tmp_path / "ome.tif", data, ome=True, metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0,
                                                                      "PhysicalSizeZUnit": "nm"})
    tifffile.imwrite(tmp_path / "plain.tif", data)
    assert tiff_z_step(tmp_path / "ij.tif") == 0.5
    assert tiff_z_step(tmp_path / "ome.tif") == pytest.approx(0.002)
    assert tiff_z_step(tmp_path / "plain.tif") is None
    tifffile.imwrite(tmp_path / "bad.tif", data, imagej=True, metadata={"spacing": 1.0, "unit": "pixel"})
    with pytest.raises(InvalidInputError, match="bad.tif: ImageJ spacing is in 'pixel'"):
        tiff_z_step(tmp_path / "bad.tif")


def test_band_pass_rule_prefers_the_sharp_plane(specimen_stack):
    energies = [band_pass_energy(plane) for plane in specimen_stack[:4]]
    assert energies == sorted(energies, reverse=True)
    # exposure does not change it
    assert band_pass_energy(specimen_stack[0] * 0.5) == pytest.approx(energies[0], rel=1e-4)


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
    (zstack_root / "focus.csv").write_text("stack,in_focus_z_um\nbeta,near\n")
    with pytest.raises(InvalidInputError, match="focus.csv, line 2: in_focus_z_um must be a number"):
        ZStackFolder(root=zstack_root).sample_ids("test")


def test_the_focus_rule_is_named_under_the_leaderboard(zstack_root, tmp_path):
    from mmdf_bench.runner import run

    (zstack_root / "focus.csv").unlink()  # no measured focus: both stacks use the rule
    run("focus", methods=["fm-tenengrad"], metrics=["accuracy", "autofocus-error"],
        datasets=[f"zstack-folder={zstack_root}"], out_dir=tmp_path / "run", progress=False)
    board = (tmp_path / "run" / "leaderboard.md").read_text()
    assert f"Note (zstack-folder): in-focus plane chosen by rule (no measured focus): {FOCUS_RULE}" in board
