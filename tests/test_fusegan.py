"""FuseGAN: architecture facts, losses, masks, padding, training and checkpoints."""

import subprocess
import sys

import numpy as np
import pytest

from mmdf_bench.methods import fusegan
from mmdf_bench.methods.fusion_masks import (
    FocusModelMasks,
    HarrisMasks,
    expected_level_map,
    focus_model_masks,
)
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.fusion import FusionMethod, FusionSample
from tests.conftest import PROJECT_ROOT

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from mmdf_bench.methods.fusegan_networks import (
    DenseBlock,
    FuseGANGenerator,
    PatchDiscriminator,
    receptive_field,
)
from mmdf_bench.methods.fusegan_training import (
    StackSampler,
    network_input,
    unsupervised_l1,
    warp_affine,
)

SIZE = 48


def _convs(module):
    return [layer for layer in module.modules() if isinstance(layer, torch.nn.Conv2d)]


def _two_focus_stack(size=SIZE, *, rgb=True, seed=0):
    """A textured scene, sharp on the left in plane 0 and on the right in plane 1, with its reference."""
    rng = np.random.default_rng(seed)
    sharp = rng.random((size, size)).astype(np.float32)
    blurred = np.full_like(sharp, sharp.mean())
    left = np.arange(size) < size // 2
    plane0 = np.where(left[None, :], sharp, blurred)
    plane1 = np.where(left[None, :], blurred, sharp)
    stack = np.stack([plane0, plane1])
    if rgb:
        stack, sharp = np.repeat(stack[..., None], 3, -1), np.repeat(sharp[..., None], 3, -1)
    return stack, sharp


def _samples(count, *, planes=(2, 3), reference=True):
    samples = []
    for index in range(count):
        stack, sharp = _two_focus_stack(seed=index)
        extra = planes[index % len(planes)] - 2
        stack = np.concatenate([stack] + [stack[:1]] * extra)
        samples.append(FusionSample(stack, f"s{index}", reference=sharp if reference else None))
    return samples


# -- architecture ---------------------------------------------------------------------------------
def test_dense_block_has_three_densely_connected_convolutions():
    block = DenseBlock(8, 5, growth=4)
    convs = _convs(block)
    assert len(convs) == 3
    assert [conv.in_channels for conv in convs] == [8, 12, 16]  # each sees the input and all before it
    assert convs[-1].out_channels == 5
    assert block(torch.zeros(1, 8, 10, 10)).shape == (1, 5, 10, 10)


def test_generator_layout_and_output_range():
    generator = FuseGANGenerator(max_planes=4, masks=True, width=8)
    assert generator.in_channels == 4 * 3 + 4
    assert len(generator.encoder) == 3 and len(generator.decoder) == 3
    assert all(isinstance(block, DenseBlock) for block in [*generator.encoder, *generator.decoder])
    assert len(_convs(generator.bottom)) == 3
    assert generator.head[0].out_channels == 8
    with torch.no_grad():
        output = generator(torch.randn(2, 16, 32, 40) * 10)
    assert output.shape == (2, 3, 32, 40)
    assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0
    with pytest.raises(ValueError, match="16 input channels"):
        generator(torch.zeros(1, 15, 32, 32))


def test_discriminator_has_eight_convolutions_and_sees_64_pixel_patches():
    discriminator = PatchDiscriminator(width=2)
    assert len(_convs(discriminator)) == 8
    pools = [layer for layer in discriminator.modules() if isinstance(layer, torch.nn.MaxPool2d)]
    assert [(pool.kernel_size, pool.stride) for pool in pools] == [(4, 4), (4, 4)]
    assert receptive_field(discriminator) == (64, 16)
    images = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert discriminator(images).shape == (1, 1, 8, 8)
        assert len(discriminator.features(images)) == 7
        probabilities = discriminator(images)
        assert float(probabilities.min()) > 0 and float(probabilities.max()) < 1
        # the map point (3, 3) sees input rows/cols 3 * 16 - 24 .. + 63 (padding 1 per 3x3): change
        # everything outside that window and the point keeps its value
        top = 3 * 16 - 24
        changed = torch.rand(1, 3, 128, 128)
        changed[..., top:top + 64, top:top + 64] = images[..., top:top + 64, top:top + 64]
        assert torch.equal(discriminator(changed)[0, 0, 3, 3], discriminator(images)[0, 0, 3, 3])
        assert not torch.equal(discriminator(changed)[0, 0, 0, 0], discriminator(images)[0, 0, 0, 0])


