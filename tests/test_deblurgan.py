"""DeblurGAN, standard and upgraded: architecture, losses, checkerboard, training, checkpoints."""

import io
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.tasks.deblur import DeblurSample
from mmdf_bench.methods import deblurgan
from mmdf_bench.methods.deblurgan import DeblurGAN, DeblurGANUpgraded
from tests.conftest import PROJECT_ROOT

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)
from mmdf_bench.methods import deblurgan_networks as networks  # noqa: E402


def make_samples(count, *, size=40, seed=0):
    """Smooth random colour images and their Gaussian-blurred copies."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        sharp = ndimage.gaussian_filter(rng.random((size, size, 3)), (1.0, 1.0, 0))
        sharp = (sharp - sharp.min()) / (sharp.max() - sharp.min())
        blurred = ndimage.gaussian_filter(sharp, (1.5, 1.5, 0))
        samples.append(DeblurSample(blurred.astype(np.float32), sharp.astype(np.float32), f"s{index}"))
    return samples


def test_registered_module_does_not_import_torch():
    code = ("import sys, methods.deblurgan; "
            "assert 'torch' not in sys.modules, 'mmdf_bench.methods.deblurgan imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


# -- architecture -----------------------------------------------------------------------------

@pytest.mark.parametrize("method_class, upsampling_type", [(DeblurGAN, torch.nn.ConvTranspose2d),
                                                           (DeblurGANUpgraded, torch.nn.Upsample)])
def test_generator_layout(method_class, upsampling_type):
    generator = method_class(profile="paper").new_network(seed=0)
    layers = list(generator.body)
    assert isinstance(layers[0], torch.nn.ReflectionPad2d) and layers[0].padding == (3, 3, 3, 3)
    assert layers[1].kernel_size == (7, 7) and layers[1].out_channels == 64
    strided = [layer for layer in layers if isinstance(layer, torch.nn.Conv2d) and layer.stride == (2, 2)]
    assert [layer.out_channels for layer in strided] == [128, 256]
    blocks = [layer for layer in layers if isinstance(layer, networks.ResidualBlock)]
    assert len(blocks) == 9
    for block in blocks:
        kinds = [type(layer) for layer in block.body if not isinstance(layer, (torch.nn.ReflectionPad2d,
                                                                              torch.nn.Dropout))]
        assert kinds == [torch.nn.Conv2d, torch.nn.InstanceNorm2d, torch.nn.ReLU, torch.nn.Conv2d,
                         torch.nn.InstanceNorm2d]
    assert len([m for m in generator.modules() if isinstance(m, upsampling_type)]) == 2
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in generator.modules()) \
        or method_class is DeblurGAN
    assert layers[-2].kernel_size == (7, 7) and layers[-2].out_channels == 3
    assert isinstance(layers[-1], torch.nn.Tanh)
    # instance norm without affine parameters everywhere, no batch norm
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)]
    assert norms and all(isinstance(m, torch.nn.InstanceNorm2d) and not m.affine for m in norms)


@pytest.mark.parametrize("upsampling", ["transposed", "resize"])
def test_global_residual(upsampling):
    # with the last convolution zeroed, tanh(0) = 0 and the generator returns its input
    generator = networks.DeblurGANGenerator(upsampling=upsampling, base_channels=8).eval()
    torch.nn.init.zeros_(generator.body[-2].weight)
    torch.nn.init.zeros_(generator.body[-2].bias)
    images = torch.rand(2, 3, 32, 36, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(generator(images), images)


def test_patch_critic_has_a_70_pixel_receptive_field():
    critic = networks.PatchCritic(base_channels=8)
    norms = [m for m in critic.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert len(norms) == 3  # all blocks but the first
    # instance norm couples all positions through its statistics: without it
    # a patch score depends on exactly the 70x70 window of the PatchGAN
    for block in critic.blocks:
        for index, layer in enumerate(block):
            if isinstance(layer, torch.nn.InstanceNorm2d):
                block[index] = torch.nn.Identity()
    images = torch.rand(1, 3, 160, 160, requires_grad=True)
    scores = critic(images)
    assert scores.shape[1] == 1
    centre = (scores.shape[2] // 2, scores.shape[3] // 2)
    (gradient,) = torch.autograd.grad(scores[0, 0, centre[0], centre[1]], images)
    rows, cols = np.nonzero(gradient[0].abs().sum(0).numpy())
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


# -- checkerboard --------------------------------------------------------------------------------

def stride_frequency_peak(residual):
    """Amplitude of the period-2 pattern of `residual` (C, N, N) and its ratio to the neighbouring frequencies.

    The stride frequency of a x2 up-sampling is 0.5 cycles/pixel (bin N/2)
    along rows, columns or both. The neighbours are the bins 2..4 steps
    below it on the same lines.
    """
    residual = residual - residual.mean(axis=(1, 2), keepdims=True)
    size = residual.shape[-1]
    spectrum = np.abs(np.fft.fft2(residual)).mean(axis=0) / size**2
    half = size // 2
    peak = max(spectrum[half, 0], spectrum[0, half], spectrum[half, half])
    neighbours = [value for step in (2, 3, 4)
                  for value in (spectrum[half - step, 0], spectrum[0, half - step],
                                spectrum[half - step, half - step], spectrum[half, half - step])]
    return peak, peak / np.median(neighbours)


def flat_field_with_texture(size=256, *, seed=0):
    """A flat grey image with a 32x32 textured patch in its top-left corner."""
    image = np.full((3, size, size), 0.5, dtype=np.float32)
    image[:, :32, :32] = np.random.default_rng(seed).random((3, 32, 32))
    return image


def test_resize_convolution_has_no_checkerboard_where_transposed_has_one():
    # Not a wholly flat image: there every instance norm sees a variance of
    # ~0 and scales float rounding up by 1/sqrt(eps) per layer, so the output
    # is rounding noise whatever the up-sampling. The texture gives instance
    # norm real statistics, and the flat part of the image reaches the
    # decoder as constant, non-zero features.
    # The window [96, 224) is flat input beyond the reach of the texture and
    # of the top/left zero padding of the stride-2 convolutions. A transposed
    # convolution (3x3, stride 2) overlaps its kernel unevenly and turns
    # constant features into a period-2 pattern; a nearest-neighbour
    # resize followed by a convolution keeps them constant.
    image = flat_field_with_texture()
    window = (slice(None), slice(96, 224), slice(96, 224))
    peaks = {}
    for method_class in (DeblurGAN, DeblurGANUpgraded):
        generator = method_class(profile="cpu").new_network(seed=0).eval()
        with torch.no_grad():
            restored = generator(torch.from_numpy(image)[None])[0].numpy()
        peaks[method_class.name] = stride_frequency_peak((restored - image)[window])
    amplitude, ratio = peaks["deblurgan-upgraded"]
    assert amplitude < 1e-6 and ratio < 10  # nothing but float32 rounding
    amplitude, ratio = peaks["deblurgan"]
    assert amplitude > 1e-3 and ratio > 1e4  # a visible checkerboard (measured: 0.007 and ~1e8)


# -- losses --------------------------------------------------------------------------------------

class LinearCritic(torch.nn.Module):
    """D(x) = <w, x>: its gradient is w everywhere, so GP = lambda (||w|| - 1)^2."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)

    def forward(self, images):
        return (images * self.weight).flatten(1).sum(dim=1).view(-1, 1, 1, 1)


