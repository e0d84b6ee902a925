"""The fusion protocol: sample validation and properties every registered method must have."""

import numpy as np
import pytest
from skimage import data

from mmdf_bench import registry
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.full_reference import psnr
from mmdf_bench.tasks.fusion import TASK, FusionSample
from mmdf_bench.training import TrainableMethod

FUSION_METHODS = registry.list_methods(task="fusion")
# Methods trained on a train split (FuseGAN): their output is whatever they
# learned, so the closed-form "identical planes fuse to that plane" does not
# apply (their own tests check what training must give); they are trained
# here with the smoke profile for the properties every method must have.
TRAINED_METHODS = [name for name in FUSION_METHODS if issubclass(registry.methods.load(name), TrainableMethod)]
# Learned methods reconstruct their input through a network, so "fuses to the
# plane" holds only approximately: measured on this crop, the official IFCNN-MAX
# weights give 41.9 dB and IFCNN-MEAN 29.4 dB. What must hold exactly is that
# the number of identical copies does not matter.
LEARNED_MIN_PSNR = 27.0


@pytest.fixture(scope="module")
def plane():
    image = data.immunohistochemistry()[100:196, 200:312]  # 96 x 112, RGB
    return (image / 255.0).astype(np.float32)


def test_sample_rejects_a_stack_of_one_image():
    with pytest.raises(InvalidInputError, match="at least 2 images.*specimen-7"):
        FusionSample(np.zeros((1, 8, 8), np.float32), "specimen-7")


def test_sample_rejects_planes_of_different_shapes():
    with pytest.raises(InvalidInputError, match="one shape"):
        FusionSample([np.zeros((8, 8)), np.zeros((8, 9))], "odd")


def test_sample_rejects_nan_and_names_the_source():
    stack = np.zeros((2, 8, 8), np.float32)
    stack[1, 3, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN.*stack-003.tif"):
        FusionSample(stack, "s", source="stack-003.tif")


def test_sample_rejects_a_reference_of_another_shape():
    with pytest.raises(InvalidInputError, match="reference shape"):
        FusionSample(np.zeros((2, 8, 8)), "s", reference=np.zeros((8, 7)))


def _ready(name, plane):
    """The registered method, trained on a few stacks of `plane` with the smoke profile if it learns."""
    if name not in TRAINED_METHODS:
        return registry.create_method(name)
    rng = np.random.default_rng(0)
    train = [FusionSample(np.stack([plane, plane[::-1]]) * rng.uniform(0.8, 1.0), f"train-{index}",
                          reference=plane) for index in range(2)]
    return registry.create_method(name, profile="smoke").fit(train, seed=0)


def _with_depth(stack, sample_id):
    """A sample that also carries a (flat) true depth map, which only oracle methods are given."""
    stack = np.asarray(stack)
    return FusionSample(stack, sample_id, depth_map=np.zeros(stack.shape[1:3], np.float32),
                        plane_depths=np.arange(stack.shape[0], dtype=float))


@pytest.mark.parametrize("name", [name for name in FUSION_METHODS if name not in TRAINED_METHODS])
def test_identical_planes_fuse_to_that_plane(name, plane):
    method = registry.create_method(name)
    fused = {num_planes: TASK.predict(method, _with_depth(
        np.repeat(plane[None], num_planes, axis=0), "identical")) for num_planes in (2, 4)}
    assert fused[2].shape == plane.shape and fused[2].dtype == np.float32
    np.testing.assert_allclose(fused[2], fused[4], atol=1e-5)
    if method.weights_source:
        assert psnr(fused[2], plane) >= LEARNED_MIN_PSNR
    else:
        np.testing.assert_allclose(fused[2], plane, atol=2e-3)


@pytest.mark.parametrize("name", FUSION_METHODS)
def test_every_method_handles_grey_stacks(name, plane):
    method = _ready(name, plane)
    grey = plane.mean(axis=-1)
    sample = _with_depth(np.stack([grey, grey[::-1], grey[:, ::-1]]), "grey")
    fused = TASK.predict(method, sample)
    assert fused.shape == grey.shape
    assert 0.0 <= fused.min() and fused.max() <= 1.0
