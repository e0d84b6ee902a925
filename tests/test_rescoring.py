"""Scores are those of the stored outputs: re-scoring ``--save-outputs`` files reproduces ``scores.csv``.

The runner rounds every output image to its input's bit depth before any metric sees it and stores it
at that depth (8-bit PNG; 16-bit PNG with an ``sBIT`` chunk above 8 bits). Reading a saved output back
must therefore give the very array that was scored, and every metric the very value in ``scores.csv``
(exact equality, no tolerance). Checked for fusion (the embedded data, and 12-bit TIFF stacks with a
reference), deblurring and focus (whose outputs are JSON predictions).
"""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from mmdf_bench import registry
from mmdf_bench.dataset_spec import DatasetSpec
from mmdf_bench.evaluation import score_output
from mmdf_bench.images import read_image_with_depth
from mmdf_bench.runner import run
from mmdf_bench.tasks.focus import FocusPrediction
from tests.conftest import require_asset


def _saved_output(task, path_without_suffix):
    if task == "focus":
        record = json.loads(path_without_suffix.with_suffix(".json").read_text())
        levels = record["levels"]
        return FocusPrediction(record["probability_out_of_focus"],
                               None if levels is None else np.asarray(levels))
    return read_image_with_depth(path_without_suffix.with_suffix(".png"))[0]


def _rescore(out_dir, task, dataset_arguments):
    """Recompute every score of a run folder from its saved outputs."""
    scores = pd.read_csv(out_dir / "scores.csv", dtype={"sample_id": str, "method": str, "value": str})
    scores["value"] = scores["value"].map(float)  # Python's parser: repr() round-trips exactly
    manifest = json.loads((out_dir / "manifest.json").read_text())
    metric_names = [name for name in manifest["config"]["metrics"]
                    if manifest["metrics"][name]["available"]]
    metrics = {name: registry.metrics.create(name) for name in metric_names}
    rescored = []
    for argument in dataset_arguments:
        spec = DatasetSpec.parse(argument)
        dataset = spec.create(registry.datasets)
        for (method, sample_id), _ in scores[scores.dataset == spec.name].groupby(["method", "sample_id"]):
            sample = dataset.load(sample_id)
            output = _saved_output(task, out_dir / "outputs" / spec.name / method / sample_id)
            for name, metric in metrics.items():
                if metric.applies_to(sample) and metric.applies_to_output(output):
                    for row_metric, value in score_output(name, metric, output, sample).items():
                        rescored.append((spec.name, method, sample_id, row_metric, value))
    return scores, pd.DataFrame(rescored, columns=["dataset", "method", "sample_id", "metric", "value"])


def _assert_identical(scores, rescored):
    keys = ["dataset", "method", "sample_id", "metric"]
    merged = scores.merge(rescored, on=keys, how="outer", suffixes=("", "_rescored"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].to_string()
    different = merged[merged["value"] != merged["value_rescored"]]
    assert different.empty, different[keys + ["value", "value_rescored"]].to_string()


@pytest.fixture
def twelve_bit_stacks(tmp_path):
    """Two 12-bit grey two-plane stacks in 16-bit TIFFs, with 12-bit references."""
    root = tmp_path / "twelve-bit"
    (root / "references").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("field-a", "field-b"):
        sharp = rng.integers(200, 3900, size=(64, 72)).astype(np.uint16)
        blurred = np.full_like(sharp, int(sharp.mean()))
        planes = np.stack([np.where(np.arange(72) < 36, sharp, blurred),
                           np.where(np.arange(72) < 36, blurred, sharp)])
        tifffile.imwrite(root / f"{name}.tif", planes, photometric="minisblack")
        tifffile.imwrite(root / "references" / f"{name}.tif", sharp, photometric="minisblack")
    return root


def test_fusion_scores_are_reproduced_from_the_saved_outputs(tmp_path, twelve_bit_stacks):
    require_asset("MMDF_BENCH_WEIGHTS", "pyiqa/brisque_svm_weights.pth")
    require_asset("MMDF_BENCH_WEIGHTS", "ifcnn/IFCNN-MAX.pth")
    datasets = ["synthetic-brightfield-fusion", f"fusion-folder={twelve_bit_stacks}:bits=12"]
    out = tmp_path / "fusion"
    result = run("fusion", methods=["average", "wavelet", "ifcnn-max"], datasets=datasets, metrics=["*"],
                 out_dir=out, limit=2, save_outputs=True, progress=False)
    assert result.failures.empty, result.failures.to_string()
    scores, rescored = _rescore(out, "fusion", datasets)
    # every default-run metric that can run here was scored: reference and no-reference
    assert {"psnr", "ssim", "brisque", "qabf", "nmi", "qy", "entropy"} <= set(scores.metric)
    assert set(scores.dataset) == {"synthetic-brightfield-fusion", "fusion-folder"}
    _assert_identical(scores, rescored)
    # the 12-bit stacks' outputs are 16-bit PNGs that read back at 12 bits
    saved, depth = read_image_with_depth(out / "outputs" / "fusion-folder" / "wavelet" / "field-a.png")
    assert depth.bits == 12 and np.array_equal(np.round(saved * 4095), saved * 4095)


def test_deblur_and_focus_scores_are_reproduced_from_the_saved_outputs(tmp_path):
    require_asset("MMDF_BENCH_WEIGHTS", "pyiqa/brisque_svm_weights.pth")
    out = tmp_path / "deblur"
    result = run("deblur", methods=["identity", "wiener"], metrics=["*"], out_dir=out, limit=2,
                 save_outputs=True, progress=False)
    assert result.failures.empty, result.failures.to_string()
    _assert_identical(*_rescore(out, "deblur", ["synthetic-brightfield-deblur"]))

    out = tmp_path / "focus"
    result = run("focus", methods=["fm-brenner", "fm-tenengrad"], metrics=["*"], out_dir=out, limit=8,
                 save_outputs=True, progress=False)
    assert result.failures.empty, result.failures.to_string()
    _assert_identical(*_rescore(out, "focus", ["synthetic-brightfield-zstack"]))
