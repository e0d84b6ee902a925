"""The IFCNN network (torch); imported lazily by `mmdf_bench.methods.ifcnn`.

IFCNN extracts features from every source image with two convolutional
layers, merges them with an elementwise rule (max, mean or sum) and
reconstructs the fused image with two more layers:

    plane -> replicate pad 3 -> conv1 (7x7, 3->64, ResNet-101's first layer, no BN)
          -> conv2 [replicate pad 1, 3x3 conv, BN, ReLU]
    fused features = rule over planes
          -> conv3 [replicate pad 1, 3x3 conv, BN, ReLU] -> conv4 (1x1, 64->3)

The network works in the input's normalised colour space; the caller
normalises the planes and undoes the normalisation on the output.

References
----------
.. [1] Y. Zhang, Y. Liu, P. Sun, H. Yan, X. Zhao and L. Zhang, "IFCNN: A
       general image fusion framework based on convolutional neural
       network", Information Fusion 54 (2020) 99-118.
       https://github.com/uzeful/IFCNN
"""

import torch
import torch.nn.functional as F
from torch import nn

from mmdf_bench.devices import module_device

FUSION_RULES = ("max", "mean", "sum")

# conv1 (7x7), conv2 and conv3 (3x3): an output pixel depends on input pixels
# at most 3 + 1 + 1 away, which is what a tile needs as real context
RECEPTIVE_RADIUS = 5


class ConvBlock(nn.Module):
    """Replicate pad 1, 3x3 convolution without bias, batch norm, ReLU."""

    def __init__(self, channels=64):
        super().__init__()
        # attribute names match the keys of the official state dicts
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate"))), inplace=True)

    @torch.no_grad()
    def fold_batch_norm(self):
        """Merge the (eval-mode) batch norm into the convolution: same output, one pass less."""
        if isinstance(self.bn, nn.Identity):
            return
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        folded = nn.Conv2d(self.conv.in_channels, self.conv.out_channels,
                           kernel_size=self.conv.kernel_size, padding=0, bias=True)
        folded.weight.copy_(self.conv.weight * scale.view(-1, 1, 1, 1))
        folded.bias.copy_(self.bn.bias - self.bn.running_mean * scale)
        self.conv, self.bn = folded, nn.Identity()


class IFCNNNetwork(nn.Module):
    """IFCNN with one elementwise fusion rule.

    Parameters
    ----------
    rule : {'max', 'mean', 'sum'}
        How the conv2 features of the planes are merged.

    Notes
    -----
    Planes are pushed through the feature layers one at a time and folded
    into a running maximum or sum, so memory does not grow with the number
    of planes. The result equals applying the rule to all planes at once.
    """

    def __init__(self, *, rule="max"):
        super().__init__()
        if rule not in FUSION_RULES:
            raise ValueError(f"unknown IFCNN fusion rule {rule!r}; expected one of {FUSION_RULES}")
        self.rule = rule
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=1, padding=0, bias=False)
        self.conv2 = ConvBlock(64)
        self.conv3 = ConvBlock(64)
        self.conv4 = nn.Conv2d(64, 3, kernel_size=1)

    def prepare_for_inference(self):
        """Switch to eval mode, fold batch norms and use channels-last memory.

        Together these take a 520x520 pair from about 0.8 s to 0.5 s on two
        CPU cores. The network can no longer load a state dict afterwards.
        """
        self.eval()
        self.conv2.fold_batch_norm()
        self.conv3.fold_batch_norm()
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self.to(memory_format=torch.channels_last)

    def extract(self, plane):
        """Features of one normalised plane ``(B, 3, H, W)`` -> ``(B, 64, H, W)``."""
        return self.conv2(self.conv1(F.pad(plane, (3, 3, 3, 3), mode="replicate")))

    def reconstruct(self, features):
        """Fused features ``(B, 64, H, W)`` -> image ``(B, 3, H, W)`` (normalised space)."""
        return self.conv4(self.conv3(features))

    def forward(self, planes):
        """Fuse normalised planes ``(N, 3, H, W)``, N >= 1, into ``(1, 3, H, W)``."""
        fused = None
        for index in range(planes.shape[0]):
            features = self.extract(planes[index : index + 1])
            if fused is None:
                fused = features
            elif self.rule == "max":
                torch.maximum(fused, features, out=fused)
            else:
                fused.add_(features)
        if self.rule == "mean":
            fused.div_(planes.shape[0])
        return self.reconstruct(fused)


def load_network(path, *, rule):
    """Build an `IFCNNNetwork` with the official weights at `path`, ready for inference.

    The checkpoint must hold every layer (strict loading), so torchvision's
    ResNet-101 is never downloaded.
    """
    network = IFCNNNetwork(rule=rule)
    state = torch.load(path, map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    return network.prepare_for_inference()


def run_network(network, planes, *, mean, std, tile_size=None):
    """Fuse float planes in [0, 1] and return the de-normalised, clamped result.

    Parameters
    ----------
    network : IFCNNNetwork
    planes : ndarray, shape (N, H, W, 3), float32
    mean, std : sequence of 3 floats
        Per-channel normalisation applied to the input and undone on the output.
    tile_size : int, optional
        Process the image in tiles of at most this many pixels per side,
        each with `RECEPTIVE_RADIUS` pixels of real context, which gives the
        same result as the whole image with less memory. None: whole image.

    Returns
    -------
    fused : ndarray, shape (H, W, 3), float32 in [0, 1]
    """
    device = module_device(network)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    with torch.inference_mode():
        tensor = torch.from_numpy(planes).to(device).permute(0, 3, 1, 2)
        tensor = ((tensor - mean_t) / std_t).contiguous(memory_format=torch.channels_last)
        height, width = tensor.shape[-2:]
        if tile_size is None or max(height, width) <= tile_size:
            output = network(tensor)
        else:
            output = _run_tiled(network, tensor, tile_size)
        output = (output.float() * std_t + mean_t).clamp_(0.0, 1.0)
        return output[0].permute(1, 2, 0).contiguous().cpu().numpy()


def _run_tiled(network, tensor, tile_size):
    height, width = tensor.shape[-2:]
    margin = RECEPTIVE_RADIUS
    step = max(tile_size - 2 * margin, 1)
    output = None
    for top in range(0, height, step):
        for left in range(0, width, step):
            bottom, right = min(top + step, height), min(left + step, width)
            # crop with context; the network's replicate padding then only
            # touches pixels that are cut away or lie on the true image border
            y0, x0 = max(top - margin, 0), max(left - margin, 0)
            y1, x1 = min(bottom + margin, height), min(right + margin, width)
            tile = network(tensor[:, :, y0:y1, x0:x1].contiguous(memory_format=torch.channels_last))
            if output is None:  # the network's dtype (bfloat16 under autocast) on its device
                output = torch.empty((1, 3, height, width), dtype=tile.dtype, device=tile.device)
            output[:, :, top:bottom, left:right] = tile[
                :, :, top - y0 : top - y0 + bottom - top, left - x0 : left - x0 + right - left
            ]
    return output
