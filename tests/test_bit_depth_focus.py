"""One z-stack stored as 8-bit PNGs, 12-bit values in 16-bit TIFFs and 16-bit TIFFs scores the same.

Before bit depths were read, 12-bit data in 16-bit files was divided by 65535: the stack looked
16 times darker and `yang` fell from 0.82 to 0.09 accuracy. Every registered focus method (deep
ones with the smoke profile) is calibrated or trained on one stack and scored on another, both
stored the same way.

Tolerance: 16-bit files hold ``k * 257``, which reads back as exactly ``k / 255``, so 8- and 16-bit
storage give identical scores. 12-bit storage holds ``round(k * 4095 / 255)``, off the 8-bit grid by
up to half a 12-bit step (1.2e-4): every metric's mean (and every component's) may differ by at most
`TWELVE_BIT_TOLERANCE`, one patch in 63 changing its label; measured: 2e-6 in RPS, no label changed.
"""

import warnings

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from scipy import ndimage
from skimage import data

from mmdf_bench import registry
from mmdf_bench.bit_depth import InferredBitDepthWarning
from mmdf_bench.data.zstack_folder import ZStackFolder
from mmdf_bench.runner import run

PLANES = 7
TWELVE_BIT_TOLERANCE = 1.5 / 63


class SplitZStacks(ZStackFolder):
    """zstack-folder whose stacks named ``train-*`` form the train split, the others the test split."""

    name = "split-zstacks"

    def sample_ids(self, split):
        if split not in ("train", "validation", "test"):
            return super().sample_ids(split)
        everything = super().sample_ids("test")
        if split == "validation":
            return []
        if split == "train":  # patches only: the whole-stack samples are for the autofocus metrics
            return [i for i in everything if i.startswith("train-") and not i.endswith("-stack")]
        return [i for i in everything if not i.startswith("train-")]


def _stack(image):
    """Planes k = 0..6 of increasing Gaussian defocus, as 8-bit levels."""
    planes = [ndimage.gaussian_filter(image, sigma=(1.2 * k, 1.2 * k, 0)) if k else image
              for k in range(PLANES)]
    return np.round(np.stack(planes) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The same two stacks as 8-bit PNG folders, 12-in-16-bit TIFFs and 16-bit TIFFs."""
    root = tmp_path_factory.mktemp("storage")
    picture = data.immunohistochemistry().astype(np.float64) / 255
    stacks = {"train-a": _stack(picture[:300, :300]), "test-b": _stack(picture[212:512, 212:512])}
    for name, levels in stacks.items():
        for index, plane in enumerate(levels):
            (root / "8-bit" / name).mkdir(parents=True, exist_ok=True)
            iio.imwrite(root / "8-bit" / name / f"plane_{index:03d}.png", plane)
        (root / "12-bit").mkdir(exist_ok=True)
        tifffile.imwrite(root / "12-bit" / f"{name}.tif",
                         np.round(levels / 255 * 4095).astype(np.uint16), photometric="rgb")
        (root / "16-bit").mkdir(exist_ok=True)
        tifffile.imwrite(root / "16-bit" / f"{name}.tif", levels.astype(np.uint16) * 257,
                         photometric="rgb")
    return root


@pytest.fixture
def split_stacks(scratch_registrations, tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    scratch_registrations("datasets", SplitZStacks)


def _means(root, storage, out, methods=None, option=""):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run("focus", methods=methods or ["*"],
                     datasets=[f"split-zstacks={root / storage}:z_step_um=6{option}"],
                     out_dir=out / (storage + option.replace(":", "-").replace("=", "")),
                     progress=False, profile="smoke")
    assert result.failures.empty, result.failures.to_string()
    inferred = [str(w.message) for w in caught if issubclass(w.category, InferredBitDepthWarning)]
    return result.scores.groupby(["method", "metric"])["value"].mean(), inferred


def test_every_focus_method_scores_the_same_whatever_the_storage(stored, split_stacks, tmp_path):
    eight, warned8 = _means(stored, "8-bit", tmp_path)
    sixteen, warned16 = _means(stored, "16-bit", tmp_path)
    twelve, warned12 = _means(stored, "12-bit", tmp_path)
    methods = set(eight.index.get_level_values("method"))
    assert methods == set(registry.methods.select(["*"], task="focus"))
    # 8-bit files and full 16-bit files carry their depth; 12 bits in 16 is guessed, with a warning
    assert not warned8 and not warned16
    assert warned12 and all("12-bit" in message and "bits=" in message for message in warned12)
    np.testing.assert_array_equal(sixteen.sort_index().to_numpy(), eight.sort_index().to_numpy())
    assert list(twelve.sort_index().index) == list(eight.sort_index().index)
    gaps = (twelve - eight).abs()
    assert gaps.max() <= TWELVE_BIT_TOLERANCE, gaps.sort_values().tail().to_string()


def test_a_wrong_bit_depth_changes_the_verdicts(stored, split_stacks, tmp_path):
    # a focus measure calibrated on 8-bit data, applied to the 12-bit stack read at 12 bits and
    # read as if it filled 16 bits (what the readers did before): 16 times darker, the variance
    # of the Laplacian falls 256 times below the threshold and every patch looks out of focus
    from mmdf_bench.tasks.focus import predict

    method = registry.methods.create("fm-variance-of-laplacian")
    train = SplitZStacks(root=stored / "8-bit", z_step_um=6)
    method.fit([train.load(sample_id) for sample_id in train.sample_ids("train")], seed=0)

    def in_focus_found(bits):
        test = SplitZStacks(root=stored / "12-bit", bits=bits, z_step_um=6)
        samples = [test.load(sample_id) for sample_id in test.sample_ids("test")
                   if not sample_id.endswith("-stack")]
        return np.mean([predict(method, sample).label == 0 for sample in samples if sample.label == 0])

    assert in_focus_found(12) == 1.0
    assert in_focus_found(16) == 0.0
    with pytest.raises(Exception, match="values up to .* more than bits=8"):
        SplitZStacks(root=stored / "12-bit", bits=8, z_step_um=6).sample_ids("test")
