"""FuseGAN z-stack fusion: the MMDF paper's own fusion model, standard and upgraded.

A DenseBlock U-Net generator fuses the stack's planes (concatenated on
channels, zero-padded up to ``max_planes`` planes) into one image, trained
against a VGG-like PatchGAN discriminator (`mmdf_bench.methods.fusegan_networks`,
`mmdf_bench.methods.fusegan_training`; both imported on first use, so importing this
module does not import torch). Four registered methods differ in their
generator loss and in the masks they are given:

``fusegan``
    BCE + L1 to the target; no masks.
``fusegan-s``
    BCE + L1 + a perceptual loss on the discriminator's features.
``fusegan-u``
    The upgrade: BCE + the masked uL1 loss + the discriminator perceptual
    loss, with the modified-Harris masks (shared with ``harris-selection``)
    concatenated to the input.
``fusegan-u-focusmask``
    As ``fusegan-u`` with the blurring-model masks of the MMDF focus CNN
    (``mmdf-focus``, trained on ``synthetic-brightfield-zstack`` with the same
    profile and seed, or read from ``focus_checkpoint``).

Supervision target
------------------
The discriminator's *real* images and the L1 / perceptual targets are the
sample's all-in-focus reference when it has one (the synthetic stacks), and
otherwise the output of another registered fusion method chosen by name
(``target_method``; the paper used IFCNN-MAX and wavelet outputs). The
default is ``ifcnn-max``; when its official weights are not available the
``wavelet`` baseline is used instead and the checkpoint records it.

Stack size
----------
The model has room for ``max_planes`` planes (5 by default, the most the
default data has). Fewer planes are padded with zero channels (and zero
masks); a stack with more planes is refused with an error that says so.

Profiles
--------
``paper``: generator loss ``2 L1 (or uL1) + 0.001 BCE + 1 perceptual``,
Adam with learning rates 5e-5 (generator) and 4e-5 (discriminator) and betas
(0, 0.999), StepLR with gamma 0.95 after every epoch, flips / 90-degree
rotations / shift-scale-rotate each with p = 0.5, 720 x 720 crops (smaller
training images are reflect-padded), 64-channel networks. ``cpu`` keeps the
losses, their weights and the augmentations, scales the networks down
(16-channel generator, 8-channel discriminator) and trains for 5000 steps
of 8 crops of 32 x 32 pixels with larger learning rates (1e-3, 8e-4) and
Adam betas (0.9, 0.999): a few minutes on 2 cores. ``smoke`` runs in seconds.

References
----------
.. [1] A. Kornilova, M. Salnikov, O. Novitskaya, M. Begicheva, E. Sevriugov,
       K. Shcherbakov, V. Pronina and D. V. Dylov, "Deep learning framework
       for mobile microscopy", IEEE ISBI 2021 (arXiv:2007.13701).
.. [2] X. Guo, R. Nie, J. Cao, D. Zhou, L. Mei and K. He, "FuseGAN:
       learning to fuse multi-focus image via conditional generative
       adversarial network", IEEE Transactions on Multimedia 21(8), 2019.
"""

import math

import numpy as np

from mmdf_bench.methods.fusion_masks import mask_provider
from mmdf_bench.errors import InvalidInputError, WeightsUnavailableError
from mmdf_bench.images import to_gray, validate_stack
from mmdf_bench.tasks.fusion import FusionMethod
from mmdf_bench.training import TrainableMethod
from mmdf_bench.weights import WeightFile, resolve_weights

CITATION = (
    "A. Kornilova et al., \"Deep learning framework for mobile microscopy\", IEEE ISBI 2021, arXiv:2007.13701; "
    "FuseGAN after X. Guo et al., IEEE Transactions on Multimedia 21(8), 2019"
)
TRAINED = "trained from scratch on the train split (cached checkpoint)"
DEFAULT_TARGET_METHOD = "ifcnn-max"
FALLBACK_TARGET_METHOD = "wavelet"
PERCEPTUAL_LOSSES = ("none", "discriminator", "vgg16")

