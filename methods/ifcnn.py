"""IFCNN fusion (Zhang et al. 2020) with the official pretrained weights.

Two registered methods, ``ifcnn-max`` and ``ifcnn-mean``, differ only in the
elementwise rule that merges the planes' features and in the checkpoint
trained for that rule. The network itself lives in `mmdf_bench.methods.ifcnn_network`
and is imported on first use, so importing this module does not import torch.

Colour and grey
---------------
RGB planes are normalised with the ImageNet mean and standard deviation, as
in the official multi-focus demo, and the output is de-normalised and
clamped to [0, 1]. Grey planes are replicated to three channels, fused the
same way, and the three output channels are reduced to their ITU-R BT.601
luminance (the official demo's ``cv2.COLOR_RGB2GRAY`` for grey datasets).
The official demo skips the normalisation for its grey infrared and medical
pairs; ``normalization="none"`` reproduces that.

References
----------
.. [1] Y. Zhang, Y. Liu, P. Sun, H. Yan, X. Zhao and L. Zhang, "IFCNN: A
       general image fusion framework based on convolutional neural
       network", Information Fusion 54 (2020) 99-118.
       https://doi.org/10.1016/j.inffus.2019.07.011
"""

import numpy as np

from mmdf_bench.devices import DeviceMethod
from mmdf_bench.images import to_gray, validate_stack
from mmdf_bench.tasks.fusion import FusionMethod
from mmdf_bench.weights import WeightFile, resolve_weights

CITATION = (
    "Y. Zhang, Y. Liu, P. Sun, H. Yan, X. Zhao and L. Zhang, \"IFCNN: A general image fusion "
    "framework based on convolutional neural network\", Information Fusion 54 (2020) 99-118, "
    "doi:10.1016/j.inffus.2019.07.011"
)

_WEIGHTS_URL = "https://github.com/uzeful/IFCNN/raw/master/Code/snapshots/"

IFCNN_MAX_WEIGHTS = WeightFile(
    path="ifcnn/IFCNN-MAX.pth",
    url=_WEIGHTS_URL + "IFCNN-MAX.pth",
    sha256="6022b44c88a2f0367ba9b08fcdf0d663745d9a966fca0ee1f41867797b6ff53f",
    description="IFCNN with the elementwise-max fusion rule, official weights",
)
IFCNN_MEAN_WEIGHTS = WeightFile(
    path="ifcnn/IFCNN-MEAN.pth",
    url=_WEIGHTS_URL + "IFCNN-MEAN.pth",
    sha256="fd2ee9361f1d428fc9749e28e8a2c5c5ef6ce6528ab6f5ad8ef5def42e7ffa4b",
    description="IFCNN with the elementwise-mean fusion rule, official weights",
)
WEIGHTS = {"max": IFCNN_MAX_WEIGHTS, "mean": IFCNN_MEAN_WEIGHTS}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def _check_normalization(normalization):
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"unknown normalization {normalization!r}; expected one of {sorted(NORMALIZATIONS)}"
        )


def load_ifcnn(rule="max", *, path=None):
    """Return the IFCNN network for `rule` with its official weights, in eval mode.

    Parameters
    ----------
    rule : {'max', 'mean'}
        The fusion rule; selects the checkpoint.
    path : str or Path, optional
        A checkpoint to load instead of the resolved official file.

    Returns
    -------
    network : mmdf_bench.methods.ifcnn_network.IFCNNNetwork

    Raises
    ------
    mmdf_bench.errors.WeightsUnavailableError
        When the official file is neither found nor downloadable.
    """
    if rule not in WEIGHTS:
        raise ValueError(f"unknown IFCNN rule {rule!r}; expected one of {sorted(WEIGHTS)}")
    from mmdf_bench.methods.ifcnn_network import load_network

    if path is None:
        path = resolve_weights(WEIGHTS[rule])
    return load_network(path, rule=rule)


def ifcnn_fuse(stack, *, rule="max", network=None, normalization="imagenet", tile_size=2048):
    """Fuse a multi-focus stack with IFCNN.

    Parameters
    ----------
    stack : array_like, shape (N, H, W) or (N, H, W, 3)
        N >= 2 registered planes, float in [0, 1] (or integers).
    rule : {'max', 'mean'}
        Fusion rule; ignored when `network` is given.
    network : IFCNNNetwork, optional
        A network from `load_ifcnn`; loaded on each call when omitted.
    normalization : {'imagenet', 'none'}
        Input normalisation, undone on the output.
    tile_size : int or None
        Images larger than this (pixels per side) are processed in exactly
        overlapping tiles to bound memory; None processes the whole image.

    Returns
    -------
    fused : ndarray of float32, shape (H, W) or (H, W, 3), in [0, 1]

    References
    ----------
    .. [1] Y. Zhang et al., "IFCNN: A general image fusion framework based on
           convolutional neural network", Information Fusion 54 (2020) 99-118.
    """
    _check_normalization(normalization)
    stack = validate_stack(stack)
    grey = stack.ndim == 3
    planes = np.repeat(stack[..., None], 3, axis=-1) if grey else stack
    if network is None:
        network = load_ifcnn(rule)
    from mmdf_bench.methods.ifcnn_network import run_network

    mean, std = NORMALIZATIONS[normalization]
    fused = run_network(network, np.ascontiguousarray(planes, dtype=np.float32),
                        mean=mean, std=std, tile_size=tile_size)
    return to_gray(fused) if grey else fused


class _IFCNN(DeviceMethod, FusionMethod):
    """Shared wrapper: loads the network once, on the first `fuse`, onto the method's device."""

    rule = "max"
    citation = CITATION

    def __init__(self, *, normalization="imagenet", tile_size=2048):
        _check_normalization(normalization)
        self.normalization = normalization
        self.tile_size = tile_size
        self._network = None

    @property
    def network(self):
        if self._network is None:
            self._network = self.place(load_ifcnn(self.rule))
        return self._network

    def check_available(self):
        resolve_weights(WEIGHTS[self.rule])

    def fuse(self, stack):
        with self.inference_autocast():
            return ifcnn_fuse(stack, network=self.network, normalization=self.normalization,
                              tile_size=self.tile_size)


class IFCNNMax(_IFCNN):
    """IFCNN with the elementwise-max rule, the official choice for multi-focus images."""

    name = "ifcnn-max"
    rule = "max"
    summary = "IFCNN (Zhang et al. 2020), elementwise-max feature fusion, official weights"
    weights_source = IFCNN_MAX_WEIGHTS.url


class IFCNNMean(_IFCNN):
    """IFCNN with the elementwise-mean rule (trained for multi-exposure fusion)."""

    name = "ifcnn-mean"
    rule = "mean"
    summary = "IFCNN (Zhang et al. 2020), elementwise-mean feature fusion, official weights"
    weights_source = IFCNN_MEAN_WEIGHTS.url
