import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.metrics.full_reference import PSNR, PSNR_CAP_DB, SSIM, psnr, ssim
from mmdf_bench.tasks.fusion import FusionSample


def texture(shape, seed=0):
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.random(shape), sigma=(1.5, 1.5) + (0,) * (len(shape) - 2))
    image -= image.min()
    return image / image.max()


def skimage_ssim(image, reference, **options):
    return structural_similarity(
        image,
        reference,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        **options,
    )


def test_psnr_of_identical_images_is_infinite():
    image = texture((32, 32))
    assert psnr(image, image.copy()) == math.inf


def test_psnr_of_a_constant_offset_is_20_db():
    image = 0.8 * texture((32, 40))
    assert psnr(image + 0.1, image) == pytest.approx(20.0, abs=1e-9)


def test_psnr_matches_the_mse_formula_on_rgb():
    rng = np.random.default_rng(1)
    reference = texture((24, 24, 3))
    image = np.clip(reference + rng.normal(0, 0.05, reference.shape), 0, 1)
    mse = np.mean((image - reference) ** 2)
    assert psnr(image, reference) == pytest.approx(10 * np.log10(1 / mse), rel=1e-12)


def test_psnr_scales_with_data_range():
    rng = np.random.default_rng(2)
    reference = texture((20, 20))
    image = np.clip(reference + rng.normal(0, 0.03, reference.shape), 0, 1)
    base = psnr(image, reference)
    assert psnr(2 * image, 2 * reference, data_range=2.0) == pytest.approx(base, rel=1e-12)
    assert psnr(image, reference, data_range=2.0) == pytest.approx(
        base + 20 * np.log10(2), rel=1e-12
    )


def test_psnr_rejects_shape_mismatch_and_bad_range():
    with pytest.raises(InvalidInputError, match="shape"):
        psnr(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(InvalidInputError, match="data_range"):
        psnr(np.zeros((8, 8)), np.ones((8, 8)), data_range=0)


def test_ssim_of_identical_images_is_one():
    image = texture((40, 48))
    assert ssim(image, image.copy()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shape", [(64, 72), (48, 40, 3)])
def test_ssim_agrees_with_skimage_wang_settings(shape):
    rng = np.random.default_rng(3)
    reference = texture(shape, seed=4)
    image = np.clip(0.9 * reference + 0.05 + rng.normal(0, 0.08, shape), 0, 1)
    options = {"channel_axis": -1} if len(shape) == 3 else {}
    expected = skimage_ssim(image, reference, **options)
    assert 0.2 < expected < 0.95
    assert ssim(image, reference) == pytest.approx(expected, abs=1e-4)


def test_ssim_is_lower_for_a_noisier_image():
    rng = np.random.default_rng(5)
    reference = texture((64, 64))
    noise = rng.normal(0, 1, reference.shape)
    slightly = np.clip(reference + 0.02 * noise, 0, 1)
    very = np.clip(reference + 0.1 * noise, 0, 1)
    assert ssim(very, reference) < ssim(slightly, reference) < 1.0


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(InvalidInputError, match="11"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))


def test_metric_classes_wrap_the_functions():
    reference = texture((32, 32)).astype(np.float32)
    stack = np.stack([reference, reference])
    sample = FusionSample(stack=stack, sample_id="s", reference=reference)
    assert PSNR().compute(reference.copy(), sample) == PSNR_CAP_DB == 100.0
    shifted = np.clip(reference * 0.9 + 0.05, 0, 1)
    assert PSNR().compute(shifted, sample) == pytest.approx(psnr(shifted, reference))
    assert SSIM().compute(shifted, sample) == pytest.approx(ssim(shifted, reference))
    for metric in (PSNR, SSIM):
        assert metric.tasks == ("fusion", "deblur")
        assert metric.requires_reference and metric.higher_is_better
        assert metric.summary and metric.citation
    assert (PSNR.name, SSIM.name) == ("psnr", "ssim")
