"""Networks of the deep deblurring methods (torch).

Imported lazily by `mmdf_bench.methods.deblur_cnn`. Every network maps ``(N, 3, H, W)``
intensities in [0, 1] to a restored batch of the same shape, records the
arguments it was built with as ``.architecture`` (``{"kind": ..., ...}``,
what `build_network` takes back) and declares ``size_multiple``, the number
the input sides must be multiples of (`mmdf_bench.methods.tiling.infer` pads to it).

References
----------
.. [1] C. Dong, C. C. Loy, K. He and X. Tang, "Image super-resolution using
       deep convolutional networks", IEEE TPAMI 38(2): 295-307, 2016
       (ECCV 2014 for the first version).
.. [2] O. Ronneberger, P. Fischer and T. Brox, "U-Net: convolutional networks
       for biomedical image segmentation", MICCAI 2015.
.. [3] V. Iglovikov and A. Shvets, "TernausNet: U-Net with VGG11 encoder
       pre-trained on ImageNet for image segmentation", arXiv:1801.05746, 2018.
.. [4] K. Simonyan and A. Zisserman, "Very deep convolutional networks for
       large-scale image recognition", ICLR 2015 (VGG11 = configuration A).
.. [5] P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio and P.-A. Manzagol,
       "Stacked denoising autoencoders", JMLR 11: 3371-3408, 2010.
.. [6] K. Zeng, J. Yu, R. Wang, C. Li and D. Tao, "Coupled deep autoencoder
       for single image super-resolution", IEEE Transactions on
       Cybernetics 47(1): 27-37, 2017.
"""

import torch
import torch.nn.functional as F
from torch import nn

#: ImageNet statistics the torchvision VGG weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: VGG11 (configuration A) convolution widths, grouped by resolution.
VGG11_BLOCKS = ((64,), (128,), (256, 256), (512, 512), (512, 512))


class SRCNN(nn.Module):
    """Patch extraction 9x9, non-linear mapping 1x1, reconstruction 5x5 (Dong et al.).

    Applied at full resolution to the blurred image. With ``residual`` the
    network predicts the correction added to its input (as VDSR does) rather
    than the image itself: the same three layers, far faster to train.
    Convolutions pad by replicating the border so output and input align.
    """

    size_multiple = 1

    def __init__(self, *, channels=(64, 32), kernels=(9, 1, 5), residual=True):
        super().__init__()
        self.architecture = {"kind": "srcnn", "channels": list(channels), "kernels": list(kernels),
                             "residual": bool(residual)}
        widths = [3, *channels, 3]
        layers = []
        for index, kernel in enumerate(kernels):
            layers.append(nn.Conv2d(widths[index], widths[index + 1], kernel, padding=kernel // 2,
                                    padding_mode="replicate"))
            if index < len(kernels) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        self.residual = bool(residual)

    def forward(self, images):
        output = self.body(images - 0.5)
        return images + output if self.residual else output + 0.5


def _conv_relu(in_channels, out_channels):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))


class _UpBlock(nn.Module):
    """3x3 conv + ReLU, then a 4x4 stride-2 transposed conv + ReLU (doubles the side)."""

    def __init__(self, in_channels, middle, out_channels):
        super().__init__()
        self.conv = _conv_relu(in_channels, middle)
        self.up = nn.ConvTranspose2d(middle, out_channels, 4, stride=2, padding=1)

    def forward(self, features):
        return F.relu(self.up(self.conv(features)), inplace=True)


