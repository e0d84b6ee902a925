"""Registered classical deblurring methods: protocol, calibration on the train split, seeding, errors."""

import itertools
import json
import tomllib

import numpy as np
import pytest
from skimage import data

from mmdf_bench.baselines import deblur
from mmdf_bench.baselines.blind_motion import estimate_linear_motion
from mmdf_bench.baselines.deblur import (BALANCE_GRID, CALIBRATION_SAMPLES, ENTRY_POINTS, ITERATION_TOLERANCE, NUM_ITER_GRID,
                              TV_WEIGHT_GRID, BlindMotionWienerDeblur, IdentityDeblur, RichardsonLucyDeblur,
                              RichardsonLucyTVDeblur, UnsupervisedWienerDeblur, WienerDeblur, calibration_samples)
from mmdf_bench.baselines.deconvolution import wiener_deconvolution
from mmdf_bench.baselines.richardson_lucy import richardson_lucy
from mmdf_bench import registry
from mmdf_bench.data import optics
from mmdf_bench.data.blur_kernels import gaussian_kernel, linear_motion_kernel
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import quantise
from mmdf_bench.metrics.full_reference import psnr
from mmdf_bench.tasks.deblur import TRACKS, DeblurMethod, DeblurSample, predict
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def scene():
    return data.immunohistochemistry().astype(np.float32) / 255


