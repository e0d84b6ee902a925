"""Patch CNNs that grade focus, and their training loop (torch).

Imported lazily by `mmdf_bench.methods.focus_cnn`. The network of Yang et al. (2018):

    84x84 grey -> conv 32@5x5 (same padding), ReLU -> max-pool 2
               -> conv 64@5x5 (same padding), ReLU -> max-pool 2
               -> fc 1024, ReLU -> dropout 0.5 -> fc K -> softmax over K levels

The "upgraded" variant used for the MMDF method adds batch normalisation
after each convolution (``batch_norm=True``), which lets it train in a few
epochs on a CPU. For short CPU trainings the dense layer can also be fed
with the spatial means (and maxima) of the feature maps instead of the
whole maps (``pooling``), and the ranked probability score can be
complemented by a cross-entropy on the in-focus decision (`train_network`,
``focus_weight``).

References
----------
.. [1] S. J. Yang, M. Berndl, D. M. Ando, M. Barch, A. Narayanaswamy,
       E. Christiansen, S. Hoyer, C. Roat, J. Hung, C. T. Rueden,
       A. Shankar, S. Finkbeiner and P. Nelson, "Assessing microscope image
       focus quality with deep learning", BMC Bioinformatics 19:77, 2018.
       Reference code: https://github.com/google/microscopeimagequality
.. [2] S. Ioffe and C. Szegedy, "Batch normalization: accelerating deep
       network training by reducing internal covariate shift", ICML 2015.
"""

import math

import numpy as np
import torch
from torch import nn
from mmdf_bench.progress import progress_bar

from mmdf_bench.devices import fork_rng, module_device
from mmdf_bench.methods.losses import ranked_probability_score_loss

POOLINGS = ("flatten", "average", "average-max")


class MeanAndMaxPooling(nn.Module):
    """Spatial means and maxima of ``(N, C, H, W)`` feature maps, as ``(N, 2C)``."""

    def forward(self, features):
        return torch.cat([features.mean(dim=(-2, -1)), features.amax(dim=(-2, -1))], dim=1)


