"""Deep deblurring methods: SRCNN, U-Net (VGG11 encoder), denoising / stacked / coupled autoencoders."""

import io
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.deblur import DeblurSample, predict
from tests.conftest import PROJECT_ROOT

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from torch import nn

from mmdf_bench.methods import deblur_cnn
from mmdf_bench.methods.deblur_autoencoders import (
    CoupledAutoencoderDeblur,
    StackedAutoencoderDeblur,
    masking_noise,
)
from mmdf_bench.methods.deblur_base import PairSampler, dihedral
from mmdf_bench.methods.deblur_cnn import DenoisingAutoencoderDeblur, SRCNNDeblur, UNetDeblur
from mmdf_bench.methods.deblur_networks import (
    CoupledAutoencoder,
    StackedAutoencoder,
    VGG11UNet,
    build_network,
)

METHODS = (SRCNNDeblur, UNetDeblur, DenoisingAutoencoderDeblur, StackedAutoencoderDeblur, CoupledAutoencoderDeblur)


def box_blur(image, length=5):
    """Horizontal fast-scan blur: the mean of `length` pixels along each row."""
    return ndimage.uniform_filter1d(image, length, axis=1, mode="nearest").astype(np.float32)


def make_pairs(count, *, size=48, sigma=1.2, seed=0):
    """Smooth random RGB textures (correlation length `sigma`) and their horizontally box-blurred copies."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        texture = ndimage.gaussian_filter(rng.standard_normal((size, size, 3)), sigma=(sigma, sigma, 0))
        sharp = np.clip(0.5 + 0.25 * texture / texture.std(), 0, 1).astype(np.float32)
        samples.append(DeblurSample(box_blur(sharp), sharp, f"pair-{index}"))
    return samples


def mse(first, second):
    return float(np.mean((np.asarray(first, np.float64) - second) ** 2))


@pytest.fixture(scope="module")
def pairs():
    return make_pairs(6)


@pytest.fixture(scope="module")
def trained(pairs):
    """Every method trained with its smoke profile on the tiny task."""
    return {cls.name: cls(profile="smoke").fit(pairs, seed=0) for cls in METHODS}


# -- import hygiene -------------------------------------------------------------------------------
def test_registered_modules_do_not_import_torch():
    code = ("import sys\n"
            "import mmdf_bench.methods.deblur_cnn as cnn, mmdf_bench.methods.deblur_autoencoders as ae\n"
            "for cls in (cnn.SRCNNDeblur, cnn.UNetDeblur, cnn.DenoisingAutoencoderDeblur,\n"
            "            ae.StackedAutoencoderDeblur, ae.CoupledAutoencoderDeblur):\n"
            "    cls(profile='smoke').config()\n"
            "print('torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": ""}, check=True)
    assert output.stdout.strip() == "False"


@pytest.mark.parametrize("cls", METHODS)
def test_profiles_and_metadata(cls):
    assert set(cls.profiles) == {"smoke", "cpu", "paper"}
    assert cls.task == "deblur" and cls.track == "blind" and cls.citation and cls.summary
    assert cls.needs_training()
    with pytest.raises(InvalidInputError, match="unknown hyper-parameter"):
        cls(profile="smoke", not_a_setting=1)
    with pytest.raises(InvalidInputError, match="not trained"):
        cls(profile="smoke").restore(np.zeros((16, 16), np.float32))


# -- architectures ---------------------------------------------------------------------------------
def convolutions(module):
    return [layer for layer in module.modules() if isinstance(layer, nn.Conv2d)]


def test_srcnn_is_3_64_32_3_with_9_1_5_kernels():
    network = build_network(SRCNNDeblur(profile="cpu").architecture())
    layers = convolutions(network)
    assert [(layer.in_channels, layer.out_channels) for layer in layers] == [(3, 64), (64, 32), (32, 3)]
    assert [layer.kernel_size for layer in layers] == [(9, 9), (1, 1), (5, 5)]
    assert sum(parameter.numel() for parameter in network.parameters()) == \
        3 * 64 * 81 + 64 + 64 * 32 + 32 + 32 * 3 * 25 + 3
    # residual: with the last layer zeroed the network is the identity map
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    images = torch.rand(1, 3, 20, 24)
    torch.testing.assert_close(network(images), images)


def test_denoising_autoencoder_channels_and_batch_norm():
    network = build_network(DenoisingAutoencoderDeblur(profile="cpu").architecture())
    encoder = convolutions(network.encoder)
    assert [layer.out_channels for layer in encoder] == [32, 64, 128, 256, 256]
    assert [layer.stride for layer in encoder] == [(1, 1)] + [(2, 2)] * 4
    norms = [layer.num_features for layer in network.modules() if isinstance(layer, nn.BatchNorm2d)]
    assert norms[:5] == [32, 64, 128, 256, 256]
    assert [layer.out_channels for layer in convolutions(network.decoder)] == [256, 128, 64, 32, 3]
    assert network.size_multiple == 16
    output = network.eval()(torch.rand(2, 3, 32, 48))
    assert output.shape == (2, 3, 32, 48) and output.min() >= 0 and output.max() <= 1


#: Indices of the convolutions in torchvision's ``vgg11().features`` (configuration A:
#: conv, ReLU, max-pool after the 1st, 2nd, 4th, 6th and 8th convolution).
VGG11_FEATURE_INDICES = (0, 3, 6, 8, 11, 13, 16, 18)
VGG11_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)


def fake_vgg11_state(seed):
    """A state dict laid out like torchvision's VGG11 (random values; the classifier is left out but one key)."""
    generator = torch.Generator().manual_seed(seed)
    state, previous = {}, 3
    for index, width in zip(VGG11_FEATURE_INDICES, VGG11_WIDTHS):
        state[f"features.{index}.weight"] = torch.randn(width, previous, 3, 3, generator=generator) * 0.05
        state[f"features.{index}.bias"] = torch.randn(width, generator=generator) * 0.05
        previous = width
    state["classifier.6.bias"] = torch.zeros(1000)
    return state


