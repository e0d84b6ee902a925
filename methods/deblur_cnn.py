"""Learned blind deblurring: SRCNN, U-Net (VGG11 encoder) and three autoencoders.

All five are `DeepDeblurMethod` subclasses: trained on random crops of the
train pairs (flips / 90-degree rotations), restoring whole images in
overlapping 256x256 tiles. Their networks live in `mmdf_bench.methods.deblur_networks`,
imported on first use, so this module does not import torch.

``srcnn``
    SRCNN 3-64-32-3 with 9-1-5 kernels on the blurred image at full
    resolution, mean squared error. It predicts the residual added to its
    input (as VDSR), which trains far faster than predicting the image.
``unet``
    U-Net whose encoder is VGG11's convolutions (TernausNet layout), global
    residual, mean squared error. The encoder starts from torchvision's
    ImageNet VGG11 weights when the file is present locally
    (``$MMDF_BENCH_WEIGHTS/torchvision/vgg11-8a719046.pth``, the user cache,
    or the torch hub cache); otherwise from random weights. The
    ``initialisation`` attribute (in the manifest's config) says which.
``denoising-autoencoder``
    Convolutional autoencoder 3-32-64-128-256-256 with batch norm trained
    to map blurred crops to sharp ones.
``stacked-autoencoder``
    Three autoencoder layers trained greedily, each as a denoising
    autoencoder of the previous layer's codes (layer 1: blurred -> sharp;
    layers 2-3: masked codes -> clean codes), then the stack fine-tuned end
    to end blurred -> sharp (Vincent et al. 2010).
``coupled-autoencoder``
    Coupled deep autoencoder (Zeng et al. 2017): an autoencoder on blurred
    patches, one on sharp patches, a one-hidden-layer network mapping the
    blurred code to the sharp code, then the chain blurred encoder ->
    mapping -> sharp decoder fine-tuned jointly.

Profiles: ``smoke`` (seconds, tests), ``cpu`` (one to three minutes each on 2
cores for the 200 256x256 train pairs of the embedded data: 64x64 crops,
Adam with a cosine schedule, a few hundred to two thousand steps) and
``paper``: the optimiser, learning rate and epochs the MMDF paper states for
each comparison method (section 4.2: SRCNN and U-Net Adam 1e-3 for 450
epochs; the denoising autoencoder Adam 1e-4 for 100 epochs); what the MMDF
paper leaves out (crop and batch sizes) follows the method's original
publication, as each class says.

References
----------
.. [1] C. Dong, C. C. Loy, K. He and X. Tang, "Image super-resolution using
       deep convolutional networks", IEEE TPAMI 38(2): 295-307, 2016.
.. [2] V. Iglovikov and A. Shvets, "TernausNet: U-Net with VGG11 encoder
       pre-trained on ImageNet for image segmentation", arXiv:1801.05746, 2018.
.. [3] P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio and P.-A. Manzagol,
       "Stacked denoising autoencoders", JMLR 11: 3371-3408, 2010.
.. [4] K. Zeng, J. Yu, R. Wang, C. Li and D. Tao, "Coupled deep autoencoder
       for single image super-resolution", IEEE Trans. Cybernetics 47(1), 2017.
.. [5] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021, arXiv:2007.13701.
"""


from mmdf_bench.methods.deblur_autoencoders import (
    CoupledAutoencoderDeblur,
    StackedAutoencoderDeblur,
)
from mmdf_bench.methods.deblur_base import DeepDeblurMethod
from mmdf_bench.weights import WeightFile, find_local_weights

MMDF = "A. Kornilova et al., \"Deep learning framework for mobile microscopy\", IEEE ISBI 2021, arXiv:2007.13701"
TRAINED = "trained from scratch on the train split (cached checkpoint)"

VGG11_WEIGHTS = WeightFile(
    path="torchvision/vgg11-8a719046.pth",
    url="https://download.pytorch.org/models/vgg11-8a719046.pth",
    hash_prefix="8a719046",
    description="torchvision VGG11 ImageNet weights",
)


def find_vgg11_weights():
    """Local path of torchvision's ImageNet VGG11 file, or None (never downloads)."""
    return find_local_weights(VGG11_WEIGHTS)


class SRCNNDeblur(DeepDeblurMethod):
    """SRCNN (Dong et al.) 3-64-32-3, 9-1-5 kernels, residual, MSE.

    ``paper``: the MMDF paper's Adam with learning rate 1e-3 (one rate for
    every layer) for 450 epochs; the 33x33 crops in batches of 128 are Dong
    et al.'s, which the MMDF paper does not restate.
    """

    name = "srcnn"
    summary = "SRCNN 3-64-32-3 (9-1-5) at full resolution, residual, MSE"
    citation = (f"C. Dong et al., \"Image super-resolution using deep convolutional networks\", IEEE TPAMI "
                f"38(2), 2016; compared in {MMDF}")
    weights_source = TRAINED
    deviations = ("residual output (the network adds a correction to the blurred input), trained to "
                  "deblur at full resolution instead of super-resolving a bicubic up-sampling")
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {"crop": 32, "batch_size": 4, "epochs": 2, "steps_per_epoch": 5, "learning_rate": 1e-3,
                  "optimizer": "adam", "last_layer_scale": 1.0},
        "cpu": {"crop": 64, "batch_size": 16, "epochs": 30, "learning_rate": 1e-3, "schedule": "cosine",
                "optimizer": "adam", "last_layer_scale": 1.0},
        "paper": {"crop": 33, "batch_size": 128, "epochs": 450, "learning_rate": 1e-3,
                  "optimizer": "adam", "last_layer_scale": 1.0},
    })

    def architecture(self):
        return {"kind": "srcnn", "channels": [64, 32], "kernels": [9, 1, 5], "residual": True}

    def train_network(self, network, sampler, *, seed):
        import torch

        from mmdf_bench.methods.deblur_training import supervised_training

        hp = self.hyperparameters
        last = list(network.body)[-1]
        others = [p for p in network.parameters() if all(p is not q for q in last.parameters())]
        groups = [{"params": others}, {"params": list(last.parameters()),
                                       "lr": hp["learning_rate"] * hp["last_layer_scale"]}]
        if hp["optimizer"] == "sgd":
            optimizer = torch.optim.SGD(groups, lr=hp["learning_rate"], momentum=0.9)
        else:
            optimizer = torch.optim.Adam(groups, lr=hp["learning_rate"], betas=tuple(hp["betas"]))
        return supervised_training(network, sampler, loss=self.loss_function(), seed=seed, optimizer=optimizer,
                                   description=self.progress_label(), **self.loop_options())