class QuadraticCritic(torch.nn.Module):
    """D(x) = ||x||^2 / 2: its gradient at x is x."""

    def forward(self, images):
        return 0.5 * (images**2).flatten(1).sum(dim=1).view(-1, 1, 1, 1)


def test_gradient_penalty_of_a_linear_critic():
    weight = torch.full((1, 3, 4, 4), 3.0 / np.sqrt(48))  # ||w|| = 3
    critic = LinearCritic(weight)
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    penalty = networks.gradient_penalty(critic, real, fake, weight=10.0,
                                        generator=torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)
    # differentiable in the critic's parameters: d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    (gradient,) = torch.autograd.grad(penalty, critic.weight)
    assert torch.allclose(gradient, 20.0 * 2.0 * weight / 3.0, rtol=1e-5)
    unit = LinearCritic(weight / 3.0)
    assert networks.gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-9)


def test_gradient_penalty_interpolates_per_image():
    # gradient at x_hat = alpha * real + (1 - alpha) * fake is x_hat itself
    real = torch.full((2, 1, 2, 2), 1.0)  # ||real|| = 2 for each image
    fake = torch.zeros(2, 1, 2, 2)
    alpha = torch.tensor([0.25, 1.0])
    penalty = networks.gradient_penalty(QuadraticCritic(), real, fake, weight=10.0, alpha=alpha)
    # norms 0.5 and 2 -> 10 * mean(0.25, 1)
    assert penalty.item() == pytest.approx(10.0 * (0.25 + 1.0) / 2)


def test_linear_decay_factor():
    factor = networks.linear_decay_factor
    assert factor(0, 300, 150) == 1.0 and factor(149, 300, 150) == 1.0
    assert factor(225, 300, 150) == pytest.approx(0.5) and factor(300, 300, 150) == 0.0


