"""CNNIQA trained on LIVE: the no-reference score the MMDF paper reports (lower is better).

Kang et al.'s CNNIQA predicts the LIVE database's differential mean opinion
score (DMOS, roughly 0 for pristine to 100 for worst; lower is better) from
32 x 32 patches of the grey image. The MMDF paper's CNNIQA values (23-32,
lower is better) are on that scale. pyiqa ships only a KonIQ-10k model
(``cnniqa-koniq``: another training set, another scale, higher is better),
and no LIVE-trained file is published with a checksum, so this metric is
unavailable until a file is put at ``$MMDF_BENCH_WEIGHTS/cnniqa/CNNIQA-LIVE.pth``.

Two checkpoint layouts are accepted, recognised by the first convolution:

* one input channel: the layout of D. Li's PyTorch reimplementation (the
  file ``models/CNNIQA-LIVE`` of github.com/lidq92/CNNIQA, a state dict of
  ``conv1`` 50 x 1 x 7 x 7, ``fc1`` 800 x 100, ``fc2`` 800 x 800, ``fc3``
  1 x 800). It is evaluated as that code evaluates it: the image converted
  to 8-bit grey, cut into non-overlapping 32 x 32 patches at ``0, 32, ...``
  up to but excluding the last multiple of 32 below the image side, each
  patch locally normalised (3 x 3 mean and standard deviation, mirrored
  border, ``C = 1`` on the [0, 1] scale), and the patch scores averaged;
* three input channels: pyiqa's CNNIQA layout (``{"params": state_dict}``),
  evaluated on the whole RGB image as pyiqa does.

Deviation: Li's code calls ``F.dropout`` without ``training=False``, so its
scores are random at test time; here dropout is off and scores are
deterministic.
"""

from functools import lru_cache

import numpy as np
from scipy import ndimage

from mmdf_bench.errors import (
    InvalidInputError,
    MetricUnavailableError,
    WeightsUnavailableError,
)
from mmdf_bench.images import to_gray, validate_image
from mmdf_bench.metrics.base import Metric
from mmdf_bench.weights import WeightFile, resolve_weights

__all__ = ["CNNIQA_LIVE_WEIGHTS", "PATCH_SIZE", "LiveCNNIQA", "cnniqa_live", "local_normalization"]

CNNIQA_LIVE_WEIGHTS = WeightFile(
    path="cnniqa/CNNIQA-LIVE.pth",
    url=None,
    description=(
        "a CNNIQA state dict trained on LIVE (no official download with a checksum exists; "
        "D. Li's reimplementation publishes one as models/CNNIQA-LIVE in "
        "https://github.com/lidq92/CNNIQA)"
    ),
)

#: Side of the square patches the one-channel (Kang et al.) model scores.
PATCH_SIZE = 32
_NORMALIZATION_WINDOW = 3
_NORMALIZATION_CONSTANT = 1.0
_KERNELS, _KERNEL_SIZE, _HIDDEN = 50, 7, 800


def local_normalization(patch, *, window=_NORMALIZATION_WINDOW, constant=_NORMALIZATION_CONSTANT):
    """Kang et al.'s local contrast normalisation of one grey patch.

    ``(I - mu) / (sigma + C)`` with ``mu`` and ``sigma`` the mean and the
    (population) standard deviation over a `window` x `window` neighbourhood,
    the patch border mirrored.

    Parameters
    ----------
    patch : ndarray, shape (H, W)
    window : int, optional
    constant : float, optional
        ``C``; 1 on the [0, 1] scale, as in the reimplementation whose LIVE
        weights are public.

    Returns
    -------
    normalized : ndarray of float64, shape (H, W)

    References
    ----------
    .. [1] L. Kang, P. Ye, Y. Li and D. Doermann, "Convolutional neural
       networks for no-reference image quality assessment", CVPR 2014,
       1733-1740. :doi:`10.1109/CVPR.2014.224`
    """
    patch = np.asarray(patch, dtype=np.float64)
    mean = ndimage.uniform_filter(patch, window, mode="reflect")
    square = ndimage.uniform_filter(patch * patch, window, mode="reflect")
    deviation = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return (patch - mean) / (deviation + constant)


def _patch_corners(size):
    # range(0, size - 32, 32) as in the reimplementation: an exact multiple drops its last patch
    return range(0, size - PATCH_SIZE, PATCH_SIZE)


def _grey_patches(image, source):
    grey = np.round(to_gray(image).astype(np.float64) * 255) / 255
    rows, columns = _patch_corners(grey.shape[0]), _patch_corners(grey.shape[1])
    if not len(rows) or not len(columns):
        where = f" in {source}" if source else ""
        raise InvalidInputError(
            f"cnniqa-live needs images of at least {PATCH_SIZE + 1}x{PATCH_SIZE + 1} pixels, "
            f"got {grey.shape}{where}")
    return np.stack([local_normalization(grey[r:r + PATCH_SIZE, c:c + PATCH_SIZE])
                     for r in rows for c in columns])


