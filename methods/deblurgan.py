"""DeblurGAN, standard and as upgraded by the MMDF authors (no torch at import time).

``deblurgan``
    Kupyn et al.'s conditional WGAN-GP: a ResNet generator (reflection pad
    and 7x7 convolution, two stride-2 convolutions, nine residual blocks
    conv-InstanceNorm-ReLU-conv-InstanceNorm, two transposed convolutions,
    7x7 convolution, tanh, global residual), a 70x70 PatchGAN critic with a
    gradient penalty of weight 10, and a perceptual loss of weight 100: the
    squared distance of VGG19 conv3_3 features. Without the VGG19 ImageNet
    weights on this machine the perceptual loss uses the critic's own
    features instead; the ``perceptual_features`` attribute (in the
    manifest's config and the checkpoint hash) says which was used.
``deblurgan-upgraded``
    The MMDF changes: resize-convolution (nearest-neighbour x2 then a 3x3
    convolution) in place of the transposed convolutions, so that flat
    regions cannot acquire the checkerboard of uneven kernel overlap
    (Odena et al.); the generator is first trained alone on
    ``MSE + (1 - SSIM)``, then adversarially with the losses above plus a
    ``(1 - SSIM)`` term.

The networks and the adversarial loop live in `mmdf_bench.methods.deblurgan_networks`,
imported on first use.

Profiles. ``paper`` is the MMDF paper's setting: WGAN-GP with the VGG19
perceptual loss weighted 100, Adam with learning rate 1e-4 and betas
(0.5, 0.999) for generator and critic, 200 adversarial epochs; the upgraded
model first pre-trains its generator for 300 epochs on MSE + (1 - SSIM).
What the MMDF paper leaves out follows Kupyn et al.: five critic steps per
generator step, gradient-penalty weight 10, batches of one 256x256 crop, a
constant rate for the first half of the epochs then a linear decay to 0
(Kupyn et al.: 150 + 150 of 300), pre-training at the adversarial stage's
rate of 1e-4 (betas 0.9, 0.999, cosine-annealed) and an SSIM weight of 1
next to the perceptual loss's 100. ``cpu`` keeps the
architecture (nine residual blocks, instance norm, the same losses, loss
weights and five critic steps) at a quarter of the width (16 channels in
the first layer), without dropout (a regulariser for long runs that only
slows a short one), on batches of eight 64x64 crops, so that each model
trains in one to two minutes on 2 cores on 200 256x256 pairs: the standard
model takes 160 adversarial steps at 5e-4 (at 1e-4 it would not leave its
random initialisation); the upgraded one spends most of its budget on 300
cheap pre-training steps at 1e-3, then fine-tunes adversarially for 48
steps at the paper's 1e-4, decaying linearly. ``smoke`` runs a few steps
at width 8 (tests).

References
----------
.. [1] O. Kupyn, V. Budzan, M. Mykhailych, D. Mishkin and J. Matas,
       "DeblurGAN: blind motion deblurring using conditional adversarial
       networks", CVPR 2018.
.. [2] I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin and A. Courville,
       "Improved training of Wasserstein GANs", NeurIPS 2017.
.. [3] A. Odena, V. Dumoulin and C. Olah, "Deconvolution and checkerboard
       artifacts", Distill, 2016. doi:10.23915/distill.00003
.. [4] A. Kornilova et al., "Deep learning framework for mobile
       microscopy", IEEE ISBI 2021, arXiv:2007.13701.
"""


from mmdf_bench.errors import InvalidInputError
from mmdf_bench.weights import WeightFile, find_local_weights
from mmdf_bench.methods.deblur_base import DeepDeblurMethod

MMDF = "A. Kornilova et al., \"Deep learning framework for mobile microscopy\", IEEE ISBI 2021, arXiv:2007.13701"
KUPYN = ("O. Kupyn et al., \"DeblurGAN: blind motion deblurring using conditional adversarial networks\", "
         "CVPR 2018")

VGG19_WEIGHTS = WeightFile(
    path="torchvision/vgg19-dcbb9e9d.pth",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    hash_prefix="dcbb9e9d",
    description="torchvision VGG19 ImageNet weights (perceptual loss)",
)

#: Values of the perceptual-feature attribute.
VGG19_FEATURES = "vgg19-conv3_3"
CRITIC_FEATURES = "critic"

