"""Shared machinery of the deep deblurring methods (no torch at import time).

`DeepDeblurMethod` is the base of every learned restorer of the deblur task
(SRCNN, U-Net, the autoencoders, DeblurGAN). It provides

* the training pairs: every train sample as an RGB ``(blurred, sharp)``
  pair, and `PairSampler`, which draws seeded batches of random
  ``crop x crop`` windows of them with one of the eight flips / 90-degree
  rotations of the square applied alike to input and target;
* a supervised training loop (`mmdf_bench.methods.deblur_training.supervised_training`:
  Adam, a loss callable, epochs of ``steps_per_epoch`` batches, a tqdm bar on
  stderr), which subclasses replace by overriding `train_network`;
* checkpoint state (`state_dict` / `load_state_dict`) that rebuilds the
  network from its recorded architecture;
* `restore`, which runs the network over overlapping tiles
  (`mmdf_bench.methods.tiling.restore_tiled`) so that memory stays bounded for large
  images. Grey images are restored as three equal channels, then averaged.

Torch and the network modules are imported inside the methods, so that a
registered module built on this one can be listed without importing torch.

Hyper-parameters read by the base class (every profile defines them):
``crop``, ``batch_size``, ``epochs``, ``steps_per_epoch`` (None: one crop
per train image per epoch), ``learning_rate``, ``betas`` (Adam),
``weight_decay``, ``schedule`` ("constant" or "cosine"), ``tile``, ``overlap``.
"""

import math

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import validate_image
from mmdf_bench.tasks.deblur import DeblurMethod
from mmdf_bench.training import TrainableMethod

#: Defaults merged under every profile, so subclasses only state what differs.
BASE_HYPERPARAMETERS = {
    "crop": 64,
    "batch_size": 16,
    "epochs": 1,
    "steps_per_epoch": None,
    "learning_rate": 1e-4,
    "betas": (0.9, 0.999),
    "weight_decay": 0.0,
    "schedule": "constant",
    "tile": 256,
    "overlap": 32,
}


def as_rgb(image):
    """Float32 ``(H, W, 3)`` view of a grey or RGB image."""
    image = np.asarray(image, dtype=np.float32)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def training_pairs(train_samples, *, name="method"):
    """Return the ``(blurred, sharp)`` RGB float32 arrays of every train sample.

    Parameters
    ----------
    train_samples : iterable of DeblurSample
    name : str
        Method name for error messages.

    Returns
    -------
    list of (ndarray, ndarray)
    """
    pairs = [(as_rgb(sample.blurred), as_rgb(sample.reference)) for sample in train_samples]
    if not pairs:
        raise InvalidInputError(f"{name}: the train split holds no (blurred, sharp) pair")
    return pairs


def dihedral(image, code):
    """Apply symmetry `code` (0..7) of the square to the leading two axes of `image`."""
    if code & 4:
        image = np.swapaxes(image, 0, 1)
    return np.rot90(image, code & 3, axes=(0, 1))



def pad_to_crop(image, crop):
    """`image` ``(H, W, C)`` mirrored at its bottom and right edges to at least ``crop x crop``.

    Training crops are cut at random positions; an image smaller than a crop
    is extended by symmetric padding rather than refused.
    """
    rows, cols = image.shape[:2]
    if rows >= crop and cols >= crop:
        return image
    extra = [(0, max(crop - rows, 0)), (0, max(crop - cols, 0))] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, extra, mode="symmetric")

class PairSampler:
    """Seeded batches of aligned random crops of (blurred, sharp) pairs.

    Parameters
    ----------
    pairs : sequence of (ndarray, ndarray)
        RGB float32 images, each pair of one shape. Images smaller than
        `crop` are reflect-padded up to it.
    crop : int
        Side of the square crops.
    rng : numpy.random.Generator
    augment : bool
        Apply a random flip / 90-degree rotation (one of 8) to each crop:
        blur kernels have no preferred orientation in the training data's
        symmetry group, and the sample count grows eightfold.

    Notes
    -----
    An epoch visits every pair once in a random order (`epoch_order`);
    `batch` cuts a fresh random window from each listed pair.
    """

    def __init__(self, pairs, *, crop, rng, augment=True):
        if crop < 1:
            raise InvalidInputError(f"crop must be positive, got {crop}")
        self.crop, self.rng, self.augment = int(crop), rng, bool(augment)
        self.pairs = [tuple(self._padded(image) for image in pair) for pair in pairs]
        if not self.pairs:
            raise InvalidInputError("no training pairs")

    def _padded(self, image):
        return pad_to_crop(image, self.crop)

    def __len__(self):
        return len(self.pairs)

    def epoch_order(self):
        """A random permutation of the pair indices."""
        return self.rng.permutation(len(self.pairs))

    def batch(self, indices):
        """Return ``(blurred, sharp)`` float32 arrays of shape ``(B, 3, crop, crop)``."""
        inputs, targets = [], []
        for index in indices:
            blurred, sharp = self.pairs[index]
            top = self.rng.integers(0, blurred.shape[0] - self.crop + 1)
            left = self.rng.integers(0, blurred.shape[1] - self.crop + 1)
            window = (slice(top, top + self.crop), slice(left, left + self.crop))
            code = int(self.rng.integers(8)) if self.augment else 0
            inputs.append(dihedral(blurred[window], code).transpose(2, 0, 1))
            targets.append(dihedral(sharp[window], code).transpose(2, 0, 1))
        return (np.ascontiguousarray(np.stack(inputs), dtype=np.float32),
                np.ascontiguousarray(np.stack(targets), dtype=np.float32))

    def batches(self, batch_size, steps):
        """Yield `steps` batches, walking through random epoch orders of the pairs."""
        order, position = self.epoch_order(), 0
        for _ in range(steps):
            if position + batch_size > len(order) and position > 0:
                order, position = self.epoch_order(), 0
            chosen = order[position:position + batch_size]
            position += batch_size
            yield self.batch(chosen)