def test_vgg11_unet_encoder_and_loading():
    network = VGG11UNet(width=1.0)
    widths = [layer.out_channels for layer in network.encoder_convolutions()]
    assert widths == list(VGG11_WIDTHS)  # VGG11, configuration A
    assert network.size_multiple == 32
    # starts as the identity map (zero output layer), any size via padding to 32
    images = torch.rand(1, 3, 64, 96)
    torch.testing.assert_close(network(images), images)
    # a torchvision-style VGG11 state dict lands in the encoder, in order
    state = fake_vgg11_state(1)
    network.load_vgg11(state)
    for ours, index in zip(network.encoder_convolutions(), VGG11_FEATURE_INDICES):
        torch.testing.assert_close(ours.weight, state[f"features.{index}.weight"])
        torch.testing.assert_close(ours.bias, state[f"features.{index}.bias"])
    with pytest.raises(ValueError, match="8 VGG11 convolutions"):
        network.load_vgg11({key: value for key, value in state.items() if not key.startswith("features.18")})


def test_unet_initialisation_says_which(tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert deblur_cnn.find_vgg11_weights() is None
    method = UNetDeblur(profile="paper")
    assert method.initialisation == "random" and method.config()["initialisation"] == "random"
    # with the file present (stand-in: a VGG11-shaped random state dict), the encoder starts from it
    state = fake_vgg11_state(2)
    path = tmp_path / "vgg11.pth"
    torch.save(state, path)
    monkeypatch.setattr(deblur_cnn, "find_vgg11_weights", lambda: path)
    method = UNetDeblur(profile="paper")
    assert method.initialisation == "imagenet-vgg11"
    network = method.new_network(seed=0)
    torch.testing.assert_close(network.encoder_convolutions()[0].weight, state["features.0.weight"])
    # a narrower network cannot take the weights and says so
    assert UNetDeblur(profile="cpu").initialisation == "random"


def test_stacked_and_coupled_shapes():
    stack = StackedAutoencoder(channels=(8, 16, 32))
    images = torch.rand(2, 3, 32, 32)
    assert stack.encode(images, 3).shape == (2, 32, 4, 4)
    assert stack(images).shape == images.shape
    assert stack.prefix(1)(images).shape == images.shape
    coupled = CoupledAutoencoder(patch=5, hidden=8, mapping_hidden=4)
    assert coupled(images).shape == images.shape
    assert coupled.blurred_encoder[0].kernel_size == (5, 5)
    assert coupled.sharp_decoder.convolution.kernel_size == (5, 5)
    # the side autoencoders share the weights of the coupled network
    assert coupled.sharp_autoencoder().decoder is coupled.sharp_decoder


def test_masking_noise_zeroes_the_given_fraction():
    torch.manual_seed(0)
    codes = torch.ones(100_000)
    masked = masking_noise(codes, 0.25)
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    assert abs((masked == 0).float().mean().item() - 0.25) < 0.01
    assert masking_noise(codes, 0.0) is codes


# -- sampling --------------------------------------------------------------------------------------
def test_pair_sampler_keeps_pairs_aligned():
    rng = np.random.default_rng(0)
    blurred = rng.uniform(size=(40, 30, 3)).astype(np.float32)
    pairs = [(blurred, 1.0 - blurred), (blurred[:20, :10], 1.0 - blurred[:20, :10])]  # the second needs padding
    sampler = PairSampler(pairs, crop=24, rng=np.random.default_rng(1))
    for inputs, targets in sampler.batches(2, 10):
        assert inputs.shape == (2, 3, 24, 24) and inputs.dtype == np.float32
        np.testing.assert_allclose(targets, 1.0 - inputs, atol=1e-6)
    again = PairSampler(pairs, crop=24, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(next(again.batches(2, 1))[0], next(
        PairSampler(pairs, crop=24, rng=np.random.default_rng(1)).batches(2, 1))[0])


def test_dihedral_gives_eight_distinct_symmetries():
    square = np.arange(9).reshape(3, 3)
    variants = {dihedral(square, code).tobytes() for code in range(8)}
    assert len(variants) == 8


# -- training --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [cls.name for cls in METHODS])
def test_smoke_training_runs_and_restores(trained, pairs, name):
    method = trained[name]
    assert len(method.history) == method.hyperparameters["epochs"]
    assert all(np.isfinite(method.history))
    restored = method.restore(pairs[0].blurred)
    assert restored.shape == pairs[0].blurred.shape and restored.dtype == np.float32
    grey = method.restore(pairs[0].blurred.mean(axis=-1))
    assert grey.shape == pairs[0].blurred.shape[:2]
    assert restored.min() >= 0 and restored.max() <= 1


@pytest.mark.parametrize("cls, options, factor", [
    (SRCNNDeblur, {"steps_per_epoch": 15}, 0.8),
    (UNetDeblur, {"steps_per_epoch": 20, "batch_size": 4}, 0.9),  # the bigger network learns slower
])
def test_residual_networks_learn_to_deblur_the_training_set(pairs, cls, options, factor):
    method = cls(profile="smoke", epochs=4, learning_rate=2e-3, **options)
    method.fit(pairs, seed=0)
    assert all(later < earlier for earlier, later in zip(method.history, method.history[1:]))
    before = np.mean([mse(pair.blurred, pair.reference) for pair in pairs])
    after = np.mean([mse(predict(method, pair), pair.reference) for pair in pairs])
    assert after < factor * before


@pytest.mark.parametrize("cls, beats_constant", [
    # the batch-norm running statistics lag behind after 20 steps, so only the training loss is checked
    (DenoisingAutoencoderDeblur, False),
    (StackedAutoencoderDeblur, True),
    (CoupledAutoencoderDeblur, True),
])
def test_autoencoders_learn_smooth_textures(cls, beats_constant):
    # Everything passes through their codes: give them coarser textures than the residual networks
    pairs = make_pairs(6, sigma=3.0)
    method = cls(profile="smoke", epochs=4, steps_per_epoch=5)
    method.fit(pairs, seed=0)
    assert method.history[-1] < 0.75 * method.history[0]
    if beats_constant:
        # better than the best constant image, the mean grey of each target
        spread = np.mean([pair.reference.var() for pair in pairs])
        assert np.mean([mse(predict(method, pair), pair.reference) for pair in pairs]) < 0.8 * spread


@pytest.mark.parametrize("name", [cls.name for cls in METHODS])
def test_checkpoint_round_trip_gives_identical_output(trained, pairs, name):
    method = trained[name]
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    copy = type(method)(profile="smoke")
    copy.load_state_dict(torch.load(buffer, weights_only=False))
    np.testing.assert_array_equal(copy.restore(pairs[1].blurred), method.restore(pairs[1].blurred))
    assert copy.history == method.history and copy.stage_history == method.stage_history


def test_checkpoint_of_another_network_is_refused(trained):
    with pytest.raises(InvalidInputError, match="srcnn"):
        UNetDeblur(profile="smoke").load_state_dict(trained["srcnn"].state_dict())


def test_training_is_seeded(pairs):
    first = SRCNNDeblur(profile="smoke").fit(pairs, seed=3)
    second = SRCNNDeblur(profile="smoke").fit(pairs, seed=3)
    other = SRCNNDeblur(profile="smoke").fit(pairs, seed=4)
    assert first.history == second.history and first.history != other.history


def parameter_snapshot(network):
    return {name: value.detach().clone() for name, value in network.state_dict().items()}


def changed_prefixes(before, after):
    return {name.split(".")[0] + ("." + name.split(".")[1] if name.split(".")[0] in ("encoders", "decoders") else "")
            for name in before if not torch.equal(before[name], after[name])}


def record_stage_changes(method, monkeypatch):
    """Patch `run_stage` to record which top-level parts of the network each stage changed."""
    changes, original = {}, type(method).run_stage

    def spy(self, stage, module, sampler, **options):
        before = parameter_snapshot(self._spied)
        history = original(self, stage, module, sampler, **options)
        changes[stage] = changed_prefixes(before, parameter_snapshot(self._spied))
        return history

    original_new = type(method).new_network

    def new_network(self, *, seed):
        self._spied = original_new(self, seed=seed)
        return self._spied

    monkeypatch.setattr(type(method), "run_stage", spy)
    monkeypatch.setattr(type(method), "new_network", new_network)
    return changes


def test_stacked_autoencoder_trains_greedily_then_fine_tunes(pairs, monkeypatch):
    method = StackedAutoencoderDeblur(profile="smoke", pretrain_epochs=2)
    changes = record_stage_changes(method, monkeypatch)
    method.fit(pairs, seed=0)
    assert list(method.stage_history) == ["layer-1", "layer-2", "layer-3", "fine-tune"]
    assert [len(losses) for losses in method.stage_history.values()] == [2, 2, 2, 2]
    assert method.history == method.stage_history["fine-tune"]
    # each greedy stage moves its own layer only; fine-tuning moves them all
    assert changes["layer-1"] == {"encoders.0", "decoders.0"}
    assert changes["layer-2"] == {"encoders.1", "decoders.1"}
    assert changes["layer-3"] == {"encoders.2", "decoders.2"}
    assert changes["fine-tune"] == {f"{part}.{index}" for part in ("encoders", "decoders") for index in range(3)}


def test_coupled_autoencoder_stages(pairs, monkeypatch):
    method = CoupledAutoencoderDeblur(profile="smoke")
    changes = record_stage_changes(method, monkeypatch)
    method.fit(pairs, seed=0)
    assert list(method.stage_history) == ["blurred-autoencoder", "sharp-autoencoder", "mapping", "fine-tune"]
    assert changes["blurred-autoencoder"] == {"blurred_encoder", "blurred_decoder"}
    assert changes["sharp-autoencoder"] == {"sharp_encoder", "sharp_decoder"}
    assert changes["mapping"] == {"mapping"}
    assert changes["fine-tune"] == {"blurred_encoder", "mapping", "sharp_decoder"}


def test_fit_or_load_caches_the_checkpoint(pairs, tmp_path, monkeypatch):
    from mmdf_bench.training import fit_or_load

    class Data:
        name, version = "tiny-pairs", "1"

    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path))
    first = SRCNNDeblur(profile="smoke")
    record = fit_or_load(first, "srcnn", Data, pairs, seed=0)
    assert not record.cached and record.checkpoint.startswith(str(tmp_path))
    second = SRCNNDeblur(profile="smoke")
    again = fit_or_load(second, "srcnn", Data, [], seed=0)
    assert again.cached and again.checkpoint == record.checkpoint
    np.testing.assert_array_equal(second.restore(pairs[2].blurred), first.restore(pairs[2].blurred))


def test_large_image_is_restored_in_tiles(trained):
    method = trained["unet"]
    seen = []
    hook = method.network.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape))
    try:
        image = np.random.default_rng(0).uniform(size=(300, 520, 3)).astype(np.float32)
        restored = method.restore(image)
    finally:
        hook.remove()
    assert restored.shape == image.shape
    tile = method.hyperparameters["tile"]
    assert len(seen) > 1 and max(max(shape[-2:]) for shape in seen) <= tile