class UNetDeblur(DeepDeblurMethod):
    """U-Net with a VGG11 encoder (TernausNet), global residual, MSE.

    ``paper``: the MMDF paper's Adam with learning rate 1e-3 for 450
    epochs; one 256x256 image per batch, as Ronneberger et al. trained
    U-Net (large tiles rather than large batches), since the MMDF paper
    gives no batch size.
    ``cpu``: a quarter of VGG11's widths (so random initialisation), 2000
    steps of 8 crops: on 2 CPU cores the full-width network gets too few
    steps in minutes to learn much.
    """

    name = "unet"
    summary = "U-Net with VGG11 encoder (ImageNet init when available), residual, MSE"
    citation = (f"O. Ronneberger et al., U-Net, MICCAI 2015; V. Iglovikov and A. Shvets, TernausNet, "
                f"arXiv:1801.05746, 2018; compared in {MMDF}")
    weights_source = "trained on the train split (cached checkpoint); encoder from ImageNet VGG11 when available"
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {"crop": 32, "batch_size": 2, "epochs": 2, "steps_per_epoch": 3, "learning_rate": 1e-3,
                  "width": 0.125},
        "cpu": {"crop": 64, "batch_size": 8, "epochs": 80, "learning_rate": 2e-3, "schedule": "cosine",
                "width": 0.25},
        "paper": {"crop": 256, "batch_size": 1, "epochs": 450, "learning_rate": 1e-3, "width": 1.0},
    })

    def __init__(self, *, profile="cpu", **overrides):
        super().__init__(profile=profile, **overrides)
        path = find_vgg11_weights() if self.hyperparameters["width"] == 1.0 else None
        self._vgg11_path = path
        # reported in the manifest's config and part of the checkpoint hash
        self.initialisation = "imagenet-vgg11" if path is not None else "random"

    @property
    def information(self):
        return ("pretrained ImageNet VGG11 encoder",) if self.initialisation == "imagenet-vgg11" else ()

    @property
    def deviations(self):
        width = float(self.hyperparameters["width"])
        changes = ["global residual output"]
        if width != 1.0:
            changes.append(f"{width:g} of VGG11's channel widths")
        if self.initialisation != "imagenet-vgg11":
            changes.append("encoder initialised at random instead of from ImageNet VGG11"
                           + (" (weights not found)" if width == 1.0 else ""))
        return ", ".join(changes)

    def architecture(self):
        return {"kind": "vgg11-unet", "width": float(self.hyperparameters["width"])}

    def new_network(self, *, seed):
        network = super().new_network(seed=seed)
        if self.initialisation == "imagenet-vgg11":
            import torch

            network.load_vgg11(torch.load(self._vgg11_path, map_location="cpu", weights_only=True))
        return network


class DenoisingAutoencoderDeblur(DeepDeblurMethod):
    """Convolutional denoising autoencoder 3-32-64-128-256-256 with batch norm, MSE.

    ``paper``: the MMDF paper's Adam with learning rate 1e-4 for 100 epochs;
    crop and batch sizes are stated by neither the MMDF paper nor Vincent et
    al. (who trained on whole small images): 128x128 crops in batches of 16.
    """

    name = "denoising-autoencoder"
    summary = "convolutional denoising autoencoder 3-32-64-128-256-256 with batch norm, blurred -> sharp"
    citation = (f"P. Vincent et al., \"Extracting and composing robust features with denoising autoencoders\", "
                f"ICML 2008; compared in {MMDF}")
    weights_source = TRAINED
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {"crop": 32, "batch_size": 4, "epochs": 2, "steps_per_epoch": 3, "learning_rate": 1e-3},
        "cpu": {"crop": 64, "batch_size": 16, "epochs": 20, "learning_rate": 2e-3, "schedule": "cosine"},
        "paper": {"crop": 128, "batch_size": 16, "epochs": 100, "learning_rate": 1e-4},
    })

    def architecture(self):
        return {"kind": "denoising-autoencoder", "channels": [32, 64, 128, 256, 256]}

__all__ = [
    "VGG11_WEIGHTS",
    "CoupledAutoencoderDeblur",
    "DenoisingAutoencoderDeblur",
    "SRCNNDeblur",
    "StackedAutoencoderDeblur",
    "UNetDeblur",
    "find_vgg11_weights",
]
