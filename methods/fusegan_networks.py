"""FuseGAN networks: the DenseBlock U-Net generator and the VGG-like PatchGAN (torch).

Imported lazily by `mmdf_bench.methods.fusegan`.

Generator (MMDF section 3.3)::

    conv 3x3 -> W, PReLU
    encoder:  DenseBlock(W -> W)   | avg-pool 2
              DenseBlock(W -> 2W)  | avg-pool 2
              DenseBlock(2W -> 4W) | avg-pool 2
    bottom:   3 x [conv 3x3 4W -> 4W, PReLU]
    decoder:  bilinear x2, concat skip, DenseBlock(8W -> 2W)
              bilinear x2, concat skip, DenseBlock(4W -> W)
              bilinear x2, concat skip, DenseBlock(2W -> W)
    conv 3x3 -> 3, tanh, mapped to [0, 1] as (t + 1) / 2

A DenseBlock has three 3x3 convolutions, each followed by a PReLU; every
convolution sees the block input concatenated with the outputs of the
convolutions before it (Huang et al.), the first two add ``growth``
channels each and the third gives the block's output width. The input of
the generator is the stack's RGB planes concatenated on channels and
padded with zero channels up to ``max_planes`` planes; the masked variant
appends one mask channel per plane (zero for padded planes). Three poolings
make the input sides multiples of 8 (`size_multiple`).

Discriminator: a VGG-like PatchGAN on the fused (or target) RGB image::

    conv 3x3 -> D, conv 3x3 -> D, conv 3x3 -> 2D, conv 3x3 -> 2D | max-pool 4, stride 4
    conv 3x3 -> 4D, conv 1x1 -> 4D                              | max-pool 4, stride 4
    conv 3x3 -> 8D, conv 1x1 -> 1, sigmoid

Eight convolutions, LeakyReLU(0.2) after all but the last. Each point of
the output map sees a 64 x 64 window of the input (`receptive_field`
computes it from the layers: 1 + 4 x 2, + 3 for the first pooling, + 2 x 4
for the 3x3 at stride 4, + 3 x 4 for the second pooling, + 2 x 16 for the
last 3x3 = 64) and neighbouring points are 16 pixels apart. `features`
returns the activation after every LeakyReLU, for the perceptual loss. The
discriminator is not conditioned on the stack: it judges whether an image
looks like an all-in-focus image, and its features are then comparable
between the output and the target.

References
----------
.. [1] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021 (arXiv:2007.13701), section 3.3.
.. [2] G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger, "Densely
       connected convolutional networks", CVPR 2017.
.. [3] P. Isola, J.-Y. Zhu, T. Zhou and A. A. Efros, "Image-to-image
       translation with conditional adversarial networks", CVPR 2017.
.. [4] X. Guo, R. Nie, J. Cao, D. Zhou, L. Mei and K. He, "FuseGAN:
       learning to fuse multi-focus image via conditional generative
       adversarial network", IEEE Transactions on Multimedia 21(8), 2019.
"""

import torch
import torch.nn.functional as F
from torch import nn

#: The generator's three poolings: input sides must be multiples of this.
SIZE_MULTIPLE = 8


def _conv(in_channels, out_channels, kernel_size=3):
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class DenseBlock(nn.Module):
    """Three densely connected 3x3 convolutions with PReLU.

    Parameters
    ----------
    in_channels, out_channels : int
    growth : int
        Channels added by each of the first two convolutions.
    """

    def __init__(self, in_channels, out_channels, *, growth):
        super().__init__()
        widths = (growth, growth, out_channels)
        layers, channels = [], in_channels
        for width in widths:
            layers.append(nn.Sequential(_conv(channels, width), nn.PReLU(width)))
            channels += width
        self.layers = nn.ModuleList(layers)

    def forward(self, features):
        seen = [features]
        for layer in self.layers[:-1]:
            seen.append(layer(torch.cat(seen, dim=1)))
        return self.layers[-1](torch.cat(seen, dim=1))