def test_receptive_field_recursion_on_a_known_stack():
    # two 3x3 convs then a 2x2 pool then a 3x3 conv: 1 + 2 + 2 + 1 + 2 * 2 = 10
    layers = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.Conv2d(1, 1, 3), torch.nn.MaxPool2d(2),
                                 torch.nn.Conv2d(1, 1, 3))
    assert receptive_field(layers) == (10, 2)


# -- losses ---------------------------------------------------------------------------------------
def test_unsupervised_l1_closed_form():
    rows = cols = 4
    output = torch.full((1, 3, rows, cols), 0.5)
    values = torch.tensor([0.1, 0.9, 0.0])  # the third plane is padding
    planes = values.view(1, 3, 1, 1, 1).expand(1, 3, 3, rows, cols).clone()
    weights = torch.tensor([0.25, 0.75, 0.0])
    masks = weights.view(1, 3, 1, 1).expand(1, 3, rows, cols).clone()
    # sum_i m_i |o - c_i| = 0.25 * 0.4 + 0.75 * 0.4 + 0 = 0.4
    assert unsupervised_l1(output, planes, masks).item() == pytest.approx(0.4)
    # hard masks and the output that copies the selected plane: zero
    hard = torch.zeros(1, 3, rows, cols)
    hard[:, 0, :, :2], hard[:, 1, :, 2:] = 1, 1
    selected = torch.where(hard[:, :1].bool(), planes[:, 0], planes[:, 1])
    assert unsupervised_l1(selected, planes, hard).item() == pytest.approx(0.0)
    # padded planes (zero masks) cost nothing whatever they hold
    planes[:, 2] = 123.0
    assert unsupervised_l1(output, planes, masks).item() == pytest.approx(0.4)


# -- input padding and stack size -----------------------------------------------------------------
def test_padded_input_zero_pads_planes_and_masks():
    stack = np.random.default_rng(0).random((2, 6, 7, 3)).astype(np.float32)
    masks = np.stack([np.full((6, 7), 0.3), np.full((6, 7), 0.7)]).astype(np.float32)
    inputs = fusegan.padded_input(stack, masks, max_planes=4)
    assert inputs.shape == (6, 7, 16)
    np.testing.assert_array_equal(inputs[..., 0:3], stack[0])
    np.testing.assert_array_equal(inputs[..., 3:6], stack[1])
    assert not inputs[..., 6:12].any()
    np.testing.assert_array_equal(inputs[..., 12], masks[0])
    np.testing.assert_array_equal(inputs[..., 13], masks[1])
    assert not inputs[..., 14:].any()
    assert fusegan.padded_input(stack, None, max_planes=2).shape == (6, 7, 6)
    with pytest.raises(InvalidInputError, match="3 planes but the model takes at most 2"):
        fusegan.padded_input(np.concatenate([stack, stack[:1]]), None, max_planes=2)


def test_training_refuses_stacks_larger_than_max_planes():
    method = fusegan.FuseGAN(profile="smoke", max_planes=2)
    with pytest.raises(InvalidInputError, match="3 planes, more than max_planes=2"):
        method.fit(_samples(2, planes=(3,)), seed=0)


def test_unknown_options_are_refused():
    with pytest.raises(InvalidInputError, match="perceptual"):
        fusegan.FuseGAN(profile="smoke", perceptual="lpips")
    with pytest.raises(InvalidInputError, match="unknown hyper-parameter"):
        fusegan.FuseGAN(profile="smoke", learning_rate=1.0)


# -- augmentations --------------------------------------------------------------------------------
def test_warp_affine_treats_every_channel_alike():
    import cv2

    image = np.random.default_rng(1).random((20, 24, 9)).astype(np.float32)
    matrix = cv2.getRotationMatrix2D((11.5, 9.5), 30, 1.1)
    one_by_one = np.stack([warp_affine(image[..., [k]], matrix)[..., 0] for k in range(9)], axis=-1)
    np.testing.assert_array_equal(warp_affine(image, matrix), one_by_one)