class VGG11UNet(nn.Module):
    """U-Net whose encoder is VGG11's convolutional part (TernausNet layout).

    Encoder: the eight 3x3 convolutions of VGG11 in five resolution blocks
    (64, 128, 256-256, 512-512, 512-512), each block but the first after a
    2x2 max-pool. A bottleneck at 1/32 scale and four up-sampling blocks
    return to full resolution, each concatenating the encoder features of
    its scale (skip connections); a 1x1 convolution gives the 3 channels,
    added to the input (global residual). Inputs are standardised with the
    ImageNet statistics, as the pretrained VGG11 expects.

    Parameters
    ----------
    width : float
        Multiplies every channel count; 1 is VGG11 (the only width that can
        take ImageNet weights).
    """

    size_multiple = 32

    def __init__(self, *, width=1.0):
        super().__init__()
        self.architecture = {"kind": "vgg11-unet", "width": float(width)}
        blocks = [[max(1, round(c * width)) for c in block] for block in VGG11_BLOCKS]
        self.encoder = nn.ModuleList()
        previous = 3
        for block in blocks:
            layers = []
            for channels in block:
                layers.append(_conv_relu(previous, channels))
                previous = channels
            self.encoder.append(nn.Sequential(*layers))
        skips = [block[-1] for block in blocks]          # 64, 128, 256, 512, 512
        scale = lambda c: max(1, round(c * width))
        self.center = _UpBlock(skips[4], scale(512), scale(256))
        self.decoder = nn.ModuleList([
            _UpBlock(scale(256) + skips[4], scale(512), scale(256)),
            _UpBlock(scale(256) + skips[3], scale(512), scale(128)),
            _UpBlock(scale(128) + skips[2], scale(256), scale(64)),
            _UpBlock(scale(64) + skips[1], scale(128), scale(32)),
        ])
        self.last = _conv_relu(scale(32) + skips[0], scale(32))
        self.output = nn.Conv2d(scale(32), 3, 1)
        nn.init.zeros_(self.output.weight)  # start as the identity map
        nn.init.zeros_(self.output.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def encoder_convolutions(self):
        """The eight encoder ``nn.Conv2d`` in VGG11 order."""
        return [module for module in self.encoder.modules() if isinstance(module, nn.Conv2d)]

    def load_vgg11(self, state):
        """Copy the convolutions of a torchvision VGG11 state dict (``features.N.weight``) into the encoder."""
        keys = sorted({int(key.split(".")[1]) for key in state if key.startswith("features.")
                       and key.endswith(".weight")})
        convolutions = self.encoder_convolutions()
        if len(keys) != len(convolutions):
            raise ValueError(f"expected {len(convolutions)} VGG11 convolutions, found {len(keys)}")
        with torch.no_grad():
            for index, convolution in zip(keys, convolutions):
                convolution.weight.copy_(state[f"features.{index}.weight"])
                convolution.bias.copy_(state[f"features.{index}.bias"])

    def forward(self, images):
        features = (images - self.mean) / self.std
        skips = []
        for index, block in enumerate(self.encoder):
            if index:
                features = F.max_pool2d(features, 2)
            features = block(features)
            skips.append(features)
        features = self.center(F.max_pool2d(features, 2))
        for block, skip in zip(self.decoder, reversed(skips[1:])):
            features = block(torch.cat([features, skip], dim=1))
        features = self.last(torch.cat([features, skips[0]], dim=1))
        return images + self.output(features)


def _up_conv(in_channels, out_channels, *, batch_norm=True, activation=True):
    """Nearest-neighbour x2 up-sampling then a 3x3 convolution (no checkerboard artefacts)."""
    layers = [nn.Upsample(scale_factor=2, mode="nearest"),
              nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    if activation:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DenoisingAutoencoder(nn.Module):
    """Convolutional denoising autoencoder 3-32-64-128-256-256 with batch norm.

    Encoder: a 3x3 convolution to 32 channels, then four 3x3 stride-2
    convolutions (64, 128, 256, 256), each followed by batch norm and ReLU,
    down to 1/16 scale. Decoder: the mirror image with up-sampling
    convolutions, and a 3x3 convolution to RGB through a sigmoid. There are
    no skip connections: everything passes through the bottleneck.
    """

    size_multiple = 16

    def __init__(self, *, channels=(32, 64, 128, 256, 256)):
        super().__init__()
        self.architecture = {"kind": "denoising-autoencoder", "channels": list(channels)}
        layers, previous = [], 3
        for index, width in enumerate(channels):
            layers += [nn.Conv2d(previous, width, 3, stride=1 if index == 0 else 2, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            previous = width
        self.encoder = nn.Sequential(*layers)
        layers = []
        for width in reversed(channels[:-1]):
            layers.append(_up_conv(previous, width))
            previous = width
        layers.append(nn.Conv2d(previous, 3, 3, padding=1))
        self.decoder = nn.Sequential(*layers)

    def forward(self, images):
        return torch.sigmoid(self.decoder(self.encoder(2.0 * images - 1.0)))


class StackedAutoencoder(nn.Module):
    """Three convolutional autoencoder layers stacked as encoder-encoder-encoder-decoder-decoder-decoder.

    Layer k encodes with a 4x4 stride-2 convolution + ReLU (halving the
    side) and decodes with an up-sampling convolution back to its input;
    layer 1's decoder outputs RGB through a sigmoid. `encode` / `decode`
    expose the layers for greedy pre-training.
    """

    size_multiple = 8

    def __init__(self, *, channels=(64, 128, 256)):
        super().__init__()
        self.architecture = {"kind": "stacked-autoencoder", "channels": list(channels)}
        widths = [3, *channels]
        self.encoders = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[k], widths[k + 1], 4, stride=2, padding=1), nn.ReLU(inplace=True))
            for k in range(len(channels)))
        self.decoders = nn.ModuleList(
            _up_conv(widths[k + 1], widths[k], batch_norm=False, activation=k > 0) for k in range(len(channels)))

    @property
    def num_layers(self):
        return len(self.encoders)

    def encode(self, images, depth):
        """Codes of the first `depth` layers (depth 0: the centred images)."""
        codes = 2.0 * images - 1.0
        for encoder in self.encoders[:depth]:
            codes = encoder(codes)
        return codes

    def decode(self, codes, depth):
        """Inverse of `encode`: decoders `depth`..1, ending in the image."""
        for decoder in reversed(self.decoders[:depth]):
            codes = decoder(codes)
        return torch.sigmoid(codes) if depth else codes

    def layer(self, index):
        """Autoencoder of layer `index` alone (0-based): its encoder then its decoder."""
        return nn.Sequential(self.encoders[index], self.decoders[index])

    def prefix(self, depth):
        """The image-to-image network of the first `depth` layers (shares this stack's weights)."""
        return _StackPrefix(self, depth)

    def forward(self, images):
        return self.decode(self.encode(images, self.num_layers), self.num_layers)


class _StackPrefix(nn.Module):
    """``decode(encode(images, depth), depth)`` of a `StackedAutoencoder` as a module."""

    def __init__(self, stack, depth):
        super().__init__()
        self.stack, self.depth = stack, int(depth)

    def forward(self, images):
        return self.stack.decode(self.stack.encode(images, self.depth), self.depth)


class _PatchAutoencoder(nn.Module):
    """One side of a `CoupledAutoencoder`: its encoder then its decoder, on centred intensities."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, images):
        return self.decoder(self.encoder(images - 0.5)) + 0.5


class _Centred(nn.Module):
    """Subtract 0.5 from sigmoid codes.

    The codes then have mean near zero: with all-positive inputs every
    weight of the next layer gets a gradient of the same sign, and Adam's
    equal-size steps of thousands of weights add up to a jump of the output.
    """

    def forward(self, codes):
        return codes - 0.5


class _PatchDecoder(nn.Module):
    """Write every code back as a ``patch x patch`` patch and average the overlapping patches.

    A pixel is covered by ``patch**2`` windows, so the average is the
    convolution of the (centred) codes divided by ``patch**2``.
    """

    def __init__(self, hidden, patch):
        super().__init__()
        self.patch = int(patch)
        self.convolution = nn.Conv2d(hidden, 3, patch, padding=patch // 2, padding_mode="replicate")

    def forward(self, codes):
        return self.convolution(codes - 0.5) / self.patch**2


class CoupledAutoencoder(nn.Module):
    """Coupled deep autoencoder (Zeng et al. 2017) applied densely over the image.

    Zeng et al. encode each low-resolution patch and each high-resolution
    patch with a one-hidden-layer autoencoder of its own and learn a
    one-hidden-layer network between the two hidden codes. Applied to every
    ``patch x patch`` window of the image, a patch encoder is a convolution
    with that kernel, the code mapping a pair of 1x1 convolutions, and the
    decoder that writes each code back as a patch and averages overlapping
    patches a ``patch x patch`` convolution divided by ``patch**2``. All
    hidden units are sigmoids; their codes are centred (minus 0.5) before
    the next layer, which changes only how the weights are parametrised.

    Restoration is ``sharp_decoder(mapping(blurred_encoder(blurred)))``.
    """

    size_multiple = 1

    def __init__(self, *, patch=7, hidden=128, mapping_hidden=128):
        super().__init__()
        self.architecture = {"kind": "coupled-autoencoder", "patch": int(patch), "hidden": int(hidden),
                             "mapping_hidden": int(mapping_hidden)}

        def encoder():
            return nn.Sequential(nn.Conv2d(3, hidden, patch, padding=patch // 2, padding_mode="replicate"),
                                 nn.Sigmoid())

        def decoder():
            return _PatchDecoder(hidden, patch)

        self.blurred_encoder, self.blurred_decoder = encoder(), decoder()
        self.sharp_encoder, self.sharp_decoder = encoder(), decoder()
        self.mapping = nn.Sequential(_Centred(), nn.Conv2d(hidden, mapping_hidden, 1), nn.Sigmoid(),
                                     _Centred(), nn.Conv2d(mapping_hidden, hidden, 1), nn.Sigmoid())

    def blurred_autoencoder(self):
        """The blurred-patch autoencoder as a module (shares this network's weights)."""
        return _PatchAutoencoder(self.blurred_encoder, self.blurred_decoder)

    def sharp_autoencoder(self):
        """The sharp-patch autoencoder as a module (shares this network's weights)."""
        return _PatchAutoencoder(self.sharp_encoder, self.sharp_decoder)

    def forward(self, images):
        return self.sharp_decoder(self.mapping(self.blurred_encoder(images - 0.5))) + 0.5


NETWORKS = {
    "srcnn": SRCNN,
    "vgg11-unet": VGG11UNet,
    "denoising-autoencoder": DenoisingAutoencoder,
    "stacked-autoencoder": StackedAutoencoder,
    "coupled-autoencoder": CoupledAutoencoder,
}


def build_network(architecture):
    """Return a freshly initialised network from its ``.architecture`` dictionary."""
    options = dict(architecture)
    kind = options.pop("kind", None)
    if kind not in NETWORKS:
        raise ValueError(f"unknown network kind {kind!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[kind](**options)
