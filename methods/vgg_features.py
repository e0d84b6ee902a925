"""Frozen ImageNet VGG feature extractors for perceptual losses.

DeblurGAN compares VGG19 ``conv3_3`` activations (before the ReLU) and
FuseGAN's optional perceptual loss compares VGG16 ``relu3_3`` activations.
Both are the first layers of torchvision's ``vgg*().features``: up to
``conv3_3`` VGG16 and VGG19 have the same layout, so one class with the
torchvision layer indices serves both, and torchvision's state dicts load
into it directly.

References
----------
.. [1] K. Simonyan and A. Zisserman, "Very deep convolutional networks for
       large-scale image recognition", ICLR 2015, arXiv:1409.1556.
.. [2] J. Johnson, A. Alahi and L. Fei-Fei, "Perceptual losses for real-time
       style transfer and super-resolution", ECCV 2016.
"""

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: VGG16 and VGG19 up to conv3_3: output channels of each 3x3 convolution, or "M" for 2x2 max-pooling
CONV3_3_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256)


class VGGFeatures(nn.Module):
    """VGG ``features`` up to ``conv3_3`` on [0, 1] RGB images, ImageNet-normalised, frozen.

    Parameters
    ----------
    relu_at_end : bool
        End with ``relu3_3`` (torchvision's ``features[:16]``) rather than
        the ``conv3_3`` output before its ReLU (``features[:15]``).

    Notes
    -----
    The inputs are normalised with ImageNet's mean and deviation, the
    statistics VGG was trained with (the DeblurGAN reference code feeds
    [-1, 1] images without it).
    """

    def __init__(self, *, relu_at_end):
        super().__init__()
        layers, channels = [], 3
        for item in CONV3_3_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*(layers if relu_at_end else layers[:-1]))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, images):
        return self.features((images - self.mean) / self.std)


def load_vgg_features(path, *, relu_at_end):
    """`VGGFeatures` with the weights of a torchvision VGG16 or VGG19 state-dict file at `path`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    extractor = VGGFeatures(relu_at_end=relu_at_end)
    wanted = [key for key in extractor.state_dict() if key.startswith("features.")]
    missing = [key for key in wanted if key not in state]
    if missing:
        raise ValueError(f"{path} is not a torchvision VGG state dict: it lacks {', '.join(missing[:3])}")
    extractor.load_state_dict({**{key: state[key] for key in wanted}, "mean": extractor.mean, "std": extractor.std})
    return extractor