def test_sampler_keeps_planes_masks_and_target_aligned():
    rng = np.random.default_rng(2)
    target = rng.random((40, 40, 3)).astype(np.float32)
    planes = np.stack([target, target, target])
    masks = np.stack([np.full((40, 40), 0.2), np.full((40, 40), 0.3), np.full((40, 40), 0.5)]).astype(np.float32)
    sampler = StackSampler([(planes, masks, target)], max_planes=5, crop=24, rng=rng, probability=1.0)
    for _ in range(5):
        batch_planes, batch_masks, batch_target = sampler.batch([0])
        assert batch_planes.shape == (1, 5, 3, 24, 24) and batch_masks.shape == (1, 5, 24, 24)
        for index in range(3):  # every geometric change was applied alike to planes and target
            np.testing.assert_allclose(batch_planes[0, index], batch_target[0], atol=1e-6)
        assert not batch_planes[0, 3:].any() and not batch_masks[0, 3:].any()
        np.testing.assert_allclose(batch_masks[0, :3].sum(axis=0), 1.0, atol=1e-5)
        assert sorted(np.round(batch_masks[0, :3, 12, 12], 4)) == [0.2, 0.3, 0.5]
    inputs = network_input(torch.from_numpy(batch_planes), torch.from_numpy(batch_masks), with_masks=True)
    assert inputs.shape == (1, 20, 24, 24)


# -- masks ----------------------------------------------------------------------------------------
def test_harris_provider_gives_the_shared_harris_masks():
    from mmdf_bench.baselines.fusion_selection import harris_focus_masks

    stack, _ = _two_focus_stack()
    np.testing.assert_array_equal(HarrisMasks().masks(stack), harris_focus_masks(stack))


class _VarianceFocusModel:
    """Stand-in for the focus CNN: level 0 for textured tiles, level 10 for flat ones."""

    patch_size = 16

    def predict_levels(self, patches):
        sharp = np.asarray(patches).reshape(len(patches), -1).std(axis=1) > 0.05
        distributions = np.zeros((len(patches), 11))
        distributions[sharp, 0], distributions[~sharp, 10] = 1.0, 1.0
        return distributions


def test_focus_model_masks_follow_the_focus_model():
    stack, _ = _two_focus_stack(64)
    levels = expected_level_map(stack[0], _VarianceFocusModel(), stride=8)
    assert levels.shape == (64, 64)
    assert levels[:, :16].max() == 0.0 and levels[:, -16:].min() == 10.0
    masks = focus_model_masks(stack, _VarianceFocusModel(), stride=8, mask_sigma=0)
    np.testing.assert_array_equal(masks.sum(axis=0), 1.0)
    assert masks[0, :, :24].min() == 1.0 and masks[1, :, -24:].min() == 1.0
    soft = focus_model_masks(stack, _VarianceFocusModel(), stride=8, mask_sigma=3.0)
    np.testing.assert_allclose(soft.sum(axis=0), 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="at least 16x16"):
        expected_level_map(np.zeros((8, 40)), _VarianceFocusModel())


def test_focus_mask_provider_round_trips_the_focus_cnn():
    from mmdf_bench.methods.focus_cnn import MMDFFocusCNN

    provider = FocusModelMasks()
    with pytest.raises(InvalidInputError, match="prepare"):
        provider.masks(np.zeros((2, 90, 90), np.float32))
    focus = MMDFFocusCNN(profile="smoke")
    from mmdf_bench.methods.focus_network import FocusNetwork

    torch.manual_seed(0)
    focus._network = FocusNetwork(focus.num_levels, patch_size=focus.patch_size,
                                  **focus.architecture).eval()  # untrained weights are enough here
    provider = FocusModelMasks(focus_method=focus, stride=40)
    stack = np.random.default_rng(3).random((2, 90, 100)).astype(np.float32)
    masks = provider.masks(stack)
    assert masks.shape == (2, 90, 100)
    copy = FocusModelMasks()
    copy.load_state_dict(provider.state_dict())
    np.testing.assert_array_equal(copy.masks(stack), masks)


# -- training, fusion, checkpoints ----------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_u():
    return fusegan.FuseGANU(profile="smoke", crop=32).fit(_samples(4), seed=0)


def test_smoke_training_gives_a_deterministic_image_of_the_right_shape(trained_u):
    stack, _ = _two_focus_stack()
    fused = trained_u.fuse(stack)
    assert fused.shape == stack.shape[1:] and fused.dtype == np.float32
    assert fused.min() >= 0.0 and fused.max() <= 1.0
    again = fusegan.FuseGANU(profile="smoke", crop=32).fit(_samples(4), seed=0)
    np.testing.assert_array_equal(again.fuse(stack), fused)
    other_seed = fusegan.FuseGANU(profile="smoke", crop=32).fit(_samples(4), seed=1)
    assert not np.array_equal(other_seed.fuse(stack), fused)
    grey, _ = _two_focus_stack(rgb=False)
    assert trained_u.fuse(grey).shape == grey.shape[1:]
    assert len(trained_u.history) == 2 and {"content", "perceptual", "discriminator"} <= set(trained_u.history[0])
    assert trained_u.history[0]["perceptual"] > 0


