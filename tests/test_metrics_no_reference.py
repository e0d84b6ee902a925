"""BRISQUE and pyiqa's KonIQ-10k CNNIQA: published scores, blur ranking, missing weights.

Needs MMDF_BENCH_WEIGHTS (with pyiqa/brisque_svm_weights.pth) and MMDF_BENCH_DATA
(with iqa_calibration/); the tests fail, not skip, when they are not provided.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mmdf_bench.errors import InvalidInputError, MetricUnavailableError
from mmdf_bench.images import read_image
from mmdf_bench.metrics import no_reference
from mmdf_bench.metrics.no_reference import (
    BRISQUE,
    BRISQUE_WEIGHTS,
    CNNIQA_KONIQ_WEIGHTS,
    KonIQCNNIQA,
    brisque,
    cnniqa_koniq,
)

CALIBRATION_IMAGES = ["I03.bmp", "I04.bmp", "I06.bmp", "I08.bmp", "I19.bmp"]


def _required_folder(variable, relative, what):
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"set {variable} to the shared assets folder: these tests need {what}")
    path = Path(value) / relative
    if not path.exists():
        pytest.fail(f"{path} is missing ({variable}={value}): these tests need {what}")
    return path


@pytest.fixture
def brisque_weights():
    return _required_folder("MMDF_BENCH_WEIGHTS", BRISQUE_WEIGHTS.path,
                            "the BRISQUE SVR weights of pyiqa")


@pytest.fixture(scope="module")
def calibration():
    folder = _required_folder("MMDF_BENCH_DATA", "iqa_calibration/brisque_reference.csv",
                              "the BRISQUE calibration images and scores").parent
    with open(folder / "brisque_reference.csv", newline="") as handle:
        rows = {row["image"]: row for row in csv.DictReader(handle)}
    return folder, rows


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Empty weights folder and cache, downloads off: nothing can be resolved."""
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(weights))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    return weights


def _natural_image():
    from skimage import data

    return (data.immunohistochemistry() / 255.0).astype(np.float32)


@pytest.mark.parametrize("name", CALIBRATION_IMAGES)
def test_brisque_reproduces_pyiqa_reference_scores(name, brisque_weights, calibration):
    folder, rows = calibration
    expected = float(rows[name]["brisque_pyiqa"])
    assert brisque(read_image(folder / name)) == pytest.approx(expected, abs=0.05)


def test_brisque_follows_pyiqa_not_matlab_where_they_disagree(brisque_weights, calibration):
    folder, rows = calibration
    disagreeing = [
        row for row in rows.values()
        if abs(float(row["brisque_official_matlab"]) - float(row["brisque_pyiqa"])) > 1
    ]
    assert [row["image"] for row in disagreeing] == ["I19.bmp"]
    for row in disagreeing:
        ours = brisque(read_image(folder / row["image"]))
        assert abs(ours - float(row["brisque_official_matlab"])) > 1
        assert abs(ours - float(row["brisque_pyiqa"])) < 0.05


def test_brisque_ranks_gaussian_blur_worse(brisque_weights):
    from skimage.filters import gaussian

    image = _natural_image()
    scores = [brisque(image)] + [
        brisque(gaussian(image, sigma=sigma, channel_axis=-1).astype(np.float32))
        for sigma in (2, 4)
    ]
    assert scores[0] < scores[1] < scores[2]
    assert scores[2] - scores[0] > 20


def test_brisque_grey_image_scores_as_equal_rgb_channels(brisque_weights):
    import torch

    grey = _natural_image()[:200, :200] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey = np.round(grey * 255).astype(np.float32) / 255
    replicated = np.repeat(grey[..., None], 3, axis=-1)
    assert brisque(grey) == brisque(replicated)
    # for 8-bit content pyiqa's own single-channel path agrees
    model = no_reference._pyiqa_model("brisque", str(brisque_weights))
    with torch.inference_mode():
        single = float(model(torch.from_numpy(grey)[None, None]))
    assert brisque(grey) == pytest.approx(single, abs=1e-3)


def test_brisque_never_lets_pyiqa_download(brisque_weights, monkeypatch):
    import pyiqa.archs.arch_util
    import pyiqa.archs.brisque_arch

    def refuse(*args, **kwargs):
        raise AssertionError(f"pyiqa tried to download {args}")

    monkeypatch.setattr(pyiqa.archs.brisque_arch, "load_file_from_url", refuse)
    monkeypatch.setattr(pyiqa.archs.arch_util, "load_file_from_url", refuse)
    no_reference._pyiqa_model.cache_clear()
    try:
        assert np.isfinite(brisque(_natural_image()[:64, :64]))
    finally:
        no_reference._pyiqa_model.cache_clear()


