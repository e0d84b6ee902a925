"""Overlapping-tile inference (`mmdf_bench.methods.tiling`): exactness, bounded tile size, blending weights."""

import itertools

import numpy as np
import pytest

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from torch import nn

from mmdf_bench.methods.deblur_networks import SRCNN, VGG11UNet
from mmdf_bench.methods.tiling import edge_ramp, infer, restore_tiled, tile_starts
from mmdf_bench.errors import InvalidInputError


class ConvStack(nn.Module):
    """`depth` 3x3 convolutions, each moving the image one pixel down and right: receptive radius `depth`.

    The output at a pixel is the input `depth` pixels up-left of it, the
    farthest pixel the receptive field holds, so a tile that lacks it shows.
    """

    def __init__(self, depth):
        super().__init__()
        layers = []
        for _ in range(depth):
            layer = nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate", bias=False)
            nn.init.zeros_(layer.weight)
            with torch.no_grad():
                for channel in range(3):
                    layer.weight[channel, channel, 0, 0] = 1.0
            layers.append(layer)
        self.body = nn.Sequential(*layers)

    def forward(self, images):
        return self.body(images)


class ShapeRecorder(nn.Module):
    """Wraps a network and remembers every input shape it was given."""

    def __init__(self, network):
        super().__init__()
        self.network, self.shapes = network, []
        self.size_multiple = getattr(network, "size_multiple", 1)

    def forward(self, images):
        self.shapes.append(tuple(images.shape))
        return self.network(images)


def untiled(network, image):
    with torch.no_grad():
        return infer(network.eval(), torch.from_numpy(image.transpose(2, 0, 1).copy())[None])[0].numpy() \
            .transpose(1, 2, 0)


@pytest.fixture(scope="module")
def large_image():
    """A 768x1024 RGB image with structure at every scale (smooth ramps and noise)."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:768, 0:1024] / 1024.0
    base = 0.5 + 0.3 * np.sin(9 * rows + 4 * cols)[..., None] * np.array([1.0, 0.7, 0.4])
    return np.clip(base + 0.1 * rng.standard_normal((768, 1024, 3)), 0, 1).astype(np.float32)


def test_tile_starts_cover_with_least_overlap():
    for length, tile, overlap in [(1024, 256, 32), (768, 256, 32), (300, 256, 32), (1000, 128, 40), (256, 256, 32)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + tile == max(length, tile)
        assert all(later - earlier <= tile - overlap for earlier, later in itertools.pairwise(starts))
        assert all(later > earlier for earlier, later in itertools.pairwise(starts))
    assert tile_starts(100, 256, 32) == [0]
    # 1024 - 256 = 768 takes ceil(768 / 224) = 4 strides, spread evenly as 192 each (5 tiles);
    # 768 - 256 = 512 takes 3 strides of 170-171 (4 tiles)
    assert tile_starts(1024, 256, 32) == [0, 192, 384, 576, 768]
    assert tile_starts(768, 256, 32) == [0, 171, 341, 512]


def test_edge_ramp_zero_strip_and_partition_of_unity():
    overlap = 32
    weights = edge_ramp(256, overlap, start_inner=True, end_inner=True)
    margin = overlap // 4
    assert np.all(weights[:margin] == 0) and np.all(weights[-margin:] == 0)
    assert np.all(weights[overlap - margin:256 - overlap + margin] == 1)
    # two tiles overlapping by exactly `overlap`: the ramps add up to one over the shared part
    left = edge_ramp(256, overlap, start_inner=False, end_inner=True)
    right = edge_ramp(256, overlap, start_inner=True, end_inner=False)
    total = np.zeros(480)
    total[:256] += left
    total[224:] += right
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    outer = edge_ramp(256, overlap, start_inner=False, end_inner=False)
    assert np.all(outer == 1)


def test_srcnn_tiled_equals_untiled_on_1024x768(large_image):
    # SRCNN's receptive radius is 4 + 0 + 2 = 6 pixels, inside the discarded strip of 32 // 4 = 8;
    # narrow layers (same 9-1-5 kernels) keep the test fast
    torch.manual_seed(0)
    network = SRCNN(channels=(8, 8))
    expected = untiled(network, large_image)
    recorder = ShapeRecorder(network)
    with torch.no_grad():
        restored = restore_tiled(recorder, large_image, tile=256, overlap=32)
    assert restored.shape == large_image.shape and restored.dtype == np.float32
    np.testing.assert_allclose(restored, expected, atol=2e-5)
    # the network never saw more than one tile: memory bounded by the tile, not the image
    assert max(shape[-1] for shape in recorder.shapes) <= 256 and max(shape[-2] for shape in recorder.shapes) <= 256
    assert len(recorder.shapes) == 5 * 4


def test_exact_only_when_receptive_field_fits_the_discarded_strip():
    # binary noise: replicating a tile's edge differs clearly from the true neighbours
    image = np.random.default_rng(5).integers(0, 2, size=(300, 420, 3)).astype(np.float32)
    network = ConvStack(12)  # receptive radius 12
    expected = untiled(network, image)
    with torch.no_grad():
        enough = restore_tiled(network, image, tile=128, overlap=48)  # strip 12
        too_little = restore_tiled(network, image, tile=128, overlap=16)  # strip 4
    np.testing.assert_allclose(enough, expected, atol=2e-5)
    assert np.abs(too_little - expected).max() > 0.5


def test_deep_unet_tiles_blend_seamlessly(large_image):
    # The U-Net sees the whole tile, so tiling approximates the untiled result; the overlap
    # is what removes the seams that abutting tiles leave
    torch.manual_seed(0)
    network = VGG11UNet(width=0.125)
    nn.init.normal_(network.output.weight, std=0.2)  # the zero initialisation would make it the identity
    image = large_image[:512, :640]
    expected = untiled(network, image)
    with torch.no_grad():
        blended = restore_tiled(network, image, tile=256, overlap=64)
        abutting = restore_tiled(network, image, tile=256, overlap=0)
    assert np.abs(expected - image).max() > 0.05  # the network does change the image
    assert np.abs(abutting - expected).max() > 2e-2
    assert np.abs(blended - expected).max() < 1e-5


def test_small_image_and_size_multiple():
    # 100x70 is not a multiple of the U-Net's 32: padded inside, cropped back; no tiling below one tile
    torch.manual_seed(0)
    network = VGG11UNet(width=0.125)
    nn.init.normal_(network.output.weight, std=0.05)
    image = np.random.default_rng(0).uniform(size=(100, 70, 3)).astype(np.float32)
    with torch.no_grad():
        restored = restore_tiled(network, image, tile=256, overlap=32)
    assert restored.shape == (100, 70, 3)
    np.testing.assert_array_equal(restored, untiled(network, image))


@pytest.mark.parametrize("tile, overlap", [(64, 32), (64, -1)])
def test_bad_tiling_options(tile, overlap):
    with pytest.raises(InvalidInputError, match="overlap"):
        restore_tiled(SRCNN(), np.zeros((8, 8, 3), np.float32), tile=tile, overlap=overlap)


def test_bad_image_shape():
    with pytest.raises(InvalidInputError, match=r"\(H, W, C\)"):
        restore_tiled(SRCNN(), np.zeros((8, 8), np.float32))
