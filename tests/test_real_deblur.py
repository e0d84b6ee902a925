"""Real defocus pairs and the semi-real fast-scan set of the deblur task."""

from collections import Counter

import numpy as np
import pytest

from mmdf_bench.data import optics
from mmdf_bench.data.psf_fit import disc_kernel, fit_defocus_psf
from mmdf_bench.data.registration import estimate_shift, shift_image
from mmdf_bench.data.semi_real_deblur import SemiRealFastScan
from mmdf_bench.data.sephace import SephaceBrightfieldPairs
from mmdf_bench.data.synthetic_deblur import BLUR_PATTERN
from mmdf_bench.data.wafer_defocus import WaferDefocusPairs
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.full_reference import psnr
from tests.real_fixtures import (
    smooth_scene,
    write_sephace_fixture,
    write_wafer_pairs_fixture,
)

# ------------------------------------------------------------- registration


def test_registration_recovers_a_subpixel_shift_through_defocus():
    scene = smooth_scene((160, 160))
    moved = shift_image(scene, (0.6, -1.3))
    estimate = estimate_shift(scene, moved)
    assert estimate.found
    np.testing.assert_allclose(estimate.shift, (-0.6, 1.3), atol=0.03)
    back = shift_image(moved, estimate.shift)
    assert np.abs(back - scene)[8:-8, 8:-8].max() < 0.01
    # a symmetric blur of the moving image does not bias the estimate
    blurred = optics.blur(moved, optics.gaussian_psf(4.0))
    np.testing.assert_allclose(estimate_shift(scene, blurred).shift, (-0.6, 1.3), atol=0.08)


def test_registration_without_a_peak_in_the_window_leaves_the_planes_alone():
    scene = smooth_scene((96, 96))
    far = np.roll(scene, 12, axis=1)  # beyond the 6-pixel search window
    estimate = estimate_shift(scene, far)
    assert not estimate.found and estimate.shift.tolist() == [0.0, 0.0]
    np.testing.assert_array_equal(shift_image(scene, estimate.shift), scene)


# ------------------------------------------------------------------ PSF fit


def test_psf_fit_recovers_disc_and_gaussian_blurs():
    scene = smooth_scene((256, 256), seed=1)
    disc = fit_defocus_psf(scene, optics.blur(scene, disc_kernel(6.3)))
    assert disc.model == "disc" and disc.parameter == pytest.approx(6.3, abs=0.15) and disc.residual < 0.02
    gaussian = fit_defocus_psf(scene, optics.blur(scene, optics.gaussian_psf(3.0)))
    assert gaussian.model == "gaussian" and gaussian.parameter == pytest.approx(3.0, abs=0.15)
    kernel = disc_kernel(6.3)
    assert kernel.shape == (15, 15) and kernel.sum() == pytest.approx(1.0)
    # second moment of a uniform disc: r^2 / 2, plus 1/6 for integrating over square pixels
    rows, cols = np.indices(kernel.shape) - 7
    assert (kernel * (rows**2 + cols**2)).sum() == pytest.approx(6.3**2 / 2 + 1 / 6, rel=0.01)


# ------------------------------------------------------------------ fixtures


def test_wafer_pairs_are_registered_crops_with_a_fitted_psf(tmp_path):
    write_wafer_pairs_fixture(tmp_path / "wafer-defocus")
    dataset = WaferDefocusPairs(root=tmp_path / "wafer-defocus", crop_size=128, crops_per_field=2)
    assert dataset.sample_ids("train") == [] and dataset.sample_ids("validation") == []
    ids = dataset.sample_ids("test")
    # planes 1.5-20 µm from focus: -8, 4 and 12 (not -30); 2 crops each, in two fields
    assert len(ids) == 2 * 3 * 2
    assert {dataset.load(sample_id).group for sample_id in ids[:6]} == {"level1_iy000", "level2_iy000"}
    sample = dataset.load("level1_iy000-z-008.000um-" + ids[0].split("um-")[1])
    np.testing.assert_allclose(sample.metadata["registration"]["shift_px"], (-0.4, 0.3), atol=0.08)
    psf = sample.metadata["psf"]
    assert psf["model"] == "gaussian" and psf["sigma_px"] == pytest.approx(4.0, abs=0.3)
    assert sample.psf.sum() == pytest.approx(1.0) and sample.blurred.shape == (128, 128)
    # once registered, the defocused crop is the focal crop blurred (8-bit rounding aside)
    row, col = sample.metadata["row"], sample.metadata["col"]
    field = dataset.fields()["level1_iy000"]
    expected = optics.blur(field.read_plane(field.focus_index), optics.gaussian_psf(4.0))[row:row + 128,
                                                                                          col:col + 128]
    assert psnr(sample.blurred, expected) > 40
    assert dataset.describe()["fields"]["level2_iy000"]["pairs_z_um"] == [-8.0, 4.0, 12.0]
    narrow = WaferDefocusPairs(root=tmp_path / "wafer-defocus", min_defocus_um=5, max_defocus_um="40",
                               crop_size=128, crops_per_field=1)
    assert sorted({narrow.load(i).metadata["z_um"] for i in narrow.sample_ids("test")}) == [-30.0, -8.0, 12.0]
    with pytest.raises(InvalidInputError, match="min_defocus_um 9.0 exceeds max_defocus_um 2.0"):
        WaferDefocusPairs(root=tmp_path, min_defocus_um=9, max_defocus_um=2)


