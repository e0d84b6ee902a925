"""Bit depth of integer image files: metadata, the bits option, inference, and storage of outputs."""

import warnings

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from mmdf_bench.bit_depth import InferredBitDepthWarning, png_header
from mmdf_bench.data.pairs_folder import DeblurPairsFolder
from mmdf_bench.dataset_spec import DatasetSpec
from mmdf_bench.errors import InvalidInputError, UnknownNameError
from mmdf_bench.images import (
    quantise,
    read_image,
    read_image_with_depth,
    read_images,
    write_image,
)
from mmdf_bench.metrics.full_reference import psnr, ssim


def _levels(shape=(24, 20), maximum=4095, seed=0):
    return np.random.default_rng(seed).integers(0, maximum + 1, size=shape).astype(np.uint16)



def test_twelve_bit_values_in_a_sixteen_bit_tiff_are_scaled_by_4095_with_a_warning(tmp_path):
    levels = _levels()
    levels[0, 0] = 4095
    tifffile.imwrite(tmp_path / "camera.tif", levels)
    with pytest.warns(InferredBitDepthWarning, match=r"camera\.tif.*4095.*12-bit.*bits="):
        image, depth = read_image_with_depth(tmp_path / "camera.tif")
    assert (depth.bits, depth.source) == (12, "inferred")
    np.testing.assert_array_equal(image, (levels / 4095).astype(np.float32))


def test_the_bits_option_wins_and_is_checked_against_the_data(tmp_path):
    levels = _levels(maximum=1000)
    tifffile.imwrite(tmp_path / "dim.tif", levels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferredBitDepthWarning)
        image, depth = read_image_with_depth(tmp_path / "dim.tif", bits=16)
        assert (depth.bits, depth.source) == (16, "option")
        np.testing.assert_array_equal(image, (levels / 65535).astype(np.float32))
        assert read_image_with_depth(tmp_path / "dim.tif", bits=12)[1].bits == 12
    with pytest.raises(InvalidInputError, match=r"dim\.tif holds values up to \d+, more than bits=8"):
        read_image(tmp_path / "dim.tif", bits=8)
    write_image(tmp_path / "grey.png", np.zeros((4, 4)))
    with pytest.raises(InvalidInputError, match=r"bits=12 given for .*grey\.png, whose pixels are 8-bit"):
        read_image(tmp_path / "grey.png", bits=12)
    with pytest.raises(InvalidInputError, match="from 1 to 16"):
        read_image(tmp_path / "dim.tif", bits=17)


def test_ome_significant_bits_and_tiff_bits_per_sample_are_metadata(tmp_path):
    levels = _levels(maximum=1023)  # dim 12-bit data: the data alone would say 10 bits
    tifffile.imwrite(tmp_path / "ome.ome.tif", levels, ome=True, metadata={"SignificantBits": 12})
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferredBitDepthWarning)
        image, depth = read_image_with_depth(tmp_path / "ome.ome.tif")
    assert (depth.bits, depth.source) == (12, "metadata")
    np.testing.assert_array_equal(image, (levels / 4095).astype(np.float32))


def test_eight_bit_and_full_sixteen_bit_files_read_without_warnings_on_one_grid(tmp_path):
    levels = _levels(maximum=255).astype(np.uint8)
    iio.imwrite(tmp_path / "eight.png", levels)
    tifffile.imwrite(tmp_path / "sixteen.tif", levels.astype(np.uint16) * 257)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferredBitDepthWarning)
        eight, depth8 = read_image_with_depth(tmp_path / "eight.png")
        sixteen, depth16 = read_image_with_depth(tmp_path / "sixteen.tif")
    assert (depth8.bits, depth8.source, depth16.bits) == (8, "container", 16)
    np.testing.assert_array_equal(eight, sixteen)


def test_a_stack_gets_one_depth_even_when_a_defocused_plane_is_dim(tmp_path):
    bright = _levels(maximum=16000, seed=1)
    bright[0, 0] = 16000
    dim = _levels(maximum=3000, seed=2)
    for name, plane in (("z0.tif", bright), ("z1.tif", dim)):
        tifffile.imwrite(tmp_path / name, plane)
    with pytest.warns(InferredBitDepthWarning, match="14-bit"):
        planes, depth = read_images([tmp_path / "z0.tif", tmp_path / "z1.tif"])
    assert depth.bits == 14
    np.testing.assert_array_equal(planes[1], (dim / 16383).astype(np.float32))
    # read alone, the dim plane would have been taken for 12-bit data
    with pytest.warns(InferredBitDepthWarning):
        assert read_image_with_depth(tmp_path / "z1.tif")[1].bits == 12