VGG16_WEIGHTS = WeightFile(
    path="torchvision/vgg16-397923af.pth",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    hash_prefix="397923af",
    description="torchvision VGG16 ImageNet weights (FuseGAN's optional perceptual loss)",
)

_LOSS_WEIGHTS = {"content_weight": 2.0, "adversarial_weight": 0.001, "perceptual_weight": 1.0}
_COMMON = {**_LOSS_WEIGHTS, "max_planes": 5, "betas": (0.0, 0.999), "augment_probability": 0.5,
           "tile": 1024, "overlap": 64, "mask_stride": 28}
#: Where the cpu profile was chosen (kept out of the profile so that checkpoint keys stay as they were).
CPU_PROFILE_EVIDENCE = "validation split: benchmarks/results/fusegan_profile_selection.json"
PROFILES = {
    "smoke": {**_COMMON, "width": 4, "discriminator_width": 2, "crop": 32, "batch_size": 2, "epochs": 2,
              "steps_per_epoch": 2, "generator_rate": 1e-3, "discriminator_rate": 1e-3, "gamma": 0.95,
              "max_samples": 6},
    # chosen on the validation split against one-change variants (CPU_PROFILE_EVIDENCE);
    # many small steps train the 16-channel U-Net faster than few large ones (measured: 480 steps of
    # 64x64 crops reach SSIM 0.92, 4000 steps of 32x32 crops 0.98 at about twice the CPU time), and
    # without momentum (the paper's beta1 = 0) it learns more slowly still
    "cpu": {**_COMMON, "width": 16, "discriminator_width": 8, "crop": 32, "batch_size": 8, "epochs": 25,
            "steps_per_epoch": 200, "generator_rate": 1e-3, "discriminator_rate": 8e-4, "betas": (0.9, 0.999),
            "gamma": 0.95, "max_samples": None},
    # MMDF: loss weights, Adam rates and betas, StepLR 0.95, p = 0.5 augmentations, 720 x 720 inputs;
    # the batch size and the number of epochs are not published: 4 stacks of 720 x 720 fit one GPU
    "paper": {**_COMMON, "width": 64, "discriminator_width": 64, "crop": 720, "batch_size": 4, "epochs": 200,
              "steps_per_epoch": None, "generator_rate": 5e-5, "discriminator_rate": 4e-5, "gamma": 0.95,
              "max_samples": None},
}


def as_rgb_stack(stack):
    """Float32 ``(N, H, W, 3)`` of a grey or RGB stack."""
    stack = np.asarray(stack, dtype=np.float32)
    return np.repeat(stack[..., None], 3, axis=-1) if stack.ndim == 3 else stack


def padded_input(stack, masks, *, max_planes):
    """Generator input ``(H, W, C)``: RGB planes then masks, each zero-padded to `max_planes` planes.

    Parameters
    ----------
    stack : ndarray, shape (N, H, W, 3)
    masks : ndarray, shape (N, H, W), or None
    max_planes : int

    Returns
    -------
    ndarray of float32, shape (H, W, 3 * max_planes [+ max_planes])
    """
    count, rows, cols = stack.shape[:3]
    if count > max_planes:
        raise InvalidInputError(f"the stack has {count} planes but the model takes at most {max_planes}; "
                                f"fuse it in parts, or train with max_planes={count} or more")
    planes = np.zeros((rows, cols, 3 * max_planes), np.float32)
    planes[..., :3 * count] = np.moveaxis(stack, 0, 2).reshape(rows, cols, 3 * count)
    if masks is None:
        return planes
    padded_masks = np.zeros((rows, cols, max_planes), np.float32)
    padded_masks[..., :count] = np.moveaxis(masks, 0, 2)
    return np.concatenate([planes, padded_masks], axis=-1)