def test_sephace_pairs_skip_fluorescence(tmp_path):
    write_sephace_fixture(tmp_path / "sephace-brightfield")
    dataset = SephaceBrightfieldPairs(root=tmp_path / "sephace-brightfield", crop_size=128, crops_per_field=1)
    ids = dataset.sample_ids("test")
    assert len(ids) == 4 and {dataset.load(i).group for i in ids} == {"Set_1", "Set_2"}


def test_semi_real_fast_scan_blurs_real_planes_with_the_synthetic_kernels(tmp_path):
    write_wafer_pairs_fixture(tmp_path / "wafer-defocus")
    write_sephace_fixture(tmp_path / "sephace-brightfield")
    dataset = SemiRealFastScan(root=tmp_path, crop_size=64, crops_per_field=8, noise=False)
    assert dataset.realism == "semi-real" and dataset.sample_ids("train") == []
    ids = dataset.sample_ids("test")
    assert len(ids) == 4 * 8  # 2 wafer and 2 cell fields, 8 crops each
    samples = [dataset.load(sample_id) for sample_id in ids]
    for field in ("level1_iy000", "Set_2"):
        kinds = Counter(sample.metadata["blur"] for sample in samples if sample.group == field)
        assert kinds == Counter(kind for kind, _ in BLUR_PATTERN)  # the whole mixture in every field
    for sample in samples[:5]:
        np.testing.assert_allclose(sample.blurred, optics.blur(sample.reference, sample.psf), atol=1e-6)
    again = SemiRealFastScan(root=tmp_path, crop_size=64, crops_per_field=8, noise=False, seed=9).load(ids[3])
    np.testing.assert_array_equal(again.blurred, samples[3].blurred)
    only_wafer = tmp_path / "only-wafer"
    only_wafer.mkdir()
    (tmp_path / "wafer-defocus").rename(only_wafer / "wafer-defocus")
    with pytest.raises(InvalidInputError, match="only-wafer lacks sephace-brightfield/"):
        SemiRealFastScan(root=only_wafer).sample_ids("test")


# ------------------------------------------------------ the real data (CI)


def test_wafer_pairs_on_the_shared_data(shared_data):
    dataset = WaferDefocusPairs(root=shared_data / "wafer-defocus")
    assert len(dataset.fields()) == 7
    assert all(dataset.crops(name) for name in dataset.fields())  # every field gives crops
    for name in ("level1_iy002", "level2_iy000"):
        for plane in dataset.pair_planes(name):
            _, _, shift, fit = dataset.registered_pair(name, plane)
            assert shift.found  # a correlation peak inside the search window
            # real defocus of a reflecting wafer is well explained by a disc or a Gaussian
            assert fit.residual < 0.1
    # planes within 2 µm of focus look alike: registration finds next to no shift
    for field in dataset.fields().values():
        for plane in np.flatnonzero((np.abs(field.defocus_um) < 2) & (field.defocus_um != 0)):
            shift = estimate_shift(field.read_plane(field.focus_index), field.read_plane(plane))
            assert shift.found and np.abs(shift.shift).max() <= 0.15


def test_sephace_pairs_on_the_shared_data_are_not_a_blur(shared_data):
    """Defocus of unstained cells inverts or creates contrast: no blur kernel explains it."""
    dataset = SephaceBrightfieldPairs(root=shared_data / "sephace-brightfield")
    for name in dataset.fields():
        planes = dataset.pair_planes(name)
        assert [round(float(dataset.fields()[name].defocus_um[k])) for k in planes] == [-10, 10]
        residuals = [dataset.registered_pair(name, plane)[3].residual for plane in planes]
        assert min(residuals) > 0.3