def _build_network(channels):
    import torch
    from torch import nn

    class KangCNNIQA(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, _KERNELS, _KERNEL_SIZE)
            self.fc1 = nn.Linear(2 * _KERNELS, _HIDDEN)
            self.fc2 = nn.Linear(_HIDDEN, _HIDDEN)
            self.fc3 = nn.Linear(_HIDDEN, 1)

        def forward(self, x):
            features = self.conv1(x).flatten(2)
            pooled = torch.cat([features.amax(dim=2), features.amin(dim=2)], dim=1)
            hidden = torch.relu(self.fc2(torch.relu(self.fc1(pooled))))
            return self.fc3(hidden)

    return KangCNNIQA()


@lru_cache(maxsize=2)
def _load_network(path):
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file that is no checkpoint
        raise InvalidInputError(f"cannot read the CNNIQA checkpoint {path}: {error}") from error
    for key in ("params", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    weight = state.get("conv1.weight") if isinstance(state, dict) else None
    if weight is None or weight.ndim != 4 or weight.shape[1] not in (1, 3):
        raise InvalidInputError(
            f"{path} is not a CNNIQA state dict: expected 'conv1.weight' of shape "
            f"({_KERNELS}, 1 or 3, {_KERNEL_SIZE}, {_KERNEL_SIZE})")
    network = _build_network(int(weight.shape[1]))
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InvalidInputError(f"{path} is not a CNNIQA state dict: {first}") from error
    return network.eval()


def cnniqa_live(image, *, weights=None, source=None):
    """LIVE-trained CNNIQA of Kang et al.: predicted DMOS, lower is better.

    See the module notes for the two accepted checkpoint layouts and how
    each is evaluated.

    Parameters
    ----------
    image : ndarray of float32, shape (H, W) or (H, W, 3)
        In [0, 1]; at least 33 x 33 pixels for a one-channel checkpoint.
    weights : path-like, optional
        The checkpoint; by default ``cnniqa/CNNIQA-LIVE.pth`` found by
        `mmdf_bench.weights.resolve_weights`.
    source : str, optional
        Names the image in error messages.

    Returns
    -------
    score : float
        Predicted LIVE DMOS (roughly 0..100, lower is better).

    Raises
    ------
    WeightsUnavailableError
        When no checkpoint is found.
    InvalidInputError
        When the image is too small, or the file is not a CNNIQA checkpoint.

    References
    ----------
    .. [1] L. Kang, P. Ye, Y. Li and D. Doermann, "Convolutional neural
       networks for no-reference image quality assessment", CVPR 2014,
       1733-1740. :doi:`10.1109/CVPR.2014.224`
    .. [2] H. R. Sheikh, M. F. Sabir and A. C. Bovik, "A statistical
       evaluation of recent full reference image quality assessment
       algorithms", IEEE Transactions on Image Processing 15(11),
       3440-3451, 2006. (the LIVE database)
    """
    import torch

    image = validate_image(image, source=source)
    path = resolve_weights(CNNIQA_LIVE_WEIGHTS) if weights is None else weights
    network = _load_network(str(path))
    if network.conv1.in_channels == 1:
        batch = torch.from_numpy(_grey_patches(image, source).astype(np.float32))[:, None]
    else:
        if min(image.shape[:2]) < _KERNEL_SIZE:
            raise InvalidInputError(f"cnniqa-live needs images of at least {_KERNEL_SIZE}x"
                                    f"{_KERNEL_SIZE} pixels, got {image.shape[:2]}")
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
        batch = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        return float(network(batch).mean())


class LiveCNNIQA(Metric):
    """The LIVE-trained CNNIQA the MMDF paper reports (lower is better); see `cnniqa_live`."""

    name = "cnniqa-live"
    tasks = ("fusion", "deblur")
    higher_is_better = False
    value_range = "about 0..100 (LIVE DMOS)"
    weight_files = (CNNIQA_LIVE_WEIGHTS,)  # what `mmdf-bench list` reports it needs
    summary = ("CNNIQA trained on LIVE, the paper's no-reference score (predicted DMOS, lower is "
               "better); needs cnniqa/CNNIQA-LIVE.pth")
    citation = (
        "L. Kang, P. Ye, Y. Li, D. Doermann. Convolutional neural networks for no-reference "
        "image quality assessment. CVPR 2014, 1733-1740."
    )

    def check_available(self):
        try:
            path = resolve_weights(CNNIQA_LIVE_WEIGHTS)
            _load_network(str(path))
        except (WeightsUnavailableError, InvalidInputError) as error:
            raise MetricUnavailableError(f"{self.name}: {error}") from error

    def compute(self, output, sample):
        return cnniqa_live(output, source=getattr(sample, "sample_id", None))