def test_mse_ssim_loss_is_zero_only_for_equal_images():
    images = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    loss = networks.mse_ssim_loss(ssim_weight=1.0)
    assert loss(images, images).item() == pytest.approx(0.0, abs=1e-6)
    shifted = images + 0.1
    expected = 0.01 + networks.ssim_loss(shifted, images).item()
    assert loss(shifted, images).item() == pytest.approx(expected, rel=1e-5)


# -- perceptual features ---------------------------------------------------------------------------

def test_perceptual_features_fall_back_to_the_critic(monkeypatch):
    monkeypatch.setattr(deblurgan, "find_vgg19_weights", lambda: None)
    method = DeblurGAN(profile="smoke")
    assert method.perceptual_features == "critic" and method.config()["perceptual_features"] == "critic"
    assert method.perceptual_extractor() == "critic"


def test_perceptual_features_use_torchvision_vgg19(monkeypatch, tmp_path):
    from torchvision.models import vgg

    # VGG19's convolutions up to conv3_4 in torchvision's layout (the file
    # holds more layers than conv3_3; the extra ones must be ignored)
    features = vgg.make_layers(vgg.cfgs["E"][:10])
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{key}": value for key, value in features.state_dict().items()}, path)
    monkeypatch.setattr(deblurgan, "find_vgg19_weights", lambda: path)
    method = DeblurGAN(profile="smoke")
    assert method.config()["perceptual_features"] == "vgg19-conv3_3"
    extractor = method.perceptual_extractor()
    images = torch.rand(1, 3, 32, 32)
    normalised = (images - extractor.mean) / extractor.std
    with torch.no_grad():
        assert torch.allclose(extractor(images), features[:15](normalised), atol=1e-5)  # conv3_3, pre-ReLU
    assert not any(parameter.requires_grad for parameter in extractor.parameters())


def test_missing_vgg19_file_is_not_found(monkeypatch, tmp_path):
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert deblurgan.find_vgg19_weights() is None
    # a file with the wrong content is refused, not loaded
    wrong = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"not vgg19")
    assert deblurgan.find_vgg19_weights() is None


# -- training ----------------------------------------------------------------------------------------

def test_bad_crop_is_refused():
    with pytest.raises(InvalidInputError, match="multiple of 4"):
        DeblurGAN(profile="smoke", crop=30)


@pytest.fixture(scope="module")
def trained():
    samples = make_samples(4)
    return {method_class.name: method_class(profile="smoke").fit(samples, seed=3)
            for method_class in (DeblurGAN, DeblurGANUpgraded)}


@pytest.mark.parametrize("name", ["deblurgan", "deblurgan-upgraded"])
def test_smoke_training_and_checkpoint_round_trip(trained, name):
    method = trained[name]
    blurred = make_samples(1, size=44, seed=9)[0].blurred
    restored = method.restore(blurred)
    assert restored.shape == blurred.shape and restored.dtype == np.float32
    assert np.all((restored >= 0) & (restored <= 1))
    assert len(method.history) == method.hyperparameters["epochs"] and np.all(np.isfinite(method.history))

    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)  # what the checkpoint cache does
    buffer.seek(0)
    loaded = type(method)(profile="smoke")
    loaded.load_state_dict(torch.load(buffer, weights_only=False))
    assert np.array_equal(loaded.restore(blurred), restored)
    assert loaded.stage_history == method.stage_history
    grey = loaded.restore(blurred.mean(axis=-1))
    assert grey.shape == blurred.shape[:2]


def test_training_is_reproducible(trained):
    again = DeblurGAN(profile="smoke").fit(make_samples(4), seed=3)
    blurred = make_samples(1, seed=9)[0].blurred
    assert np.array_equal(again.restore(blurred), trained["deblurgan"].restore(blurred))


def test_checkpoint_of_the_other_model_is_refused(trained):
    state = trained["deblurgan"].state_dict()
    with pytest.raises(InvalidInputError, match="transposed up-sampling"):
        DeblurGANUpgraded(profile="smoke").load_state_dict(state)


def test_upgraded_training_records_both_stages(trained):
    stages = trained["deblurgan-upgraded"].stage_history
    hp = trained["deblurgan-upgraded"].hyperparameters
    assert list(stages) == ["pretrain", "adversarial"]
    assert len(stages["pretrain"]) == hp["pretrain_epochs"] and len(stages["adversarial"]) == hp["epochs"]
    # pre-training loss is MSE + (1 - SSIM): positive, and at most 1 + 1 on [0, 1] images
    assert all(0 < value < 2 for value in stages["pretrain"])
    adversarial = stages["adversarial"][-1]
    assert set(adversarial) == {"critic", "generator", "content", "wasserstein", "ssim"}
    assert adversarial["ssim"] > 0  # the extra SSIM term is computed
    standard = trained["deblurgan"].stage_history
    assert list(standard) == ["adversarial"] and standard["adversarial"][-1]["ssim"] == 0.0
