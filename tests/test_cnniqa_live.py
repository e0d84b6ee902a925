"""The LIVE-trained CNNIQA: unavailable until its file is present, then scored as published.

No LIVE-trained CNNIQA file exists offline here, so the tests write small state dicts of the right
architectures (seeded random weights) and check the plumbing and the evaluation protocol against a
direct implementation of the reimplementation's code (scipy ``convolve2d`` with ``symm`` borders).
"""

import numpy as np
import pytest
from scipy.signal import convolve2d

from mmdf_bench.errors import InvalidInputError, MetricUnavailableError
from mmdf_bench.metrics import cnniqa_live as live
from mmdf_bench.metrics.cnniqa_live import (
    CNNIQA_LIVE_WEIGHTS,
    PATCH_SIZE,
    LiveCNNIQA,
    cnniqa_live,
    local_normalization,
)


@pytest.fixture
def weights_folder(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(folder))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    live._load_network.cache_clear()
    yield folder
    live._load_network.cache_clear()


def _kang_network(seed=0):
    """The 1-channel architecture of the public LIVE checkpoint, written out independently."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.ModuleDict({"conv1": nn.Conv2d(1, 50, 7), "fc1": nn.Linear(100, 800),
                          "fc2": nn.Linear(800, 800), "fc3": nn.Linear(800, 1)})


def _expected_score(layers, image_uint8_grey):
    """Li's evaluation: 32x32 patches at range(0, side - 32, 32), LCN per patch, mean score."""
    import torch

    grey = image_uint8_grey / 255.0
    kernel = np.ones((3, 3)) / 9
    patches = []
    for top in range(0, grey.shape[0] - 32, 32):
        for left in range(0, grey.shape[1] - 32, 32):
            patch = grey[top:top + 32, left:left + 32]
            mean = convolve2d(patch, kernel, boundary="symm", mode="same")
            square = convolve2d(patch ** 2, kernel, boundary="symm", mode="same")
            patches.append((patch - mean) / (np.sqrt(np.maximum(square - mean ** 2, 0)) + 1))
    batch = torch.tensor(np.stack(patches)[:, None], dtype=torch.float32)
    with torch.no_grad():
        features = layers["conv1"](batch)
        pooled = torch.cat([features.amax(dim=(2, 3)), features.amin(dim=(2, 3))], dim=1)
        hidden = torch.relu(layers["fc2"](torch.relu(layers["fc1"](pooled))))
        return float(layers["fc3"](hidden).mean())


def test_unavailable_until_the_file_is_present_and_says_where_to_put_it(weights_folder):
    metric = LiveCNNIQA()
    assert (metric.name, metric.higher_is_better, metric.tasks) == (
        "cnniqa-live", False, ("fusion", "deblur"))
    with pytest.raises(MetricUnavailableError) as caught:
        metric.check_available()
    message = str(caught.value)
    assert str(weights_folder / "cnniqa" / "CNNIQA-LIVE.pth") in message
    assert "no official download" in message and "lidq92/CNNIQA" in message


def test_a_one_channel_state_dict_is_scored_as_the_reimplementation_scores_it(weights_folder):
    import torch

    layers = _kang_network(seed=1)
    target = weights_folder / CNNIQA_LIVE_WEIGHTS.path
    target.parent.mkdir()
    torch.save(layers.state_dict(), target)
    metric = LiveCNNIQA()
    metric.check_available()

    rng = np.random.default_rng(2)
    grey_levels = rng.integers(0, 256, size=(100, 130)).astype(np.uint8)
    image = (grey_levels / 255).astype(np.float32)
    expected = _expected_score(layers, grey_levels.astype(np.float64))
    score = metric.compute(image, sample=None)
    assert score == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert metric.compute(image, sample=None) == score  # dropout off: deterministic
    # an RGB image is scored on its 8-bit luminance
    assert cnniqa_live(np.stack([image] * 3, axis=-1)) == pytest.approx(score, rel=1e-6)


def test_an_exact_multiple_of_the_patch_side_drops_its_last_patch_row_as_published():
    image = np.zeros((2 * PATCH_SIZE, 2 * PATCH_SIZE + 1))
    assert len(live._grey_patches(image, None)) == 1 * 2
    with pytest.raises(InvalidInputError, match="at least 33x33"):
        live._grey_patches(np.zeros((PATCH_SIZE, 80)), "tiny.png")


def test_local_normalization_has_the_closed_form_on_a_constant_and_a_ramp():
    np.testing.assert_allclose(local_normalization(np.full((8, 8), 0.7)), 0.0, atol=1e-12)
    ramp = np.tile(np.arange(8) / 8.0, (8, 1))
    # interior pixels: the 3x3 mean is the pixel itself; at column 0 the mirrored window
    # holds {0, 0, 1/8}: mean 1/24, deviation sqrt(2/9)/8
    np.testing.assert_allclose(local_normalization(ramp)[:, 1:-1], 0.0, atol=1e-12)
    expected_edge = (0 - (0 + 0 + 1 / 8) / 3) / (np.sqrt(2 / 9) / 8 + 1)
    assert local_normalization(ramp)[3, 0] == pytest.approx(expected_edge, rel=1e-9)


def test_a_pyiqa_layout_checkpoint_is_scored_on_the_whole_rgb_image(weights_folder):
    import torch
    from pyiqa.archs.cnniqa_arch import CNNIQA as PyiqaCNNIQA

    torch.manual_seed(4)
    network = PyiqaCNNIQA(pretrained=None).eval()
    target = weights_folder / CNNIQA_LIVE_WEIGHTS.path
    target.parent.mkdir()
    torch.save({"params": network.state_dict()}, target)
    image = np.random.default_rng(5).random((40, 48, 3), dtype=np.float32)
    with torch.no_grad():
        expected = float(network(torch.from_numpy(image.transpose(2, 0, 1).copy())[None]))
    assert cnniqa_live(image) == pytest.approx(expected, rel=1e-5)


def test_a_file_that_is_not_a_cnniqa_state_dict_makes_the_metric_unavailable(weights_folder):
    import torch

    target = weights_folder / CNNIQA_LIVE_WEIGHTS.path
    target.parent.mkdir()
    torch.save({"conv1.weight": torch.zeros(50, 1, 5, 5)}, target)
    with pytest.raises(MetricUnavailableError, match="not a CNNIQA state dict"):
        LiveCNNIQA().check_available()
    target.write_bytes(b"garbage")
    live._load_network.cache_clear()
    with pytest.raises(MetricUnavailableError, match="cannot read the CNNIQA checkpoint"):
        LiveCNNIQA().check_available()