#: The adversarial training of the ``paper`` profiles (both models): MMDF's losses, optimiser and 200
#: epochs; Kupyn et al.'s critic steps, penalty, batch, crop and decay over the second half.
PAPER_ADVERSARIAL = {
    "crop": 256, "batch_size": 1, "epochs": 200, "decay_start_epoch": 100, "steps_per_epoch": None,
    "learning_rate": 1e-4, "betas": (0.5, 0.999), "critic_updates": 5, "gp_weight": 10.0,
    "perceptual_weight": 100.0, "base_channels": 64, "critic_channels": 64, "num_blocks": 9, "dropout": 0.5,
}


def find_vgg19_weights():
    """Local path of torchvision's ImageNet VGG19 file, or None (never downloads).

    Looks in ``$MMDF_BENCH_WEIGHTS/torchvision/``, the user cache, then the
    torch hub cache, and accepts a file only when its hash matches.
    """
    return find_local_weights(VGG19_WEIGHTS)


class DeblurGAN(DeepDeblurMethod):
    """DeblurGAN (Kupyn et al. 2018): ResNet generator with transposed convolutions, WGAN-GP, perceptual loss.

    Parameters
    ----------
    profile : {"smoke", "cpu", "paper"}
    **overrides
        Hyper-parameters replacing the profile's (see the module docstring).

    Attributes
    ----------
    perceptual_features : {"vgg19-conv3_3", "critic"}
        What the perceptual loss compares: VGG19 conv3_3 activations when
        torchvision's ImageNet VGG19 file is found locally, else the
        activations of the critic's second block.
    """

    name = "deblurgan"
    summary = "DeblurGAN: ResNet generator (transposed convs), PatchGAN WGAN-GP critic, perceptual loss x100"
    citation = f"{KUPYN}; compared in {MMDF}"
    weights_source = ("trained from scratch on the train split (cached checkpoint); perceptual loss on "
                      "ImageNet VGG19 when available, else on the critic's features")
    #: Up-sampling of the generator's decoder (`mmdf_bench.methods.deblurgan_networks.UPSAMPLINGS`).
    upsampling = "transposed"
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {"crop": 32, "batch_size": 2, "epochs": 2, "steps_per_epoch": 2, "decay_start_epoch": 1,
                  "learning_rate": 1e-4, "betas": (0.5, 0.999), "critic_updates": 2, "gp_weight": 10.0,
                  "perceptual_weight": 100.0, "base_channels": 8, "critic_channels": 8, "num_blocks": 9,
                  "dropout": 0.5},
        "cpu": {"crop": 64, "batch_size": 8, "epochs": 10, "steps_per_epoch": 16, "decay_start_epoch": 5,
                "learning_rate": 5e-4, "betas": (0.5, 0.999), "critic_updates": 5, "gp_weight": 10.0,
                "perceptual_weight": 100.0, "base_channels": 16, "critic_channels": 16, "num_blocks": 9,
                "dropout": 0.0},
        "paper": dict(PAPER_ADVERSARIAL),
    })

    def __init__(self, *, profile="cpu", **overrides):
        super().__init__(profile=profile, **overrides)
        crop = self.hyperparameters["crop"]
        if crop % 4 or crop < 16:
            # two stride-2 stages, and SSIM needs an 11x11 window
            raise InvalidInputError(f"{self.name}: crop must be a multiple of 4 and at least 16, got {crop}")
        self._vgg19_path = find_vgg19_weights()
        # reported in the manifest's config and part of the checkpoint hash
        self.perceptual_features = VGG19_FEATURES if self._vgg19_path is not None else CRITIC_FEATURES

    @property
    def information(self):
        return ("pretrained ImageNet VGG19 (perceptual loss)",) if self.perceptual_features == VGG19_FEATURES else ()

    @property
    def deviations(self):
        if self.perceptual_features == CRITIC_FEATURES:
            return ("perceptual loss on the critic's features instead of ImageNet VGG19 conv3_3 "
                    "(VGG19 weights not found)")
        return ""

    def architecture(self):
        hp = self.hyperparameters
        return {"kind": "deblurgan-generator", "upsampling": self.upsampling, "resize_mode": "nearest",
                "base_channels": int(hp["base_channels"]), "num_blocks": int(hp["num_blocks"]),
                "dropout": float(hp["dropout"])}

    def build_network(self, architecture):
        from mmdf_bench.methods.deblurgan_networks import build_generator

        return build_generator(architecture)

    def load_state_dict(self, state):
        # both models share the generator kind; the up-sampling tells them apart
        found = (state.get("architecture") or {}).get("upsampling", self.upsampling)
        if found != self.upsampling:
            raise InvalidInputError(f"{self.name}: the checkpoint holds a generator with {found} up-sampling, "
                                    f"expected {self.upsampling}")
        super().load_state_dict(state)

    def perceptual_extractor(self):
        """The frozen VGG19 conv3_3 extractor, or ``"critic"`` for the critic's features."""
        if self.perceptual_features == CRITIC_FEATURES:
            return CRITIC_FEATURES
        from mmdf_bench.methods.vgg_features import load_vgg_features

        return load_vgg_features(self._vgg19_path, relu_at_end=False)  # conv3_3, before its ReLU

    def adversarial_stage(self, network, sampler, *, seed, ssim_weight=0.0):
        """Train `network` against a fresh seeded critic; return the per-epoch loss records."""
        from mmdf_bench.methods.deblurgan_networks import adversarial_training, seeded_critic

        hp = self.hyperparameters
        critic = self.place(seeded_critic(seed=seed, base_channels=hp["critic_channels"]))
        perceptual = self.perceptual_extractor()
        return adversarial_training(
            network, critic, sampler, perceptual=perceptual if isinstance(perceptual, str) else self.place(perceptual),
            epochs=hp["epochs"],
            steps_per_epoch=hp["steps_per_epoch"], batch_size=hp["batch_size"],
            learning_rate=hp["learning_rate"], betas=tuple(hp["betas"]), seed=seed,
            critic_updates=hp["critic_updates"], gp_weight=hp["gp_weight"],
            perceptual_weight=hp["perceptual_weight"], ssim_weight=ssim_weight,
            decay_start_epoch=hp["decay_start_epoch"], description=self.progress_label("adversarial"))

    def train_network(self, network, sampler, *, seed):
        """Adversarial training; the history is the generator's total loss per epoch."""
        adversarial = self.adversarial_stage(network, sampler, seed=seed)
        self._stages = {"adversarial": adversarial}
        return [record["generator"] for record in adversarial]


