"""Multi-dimensional TIFFs: z from the declared axes, a channel by option, refusal without a z axis."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from mmdf_bench.data.folder import FusionFolder
from mmdf_bench.data.zstack_folder import ZStackFolder
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tiff_stacks import read_tiff_stack


def _unit(levels):
    return (levels / 255).astype(np.float32)


def _planes(count, shape=(12, 14), seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, *shape)).astype(np.uint8)


def test_imagej_z_slices_are_the_planes(tmp_path):
    planes = _planes(4)
    tifffile.imwrite(tmp_path / "z.tif", planes, imagej=True, metadata={"axes": "ZYX"})
    stack, depth = read_tiff_stack(tmp_path / "z.tif")
    np.testing.assert_array_equal(stack, _unit(planes))
    assert depth.bits == 8


def test_a_time_lapse_is_refused_naming_the_file_and_the_axes(tmp_path):
    tifffile.imwrite(tmp_path / "timelapse.tif", _planes(5), imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(InvalidInputError) as caught:
        read_tiff_stack(tmp_path / "timelapse.tif")
    message = str(caught.value)
    assert "timelapse.tif" in message and "cannot identify the z axis" in message
    assert "time (T) of 5" in message and "no z axis" in message


def test_z_beside_another_axis_is_refused(tmp_path):
    data = np.stack([_planes(3, seed=1), _planes(3, seed=2)])  # T=2, Z=3
    tifffile.imwrite(tmp_path / "tz.ome.tif", data, ome=True, metadata={"axes": "TZYX"})
    with pytest.raises(InvalidInputError, match=r"tz\.ome\.tif: cannot identify the z axis.*besides z"):
        read_tiff_stack(tmp_path / "tz.ome.tif")


def test_channels_need_the_channel_option(tmp_path):
    channels = np.stack([_planes(3, seed=3), _planes(3, seed=4)])  # C=2, Z=3
    tifffile.imwrite(tmp_path / "two-colours.ome.tif", channels, ome=True, metadata={"axes": "CZYX"})
    with pytest.raises(InvalidInputError, match=r"two-colours\.ome\.tif: 2 channels.*channel=K"):
        read_tiff_stack(tmp_path / "two-colours.ome.tif")
    stack, _ = read_tiff_stack(tmp_path / "two-colours.ome.tif", channel=1)
    np.testing.assert_array_equal(stack, _unit(channels[1]))
    with pytest.raises(InvalidInputError, match="channel=2 is out of range: the file has 2 channels"):
        read_tiff_stack(tmp_path / "two-colours.ome.tif", channel=2)


def test_imagej_hyperstack_with_interleaved_channels_reads_one_channel_along_z(tmp_path):
    data = np.stack([_planes(2, seed=5), _planes(2, seed=6), _planes(2, seed=7)])  # Z=3, C=2
    tifffile.imwrite(tmp_path / "hyper.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    stack, _ = read_tiff_stack(tmp_path / "hyper.tif", channel=0)
    np.testing.assert_array_equal(stack, _unit(data[:, 0]))


def test_plain_multi_page_files_keep_their_page_order(tmp_path):
    planes = _planes(3, seed=8)
    images = [Image.fromarray(plane) for plane in planes]
    images[0].save(tmp_path / "pages.tif", save_all=True, append_images=images[1:])
    stack, _ = read_tiff_stack(tmp_path / "pages.tif")
    np.testing.assert_array_equal(stack, _unit(planes))


def test_channel_selects_a_colour_of_an_rgb_stack_and_is_refused_on_grey_files(tmp_path):
    colour = np.random.default_rng(9).integers(0, 256, size=(2, 8, 9, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", colour, photometric="rgb")
    stack, _ = read_tiff_stack(tmp_path / "rgb.tif")
    assert stack.shape == (2, 8, 9, 3)
    green, _ = read_tiff_stack(tmp_path / "rgb.tif", channel=1)
    np.testing.assert_array_equal(green, _unit(colour[..., 1]))
    tifffile.imwrite(tmp_path / "grey.tif", _planes(2), imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(InvalidInputError, match=r"grey\.tif: channel=0 given, but the file has no channel axis"):
        read_tiff_stack(tmp_path / "grey.tif", channel=0)


def test_the_folder_datasets_take_the_channel_option(tmp_path):
    channels = np.stack([_planes(3, shape=(96, 96), seed=10), _planes(3, shape=(96, 96), seed=11)])
    tifffile.imwrite(tmp_path / "cells.tif", channels, ome=True, metadata={"axes": "CZYX"})
    with pytest.raises(InvalidInputError, match="channel=K"):
        FusionFolder(root=tmp_path).load("cells")
    sample = FusionFolder(root=tmp_path, channel=1).load("cells")
    np.testing.assert_array_equal(sample.stack, _unit(channels[1]))
    focus = ZStackFolder(root=tmp_path, channel=0, z_step_um=2)
    patch_id = next(i for i in focus.sample_ids("test") if not i.endswith("-stack"))
    patch = focus.load(patch_id).patch
    assert patch.shape == (84, 84)
    np.testing.assert_array_equal(focus.load("cells-stack").read_plane(2), _unit(channels[0][2]))
    with pytest.raises(InvalidInputError, match="channel must be a non-negative integer"):
        ZStackFolder(root=tmp_path, channel="red")