class DeepDeblurMethod(TrainableMethod, DeblurMethod):
    """Base of the learned blind restorers: pairs, training loop, checkpoints, tiled restore.

    Subclasses set `name`, `profiles` (merged over `BASE_HYPERPARAMETERS`
    by `with_defaults`) and implement `architecture` (a JSON-able dict that
    `build_network` turns into an ``nn.Module``). They may override
    `loss_function` (default: mean squared error) or the whole
    `train_network`.
    """

    track = "blind"

    def __init__(self, *, profile="cpu", **overrides):
        super().__init__(profile=profile, **overrides)
        self._network = None
        self._history = []
        self._stages = {}

    # -- what subclasses define -------------------------------------------------------------
    def architecture(self):
        """The network description stored in checkpoints (``{"kind": ..., ...}``)."""
        raise NotImplementedError

    def build_network(self, architecture):
        """Return a fresh ``nn.Module`` for `architecture` (default: `mmdf_bench.methods.deblur_networks`)."""
        from mmdf_bench.methods.deblur_networks import build_network

        return build_network(architecture)

    def loss_function(self):
        """``loss(prediction, target) -> scalar tensor`` of the supervised loop."""
        import torch.nn.functional as F

        return F.mse_loss

    def train_network(self, network, sampler, *, seed):
        """Train `network` in place on batches from `sampler`; return the per-epoch loss history."""
        from mmdf_bench.methods.deblur_training import supervised_training

        return supervised_training(network, sampler, loss=self.loss_function(), seed=seed,
                                   description=self.progress_label(), **self.loop_options())

    # -- shared -----------------------------------------------------------------------------
    @staticmethod
    def with_defaults(profiles):
        """Return `profiles` with `BASE_HYPERPARAMETERS` filled in under each."""
        return {name: {**BASE_HYPERPARAMETERS, **values} for name, values in profiles.items()}

    def loop_options(self, **changes):
        """Keyword arguments of `supervised_training` from the hyper-parameters."""
        hp = {**self.hyperparameters, **changes}
        return {"epochs": hp["epochs"], "steps_per_epoch": hp["steps_per_epoch"],
                "batch_size": hp["batch_size"], "learning_rate": hp["learning_rate"],
                "betas": tuple(hp["betas"]), "weight_decay": hp["weight_decay"], "schedule": hp["schedule"]}

    def progress_label(self, stage=None):
        label = f"{self.name or type(self).__name__} ({self.profile})"
        return f"{label} {stage}" if stage else label

    def new_network(self, *, seed):
        """Build the network with initial weights drawn from `seed` (the global torch RNG is left alone)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # drawn on the CPU whatever the device, then moved
            return self.place(self.build_network(self.architecture()))

    def make_sampler(self, pairs, *, seed, crop=None):
        """`PairSampler` over `pairs` with the profile's crop and a generator seeded by `seed`."""
        return PairSampler(pairs, crop=crop or self.hyperparameters["crop"], rng=np.random.default_rng(seed),
                           augment=self.hyperparameters.get("augment", True))

    def steps(self, num_pairs, **changes):
        """Total optimiser steps of one run of the supervised loop."""
        hp = {**self.hyperparameters, **changes}
        per_epoch = hp["steps_per_epoch"] or math.ceil(num_pairs / hp["batch_size"])
        return hp["epochs"] * per_epoch

    def fit(self, train_samples, *, seed=0):
        pairs = training_pairs(train_samples, name=self.name)
        network = self.new_network(seed=seed)
        sampler = self.make_sampler(pairs, seed=seed)
        self._history = [float(value) for value in self.train_network(network, sampler, seed=seed)]
        network.eval()
        self._network = network
        return self

    def state_dict(self):
        self._require_network()
        return {"architecture": dict(self._network_architecture()), "network": self._network.state_dict(),
                "history": list(self._history), "stages": {k: list(v) for k, v in self._stages.items()},
                "method": self.name, "profile": self.profile}

    def _network_architecture(self):
        return getattr(self._network, "architecture", None) or self.architecture()

    def load_state_dict(self, state):
        architecture = state.get("architecture")
        if architecture is None or architecture.get("kind") != self.architecture().get("kind"):
            raise InvalidInputError(f"{self.name}: the checkpoint holds a {architecture and architecture.get('kind')} "
                                    f"network, expected {self.architecture().get('kind')}")
        network = self.build_network(architecture)
        network.load_state_dict(state["network"])
        network.eval()
        self._network = self.place(network)
        self._history = list(state.get("history", []))
        self._stages = {key: list(value) for key, value in state.get("stages", {}).items()}

    @property
    def stage_history(self):
        """Per-epoch losses of each training stage of a multi-stage `fit` (``{stage: [...]}``)."""
        return {key: list(value) for key, value in self._stages.items()}

    def restore(self, blurred, psf=None):
        """Restore `blurred` (the PSF, if given, is ignored: these methods are blind)."""
        import torch

        from mmdf_bench.methods.tiling import restore_tiled

        self._require_network()
        image = validate_image(blurred, source=f"input of {self.name}")
        with torch.inference_mode(), self.inference_autocast():
            restored = restore_tiled(self._network, as_rgb(image), tile=self.hyperparameters["tile"],
                                     overlap=self.hyperparameters["overlap"])
        if image.ndim == 2:
            restored = restored.mean(axis=-1)
        return np.clip(restored, 0.0, 1.0).astype(np.float32)