def make_samples(scene, psfs, *, size=96, noise=True, seed=0):
    """Crops of the blurred scene at different places, one per PSF (borders not periodic)."""
    rng = np.random.default_rng(seed)
    samples = []
    for index, psf in enumerate(psfs):
        top, left = 40 + 70 * (index % 5), 30 + 90 * (index // 5)
        window = (slice(top, top + size), slice(left, left + size))
        # Blurring a margin as wide as the PSF around the crop is blurring the whole scene.
        margin = max(psf.shape)
        around = scene[max(top - margin, 0) : top + size + margin, max(left - margin, 0) : left + size + margin]
        inner = (slice(min(margin, top), min(margin, top) + size), slice(min(margin, left), min(margin, left) + size))
        blurred = optics.blur(around, psf)[inner]
        if noise:
            blurred = optics.add_sensor_noise(blurred, rng=rng)
        samples.append(DeblurSample(blurred=blurred, reference=scene[window], sample_id=f"train-{index:03d}",
                                    psf=psf))
    return samples


@pytest.fixture(scope="module")
def train_samples(scene):
    return make_samples(scene, [linear_motion_kernel(9, 0), gaussian_kernel(2.0), linear_motion_kernel(13, 4),
                                gaussian_kernel(1.0)])


# Registration and the protocol -----------------------------------------------------------------------------

def test_every_deblur_baseline_of_pyproject_is_listed_and_named_as_registered():
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
        entry_points = tomllib.load(file)["project"]["entry-points"]["mmdf_bench.methods"]
    registered = {name: target for name, target in entry_points.items() if target.startswith("mmdf_bench.baselines.deblur:")}
    assert {"identity", "wiener", "richardson-lucy", "unsupervised-wiener", "blind-motion-wiener"} <= set(registered)
    for name, target in registered.items():
        assert ENTRY_POINTS[name] == target
        assert registry.methods.load(name).name == name
    for name, target in ENTRY_POINTS.items():
        method = getattr(deblur, target.split(":")[1])
        assert issubclass(method, DeblurMethod)
        assert (method.name, method.task) == (name, "deblur")
        assert method.track in TRACKS and method.summary and method.citation


def test_identity_returns_the_blurred_input(train_samples):
    sample = train_samples[0]
    method = IdentityDeblur()
    restored = method.restore(sample.blurred)
    np.testing.assert_array_equal(restored, sample.blurred)
    assert restored is not sample.blurred
    # the task stores (and scores) the output at the input's bit depth, 8 bits here
    np.testing.assert_array_equal(predict(method, sample), quantise(sample.blurred, bits=sample.bit_depth))
    grey = sample.blurred[..., 0]
    np.testing.assert_array_equal(method.restore(grey), grey)


@pytest.mark.parametrize("method", [WienerDeblur, RichardsonLucyDeblur, RichardsonLucyTVDeblur,
                                    UnsupervisedWienerDeblur])
def test_non_blind_methods_need_the_psf(method, train_samples):
    assert method.track == "non-blind"
    with pytest.raises(InvalidInputError, match="needs the PSF"):
        method().restore(train_samples[0].blurred)


@pytest.mark.parametrize("method", [IdentityDeblur, BlindMotionWienerDeblur])
def test_blind_methods_never_see_the_psf(method, train_samples):
    class Spy(method):
        def restore(self, blurred, psf=None):
            assert psf is None
            return super().restore(blurred)

    assert method.track == "blind"
    assert predict(Spy(), train_samples[1]).shape == train_samples[1].blurred.shape


def test_non_blind_methods_restore_through_the_task_protocol(train_samples):
    sample = train_samples[2]
    np.testing.assert_array_equal(predict(WienerDeblur(balance=0.02), sample),
                                  quantise(wiener_deconvolution(sample.blurred, sample.psf, balance=0.02),
                                           bits=sample.bit_depth))


# Calibration on the train split ---------------------------------------------------------------------------

def test_wiener_fit_chooses_the_balance_and_edges_with_the_best_mean_psnr(train_samples):
    method = WienerDeblur().fit(train_samples)
    scores = {(balance, edges): np.mean([psnr(wiener_deconvolution(sample.blurred, sample.psf, balance=balance,
                                                                   edges=edges), sample.reference)
                                         for sample in train_samples])
              for balance in BALANCE_GRID for edges in ("taper", "pad")}
    best = max(scores, key=scores.get)
    assert (method.calibration["balance"], method.calibration["edges"]) == best
    assert method.calibration["num_samples"] == len(train_samples)
    assert len(method.calibration["mean_psnr"]) == len(scores)
    sample = train_samples[0]
    np.testing.assert_array_equal(method.restore(sample.blurred, sample.psf),
                                  wiener_deconvolution(sample.blurred, sample.psf, balance=best[0], edges=best[1]))
    json.dumps(method.config())


def test_fit_reads_only_the_first_calibration_samples_from_a_lazy_split(train_samples):
    consumed = []

    def endless():
        for sample in itertools.cycle(train_samples):
            consumed.append(sample)
            yield sample

    method = WienerDeblur(balance=0.02).fit(endless())
    assert len(consumed) == CALIBRATION_SAMPLES == method.calibration["num_samples"]


def test_calibration_skips_samples_without_a_psf_when_it_needs_one(train_samples):
    without = DeblurSample(blurred=train_samples[0].blurred, reference=train_samples[0].reference, sample_id="x")
    chosen = calibration_samples([without] + train_samples, need_psf=True, limit=2)
    assert chosen == train_samples[:2]
    assert calibration_samples([without] + train_samples, need_psf=False, limit=2)[0] is without
    assert calibration_samples(train_samples, need_psf=True, limit=0) == []


def test_fit_without_usable_samples_keeps_the_documented_defaults(train_samples):
    without = DeblurSample(blurred=train_samples[0].blurred, reference=train_samples[0].reference, sample_id="x")
    for method in (WienerDeblur(), RichardsonLucyDeblur(), BlindMotionWienerDeblur()):
        assert method.fit([]).calibration is None
    method = RichardsonLucyDeblur().fit([without])
    assert method.calibration is None and method._num_iter == deblur.DEFAULT_NUM_ITER


def test_fixed_options_are_not_calibrated(train_samples):
    method = WienerDeblur(balance=0.02, edges="pad").fit(train_samples)
    assert method.calibration is None
    sample = train_samples[0]
    np.testing.assert_array_equal(method.restore(sample.blurred, sample.psf),
                                  wiener_deconvolution(sample.blurred, sample.psf, balance=0.02, edges="pad"))


def test_richardson_lucy_runs_longer_on_clean_data_than_on_noisy_data(scene):
    # Iterations are the only regulariser: without noise more of them help, with noise they hurt.
    psfs = [gaussian_kernel(2.0), linear_motion_kernel(11, 0), gaussian_kernel(1.5)]
    clean = RichardsonLucyDeblur().fit(make_samples(scene, psfs, size=64, noise=False))
    noisy = RichardsonLucyDeblur().fit(make_samples(scene, psfs, size=64, noise=True))
    assert clean.calibration["num_iter"] == max(NUM_ITER_GRID)
    assert noisy.calibration["num_iter"] < clean.calibration["num_iter"]
    assert noisy.calibration["tv_weight"] == 0.0
    for method in (clean, noisy):
        # The fewest iterations within the tolerance of the best score are kept.
        scores = {int(key.rpartition("=")[2]): score for key, score in method.calibration["mean_psnr"].items()}
        chosen = method.calibration["num_iter"]
        assert scores[chosen] >= max(scores.values()) - ITERATION_TOLERANCE
        assert all(score < max(scores.values()) - ITERATION_TOLERANCE
                   for count, score in scores.items() if count < chosen)


def test_richardson_lucy_tv_calibrates_the_prior_weight_and_beats_plain_richardson_lucy(train_samples):
    plain = RichardsonLucyDeblur().fit(train_samples)
    regularised = RichardsonLucyTVDeblur(num_iter=None).fit(train_samples)
    calibration = regularised.calibration
    assert calibration["tv_weight"] in TV_WEIGHT_GRID
    assert len(calibration["mean_psnr"]) == len(TV_WEIGHT_GRID) * len(NUM_ITER_GRID)
    assert max(calibration["mean_psnr"].values()) > max(plain.calibration["mean_psnr"].values())
    sample = train_samples[1]
    np.testing.assert_array_equal(
        regularised.restore(sample.blurred, sample.psf),
        richardson_lucy(sample.blurred, sample.psf, num_iter=calibration["num_iter"],
                        tv_weight=calibration["tv_weight"]))


def test_blind_fit_calibrates_balance_and_threshold(scene):
    samples = make_samples(scene, [linear_motion_kernel(12, 0), gaussian_kernel(2.5), linear_motion_kernel(15, 3)],
                           size=160)
    method = BlindMotionWienerDeblur().fit(samples)
    calibration = method.calibration
    assert calibration["balance"] in BALANCE_GRID
    assert max(calibration["mean_psnr"].values()) > calibration["mean_psnr_blurred"] + 1.0
    for sample in samples:
        restored = method.restore(sample.blurred)
        strength = estimate_linear_motion(sample.blurred, max_length=method._max_length(sample.blurred)).strength
        assert np.array_equal(restored, sample.blurred) == (strength < calibration["min_strength"])


# Seeding ------------------------------------------------------------------------------------------------

def test_unsupervised_wiener_is_seeded_by_fit_and_independent_of_the_order_of_images(scene):
    first, second = make_samples(scene, [linear_motion_kernel(9, 0), gaussian_kernel(1.5)], size=48)

    def restore(method, sample):
        return method.restore(sample.blurred, sample.psf)

    method = UnsupervisedWienerDeblur().fit([], seed=3)
    reference = restore(method, first)
    restore(method, second)
    np.testing.assert_array_equal(restore(method, first), reference)
    np.testing.assert_array_equal(restore(UnsupervisedWienerDeblur().fit([], seed=3), first), reference)
    assert not np.array_equal(restore(UnsupervisedWienerDeblur().fit([], seed=4), first), reference)


# Options --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, message", [
    (lambda: WienerDeblur(balance=-1), "balance"),
    (lambda: WienerDeblur(balance=True), "balance"),
    (lambda: WienerDeblur(edges="mirror"), "edges"),
    (lambda: WienerDeblur(regularizer="tikhonov"), "regularizer"),
    (lambda: RichardsonLucyDeblur(num_iter=0), "num_iter"),
    (lambda: RichardsonLucyDeblur(num_iter=2.5), "num_iter"),
    (lambda: RichardsonLucyDeblur(edges=None), "edges"),
    (lambda: RichardsonLucyTVDeblur(tv_weight=0.3), "tv_weight"),
    (lambda: RichardsonLucyTVDeblur(tv_weight=-0.01), "tv_weight"),
    (lambda: UnsupervisedWienerDeblur(estimate="map"), "estimate"),
    (lambda: BlindMotionWienerDeblur(min_strength=0), "min_strength"),
    (lambda: BlindMotionWienerDeblur(max_length="long"), "max_length"),
])
def test_bad_options_are_rejected_when_the_method_is_built(build, message):
    with pytest.raises(InvalidInputError, match=message):
        build()