class FuseGANGenerator(nn.Module):
    """DenseBlock U-Net mapping a padded, channel-concatenated stack to an RGB image in [0, 1].

    Parameters
    ----------
    max_planes : int
        Planes the input has room for (fewer are zero-padded by the caller).
    masks : bool
        Whether one mask channel per plane follows the RGB channels.
    width : int
        Channels of the first convolution (64 in the paper).
    """

    size_multiple = SIZE_MULTIPLE

    def __init__(self, *, max_planes, masks=False, width=64):
        super().__init__()
        self.architecture = {"kind": "fusegan-generator", "max_planes": int(max_planes),
                             "masks": bool(masks), "width": int(width)}
        self.in_channels = int(max_planes) * (4 if masks else 3)
        w, half = int(width), max(int(width) // 2, 1)
        self.head = nn.Sequential(_conv(self.in_channels, w), nn.PReLU(w))
        self.encoder = nn.ModuleList([DenseBlock(w, w, growth=half), DenseBlock(w, 2 * w, growth=w),
                                      DenseBlock(2 * w, 4 * w, growth=2 * w)])
        self.bottom = nn.Sequential(*[module for _ in range(3) for module in (_conv(4 * w, 4 * w), nn.PReLU(4 * w))])
        self.decoder = nn.ModuleList([DenseBlock(8 * w, 2 * w, growth=2 * w), DenseBlock(4 * w, w, growth=w),
                                      DenseBlock(2 * w, w, growth=half)])
        self.tail = _conv(w, 3)

    def forward(self, inputs):
        if inputs.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {inputs.shape[1]}")
        features = self.head(inputs)
        skips = []
        for block in self.encoder:
            features = block(features)
            skips.append(features)
            features = F.avg_pool2d(features, 2)
        features = self.bottom(features)
        for block, skip in zip(self.decoder, reversed(skips)):
            features = F.interpolate(features, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            features = block(torch.cat([features, skip], dim=1))
        return (torch.tanh(self.tail(features)) + 1.0) / 2.0


class PatchDiscriminator(nn.Module):
    """VGG-like PatchGAN: a map of P(real) over 64 x 64 windows, and its intermediate features.

    Parameters
    ----------
    width : int
        Channels of the first convolution.
    """

    #: (kind, out-channel factor or pool window, kernel) in order; see the module docstring.
    LAYOUT = (("conv", 1, 3), ("conv", 1, 3), ("conv", 2, 3), ("conv", 2, 3), ("pool", 4, 4),
              ("conv", 4, 3), ("conv", 4, 1), ("pool", 4, 4), ("conv", 8, 3), ("conv", None, 1))

    def __init__(self, *, width=64):
        super().__init__()
        self.architecture = {"kind": "fusegan-discriminator", "width": int(width)}
        layers, channels = [], 3
        for kind, factor, kernel in self.LAYOUT:
            if kind == "pool":
                layers.append(nn.MaxPool2d(kernel, stride=factor))
                continue
            out = 1 if factor is None else factor * int(width)
            layers.append(_conv(channels, out, kernel))
            if factor is not None:
                layers.append(nn.LeakyReLU(0.2, inplace=False))
            channels = out
        self.layers = nn.Sequential(*layers)

    def features(self, images):
        """Activations after each LeakyReLU (7 maps), for the perceptual loss."""
        found = []
        for layer in self.layers:
            images = layer(images)
            if isinstance(layer, nn.LeakyReLU):
                found.append(images)
        return found

    def logits(self, images):
        """The map before the sigmoid, shape ``(B, 1, H // 16, W // 16)``."""
        return self.layers(images)

    def forward(self, images):
        return torch.sigmoid(self.logits(images))


def receptive_field(module):
    """Side of the input window that one output point of a conv / pool stack depends on.

    Walks the ``Conv2d`` and pooling layers of `module` in order with the
    recursion ``r <- r + (k - 1) j``, ``j <- j s`` (kernel k, stride s,
    dilation 1), starting from ``r = j = 1``.

    Returns
    -------
    field : int
    jump : int
        Input pixels between neighbouring output points.
    """
    field, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            kernel = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            stride = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            dilation = getattr(layer, "dilation", 1)
            dilation = dilation if isinstance(dilation, int) else dilation[0]
            field += (kernel - 1) * dilation * jump
            jump *= stride
    return field, jump


def build_generator(architecture):
    """`FuseGANGenerator` from its recorded architecture dict."""
    if architecture.get("kind") != "fusegan-generator":
        raise ValueError(f"not a FuseGAN generator architecture: {architecture!r}")
    return FuseGANGenerator(max_planes=architecture["max_planes"], masks=architecture["masks"],
                            width=architecture["width"])


def seeded(factory, *, seed, **options):
    """Build ``factory(**options)`` with initial weights drawn from `seed` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory(**options)