@pytest.mark.parametrize("bits", [8, 10, 12, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_written_outputs_read_back_exactly_at_their_bit_depth(tmp_path, bits, channels):
    rng = np.random.default_rng(bits)
    image = rng.random((9, 11) if channels == 1 else (9, 11, 3)).astype(np.float32)
    path = tmp_path / f"out-{bits}.png"
    write_image(path, image, bits=bits)
    sample_depth, _, significant = png_header(path)
    assert sample_depth == (8 if bits <= 8 else 16)
    assert significant == (bits if bits not in (8, 16) else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InferredBitDepthWarning)
        read, depth = read_image_with_depth(path)
    assert depth.bits == bits
    np.testing.assert_array_equal(read, quantise(image, bits=bits))


def test_quantise_rounds_to_the_grid_of_the_bit_depth():
    assert quantise(np.array([0.0, 0.5, 1 / 255 * 0.49, 1.0]), bits=8).tolist() == pytest.approx(
        [0.0, 128 / 255, 0.0, 1.0])
    assert quantise(np.array([0.4, 0.6]), bits=1).tolist() == [0.0, 1.0]
    assert quantise(np.array([0.5]), bits=12).dtype == np.float32


def test_a_pair_keeps_psnr_and_ssim_whatever_the_storage(tmp_path):
    rng = np.random.default_rng(3)
    sharp = rng.integers(0, 256, size=(40, 48)).astype(np.uint8)
    blurred = np.clip(sharp.astype(int) + rng.integers(-20, 21, size=sharp.shape), 0, 255).astype(np.uint8)
    for folder, convert in (("eight", lambda x: x), ("twelve", lambda x: np.round(x / 255 * 4095).astype(np.uint16))):
        for kind, image in (("blurred", blurred), ("sharp", sharp)):
            (tmp_path / folder / kind).mkdir(parents=True)
            tifffile.imwrite(tmp_path / folder / kind / "field.tif", convert(image))
    eight = DeblurPairsFolder(root=tmp_path / "eight").load("field")
    twelve = DeblurPairsFolder(root=tmp_path / "twelve", bits=12).load("field")
    assert (eight.bit_depth, twelve.bit_depth) == (8, 12)
    # the true data range: both on [0, 1]; read as 16-bit the 12-bit pair would lose ~24 dB
    assert psnr(twelve.blurred, twelve.reference) == pytest.approx(
        psnr(eight.blurred, eight.reference), abs=0.01)
    assert ssim(twelve.blurred, twelve.reference) == pytest.approx(
        ssim(eight.blurred, eight.reference), abs=1e-3)
    sixteen_scale = DeblurPairsFolder(root=tmp_path / "twelve", bits=16).load("field")
    assert psnr(sixteen_scale.blurred, sixteen_scale.reference) > psnr(eight.blurred, eight.reference) + 23


def test_dataset_arguments_carry_options_in_one_syntax():
    spec = DatasetSpec.parse("zstack-folder=/data/my stacks:bits=12:channel=1")
    assert (spec.name, spec.root, spec.options) == ("zstack-folder", "/data/my stacks",
                                                    {"bits": 12, "channel": 1})
    assert str(spec) == "zstack-folder=/data/my stacks:bits=12:channel=1"
    assert DatasetSpec.parse("zstack-folder:bits=12").root is None
    assert DatasetSpec.parse("fusion-folder=C:/data").root == "C:/data"
    assert DatasetSpec.parse("lytro") == DatasetSpec("lytro")
    from mmdf_bench import registry

    with pytest.raises(UnknownNameError, match=r"'lytro' has no option 'bits'"):
        DatasetSpec.parse("lytro:bits=12").create(registry.datasets)
    with pytest.raises(UnknownNameError, match=r"no option 'bitz'; it takes .*bits"):
        DatasetSpec.parse("zstack-folder:bitz=12").create(registry.datasets)
    with pytest.raises(UnknownNameError, match="given twice"):
        DatasetSpec.parse("zstack-folder:bits=12:bits=10")
    assert DatasetSpec.parse("zstack-folder=/x:bits=12").create(registry.datasets).bits == 12
