"""No-reference image quality through pyiqa: BRISQUE and pyiqa's KonIQ-10k CNNIQA.

Both metrics score one image on its own, so they apply to fused and deblurred
outputs that have no ground truth. The models are pyiqa's (``brisque`` and
``cnniqa`` configurations); mmdf-bench only finds their pretrained files (see
`mmdf_bench.weights`) and hands pyiqa explicit local paths, so pyiqa never
downloads anything by itself.

pyiqa's CNNIQA is trained on KonIQ-10k (higher is better, about 0..1) and is
registered as ``cnniqa-koniq``. It is not the LIVE-trained CNNIQA of Kang et
al. whose scores (lower is better, LIVE DMOS units) the MMDF paper reports:
that one is ``cnniqa-live`` (`mmdf_bench.metrics.cnniqa_live`), and the two
scales cannot be compared.

torch and pyiqa are imported inside the functions: importing this module (as
the registry does to list metrics) stays cheap. The first score of a process
pays for ``import pyiqa`` (3-4 s on two cores) and for loading the model
(0.1 s); later calls reuse the cached model.

Grey images are replicated to three channels before scoring. That is what
pyiqa does for a grey file it reads itself, it is the only input CNNIQA's
first convolution accepts, and for BRISQUE it keeps the score of a grey image
identical to that of the RGB image with three equal channels (the YIQ
luminance weights sum to one).
"""

import contextlib
import io
from functools import lru_cache

import numpy as np

from mmdf_bench.errors import (
    InvalidInputError,
    MetricUnavailableError,
    WeightsUnavailableError,
)
from mmdf_bench.images import validate_image
from mmdf_bench.metrics.base import Metric
from mmdf_bench.weights import WeightFile, resolve_weights

__all__ = ["BRISQUE", "BRISQUE_WEIGHTS", "CNNIQA_KONIQ_WEIGHTS", "KonIQCNNIQA", "brisque", "cnniqa_koniq"]

# pyiqa 0.1.16's own weight store (``pyiqa.archs.arch_util.get_url_from_name``)
_PYIQA_STORE = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main"

BRISQUE_WEIGHTS = WeightFile(
    path="pyiqa/brisque_svm_weights.pth",
    url=f"{_PYIQA_STORE}/brisque_svm_weights.pth",
    sha256="e69ee3209300741be38f0c0a5d6f08453d30966fa7a436febeef61d7b31e206e",
    description="BRISQUE support-vector regressor trained on LIVE, as packaged by pyiqa",
)

CNNIQA_KONIQ_WEIGHTS = WeightFile(
    path="pyiqa/CNNIQA_koniq10k-e6f14c91.pth",
    url=f"{_PYIQA_STORE}/CNNIQA_koniq10k-e6f14c91.pth",
    hash_prefix="e6f14c91",
    description="pyiqa's CNNIQA trained on KonIQ-10k",
)

# BRISQUE filters the half-scale image with a 7x7 Gaussian window
BRISQUE_MIN_SIDE = 14
# CNNIQA's first layer is an unpadded 7x7 convolution
CNNIQA_MIN_SIDE = 7


@lru_cache(maxsize=4)
def _pyiqa_model(metric_name, weights_path, device="cpu"):
    import pyiqa
    import torch

    # pyiqa announces checkpoint loading with print(); keep the runner's output clean
    with contextlib.redirect_stdout(io.StringIO()):
        model = pyiqa.create_metric(
            metric_name, device=torch.device(device), pretrained_model_path=str(weights_path)
        )
    return model.eval()


def _as_tensor(image, *, min_side, metric_name, source):
    import torch

    image = validate_image(image, source=source)
    if min(image.shape[:2]) < min_side:
        where = f" in {source}" if source else ""
        raise InvalidInputError(
            f"{metric_name} needs images of at least {min_side}x{min_side} pixels, "
            f"got {image.shape[:2]}{where}"
        )
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    planes = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(planes)[None]


def _score(metric_name, weight_file, image, *, weights, min_side, source, device=None):
    import torch

    tensor = _as_tensor(image, min_side=min_side, metric_name=metric_name, source=source)
    path = resolve_weights(weight_file) if weights is None else weights
    device = "cpu" if device is None else str(device)
    model = _pyiqa_model(metric_name, str(path), device)
    tensor = tensor.to(device)
    where = f" for {source}" if source else ""
    with torch.inference_mode():
        try:
            value = float(model(tensor).reshape(-1)[0])
        except AssertionError as error:
            # pyiqa asserts on degenerate statistics, e.g. an all-black image
            raise InvalidInputError(f"{metric_name} is undefined{where}: {error}") from error
    if not np.isfinite(value):
        raise InvalidInputError(
            f"{metric_name} is undefined{where}: the image statistics are degenerate "
            "(e.g. flat regions separated by a single edge)"
        )
    return value