class FocusNetwork(nn.Module):
    """Two convolution blocks and two fully connected layers over a grey patch.

    Parameters
    ----------
    num_levels : int
        Output classes (defocus levels).
    patch_size : int
        Side of the square input; must be a multiple of 4.
    channels : tuple of two int
        Filters of the two convolutions.
    hidden : int
        Units of the first fully connected layer.
    dropout : float
        Drop probability before the last layer.
    batch_norm : bool
        Batch normalisation after each convolution.
    pooling : {"flatten", "average", "average-max"}
        Feed the fully connected layer with the whole feature maps (Yang et
        al.), with their spatial means, or with their means and maxima.
        Focus cues are statistics of the texture, wherever it lies, and a
        mean needs far fewer weights; a maximum also keeps what only a few
        pixels show (a speck of dust) from being averaged away.
    standardize : bool
        Scale each patch to zero mean and unit standard deviation first,
        instead of mapping [0, 1] to [-1, 1]: the network then sees how
        sharp the texture is, not how strong its contrast is.
    """

    def __init__(self, num_levels=11, *, patch_size=84, channels=(32, 64), hidden=1024, dropout=0.5,
                 batch_norm=False, pooling="flatten", standardize=False):
        super().__init__()
        if patch_size % 4:
            raise ValueError(f"patch_size must be a multiple of 4, got {patch_size}")
        self.architecture = {"num_levels": int(num_levels), "patch_size": int(patch_size),
                             "channels": [int(c) for c in channels], "hidden": int(hidden),
                             "dropout": float(dropout), "batch_norm": bool(batch_norm),
                             "pooling": str(pooling), "standardize": bool(standardize)}
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}")
        layers = []
        previous = 1
        for width in channels:
            # bias is redundant before a batch norm, which re-centres anyway
            layers.append(nn.Conv2d(previous, width, kernel_size=5, padding=2, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*layers)
        inputs = {"flatten": previous * (patch_size // 4) ** 2, "average": previous,
                  "average-max": 2 * previous}[pooling]
        # the layer indices stay those of Yang et al.'s network, so checkpoints keep loading
        pool = {"flatten": nn.Identity(), "average": nn.AdaptiveAvgPool2d(1), "average-max": MeanAndMaxPooling()}
        self.classifier = nn.Sequential(
            pool[pooling],
            nn.Flatten(),
            nn.Linear(inputs, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_levels),
        )

    def forward(self, patches):
        """Map ``(N, 1, S, S)`` intensities in [0, 1] to ``(N, K)`` logits."""
        if self.architecture["standardize"]:
            mean = patches.mean(dim=(-2, -1), keepdim=True)
            spread = patches.std(dim=(-2, -1), keepdim=True)
            # the floor keeps flat (empty) patches from amplifying pure noise without bound
            patches = (patches - mean) / spread.clamp_min(0.01)
        else:
            # centring makes the first layer's biases start near their useful values
            patches = 2.0 * patches - 1.0
        return self.classifier(self.features(patches))


def build_network(architecture):
    """Return a `FocusNetwork` from the dictionary it records as ``.architecture``."""
    return FocusNetwork(architecture["num_levels"], patch_size=architecture["patch_size"],
                        channels=tuple(architecture["channels"]), hidden=architecture["hidden"],
                        dropout=architecture["dropout"], batch_norm=architecture["batch_norm"],
                        pooling=architecture.get("pooling", "flatten"),
                        standardize=architecture.get("standardize", False))


def augment_batch(batch, rng, *, dihedral=False, gain_range=None):
    """Randomly flip / rotate (the 8 symmetries of the square) and rescale the brightness.

    Parameters
    ----------
    batch : Tensor, shape (B, 1, S, S)
        Intensities in [0, 1].
    rng : numpy.random.Generator
    dihedral : bool
        Apply one of the 8 flips / 90-degree rotations per patch: focus does
        not depend on orientation.
    gain_range : tuple of float, optional
        Multiply each patch by a gain drawn uniformly from this range and
        clip to [0, 1], as a change of exposure would.

    Returns
    -------
    Tensor, shaped like `batch`
    """
    size = batch.shape[0]
    if dihedral:
        codes = rng.integers(0, 8, size)
        augmented = torch.empty_like(batch)
        for code in np.unique(codes):
            index = torch.as_tensor(np.flatnonzero(codes == code), device=batch.device)
            part = batch[index]
            if code & 4:
                part = part.transpose(-1, -2)
            augmented[index] = torch.rot90(part, int(code & 3), dims=(-2, -1))
        batch = augmented
    if gain_range is not None:
        gains = torch.as_tensor(rng.uniform(gain_range[0], gain_range[1], size), dtype=batch.dtype,
                                device=batch.device)
        batch = (batch * gains.view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    return batch


def in_focus_cross_entropy(logits, levels, *, weights=None):
    """Binary cross-entropy of the in-focus decision ``p(level 0)`` against ``level == 0``.

    The ranked probability score gives the threshold between level 0 and
    level 1, the one the in-focus / out-of-focus decision rests on, only
    1/(K-1) of its weight: mistaking level 1 for level 0 costs 0.1 when
    K = 11. This term scores that decision alone.

    Parameters
    ----------
    logits : Tensor, shape (N, K)
    levels : Tensor, shape (N,) of int
    weights : Tensor, shape (N,), optional
        Per-sample weights; the result is their weighted mean.

    Returns
    -------
    loss : Tensor, scalar
    """
    everything = torch.logsumexp(logits, dim=1)
    log_in_focus = logits[:, 0] - everything
    log_out_of_focus = torch.logsumexp(logits[:, 1:], dim=1) - everything
    per_sample = -torch.where(levels == 0, log_in_focus, log_out_of_focus)
    if weights is None:
        return per_sample.mean()
    weights = weights.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum()


def train_network(network, patches, targets, *, epochs, batch_size, learning_rate, seed,
                  max_steps=None, weights=None, weight_decay=0.0, schedule="constant", dihedral=False, gain_range=None,
                  focus_weight=0.0, description="training"):
    """Train `network` with Adam on the ranked probability score.

    The loss is ``RPS + focus_weight * in_focus_cross_entropy``.

    Parameters
    ----------
    network : FocusNetwork
        Trained in place.
    patches : ndarray, shape (N, S, S)
        Grey intensities in [0, 1].
    targets : ndarray, shape (N,) of int or (N, K) of float
        True levels or level distributions.
    epochs, batch_size : int
    max_steps : int, optional
        Stop after this many optimizer steps, even within an epoch.
    learning_rate : float
        Adam step size (the peak value for the cosine schedule).
    seed : int
        Seeds the batch order, the augmentations and the dropout masks.
    weights : ndarray, shape (N,), optional
        Per-sample loss weights.
    weight_decay : float
    schedule : {"constant", "cosine"}
        Learning rate over the steps.
    dihedral, gain_range
        Augmentations, see `augment_batch`.
    focus_weight : float
        Weight of the binary in-focus cross-entropy added to the ranked
        probability score (integer `targets` only); 0 trains on the score alone.
    description : str
        Label of the progress bar (written to stderr).

    Returns
    -------
    history : list of float
        Mean training loss of each epoch.
    """
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"unknown schedule {schedule!r}")
    if focus_weight and np.ndim(targets) != 1:
        raise ValueError("focus_weight needs integer level targets, not level distributions")
    rng = np.random.default_rng(seed)
    # the whole training set lives on the network's device: patches are small, and each batch
    # is then gathered and augmented there without a host-to-device copy
    device = module_device(network)
    inputs = torch.as_tensor(np.ascontiguousarray(patches, dtype=np.float32), device=device).unsqueeze(1)
    labels = torch.as_tensor(targets, device=device)
    sample_weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(inputs) / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(epochs * steps_per_epoch, max_steps)
    scheduler = None
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total, 1))
    history = []
    network.train()
    with fork_rng(device), progress_bar(total, description, leave=False,
                                        mininterval=1.0) as bar:
        # dropout draws from torch's global generator: seed a private copy of it
        torch.manual_seed(seed)
        step = 0
        while step < total:
            order = rng.permutation(len(inputs))
            running, seen = 0.0, 0
            for start in range(0, len(order), batch_size):
                if step == total:
                    break
                step += 1
                index = torch.as_tensor(order[start:start + batch_size], device=device)
                batch = augment_batch(inputs[index], rng, dihedral=dihedral, gain_range=gain_range)
                batch_weights = None if sample_weights is None else sample_weights[index]
                logits = network(batch)
                loss = ranked_probability_score_loss(logits, labels[index], weights=batch_weights)
                if focus_weight:
                    loss = loss + focus_weight * in_focus_cross_entropy(logits, labels[index], weights=batch_weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                running += loss.item() * len(index)
                seen += len(index)
                bar.update(1)
            history.append(running / seen)
            bar.set_postfix(loss=f"{history[-1]:.4f}")
    recalibrate_batch_norm(network, inputs, batch_size=max(batch_size, 64))
    network.eval()
    return history


@torch.no_grad()
def recalibrate_batch_norm(network, inputs, *, batch_size=64):
    """Replace the batch-norm running statistics by exact means over `inputs`.

    The running averages kept during training (momentum 0.1) lag behind the
    weights and, after a short training, are far from the statistics the
    final weights produce; evaluation then sees shifted features. One pass
    over the training patches with a cumulative average ("precise BN", Wu
    and Johnson 2021) fixes that. A network without batch norm is left as is.

    Parameters
    ----------
    network : torch.nn.Module
    inputs : Tensor, shape (N, 1, S, S)
    batch_size : int

    References
    ----------
    .. [1] Y. Wu and J. Johnson, "Rethinking 'batch' in BatchNorm", arXiv:2105.07576, 2021.
    """
    layers = [module for module in network.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if not layers or len(inputs) == 0:
        return
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every batch counts equally
    network.train()
    for start in range(0, len(inputs), batch_size):
        network(inputs[start:start + batch_size])
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


@torch.no_grad()
def predict_distributions(network, patches, *, batch_size=256):
    """Level distributions of grey patches.

    Parameters
    ----------
    network : FocusNetwork
    patches : ndarray, shape (N, S, S)
        Grey intensities in [0, 1].
    batch_size : int

    Returns
    -------
    distributions : ndarray of float64, shape (N, K), rows summing to 1
    """
    network.eval()
    device = module_device(network)
    inputs = torch.as_tensor(np.ascontiguousarray(patches, dtype=np.float32)).unsqueeze(1)
    outputs = [torch.softmax(network(inputs[start:start + batch_size].to(device)).double(), dim=1).cpu()
               for start in range(0, len(inputs), batch_size)]
    if not outputs:
        return np.zeros((0, network.architecture["num_levels"]))
    distributions = torch.cat(outputs).numpy()
    return distributions / distributions.sum(axis=1, keepdims=True)