@pytest.mark.parametrize("psf, message", [(np.ones((2, 2)) / 4, "odd size"), (-gaussian_kernel(1.0), "non-negative"),
                                          (np.full((3, 3), np.nan), "finite")])
@pytest.mark.parametrize("method", [WienerDeblur, RichardsonLucyDeblur, UnsupervisedWienerDeblur])
def test_bad_psfs_are_rejected_by_the_registered_methods(method, psf, message, train_samples):
    with pytest.raises(InvalidInputError, match=message):
        method().restore(train_samples[0].blurred, psf)


def test_the_blind_method_says_when_an_image_is_too_small_to_search():
    with pytest.raises(InvalidInputError, match="too small"):
        BlindMotionWienerDeblur().restore(np.full((8, 40), 0.5, dtype=np.float32))


@pytest.mark.parametrize("method", [IdentityDeblur, WienerDeblur, RichardsonLucyDeblur, BlindMotionWienerDeblur])
def test_images_of_the_wrong_shape_are_rejected_by_the_registered_methods(method):
    image = np.full((64, 64, 4), 0.5, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="expected an"):
        method().restore(image, gaussian_kernel(1.0))


# The embedded dataset -------------------------------------------------------------------------------------

def test_calibrated_wiener_and_richardson_lucy_beat_the_blurred_input_on_the_synthetic_data():
    dataset = registry.datasets.create("synthetic-brightfield-deblur", num_test=4, num_train=6)
    train = [dataset.load(sample_id) for sample_id in dataset.sample_ids("train")]
    test = [dataset.load(sample_id) for sample_id in dataset.sample_ids("test")]
    wiener = WienerDeblur().fit(train)
    richardson_lucy_method = RichardsonLucyDeblur(num_iter=10)
    blurred = np.mean([psnr(sample.blurred, sample.reference) for sample in test])
    for method in (wiener, richardson_lucy_method):
        restored = np.mean([psnr(predict(method, sample), sample.reference) for sample in test])
        assert restored > blurred + 1.0, method.name
