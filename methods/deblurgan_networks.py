"""DeblurGAN networks, losses and adversarial training loop (torch).

Imported lazily by `mmdf_bench.methods.deblurgan`.

Generator (Kupyn et al. 2018, after Johnson et al.'s residual network)::

    reflect-pad 3, conv 7x7 -> 64, IN, ReLU
    conv 3x3 stride 2 -> 128, IN, ReLU;  conv 3x3 stride 2 -> 256, IN, ReLU
    9 x [reflect-pad 1, conv 3x3, IN, ReLU, dropout 0.5, reflect-pad 1, conv 3x3, IN] + identity
    2 x up-sampling to 128 then 64 channels, IN, ReLU
    reflect-pad 3, conv 7x7 -> 3, tanh;  global residual

IN is instance normalisation without affine parameters, as in the
reference code. The standard up-sampling is a transposed convolution
(3x3, stride 2); the MMDF upgrade replaces it by a resize-convolution
(nearest-neighbour x2, reflect-pad 1, conv 3x3), which cannot produce the
checkerboard that uneven kernel overlap gives (Odena et al. 2016).

Range mapping. DeblurGAN works in [-1, 1]: with ``a = 2 x - 1`` for an
input ``x`` in [0, 1], the generator returns ``clamp(a + tanh(net(a)), -1, 1)``.
The modules here take and return [0, 1] images, i.e.
``restored = (clamp(a + tanh(net(a)), -1, 1) + 1) / 2
           = clamp(x + tanh(net(a)) / 2, 0, 1)``.

Critic: the 70x70 PatchGAN (4x4 convolutions 64-128-256-512 with strides
2, 2, 2, 1 and padding 2, LeakyReLU 0.2, IN on all but the first, a last
4x4 convolution to one channel). As in the reference WGAN-GP code the
critic sees the sharp or restored image only (not the blurred input). The
critic value of an image is the mean of its patch map.

References
----------
.. [1] O. Kupyn, V. Budzan, M. Mykhailych, D. Mishkin and J. Matas,
       "DeblurGAN: blind motion deblurring using conditional adversarial
       networks", CVPR 2018. Reference code: https://github.com/KupynOrest/DeblurGAN
.. [2] I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin and A. Courville,
       "Improved training of Wasserstein GANs", NeurIPS 2017.
.. [3] A. Odena, V. Dumoulin and C. Olah, "Deconvolution and checkerboard
       artifacts", Distill, 2016. doi:10.23915/distill.00003
.. [4] P. Isola, J.-Y. Zhu, T. Zhou and A. A. Efros, "Image-to-image
       translation with conditional adversarial networks", CVPR 2017.
.. [5] K. Simonyan and A. Zisserman, "Very deep convolutional networks for
       large-scale image recognition", ICLR 2015.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmdf_bench.devices import fork_rng, module_device, prefetch
from mmdf_bench.methods.deblur_training import make_optimizer, progress
from mmdf_bench.methods.losses import ssim_loss

UPSAMPLINGS = ("transposed", "resize")


def init_weights(module):
    """Convolution weights ~ N(0, 0.02), biases 0 (the pix2pix / DeblurGAN initialisation)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def _norm(channels):
    return nn.InstanceNorm2d(channels, affine=False)


class ResidualBlock(nn.Module):
    """conv3x3-IN-ReLU-(dropout)-conv3x3-IN plus the identity."""

    def __init__(self, channels, *, dropout=0.5):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, features):
        return features + self.body(features)


def upsampling_layer(in_channels, out_channels, *, upsampling, resize_mode="nearest"):
    """x2 up-sampling: transposed convolution, or resize followed by a 3x3 convolution."""
    if upsampling == "transposed":
        return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
    if upsampling == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode=resize_mode), nn.ReflectionPad2d(1),
                             nn.Conv2d(in_channels, out_channels, 3))
    raise ValueError(f"unknown upsampling {upsampling!r}; choose one of {', '.join(UPSAMPLINGS)}")


