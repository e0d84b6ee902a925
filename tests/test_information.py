"""What each row knew, and what each method is (issue 10, points 5 and 7)."""

from pathlib import Path

import pytest

from mmdf_bench import registry
from mmdf_bench.errors import UnknownNameError
from mmdf_bench.information import pretrained_source, row_information, splits_text


def build(name, **options):
    return registry.methods.create(name, **options)


def test_splits_text():
    assert splits_text({"train": 200}) == "train split"
    assert splits_text({"train": 200, "validation": 40}) == "train + validation splits"
    assert splits_text({"train": 200, "validation": 0}) == "train split"
    assert splits_text(None) == "train split"  # a checkpoint older than split records


def test_row_information_composes_oracle_pretrained_fit_profile_and_deviations():
    wiener = build("wiener")
    assert row_information(wiener, {"trained_on": "ds", "splits": {"train": 20}, "fit_seconds": 1.0}) == (
        "psf-oracle; calibrated on ds (train split)")
    assert row_information(build("ifcnn-max")) == "pretrained IFCNN-MAX.pth"
    assert pretrained_source(build("ifcnn-mean")) == "pretrained IFCNN-MEAN.pth"
    assert row_information(build("average")) == ""
    focus = build("mmdf-focus", profile="cpu")
    text = row_information(focus, {"trained_on": "synthetic-brightfield-zstack",
                                   "splits": {"train": 1600, "validation": 160}, "profile": "cpu"})
    assert text.startswith("trained on synthetic-brightfield-zstack (train + validation splits); profile cpu; "
                           "deviations: mean+max pooling")
    assert "Platt calibration" in text
    loso = row_information(build("fm-brenner"), {"calibration": "leave-one-specimen-out", "trained_on": "wafer",
                                                 "folds": 7})
    assert loso.startswith("calibrated leave-one-specimen-out on wafer (7 folds")


def test_deviations_depend_on_the_profile_and_on_what_was_found():
    assert build("mmdf-focus", profile="paper").deviations == ""
    assert "mean+max pooling" in build("mmdf-focus", profile="cpu").deviations
    assert "residual output" in build("srcnn", profile="smoke").deviations
    synthetic = build("yang-synthetic", profile="smoke")
    assert synthetic.information[0].startswith("simulator-matched: trained on the PSF model, noise and 6 µm z-step")
    assert build("yang", profile="smoke").information == ()


def test_deblurgan_says_when_its_perceptual_loss_has_no_vgg19(monkeypatch):
    from mmdf_bench.methods import deblurgan

    monkeypatch.setattr(deblurgan, "find_vgg19_weights", lambda: None)
    without = deblurgan.DeblurGAN(profile="smoke")
    assert "critic's features instead of ImageNet VGG19" in without.deviations and without.information == ()
    monkeypatch.setattr(deblurgan, "find_vgg19_weights", lambda: Path("vgg19.pth"))
    found = deblurgan.DeblurGANUpgraded(profile="smoke")
    assert found.deviations == "" and found.information == ("pretrained ImageNet VGG19 (perceptual loss)",)


def test_the_svm_row_is_named_for_what_it_computes():
    svm = registry.methods.load("svm-focus-measures")
    assert "Hsu" not in svm.citation and "Cortes and V. Vapnik" in svm.citation and "Pertuz" in svm.citation
    assert "Hsu and Chen" in svm.deviations
    with pytest.raises(UnknownNameError, match="'svm-blur-features' no longer exists: .*'svm-focus-measures'"):
        registry.methods.load("svm-blur-features")
    assert "svm-blur-features" not in registry.methods.names(task="focus")


def test_a_fit_that_reads_no_sample_is_not_called_a_calibration():
    from mmdf_bench.tuning import choice_splits

    method = build("unsupervised-wiener").fit([], seed=3)
    training = {"trained_on": "ds", "splits": {"train": 200}, "choices": choice_splits(method, {"train": 200})}
    assert training["choices"] == {"sampler seed": "the run seed (no sample read)"}
    assert row_information(method, training) == "psf-oracle"
    assert row_information(build("unsupervised-wiener-cepstrum").fit([], seed=3), training) == ""