def test_brisque_rejects_degenerate_and_tiny_images(brisque_weights):
    with pytest.raises(InvalidInputError, match="sample-7"):
        brisque(np.zeros((64, 64), np.float32), source="sample-7")
    with pytest.raises(InvalidInputError, match="at least 14x14"):
        brisque(np.full((10, 40), 0.5, np.float32))
    with pytest.raises(InvalidInputError, match="shape"):
        brisque(np.zeros((32, 32, 4), np.float32))


def test_brisque_metric_wraps_the_function(brisque_weights):
    metric = BRISQUE()
    assert (metric.name, metric.tasks, metric.higher_is_better) == (
        "brisque", ("fusion", "deblur"), False)
    metric.check_available()
    image = _natural_image()[:128, :128]
    sample = SimpleNamespace(sample_id="ihc-0")
    score = metric.compute(image, sample)
    assert isinstance(score, float)
    assert score == brisque(image)


def test_weight_urls_are_pyiqas_own():
    from pyiqa.archs.arch_util import get_url_from_name

    for weight_file in (BRISQUE_WEIGHTS, CNNIQA_KONIQ_WEIGHTS):
        assert weight_file.url == get_url_from_name(weight_file.file_name)


def test_cnniqa_koniq_unavailable_names_file_url_and_place(no_weights):
    metric = KonIQCNNIQA()
    assert (metric.name, metric.tasks, metric.higher_is_better) == (
        "cnniqa-koniq", ("fusion", "deblur"), True)
    with pytest.raises(MetricUnavailableError) as caught:
        metric.check_available()
    message = str(caught.value)
    assert "CNNIQA_koniq10k-e6f14c91.pth" in message
    assert CNNIQA_KONIQ_WEIGHTS.url in message
    assert str(no_weights / "pyiqa" / "CNNIQA_koniq10k-e6f14c91.pth") in message


@pytest.mark.parametrize("metric_class", [BRISQUE, KonIQCNNIQA])
def test_weights_with_wrong_hash_are_rejected(metric_class, no_weights):
    target = no_weights / metric_class.weight_files[0].path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the published checkpoint")
    with pytest.raises(MetricUnavailableError, match="checksum mismatch"):
        metric_class().check_available()


def test_cnniqa_koniq_scores_with_a_given_checkpoint(tmp_path):
    """The real weights are not available offline: check the plumbing on a seeded network."""
    import torch
    from pyiqa.archs.cnniqa_arch import CNNIQA as PyiqaCNNIQA

    torch.manual_seed(0)
    network = PyiqaCNNIQA(pretrained=None)
    checkpoint = tmp_path / "cnniqa.pth"
    torch.save({"params": network.state_dict()}, checkpoint)
    network.eval()

    rng = np.random.default_rng(3)
    image = rng.random((40, 56, 3), dtype=np.float32)
    with torch.inference_mode():
        expected = float(network(torch.from_numpy(image.transpose(2, 0, 1).copy())[None]))
    score = cnniqa_koniq(image, weights=checkpoint)
    assert score == pytest.approx(expected, rel=1e-5)
    # dropout is off: repeated calls agree exactly
    assert cnniqa_koniq(image, weights=checkpoint) == score
    grey = image[..., 0]
    assert cnniqa_koniq(grey, weights=checkpoint) == cnniqa_koniq(
        np.stack([grey] * 3, axis=-1), weights=checkpoint)
    with pytest.raises(InvalidInputError, match="at least 7x7"):
        cnniqa_koniq(image[:5], weights=checkpoint)


def test_module_import_does_not_import_torch():
    code = (
        "import sys, mmdf_bench.metrics.no_reference; "
        "sys.exit(int('torch' in sys.modules or 'pyiqa' in sys.modules))"
    )
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    finished = subprocess.run([sys.executable, "-c", code], env=environment, check=False)
    assert finished.returncode == 0


def test_the_old_cnniqa_name_points_to_the_koniq_and_live_metrics():
    from mmdf_bench import registry
    from mmdf_bench.errors import UnknownNameError

    with pytest.raises(UnknownNameError) as caught:
        registry.metrics.select(["cnniqa"], task="fusion")
    message = str(caught.value)
    assert "'cnniqa-koniq'" in message and "'cnniqa-live'" in message and "KonIQ-10k" in message