def test_fewer_planes_are_padded_and_more_are_refused(trained_u):
    stack, _ = _two_focus_stack()
    three = np.concatenate([stack, stack[:1]])
    assert trained_u.fuse(three).shape == stack.shape[1:]  # 3 of 5 planes: zero-padded
    six = np.concatenate([stack] * 3)
    with pytest.raises(InvalidInputError, match="6 planes but the model was built for at most 5"):
        trained_u.fuse(six)


def test_checkpoint_round_trip_gives_identical_output(trained_u, tmp_path, monkeypatch):
    from mmdf_bench.training import fit_or_load

    stack, _ = _two_focus_stack()
    path = tmp_path / "fusegan-u.pt"
    torch.save(trained_u.state_dict(), path)
    loaded = fusegan.FuseGANU(profile="smoke", crop=32)
    loaded.load_state_dict(torch.load(path, map_location="cpu", weights_only=False))
    np.testing.assert_array_equal(loaded.fuse(stack), trained_u.fuse(stack))
    with pytest.raises(InvalidInputError, match="different network"):
        fusegan.FuseGAN(profile="smoke").load_state_dict(trained_u.state_dict())

    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))

    class Data:
        name, version = "toy", "1"

    first = fit_or_load(fusegan.FuseGANS(profile="smoke", crop=32), "fusegan-s", Data(), _samples(2), seed=0)
    reused = fusegan.FuseGANS(profile="smoke", crop=32)
    second = fit_or_load(reused, "fusegan-s", Data(), [], seed=0)
    assert not first.cached and second.cached and first.checkpoint == second.checkpoint
    trained = fusegan.FuseGANS(profile="smoke", crop=32).fit(_samples(2), seed=0)
    np.testing.assert_array_equal(reused.fuse(stack), trained.fuse(stack))


def test_untrained_method_says_so():
    with pytest.raises(InvalidInputError, match="not trained"):
        fusegan.FuseGAN(profile="smoke").fuse(_two_focus_stack()[0])


class _FirstPlane(FusionMethod):
    name = "test-first-plane"

    def fuse(self, stack):
        return np.asarray(stack[0])


def test_stacks_without_reference_are_supervised_by_the_named_method(scratch_registrations):
    scratch_registrations("methods", _FirstPlane)
    method = fusegan.FuseGAN(profile="smoke", crop=32, target_method="test-first-plane")
    samples = _samples(2, reference=False)
    items, used = method.training_items(samples, seed=0)
    assert used == ["test-first-plane"]
    np.testing.assert_array_equal(items[0][2], samples[0].stack[0])
    _, used = method.training_items(_samples(2), seed=0)
    assert used == ["reference"]


def test_default_target_falls_back_to_wavelet_without_ifcnn_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    method = fusegan.FuseGAN(profile="smoke")
    assert method.target_method == "ifcnn-max"
    assert method.resolve_target_method().name == "wavelet"


def test_focus_mask_variant_trains_with_a_focus_checkpoint(tmp_path):
    from mmdf_bench.methods.focus_cnn import MMDFFocusCNN
    from mmdf_bench.methods.focus_network import FocusNetwork

    focus = MMDFFocusCNN(profile="smoke")
    torch.manual_seed(0)
    focus._network = FocusNetwork(focus.num_levels, patch_size=focus.patch_size, **focus.architecture).eval()
    path = tmp_path / "mmdf-focus.pt"
    torch.save(focus.state_dict(), path)
    samples = []
    for index in range(2):
        stack, sharp = _two_focus_stack(96, seed=index)
        samples.append(FusionSample(stack, f"s{index}", reference=sharp))
    method = fusegan.FuseGANUFocusMask(profile="smoke", crop=32, focus_checkpoint=path, mask_stride=48)
    method.fit(samples, seed=0)
    fused = method.fuse(samples[0].stack)
    assert fused.shape == (96, 96, 3)
    copy = fusegan.FuseGANUFocusMask(profile="smoke", crop=32, mask_stride=48)
    copy.load_state_dict(method.state_dict())  # the focus CNN travels inside the checkpoint
    np.testing.assert_array_equal(copy.fuse(samples[0].stack), fused)


def test_registered_modules_do_not_import_torch():
    code = "import sys, mmdf_bench.methods.fusegan, mmdf_bench.methods.fusion_masks; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": ""}, check=True)
    assert output.stdout.strip() == "False"