def brisque(image, *, weights=None, source=None, device=None):
    """Blind/Referenceless Image Spatial Quality Evaluator (lower is better).

    pyiqa's ``brisque`` metric: natural-scene statistics of the mean-subtracted,
    contrast-normalised luminance (8-bit YIQ Y, rounded as MATLAB does) at two
    scales, mapped to a quality score by the support-vector regressor of the
    original authors. Scores are roughly 0 (pristine) to 100 or more.

    Parameters
    ----------
    image : ndarray of float32, shape (H, W) or (H, W, 3)
        In [0, 1], at least 14 pixels on each side.
    weights : path-like, optional
        The SVR file; by default ``pyiqa/brisque_svm_weights.pth`` is found by
        `mmdf_bench.weights.resolve_weights`.
    source : str, optional
        Names the image in error messages.
    device : str or torch.device, optional
        Where the model computes (default: the CPU).

    Returns
    -------
    score : float

    Raises
    ------
    WeightsUnavailableError
        When the SVR file cannot be found or downloaded.
    InvalidInputError
        When the image is not an image, too small, or BRISQUE is undefined on it
        (an all-black image, for instance).

    References
    ----------
    .. [1] A. Mittal, A. K. Moorthy and A. C. Bovik, "No-reference image quality
           assessment in the spatial domain", IEEE Transactions on Image
           Processing 21(12), 4695-4708, 2012. :doi:`10.1109/TIP.2012.2214050`
    .. [2] C. Chen and J. Mo, "IQA-PyTorch: PyTorch toolbox for image quality
           assessment", https://github.com/chaofengc/IQA-PyTorch, 2022.
    """
    return _score("brisque", BRISQUE_WEIGHTS, image, weights=weights,
                  min_side=BRISQUE_MIN_SIDE, source=source, device=device)


def cnniqa_koniq(image, *, weights=None, source=None, device=None):
    """pyiqa's KonIQ-10k CNNIQA, a convolutional no-reference quality predictor (higher is better).

    pyiqa's ``cnniqa`` metric: one 7x7 convolution layer over the whole RGB
    image, max and min global pooling, and three fully connected layers,
    trained on KonIQ-10k. Scores lie roughly in [0, 1], higher is better.
    This is not the LIVE-trained model of Kang et al. (lower is better, LIVE
    DMOS units) that the MMDF paper reports; see
    `mmdf_bench.metrics.cnniqa_live`.

    Parameters
    ----------
    image : ndarray of float32, shape (H, W) or (H, W, 3)
        In [0, 1], at least 7 pixels on each side.
    weights : path-like, optional
        A checkpoint in pyiqa's format (``{"params": state_dict}``); by default
        ``pyiqa/CNNIQA_koniq10k-e6f14c91.pth`` is found by
        `mmdf_bench.weights.resolve_weights`.
    source : str, optional
        Names the image in error messages.
    device : str or torch.device, optional
        Where the model computes (default: the CPU).

    Returns
    -------
    score : float

    Raises
    ------
    WeightsUnavailableError
        When the checkpoint cannot be found or downloaded.
    InvalidInputError
        When the image is not an image or is too small.

    References
    ----------
    .. [1] L. Kang, P. Ye, Y. Li and D. Doermann, "Convolutional neural networks
           for no-reference image quality assessment", CVPR 2014, 1733-1740.
           :doi:`10.1109/CVPR.2014.224`
    .. [2] V. Hosu, H. Lin, T. Sziranyi and D. Saupe, "KonIQ-10k: An ecologically
           valid database for deep learning of blind image quality assessment",
           IEEE Transactions on Image Processing 29, 4041-4056, 2020.
    .. [3] C. Chen and J. Mo, "IQA-PyTorch: PyTorch toolbox for image quality
           assessment", https://github.com/chaofengc/IQA-PyTorch, 2022.
    """
    return _score("cnniqa", CNNIQA_KONIQ_WEIGHTS, image, weights=weights,
                  min_side=CNNIQA_MIN_SIDE, source=source, device=device)


class _PyiqaMetric(Metric):
    """Shared availability check and scoring of the pyiqa-backed metrics."""

    weight_files = ()
    _function = None
    _device = None

    def set_device(self, device):
        """Score on `device` (a ``torch.device``; the CPU by default)."""
        self._device = device
        return self

    def check_available(self):
        try:
            import pyiqa  # noqa: F401
        except ImportError as error:
            raise MetricUnavailableError(
                f"{self.name} needs the pyiqa package ({error}); install it with `pip install pyiqa`"
            ) from error
        for weight_file in self.weight_files:
            try:
                resolve_weights(weight_file)
            except WeightsUnavailableError as error:
                raise MetricUnavailableError(f"{self.name}: {error}") from error

    def compute(self, output, sample):
        source = getattr(sample, "sample_id", None)
        return type(self)._function(output, source=source, device=self._device)


class BRISQUE(_PyiqaMetric):
    """BRISQUE no-reference quality of the output (lower is better); see `brisque`."""

    name = "brisque"
    tasks = ("fusion", "deblur")
    higher_is_better = False
    value_range = "about 0..100 (may leave it)"
    summary = "BRISQUE no-reference quality (pyiqa, LIVE-trained SVR; lower is better)"
    citation = (
        "A. Mittal, A. K. Moorthy, A. C. Bovik. No-reference image quality assessment in the "
        "spatial domain. IEEE Trans. Image Process. 21(12):4695-4708, 2012."
    )
    weight_files = (BRISQUE_WEIGHTS,)
    _function = staticmethod(brisque)


class KonIQCNNIQA(_PyiqaMetric):
    """pyiqa's KonIQ-10k CNNIQA quality of the output (higher is better); see `cnniqa_koniq`."""

    name = "cnniqa-koniq"
    tasks = ("fusion", "deblur")
    higher_is_better = True
    value_range = "about 0..1"
    summary = (
        "CNNIQA architecture with pyiqa's KonIQ-10k weights (not the paper's LIVE-trained "
        "CNNIQA: another scale, not comparable with its values)"
    )
    citation = (
        "L. Kang, P. Ye, Y. Li, D. Doermann. Convolutional neural networks for no-reference "
        "image quality assessment. CVPR 2014, 1733-1740; weights: pyiqa, trained on KonIQ-10k "
        "(Hosu et al., IEEE TIP 29, 2020)."
    )
    weight_files = (CNNIQA_KONIQ_WEIGHTS,)
    _function = staticmethod(cnniqa_koniq)