class FuseGAN(TrainableMethod, FusionMethod):
    """FuseGAN trained with BCE + L1 (the standard recipe); base of the variants.

    Parameters
    ----------
    profile : {"smoke", "cpu", "paper"}
    target_method : str
        Registered fusion method whose output is the target of stacks without a reference.
    perceptual : {"none", "discriminator", "vgg16"}, optional
        Perceptual loss; the variant's own by default. ``"vgg16"`` needs
        torchvision's VGG16 ImageNet file (`VGG16_WEIGHTS`).
    focus_checkpoint : str, optional
        For the focus-model masks: a saved ``mmdf-focus`` state to use
        instead of training the focus CNN through the checkpoint cache.
    **overrides
        Hyper-parameters replacing the profile's values.
    """

    name = "fusegan"
    summary = "FuseGAN (MMDF): DenseBlock U-Net + VGG-like PatchGAN, BCE + L1"
    citation = CITATION
    weights_source = TRAINED
    profiles = PROFILES
    content_loss = "l1"
    default_perceptual = "none"
    mask = None
    # each variant trains for minutes on a CPU: a run without --methods trains only the
    # upgraded model of the paper (fusegan-u); name the others, or 'fusegan*', to run them
    in_default_run = False

    def __init__(self, *, profile="cpu", target_method=DEFAULT_TARGET_METHOD, perceptual=None,
                 focus_checkpoint=None, **overrides):
        super().__init__(profile=profile, **overrides)
        perceptual = self.default_perceptual if perceptual is None else perceptual
        if perceptual not in PERCEPTUAL_LOSSES:
            raise InvalidInputError(f"{self.name}: unknown perceptual loss {perceptual!r}; "
                                    f"choose one of {', '.join(PERCEPTUAL_LOSSES)}")
        if int(self.hyperparameters["max_planes"]) < 2:
            raise InvalidInputError(f"{self.name}: max_planes must be at least 2")
        self.target_method = target_method
        self.perceptual = perceptual
        self.focus_checkpoint = None if focus_checkpoint is None else str(focus_checkpoint)
        self._network = None
        self._history = []
        self._facts = {}
        self._masks = None if self.mask is None else mask_provider(self.mask, **self._mask_options())

    def _mask_options(self):
        if self.mask == "focus-model":
            return {"checkpoint": self.focus_checkpoint, "stride": self.hyperparameters["mask_stride"]}
        return {}

    def check_available(self):
        if self.perceptual == "vgg16":
            resolve_weights(VGG16_WEIGHTS)

    def set_device(self, device, *, amp=False):
        super().set_device(device, amp=amp)
        if hasattr(self._masks, "set_device"):  # the focus CNN of the focus-model masks computes there too
            self._masks.set_device(device, amp=amp)
        return self

    # -- training ---------------------------------------------------------------------------
    def resolve_target_method(self):
        """Build the fusion method that makes targets; ifcnn-max falls back to wavelet without its weights."""
        from mmdf_bench import registry

        method = registry.methods.create(self.target_method)
        try:
            method.check_available()
        except WeightsUnavailableError:
            if self.target_method != DEFAULT_TARGET_METHOD:
                raise
            method = registry.methods.create(FALLBACK_TARGET_METHOD)
        if self._device is not None and hasattr(method, "set_device"):  # IFCNN targets on this device too
            method.set_device(self._device)
        return method

    def training_items(self, train_samples, *, seed):
        """``[(planes RGB, masks or None, target RGB)]`` of the train split, and what made the targets."""
        samples = list(train_samples)
        limit = self.hyperparameters["max_samples"]
        if limit is not None and len(samples) > limit:
            samples = samples[:int(limit)]
        if not samples:
            raise InvalidInputError(f"{self.name}: the train split holds no stack")
        largest = max(sample.num_planes for sample in samples)
        if largest > self.hyperparameters["max_planes"]:
            raise InvalidInputError(f"{self.name}: the train split has a stack of {largest} planes, more than "
                                    f"max_planes={self.hyperparameters['max_planes']}; raise max_planes")
        target_maker, used = None, set()
        items = []
        for sample in samples:
            stack = as_rgb_stack(sample.stack)
            if sample.reference is not None:
                target, source = sample.reference, "reference"
            else:
                if target_maker is None:
                    target_maker = self.resolve_target_method()
                    if target_maker.needs_training():
                        target_maker.fit(samples, seed=seed)
                target, source = target_maker.fuse(sample.stack), target_maker.name
            used.add(source)
            target = np.asarray(target, dtype=np.float32)
            target = np.repeat(target[..., None], 3, axis=-1) if target.ndim == 2 else target
            masks = None if self._masks is None else self._masks.masks(sample.stack)
            items.append((stack, masks, np.clip(target, 0.0, 1.0)))
        return items, sorted(used)

    def validator(self, validation_samples):
        """``validate(generator) -> mean SSIM`` on the validation stacks that have a reference, or None.

        Model selection for `fit`: the generator is scored after every epoch
        and the best epoch kept, on held-out stacks only.
        """
        import torch

        from mmdf_bench.metrics.full_reference import ssim
        from mmdf_bench.methods.tiling import restore_tiled

        items = []
        for sample in validation_samples or ():
            if sample.reference is None or sample.num_planes > self.hyperparameters["max_planes"]:
                continue
            masks = None if self._masks is None else self._masks.masks(sample.stack)
            reference = np.asarray(sample.reference, dtype=np.float32)
            reference = np.repeat(reference[..., None], 3, axis=-1) if reference.ndim == 2 else reference
            items.append((padded_input(as_rgb_stack(sample.stack), masks,
                                       max_planes=self.hyperparameters["max_planes"]), reference))
        if not items:
            return None

        def validate(generator):
            scores = []
            with torch.inference_mode(), self.inference_autocast():
                for inputs, reference in items:
                    fused = restore_tiled(generator, inputs, tile=self.hyperparameters["tile"],
                                          overlap=self.hyperparameters["overlap"])
                    scores.append(ssim(np.clip(fused, 0.0, 1.0).astype(np.float32), reference))
            return float(np.mean(scores))

        return validate

    def fit(self, train_samples, *, seed=0, validation_samples=None):
        """Train on `train_samples`; with `validation_samples` (stacks with a reference), keep the
        epoch whose generator scores the best mean SSIM on them (``fitted_choices`` says so)."""
        from mmdf_bench.methods.fusegan_networks import (
            FuseGANGenerator,
            PatchDiscriminator,
            seeded,
        )
        from mmdf_bench.methods.fusegan_training import StackSampler, train_fusegan
        from mmdf_bench.methods.vgg_features import load_vgg_features

        hp = self.hyperparameters
        mask_record = None if self._masks is None else self._masks.prepare(profile=self.profile, seed=seed)
        items, targets = self.training_items(train_samples, seed=seed)
        sampler = StackSampler(items, max_planes=hp["max_planes"], crop=hp["crop"],
                               rng=np.random.default_rng(seed), probability=hp["augment_probability"])
        # initial weights drawn on the CPU whatever the device, then moved
        generator = self.place(seeded(FuseGANGenerator, seed=seed, max_planes=hp["max_planes"],
                                      masks=self.mask is not None, width=hp["width"]))
        discriminator = self.place(seeded(PatchDiscriminator, seed=seed + 1, width=hp["discriminator_width"]))
        vgg = None
        if self.perceptual == "vgg16":
            vgg = self.place(load_vgg_features(resolve_weights(VGG16_WEIGHTS), relu_at_end=True))  # relu3_3
        steps = hp["steps_per_epoch"] or math.ceil(len(items) / hp["batch_size"])
        validate = self.validator(validation_samples)
        self._history = train_fusegan(
            generator, discriminator, sampler, content="ul1" if self.content_loss == "ul1" else "l1",
            perceptual=None if self.perceptual == "none" else self.perceptual,
            content_weight=hp["content_weight"], adversarial_weight=hp["adversarial_weight"],
            perceptual_weight=hp["perceptual_weight"], epochs=hp["epochs"], steps_per_epoch=steps,
            batch_size=hp["batch_size"], generator_rate=hp["generator_rate"],
            discriminator_rate=hp["discriminator_rate"], betas=hp["betas"], gamma=hp["gamma"], seed=seed, vgg=vgg,
            description=f"{self.name or type(self).__name__} ({self.profile})", validate=validate)
        self._network = generator
        self._facts = {"targets": targets, "num_train_stacks": len(items), "masks": mask_record}
        self._fitted_choices = {"weights": "train"}
        if validate is not None:
            kept = self._history[-1]["kept_epoch"]
            self._facts["selection"] = {"epoch": kept, "of": len(self._history), "criterion": "validation SSIM",
                                        "validation_ssim": self._history[kept - 1]["validation"]}
            self._fitted_choices["epoch"] = "validation"
        return self

    @property
    def fitted_choices(self):
        """Each choice of the last `fit` -> the split it came from (for the manifest).

        The ``cpu`` profile itself, unchanged, was chosen on validation (`CPU_PROFILE_EVIDENCE`).
        """
        choices = dict(getattr(self, "_fitted_choices", {}))
        if self.profile == "cpu" and self.hyperparameters == PROFILES["cpu"]:
            choices["profile"] = "validation"
        return choices

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self):
        self._require_network()
        return {"architecture": dict(self._network.architecture), "generator": self._network.state_dict(),
                "history": list(self._history), "facts": dict(self._facts),
                "masks": None if self._masks is None else self._masks.state_dict(),
                "method": self.name, "profile": self.profile}

    def load_state_dict(self, state):
        from mmdf_bench.methods.fusegan_networks import build_generator

        architecture = state.get("architecture") or {}
        if architecture.get("kind") != "fusegan-generator" or architecture.get("masks") != (self.mask is not None):
            raise InvalidInputError(f"{self.name}: the checkpoint holds a different network "
                                    f"({architecture.get('kind')}, masks={architecture.get('masks')})")
        network = build_generator(architecture)
        network.load_state_dict(state["generator"])
        network.eval()
        if self._masks is not None:
            self._masks.load_state_dict(state["masks"])
        self._network = self.place(network)
        self._history = list(state.get("history", []))
        self._facts = dict(state.get("facts", {}))

    @property
    def max_planes(self):
        return int(self._network.architecture["max_planes"] if self._network is not None
                   else self.hyperparameters["max_planes"])

    # -- fusion -----------------------------------------------------------------------------
    def fuse(self, stack):
        import torch

        from mmdf_bench.methods.tiling import restore_tiled

        self._require_network()
        stack = validate_stack(stack, source=f"input of {self.name}")
        if stack.shape[0] > self.max_planes:
            raise InvalidInputError(f"{self.name}: the stack has {stack.shape[0]} planes but the model was "
                                    f"built for at most {self.max_planes}; fuse it in parts, or train with "
                                    f"max_planes={stack.shape[0]} or more")
        masks = None if self._masks is None else self._masks.masks(stack)
        inputs = padded_input(as_rgb_stack(stack), masks, max_planes=self.max_planes)
        with torch.inference_mode(), self.inference_autocast():
            fused = restore_tiled(self._network, inputs, tile=self.hyperparameters["tile"],
                                  overlap=self.hyperparameters["overlap"])
        fused = np.clip(fused, 0.0, 1.0).astype(np.float32)
        return to_gray(fused) if stack.ndim == 3 else fused


class FuseGANS(FuseGAN):
    """FuseGAN with BCE + L1 + a perceptual loss on the discriminator's features."""

    name = "fusegan-s"
    summary = "FuseGAN (MMDF): BCE + L1 + discriminator-feature perceptual loss"
    default_perceptual = "discriminator"


class FuseGANU(FuseGAN):
    """Upgraded FuseGAN: modified-Harris masks as input, BCE + masked uL1 + discriminator perceptual loss."""

    name = "fusegan-u"
    summary = "FuseGAN upgraded (MMDF): Harris-corner masks, BCE + masked uL1 + discriminator perceptual"
    content_loss = "ul1"
    default_perceptual = "discriminator"
    mask = "harris"
    in_default_run = True


class FuseGANUFocusMask(FuseGANU):
    """Upgraded FuseGAN with the MMDF focus CNN's blurring-model masks instead of Harris masks."""

    name = "fusegan-u-focusmask"
    summary = "FuseGAN upgraded (MMDF): focus-CNN blurring-model masks, BCE + masked uL1 + perceptual"
    mask = "focus-model"
    in_default_run = False
