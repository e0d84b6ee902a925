import cv2
import numpy as np
import pytest

from mmdf_bench.data import optics
from mmdf_bench.data.artefacts import ARTEFACTS, add_condensate, add_dust, add_water_drops
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray


def variance_of_laplacian(image):
    return float(cv2.Laplacian(to_gray(image).astype(np.float32), cv2.CV_32F).astype(np.float64).var())


@pytest.fixture(scope="module")
def patches():
    """In-focus 84x84 patches of three textured sources, as the dataset makes them (noise-free, native)."""
    images = source_images()
    return [np.array(images[name][100:184, 200:284]) for name in ("immunohistochemistry", "gravel", "grass")]


def test_registry_of_kinds():
    assert ARTEFACTS == {"dust": add_dust, "water": add_water_drops, "condensate": add_condensate}


@pytest.mark.parametrize("kind", list(ARTEFACTS))
def test_deterministic_in_range_and_changes_the_image(kind, patches):
    function = ARTEFACTS[kind]
    for seed, patch in enumerate(patches):
        first = function(patch, rng=np.random.default_rng(seed))
        again = function(patch, rng=np.random.default_rng(seed))
        other = function(patch, rng=np.random.default_rng(seed + 100))
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)
        assert first.dtype == np.float32 and first.shape == patch.shape
        assert 0.0 <= first.min() and first.max() <= 1.0
        # A visible change: at least 1 % of the pixels move by more than 0.05.
        assert (np.abs(first - patch).max(axis=-1) > 0.05).mean() > 0.01, kind


@pytest.mark.parametrize("kind", list(ARTEFACTS))
def test_grey_and_larger_images(kind):
    grey = np.full((50, 300), 0.6, dtype=np.float32)
    result = ARTEFACTS[kind](grey, rng=np.random.default_rng(0))
    assert result.shape == grey.shape and result.dtype == np.float32
    assert not np.array_equal(result, grey)
    with pytest.raises(InvalidInputError):
        ARTEFACTS[kind](np.zeros((10, 10, 4)), rng=np.random.default_rng(0))


def test_dust_fools_a_sharpness_measure():
    # A smooth (defocused) image gets sharp specks: the variance of the
    # Laplacian rises although the image is no better focused.
    smooth = optics.blur(source_images()["gravel"][:84, :84], optics.defocus_psf(30e-6))
    before = variance_of_laplacian(smooth)
    for seed in range(5):
        dusty = add_dust(smooth, rng=np.random.default_rng(seed))
        assert variance_of_laplacian(dusty) > 3 * before
    # Dust only absorbs light.
    assert np.all(dusty <= smooth + 1e-6)


def test_dust_density_controls_the_amount():
    image = np.full((168, 168, 3), 0.8, dtype=np.float32)
    light = add_dust(image, rng=np.random.default_rng(1), density=2)
    heavy = add_dust(image, rng=np.random.default_rng(1), density=40)
    assert (heavy < 0.7).mean() > 3 * (light < 0.7).mean()


def test_condensate_lowers_contrast(patches):
    for seed, patch in enumerate(patches):
        fogged = add_condensate(patch, rng=np.random.default_rng(seed))
        # The haze alone removes 35-60 % of the contrast; micro-drops add back a little.
        assert to_gray(fogged).std() < 0.9 * to_gray(patch).std()
    with pytest.raises(InvalidInputError):
        add_condensate(patches[0], rng=np.random.default_rng(0), strength=1.5)


def test_condensate_strength_is_monotone(patches):
    weak = add_condensate(patches[0], rng=np.random.default_rng(4), strength=0.2)
    strong = add_condensate(patches[0], rng=np.random.default_rng(4), strength=0.8)
    assert to_gray(strong).std() < to_gray(weak).std()


class _CentredDrop:
    """Stands in for a generator: every uniform draw returns the middle of its range.

    The drop then sits at the image centre with radius 0.235 x the side,
    magnification strength k = 0.375 and a Gaussian blur of 1.75 px.
    """

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def uniform(self, low=0.0, high=1.0, size=None):
        if size == 2:
            return np.array([0.5, 0.5])
        return (np.asarray(low) + np.asarray(high)) / 2

    def integers(self, *args, **kwargs):
        return self.rng.integers(*args, **kwargs)


def test_water_drop_magnifies_by_the_lens_factor():
    # Through the centre of the drop a linear ramp keeps its shape (blur and
    # linear interpolation preserve it) but its slope shrinks by the
    # sampling scale 1 - k = 0.625: a magnification of 1.6.
    rows = np.indices((101, 101))[0]
    ramp = (0.2 + 0.006 * rows).astype(np.float32)
    wet = add_water_drops(ramp, rng=_CentredDrop(), count=1)
    slope = np.gradient(wet[:, 50].astype(np.float64))[46:55].mean()
    assert slope == pytest.approx(0.006 * 0.625, rel=0.05)


def test_water_drop_has_a_dark_rim_and_is_defocused():
    rows, cols = np.indices((101, 101))
    grating = (0.5 + 0.3 * np.sin(2 * np.pi * cols / 6.0)).astype(np.float32)
    wet = add_water_drops(grating, rng=_CentredDrop(), count=1)
    # Radius 0.235 * 101 = 23.7 px: the rim is darker than the untouched outside.
    distance = np.hypot(rows - 50.5, cols - 50.5)
    rim = (distance > 20.5) & (distance < 23.0)
    outside = distance > 26
    assert wet[rim].mean() < 0.8 * grating[outside].mean()
    np.testing.assert_array_equal(wet[outside], grating[outside])
    # Defocused: the centre holds less contrast.
    centre = distance < 6
    assert wet[centre].std() < 0.6 * grating[centre].std()