class DeblurGANGenerator(nn.Module):
    """The DeblurGAN generator on [0, 1] images (see the module docstring).

    Parameters
    ----------
    upsampling : {"transposed", "resize"}
        Standard DeblurGAN or the MMDF resize-convolution.
    resize_mode : {"nearest", "bilinear"}
        Interpolation of the resize-convolution.
    base_channels : int
        Width of the first layer (64); the bottleneck has four times as many.
    num_blocks : int
        Residual blocks (9).
    dropout : float
        Drop probability inside the residual blocks (0.5 in DeblurGAN;
        inactive in eval mode, so inference is deterministic).
    """

    size_multiple = 4  # two stride-2 stages

    def __init__(self, *, upsampling="transposed", resize_mode="nearest", base_channels=64, num_blocks=9,
                 dropout=0.5):
        super().__init__()
        self.architecture = {"kind": "deblurgan-generator", "upsampling": str(upsampling),
                             "resize_mode": str(resize_mode), "base_channels": int(base_channels),
                             "num_blocks": int(num_blocks), "dropout": float(dropout)}
        width = int(base_channels)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, width, 7), _norm(width), nn.ReLU(True)]
        for _ in range(2):
            layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), _norm(2 * width), nn.ReLU(True)]
            width *= 2
        layers += [ResidualBlock(width, dropout=dropout) for _ in range(num_blocks)]
        for _ in range(2):
            layers += [upsampling_layer(width, width // 2, upsampling=upsampling, resize_mode=resize_mode),
                       _norm(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, 3, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, images):
        """``(N, 3, H, W)`` in [0, 1], H and W multiples of 4 -> restored ``(N, 3, H, W)`` in [0, 1]."""
        centred = 2.0 * images - 1.0
        restored = torch.clamp(centred + self.body(centred), -1.0, 1.0)
        return 0.5 * (restored + 1.0)


def build_generator(architecture):
    """Return a `DeblurGANGenerator` from its ``.architecture`` dictionary."""
    options = {key: value for key, value in architecture.items() if key != "kind"}
    return DeblurGANGenerator(**options)


class PatchCritic(nn.Module):
    """70x70 PatchGAN critic on [0, 1] images; `features` gives the 1/4-resolution activations."""

    def __init__(self, *, base_channels=64):
        super().__init__()
        width = int(base_channels)
        self.architecture = {"kind": "patchgan-critic", "base_channels": width}

        def block(inputs, outputs, stride, normalise):
            layers = [nn.Conv2d(inputs, outputs, 4, stride=stride, padding=2)]
            if normalise:
                layers.append(_norm(outputs))
            return nn.Sequential(*layers, nn.LeakyReLU(0.2, True))

        self.blocks = nn.ModuleList([
            block(3, width, 2, False),
            block(width, 2 * width, 2, True),
            block(2 * width, 4 * width, 2, True),
            block(4 * width, 8 * width, 1, True),
        ])
        self.head = nn.Conv2d(8 * width, 1, 4, stride=1, padding=2)
        init_weights(self)

    def features(self, images):
        """Activations after the second block (128 channels, ~1/4 resolution, like VGG conv3_3)."""
        hidden = 2.0 * images - 1.0
        for block in self.blocks[:2]:
            hidden = block(hidden)
        return hidden

    def forward(self, images):
        """``(N, 3, H, W)`` in [0, 1] -> patch scores ``(N, 1, h, w)``."""
        hidden = self.features(images)
        for block in self.blocks[2:]:
            hidden = block(hidden)
        return self.head(hidden)


def critic_value(critic, images):
    """Per-image critic value: the mean of the patch map, shape ``(N,)``."""
    return critic(images).flatten(1).mean(dim=1)


def gradient_penalty(critic, real, fake, *, weight=10.0, alpha=None, generator=None):
    """WGAN-GP penalty ``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]``.

    ``x_hat = alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U(0, 1)``
    per image; D is `critic_value` and the norm runs over all pixels and
    channels of an image (Gulrajani et al.). The DeblurGAN reference code
    takes the norm over channels only, pixel by pixel; we follow the paper
    that defines the penalty.

    Parameters
    ----------
    critic : nn.Module
    real, fake : Tensor, shape (N, C, H, W)
    weight : float
        lambda (10 in both papers).
    alpha : Tensor, shape (N,), optional
        Interpolation weights; drawn from `generator` when omitted.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, scalar (differentiable with respect to the critic's parameters)
    """
    if alpha is None:  # drawn on the CPU, so a seed gives the same weights on every device
        alpha = torch.rand(real.shape[0], generator=generator, dtype=real.dtype)
    alpha = alpha.to(device=real.device, dtype=real.dtype).view(-1, *([1] * (real.ndim - 1)))
    mixed = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic_value(critic, mixed).sum(), mixed, create_graph=True)
    norms = gradients.flatten(1).norm(dim=1)
    return weight * ((norms - 1.0) ** 2).mean()


def linear_decay_factor(step, total, decay_start):
    """Learning-rate factor: 1 until `decay_start`, then linearly down to 0 at `total` (DeblurGAN)."""
    if step < decay_start or total <= decay_start:
        return 1.0
    return max(0.0, 1.0 - (step - decay_start) / (total - decay_start))


def adversarial_training(generator, critic, sampler, *, perceptual, epochs, steps_per_epoch, batch_size,
                         learning_rate, betas, seed, critic_updates=5, gp_weight=10.0, perceptual_weight=100.0,
                         ssim_weight=0.0, decay_start_epoch=None, description="adversarial"):
    """Train generator and critic with WGAN-GP plus a content loss, in place.

    Each step draws one batch and restores it once; the critic then takes
    `critic_updates` Adam steps on ``D(restored) - D(sharp) + GP`` (the same
    batch each time, as the reference code does), and the generator one
    step on ``-D(restored) + perceptual_weight * ||phi(restored) - phi(sharp)||^2
    + ssim_weight * (1 - SSIM)``.

    Parameters
    ----------
    generator, critic : nn.Module
    sampler : mmdf_bench.methods.deblur_base.PairSampler
    perceptual : nn.Module or "critic"
        Feature extractor phi (e.g. `mmdf_bench.methods.vgg_features.VGGFeatures`), or "critic" for the
        critic's own `features` (the fallback when VGG19 is unavailable).
    epochs, steps_per_epoch, batch_size : int
    learning_rate : float
        Adam rate of both networks.
    betas : tuple of float
    seed : int
        Seeds dropout and the penalty's interpolation weights.
    critic_updates : int
    gp_weight, perceptual_weight, ssim_weight : float
    decay_start_epoch : int, optional
        From this epoch on the rate falls linearly to 0 (None: constant).
    description : str

    Returns
    -------
    history : list of dict
        Per epoch: mean ``critic``, ``generator`` (total), ``content``,
        ``wasserstein`` (D(sharp) - D(restored)) and ``ssim`` (1 - SSIM).
    """
    per_epoch = int(steps_per_epoch or math.ceil(len(sampler) / batch_size))
    total = int(epochs) * per_epoch
    decay_start = total if decay_start_epoch is None else int(decay_start_epoch) * per_epoch
    optimise_generator = make_optimizer(generator.parameters(), learning_rate=learning_rate, betas=betas)
    optimise_critic = make_optimizer(critic.parameters(), learning_rate=learning_rate, betas=betas)
    extract = critic.features if isinstance(perceptual, str) else perceptual
    history, step = [], 0
    generator.train()
    critic.train()
    device = module_device(generator)
    with fork_rng(device), progress(total, description) as bar:
        torch.manual_seed(seed)
        noise = torch.Generator().manual_seed(int(seed) + 1)
        batches = prefetch(sampler.batches(batch_size, total), device)
        for _ in range(int(epochs)):
            sums = dict.fromkeys(("critic", "generator", "content", "wasserstein", "ssim"), 0.0)
            for _ in range(per_epoch):
                factor = linear_decay_factor(step, total, decay_start)
                for optimiser in (optimise_generator, optimise_critic):
                    for group in optimiser.param_groups:
                        group["lr"] = learning_rate * factor
                blurred, sharp = next(batches)
                restored = generator(blurred)

                critic.requires_grad_(True)
                for _ in range(int(critic_updates)):
                    distance = critic_value(critic, sharp).mean() - critic_value(critic, restored.detach()).mean()
                    loss_critic = -distance + gradient_penalty(critic, sharp, restored, weight=gp_weight,
                                                               generator=noise)
                    optimise_critic.zero_grad(set_to_none=True)
                    loss_critic.backward()
                    optimise_critic.step()

                critic.requires_grad_(False)  # the generator step must not leave gradients in the critic
                target = extract(sharp).detach()
                content = F.mse_loss(extract(restored), target)
                structure = ssim_loss(restored, sharp) if ssim_weight else restored.new_zeros(())
                loss_generator = (-critic_value(critic, restored).mean() + perceptual_weight * content
                                  + ssim_weight * structure)
                optimise_generator.zero_grad(set_to_none=True)
                loss_generator.backward()
                optimise_generator.step()

                for key, value in (("critic", loss_critic), ("generator", loss_generator), ("content", content),
                                   ("wasserstein", distance), ("ssim", structure)):
                    sums[key] += float(value.detach())
                step += 1
                bar.update(1)
            history.append({key: value / per_epoch for key, value in sums.items()})
            bar.set_postfix(generator=f"{history[-1]['generator']:.4f}", critic=f"{history[-1]['critic']:.4f}")
    critic.requires_grad_(True)
    generator.eval()
    critic.eval()
    return history


def mse_ssim_loss(*, ssim_weight=1.0):
    """``MSE + ssim_weight * (1 - SSIM)``: the MMDF pre-training loss of the generator."""

    def loss(prediction, target):
        return F.mse_loss(prediction, target) + ssim_weight * ssim_loss(prediction, target)

    return loss


def seeded_critic(*, seed, base_channels=64):
    """A `PatchCritic` with initial weights drawn from `seed` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(np.uint32(seed)) + 7919)  # not the generator's stream
        return PatchCritic(base_channels=base_channels)
