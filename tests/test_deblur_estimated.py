"""Non-blind deconvolutions on an estimated PSF: the blind classical track (issue 10, point 5)."""

import tomllib

import numpy as np
import pytest

from mmdf_bench import registry
from mmdf_bench.baselines import deblur_estimated
from mmdf_bench.baselines.blind_motion import DEFAULT_MIN_STRENGTH
from mmdf_bench.baselines.deblur_estimated import (CEPSTRUM_NUM_ITER_GRID, ENTRY_POINTS, SIGMA_GRID,
                                                   GaussianWienerDeblur, RichardsonLucyCepstrumDeblur,
                                                   UnsupervisedWienerCepstrumDeblur, estimated_motion_kernel)
from mmdf_bench.baselines.richardson_lucy import richardson_lucy
from mmdf_bench.data.blur_kernels import gaussian_kernel, linear_motion_kernel
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.full_reference import psnr
from mmdf_bench.tasks.deblur import predict
from tests.conftest import PROJECT_ROOT
from tests.test_deblur_baselines import make_samples, scene  # noqa: F401 (fixture)


def test_registered_as_blind_methods_without_an_oracle():
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
        entry_points = tomllib.load(file)["project"]["entry-points"]["mmdf_bench.methods"]
    for name, target in ENTRY_POINTS.items():
        assert entry_points[name] == target
        method = registry.methods.load(name)
        assert method.name == name and method.track == "blind" and method.information == ()
        assert getattr(deblur_estimated, target.split(":")[1]) is method
    assert registry.methods.load("wiener").information == ("psf-oracle",)


def test_the_cepstrum_methods_never_see_the_psf_and_restore_linear_motion(scene):
    sample, = make_samples(scene, [linear_motion_kernel(13, 30)], size=160)
    kernel, strength = estimated_motion_kernel(sample.blurred)
    assert strength >= DEFAULT_MIN_STRENGTH and kernel.shape == linear_motion_kernel(13, 30).shape
    blurred_psnr = psnr(sample.blurred, sample.reference)
    method = RichardsonLucyCepstrumDeblur(num_iter=10)
    restored = predict(method, sample)  # the task protocol: blind methods get no PSF
    assert psnr(restored, sample.reference) > blurred_psnr + 1.0
    # the estimate is good: within 1 dB of Richardson-Lucy with the true kernel
    oracle = richardson_lucy(sample.blurred, sample.psf, num_iter=10)
    assert psnr(restored, sample.reference) > psnr(oracle, sample.reference) - 1.0
    gibbs = UnsupervisedWienerCepstrumDeblur().fit([], seed=1)
    assert psnr(predict(gibbs, sample), sample.reference) > blurred_psnr + 1.0


def test_an_image_without_a_motion_direction_is_returned_unchanged(scene):
    sample, = make_samples(scene, [gaussian_kernel(2.0)], size=160)
    assert estimated_motion_kernel(sample.blurred)[1] < DEFAULT_MIN_STRENGTH
    for method in (RichardsonLucyCepstrumDeblur(), UnsupervisedWienerCepstrumDeblur()):
        np.testing.assert_array_equal(method.restore(sample.blurred), sample.blurred)


def test_cepstrum_calibration_uses_estimated_kernels(scene):
    samples = make_samples(scene, [linear_motion_kernel(12, 0), gaussian_kernel(2.5), linear_motion_kernel(15, 3)],
                           size=160)
    method = RichardsonLucyCepstrumDeblur().fit(samples)
    calibration = method.calibration
    assert calibration["num_iter"] in CEPSTRUM_NUM_ITER_GRID and calibration["num_samples"] == 3
    # two of the three are linear motions it restores; the Gaussian one it leaves alone
    assert max(calibration["mean_psnr"].values()) > calibration["mean_psnr_blurred"] + 0.5
    # fit never looks at the true PSF: the same samples without it calibrate the same way
    for sample in samples:
        sample.psf = None
    assert RichardsonLucyCepstrumDeblur().fit(samples).calibration == calibration


def test_the_gaussian_family_is_chosen_on_train(scene):
    samples = make_samples(scene, [gaussian_kernel(2.0)] * 4, size=96)
    method = GaussianWienerDeblur().fit(samples)
    assert method.calibration["sigma"] in (1.5, 2.0) and set(SIGMA_GRID) >= {method.calibration["sigma"]}
    test, = make_samples(scene, [gaussian_kernel(2.0)], size=96, seed=5)
    assert psnr(method.restore(test.blurred), test.reference) > psnr(test.blurred, test.reference) + 0.5
    untouched = GaussianWienerDeblur()
    assert untouched.fit([]).calibration is None  # no data: the documented default width


@pytest.mark.parametrize("build, message", [
    (lambda: RichardsonLucyCepstrumDeblur(num_iter=0), "num_iter"),
    (lambda: RichardsonLucyCepstrumDeblur(edges="mirror"), "edges"),
    (lambda: UnsupervisedWienerCepstrumDeblur(min_strength=-1), "min_strength"),
    (lambda: GaussianWienerDeblur(sigma="wide"), "sigma"),
])
def test_bad_options_are_rejected(build, message):
    with pytest.raises(InvalidInputError, match=message):
        build()


def test_the_information_column_tells_oracle_from_estimate(tmp_path):
    from mmdf_bench.runner import run

    result = run("deblur", methods=["wiener", "richardson-lucy-cepstrum", "identity"], metrics=["psnr"], limit=2,
                 out_dir=tmp_path, progress=False)
    info = result.leaderboard.rows.set_index("method")["information"]
    assert info["wiener"].startswith("psf-oracle; calibrated on synthetic-brightfield-deblur (train split")
    assert info["richardson-lucy-cepstrum"].startswith("calibrated on synthetic-brightfield-deblur (train split")
    assert "psf-oracle" not in info["richardson-lucy-cepstrum"] and info["identity"] == ""
    manifest = result.manifest["methods"]
    assert manifest["wiener"]["information"]["synthetic-brightfield-deblur"] == info["wiener"]
    text = (tmp_path / "leaderboard.md").read_text()
    assert "psf-oracle" in text
