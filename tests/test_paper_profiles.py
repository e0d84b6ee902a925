"""The ``paper`` profiles use the settings the MMDF paper states.

Each value pinned here is one the MMDF paper (Kornilova et al., ISBI 2021,
arXiv:2007.13701) publishes for a method it trains or compares against;
values it leaves out follow the original method's paper and are not pinned.
"""

import numpy as np
import pytest

from mmdf_bench.methods.deblur_autoencoders import CoupledAutoencoderDeblur, StackedAutoencoderDeblur
from mmdf_bench.methods.deblur_cnn import DenoisingAutoencoderDeblur, SRCNNDeblur, UNetDeblur
from mmdf_bench.methods.deblurgan import DeblurGAN, DeblurGANUpgraded
from mmdf_bench.methods.focus_cnn import MMDFFocusCNN
from mmdf_bench.methods.fusegan import FuseGANU

# (class, {hyper-parameter: the MMDF paper's value})
STATED = [
    (SRCNNDeblur, {"optimizer": "adam", "learning_rate": 1e-3, "epochs": 450, "last_layer_scale": 1.0}),
    (UNetDeblur, {"learning_rate": 1e-3, "epochs": 450}),
    (DenoisingAutoencoderDeblur, {"learning_rate": 1e-4, "epochs": 100}),
    (StackedAutoencoderDeblur, {"pretrain_optimizer": "sgd", "pretrain_learning_rate": 1e-2,
                                "learning_rate": 1e-4, "epochs": 30}),
    (CoupledAutoencoderDeblur, {"learning_rate": 1e-7, "coupling_weight": 1.0, "epochs": 200}),
    (DeblurGAN, {"learning_rate": 1e-4, "betas": (0.5, 0.999), "perceptual_weight": 100.0, "epochs": 200,
                 "gp_weight": 10.0}),
    (DeblurGANUpgraded, {"learning_rate": 1e-4, "betas": (0.5, 0.999), "perceptual_weight": 100.0,
                         "epochs": 200, "pretrain_epochs": 300}),
    (FuseGANU, {"crop": 720, "generator_rate": 5e-5, "discriminator_rate": 4e-5, "betas": (0.0, 0.999),
                "gamma": 0.95, "content_weight": 2.0, "adversarial_weight": 0.001, "perceptual_weight": 1.0,
                "augment_probability": 0.5}),
    (MMDFFocusCNN, {"learning_rate": 5e-6}),
]


@pytest.mark.parametrize("component, values", STATED, ids=[entry[0].name for entry in STATED])
def test_paper_profile_states_the_papers_values(component, values):
    profile = component.profiles["paper"]
    for key, value in values.items():
        assert profile[key] == value, f"{component.name} paper {key}"


def test_deblur_paper_profiles_use_adam_unless_the_paper_says_otherwise():
    # only SDAE's layer-wise pre-training uses SGD; every other stage is Adam
    assert "pretrain_optimizer" not in CoupledAutoencoderDeblur.profiles["paper"]
    assert StackedAutoencoderDeblur.profiles["cpu"].get("pretrain_optimizer", "adam") == "adam"


def test_upgraded_focus_cnn_labels_artefacts_out_of_focus():
    from mmdf_bench.tasks.focus import IN_FOCUS, OUT_OF_FOCUS, FocusSample

    rng = np.random.default_rng(0)
    patches = [rng.random((84, 84)).astype(np.float32) for _ in range(3)]
    samples = [FocusSample(patches[0], IN_FOCUS, "sharp", level=0),
               FocusSample(patches[1], OUT_OF_FOCUS, "far", level=6),
               FocusSample(patches[2], OUT_OF_FOCUS, "dust", subset="dust")]
    method = MMDFFocusCNN(profile="paper")
    _, levels, weights = method.training_set(samples, rng=np.random.default_rng(0))
    assert list(levels) == [0, 6, method.num_levels - 1]
    assert weights is not None and np.all(weights > 0)


import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)


def tiny_pairs(count=4, size=32):
    from mmdf_bench.tasks.deblur import DeblurSample

    rng = np.random.default_rng(1)
    samples = []
    for index in range(count):
        sharp = rng.random((size, size, 3)).astype(np.float32)
        blurred = ((sharp + np.roll(sharp, 1, axis=1)) / 2).astype(np.float32)
        samples.append(DeblurSample(blurred, sharp, f"pair-{index}"))
    return samples


def test_stacked_autoencoder_paper_pretrains_with_sgd_then_fine_tunes_with_adam(monkeypatch):
    created = []
    original_sgd, original_adam = torch.optim.SGD, torch.optim.Adam

    def spy(cls, label):
        def make(*args, **kwargs):
            optimiser = cls(*args, **kwargs)
            created.append((label, optimiser.param_groups[0]["lr"]))
            return optimiser
        return make

    monkeypatch.setattr(torch.optim, "SGD", spy(original_sgd, "sgd"))
    monkeypatch.setattr(torch.optim, "Adam", spy(original_adam, "adam"))
    method = StackedAutoencoderDeblur(profile="paper", crop=32, batch_size=2, pretrain_epochs=1, epochs=1,
                                      steps_per_epoch=1)
    method.fit(tiny_pairs(), seed=0)
    assert created == [("sgd", 1e-2)] * 3 + [("adam", 1e-4)]


def test_coupled_loss_adds_the_weighted_code_distance():
    from mmdf_bench.methods.deblur_autoencoders import coupled_loss
    from mmdf_bench.methods.deblur_networks import CoupledAutoencoder

    torch.manual_seed(0)
    network = CoupledAutoencoder(patch=3, hidden=4, mapping_hidden=4)
    blurred, sharp = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    restored = network(blurred)
    image_term = torch.nn.functional.mse_loss(restored, sharp).detach()
    codes = torch.nn.functional.mse_loss(network.mapping(network.blurred_encoder(blurred - 0.5)),
                                         network.sharp_encoder(sharp - 0.5)).detach()
    for weight in (0.0, 1.0, 2.5):
        value = coupled_loss(network, weight)(restored, (sharp, blurred)).detach()
        assert float(value) == pytest.approx(float(image_term + weight * codes), rel=1e-6)


def test_coupled_autoencoder_paper_profile_trains():
    method = CoupledAutoencoderDeblur(profile="paper", crop=32, batch_size=2, pretrain_epochs=1, epochs=1,
                                      steps_per_epoch=1, hidden=8, mapping_hidden=8)
    method.fit(tiny_pairs(), seed=0)
    assert set(method.stage_history) == {"blurred-autoencoder", "sharp-autoencoder", "mapping", "fine-tune"}
    assert np.isfinite(method.history).all()
