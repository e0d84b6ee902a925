"""IFCNN against the fused images published with the official code, and its fusion rules.

These tests need the official weights and the Lytro data: CI sets
MMDF_BENCH_WEIGHTS=../shared/weights and MMDF_BENCH_DATA=../shared/data, and
the tests fail (never skip) when they are missing.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmdf_bench.methods.ifcnn import (
    IFCNN_MAX_WEIGHTS,
    IFCNN_MEAN_WEIGHTS,
    IFCNNMax,
    IFCNNMean,
    ifcnn_fuse,
    load_ifcnn,
)
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_image, to_gray
from mmdf_bench.tasks.fusion import FusionMethod

PAIRS = range(1, 21)
TRIPLES = range(1, 5)
MIN_PSNR_DB = 45.0
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _asset(path):
    if not path.is_file():
        pytest.fail(f"asset missing: {path}")
    return path


def _read(path):
    return read_image(_asset(path))


def _lytro_stack(data, index, *, triple=False):
    folder = data / "lytro" / ("Triple_Series" if triple else "")
    letters = "ABC" if triple else "AB"
    return np.stack([_read(folder / f"lytro-{index:02d}-{letter}.jpg") for letter in letters])


def _reference(data, index, *, triple=False):
    kind = "CMF3" if triple else "CMF"
    return _read(data / "ifcnn_reference" / f"IFCNN-MAX-{kind}-lytro-{index:02d}.png")


def _psnr_8bit(fused, reference):
    # the official demo stores clamp(x, 0, 1) * 255 cast to uint8, i.e. truncated
    ours = np.floor(np.clip(fused, 0, 1) * 255.0)
    theirs = np.round(reference * 255.0)
    mse = np.mean((ours - theirs) ** 2)
    return 10 * np.log10(255.0**2 / mse)


@pytest.fixture
def weights(shared_weights):
    _asset(shared_weights / IFCNN_MAX_WEIGHTS.path)
    _asset(shared_weights / IFCNN_MEAN_WEIGHTS.path)
    return shared_weights


# one method instance for the whole module: the network is loaded once, as in a run
_METHODS = {}


def _method(cls):
    if cls not in _METHODS:
        _METHODS[cls] = cls()
    return _METHODS[cls]


@pytest.mark.parametrize("index", PAIRS)
def test_max_reproduces_published_pairs(weights, shared_data, index):
    fused = _method(IFCNNMax).fuse(_lytro_stack(shared_data, index))
    assert fused.shape == (520, 520, 3) and fused.dtype == np.float32
    assert _psnr_8bit(fused, _reference(shared_data, index)) >= MIN_PSNR_DB


@pytest.mark.parametrize("index", TRIPLES)
def test_max_reproduces_published_triples(weights, shared_data, index):
    stack = _lytro_stack(shared_data, index, triple=True)
    fused = _method(IFCNNMax).fuse(stack)
    assert _psnr_8bit(fused, _reference(shared_data, index, triple=True)) >= MIN_PSNR_DB


def test_grey_stack_matches_grey_of_published_image(weights, shared_data):
    # grey planes are replicated to RGB and normalised like colour ones; the
    # result must agree with the luminance of the published colour fusion
    # (a plain average of the two planes scores about 30 dB here)
    stack = to_gray(_lytro_stack(shared_data, 5))
    fused = _method(IFCNNMax).fuse(stack)
    assert fused.shape == (520, 520) and fused.dtype == np.float32
    reference = to_gray(_reference(shared_data, 5))
    assert _psnr_8bit(fused, reference) >= MIN_PSNR_DB
    assert _psnr_8bit(stack.mean(axis=0), reference) < 35.0


@pytest.mark.parametrize("index", [1, 9])
def test_mean_fuses_better_than_plain_average(weights, shared_data, index):
    # no IFCNN-MEAN images are published for Lytro; a working network still
    # lands far closer to the all-in-focus IFCNN-MAX result than averaging
    stack = _lytro_stack(shared_data, index)
    reference = _reference(shared_data, index)
    fused = _method(IFCNNMean).fuse(stack)
    assert _psnr_8bit(fused, reference) > _psnr_8bit(stack.mean(axis=0), reference) + 4.0


def test_four_planes_and_order(weights, shared_data):
    # max is idempotent and symmetric: a repeated plane or a shuffled stack changes nothing
    stack = _lytro_stack(shared_data, 2, triple=True)[:, 100:228, 150:310]
    method = _method(IFCNNMax)
    three = method.fuse(stack)
    four = method.fuse(np.concatenate([stack, stack[:1]]))
    shuffled = method.fuse(stack[[2, 0, 1]])
    assert four.shape == three.shape == (128, 160, 3)
    np.testing.assert_allclose(four, three, atol=1e-6)
    np.testing.assert_allclose(shuffled, three, atol=1e-5)


@pytest.mark.parametrize("cls", [IFCNNMax, IFCNNMean])
def test_identical_planes_do_not_depend_on_their_number(weights, shared_data, cls):
    plane = _read(shared_data / "lytro" / "lytro-03-A.jpg")[200:296, 40:136]
    method = _method(cls)
    two = method.fuse(np.stack([plane] * 2))
    five = method.fuse(np.stack([plane] * 5))
    np.testing.assert_allclose(five, two, atol=1e-5)


def test_max_and_mean_rules_agree_on_identical_planes(weights, shared_data):
    # the two checkpoints differ in every layer but conv1, so compare the two
    # rules on one set of weights: max and mean of identical features coincide
    from mmdf_bench.methods.ifcnn_network import load_network

    plane = _read(shared_data / "lytro" / "lytro-07-B.jpg")[:96, :112]
    path = weights / IFCNN_MAX_WEIGHTS.path
    with_max = ifcnn_fuse(np.stack([plane] * 3), network=load_network(path, rule="max"))
    with_mean = ifcnn_fuse(np.stack([plane] * 3), network=load_network(path, rule="mean"))
    np.testing.assert_allclose(with_mean, with_max, atol=1e-5)


@pytest.mark.parametrize("rule", ["max", "mean"])
def test_running_fusion_equals_fusing_all_features_at_once(weights, rule):
    import torch

    network = load_ifcnn(rule)
    generator = torch.Generator().manual_seed(0)
    planes = torch.randn(4, 3, 40, 48, generator=generator)
    with torch.inference_mode():
        features = network.extract(planes)
        merged = features.amax(dim=0) if rule == "max" else features.mean(dim=0)
        expected = network.reconstruct(merged[None])
        torch.testing.assert_close(network(planes), expected, atol=1e-4, rtol=1e-4)


def test_tiles_give_the_whole_image_result(weights, shared_data):
    stack = _lytro_stack(shared_data, 4)[:, 50:203, 80:250]
    network = load_ifcnn("max")
    whole = ifcnn_fuse(stack, network=network, tile_size=None)
    tiled = ifcnn_fuse(stack, network=network, tile_size=48)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_bad_input_is_rejected(weights):
    with pytest.raises(InvalidInputError, match="at least 2"):
        _method(IFCNNMax).fuse(np.zeros((1, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="normalization"):
        ifcnn_fuse(np.zeros((2, 32, 32), dtype=np.float32), normalization="zscore")
    with pytest.raises(ValueError, match="normalization"):
        IFCNNMean(normalization="zscore")


def test_method_metadata():
    for cls, weight_file in [(IFCNNMax, IFCNN_MAX_WEIGHTS), (IFCNNMean, IFCNN_MEAN_WEIGHTS)]:
        assert issubclass(cls, FusionMethod) and cls.task == "fusion"
        assert cls.weights_source == weight_file.url
        assert weight_file.url.startswith("https://github.com/uzeful/IFCNN/")
        assert "Information Fusion 54" in cls.citation and cls.summary
    assert (IFCNNMax.name, IFCNNMean.name) == ("ifcnn-max", "ifcnn-mean")
    assert IFCNNMax().config() == {"normalization": "imagenet", "tile_size": 2048}


def test_importing_the_methods_does_not_import_torch():
    code = "import sys, mmdf_bench.methods, mmdf_bench.methods.ifcnn; sys.exit('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "torch was imported"