class DeblurGANUpgraded(DeblurGAN):
    """MMDF DeblurGAN: resize-convolution up-sampling, MSE + (1 - SSIM) pre-training, SSIM in the GAN loss.

    ``stage_history`` holds both stages: ``"pretrain"`` (the pre-training
    loss per epoch) and ``"adversarial"`` (per epoch: critic, generator,
    content, wasserstein and ssim terms).
    """

    name = "deblurgan-upgraded"
    summary = ("DeblurGAN upgraded (MMDF): resize-convolution, MSE+(1-SSIM) pre-training, "
               "then WGAN-GP + perceptual + SSIM")
    citation = f"{MMDF}, after {KUPYN}"
    upsampling = "resize"
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {**DeblurGAN.profiles["smoke"], "pretrain_epochs": 2, "pretrain_steps_per_epoch": 2,
                  "pretrain_learning_rate": 1e-3, "pretrain_ssim_weight": 1.0, "ssim_weight": 1.0},
        "cpu": {**DeblurGAN.profiles["cpu"], "epochs": 3, "decay_start_epoch": 0, "learning_rate": 1e-4,
                "pretrain_epochs": 12, "pretrain_steps_per_epoch": 25,
                "pretrain_learning_rate": 1e-3, "pretrain_ssim_weight": 1.0, "ssim_weight": 1.0},
        "paper": {**PAPER_ADVERSARIAL, "pretrain_epochs": 300, "pretrain_steps_per_epoch": None,
                  "pretrain_learning_rate": 1e-4, "pretrain_ssim_weight": 1.0, "ssim_weight": 1.0},
    })

    def train_network(self, network, sampler, *, seed):
        """Pre-train on MSE + (1 - SSIM), then train adversarially with an SSIM term."""
        from mmdf_bench.methods.deblur_training import supervised_training
        from mmdf_bench.methods.deblurgan_networks import mse_ssim_loss

        hp = self.hyperparameters
        options = self.loop_options(epochs=hp["pretrain_epochs"], steps_per_epoch=hp["pretrain_steps_per_epoch"],
                                    learning_rate=hp["pretrain_learning_rate"], betas=(0.9, 0.999),
                                    schedule="cosine")
        pretrain = supervised_training(network, sampler, loss=mse_ssim_loss(ssim_weight=hp["pretrain_ssim_weight"]),
                                       seed=seed, description=self.progress_label("pre-training"), **options)
        adversarial = self.adversarial_stage(network, sampler, seed=seed, ssim_weight=hp["ssim_weight"])
        self._stages = {"pretrain": [float(value) for value in pretrain], "adversarial": adversarial}
        return [record["generator"] for record in adversarial]


__all__ = ["DeblurGAN", "DeblurGANUpgraded", "find_vgg19_weights", "VGG19_WEIGHTS"]
