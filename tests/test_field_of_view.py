import numpy as np
import pytest

from mmdf_bench.data.field_of_view import (
    apply_vignette,
    circular_field_of_view,
    crop_to_field_of_view,
    field_of_view_box,
    fit_circle,
    specimen_mask,
    surround_threshold,
    vignette_factor,
)
from mmdf_bench.data.sources import source_images
from mmdf_bench.errors import InvalidInputError


def disc_image(shape, center, radius, *, inside=0.8, outside=0.02, rgb=True):
    """A hard-edged bright disc (anti-aliased over one pixel) on a dark surround."""
    rows, cols = np.indices(shape, dtype=np.float64)
    coverage = np.clip(radius - np.hypot(rows - center[0], cols - center[1]) + 0.5, 0, 1)
    image = (outside + (inside - outside) * coverage).astype(np.float32)
    return np.repeat(image[..., None], 3, axis=-1) if rgb else image


@pytest.mark.parametrize("shape, center, radius", [
    ((120, 160), (60.0, 80.0), 50.0),      # whole disc inside the frame
    ((200, 200), (90.3, 110.7), 70.2),     # off-centre, sub-pixel
    ((120, 200), (60.0, 100.0), 80.0),     # clipped by the top and bottom of the frame
    ((100, 100), (20.0, 30.0), 60.0),      # centre near a corner, most of the edge off-frame
])
def test_circle_of_a_closed_form_disc(shape, center, radius):
    found = circular_field_of_view(disc_image(shape, center, radius))
    assert found[0] == pytest.approx(center[0], abs=0.5)
    assert found[1] == pytest.approx(center[1], abs=0.5)
    assert found[2] == pytest.approx(radius, abs=0.6)


def test_large_image_is_analysed_at_reduced_size_with_the_same_answer():
    shape, center, radius = (1200, 1600), (590.0, 820.0), 520.0
    found = circular_field_of_view(disc_image(shape, center, radius, rgb=False))
    # At 512/1600 scale one working pixel is 3.1 image pixels.
    assert found[0] == pytest.approx(center[0], abs=2.0)
    assert found[1] == pytest.approx(center[1], abs=2.0)
    assert found[2] == pytest.approx(radius, abs=2.0)


def test_stained_specimen_with_a_notch_at_the_edge():
    # Dark stain touching the field edge must not pull the circle in.
    shape, center, radius = (200, 200), (100.0, 100.0), 80.0
    image = disc_image(shape, center, radius, rgb=False)
    rows, cols = np.indices(shape)
    stain = np.hypot(rows - 100, cols - 175) < 18
    image[stain & (image > 0.5)] = 0.08
    found = circular_field_of_view(image)
    assert found[0] == pytest.approx(center[0], abs=1.0)
    assert found[1] == pytest.approx(center[1], abs=1.0)
    assert found[2] == pytest.approx(radius, abs=1.0)


def test_fit_circle_exact_points_and_collinear_error():
    angles = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    rows, cols = 3.0 + 7.0 * np.sin(angles), -2.0 + 7.0 * np.cos(angles)
    assert fit_circle(rows, cols) == pytest.approx((3.0, -2.0, 7.0), abs=1e-9)
    with pytest.raises(InvalidInputError):
        fit_circle([0, 1, 2, 3], [0, 1, 2, 3])


def test_mask_of_a_disc_matches_the_disc():
    shape, center, radius = (150, 150), (75.0, 70.0), 55.0
    mask = specimen_mask(disc_image(shape, center, radius))
    rows, cols = np.indices(shape)
    distance = np.hypot(rows - center[0], cols - center[1])
    assert mask[distance < radius - 2].all()
    assert not mask[distance > radius + 3].any()


def test_mask_fills_dark_stain_inside_the_field_and_drops_dark_specks_outside():
    shape = (160, 160)
    image = disc_image(shape, (80.0, 80.0), 60.0, rgb=False)
    image[70:90, 70:90] = 0.05          # a very dark object in the middle of the field
    image[3:6, 3:6] = 0.8               # a bright speck in the dark surround
    mask = specimen_mask(image)
    assert mask[70:90, 70:90].all()
    assert not mask[:10, :10].any()


def test_image_without_surround_is_all_field():
    image = source_images()["immunohistochemistry"]
    assert specimen_mask(image).all()
    assert surround_threshold(np.full((20, 20), 0.5)) is None
    center_row, center_col, radius = circular_field_of_view(image)
    assert (center_row, center_col) == (255.5, 255.5)
    assert radius == pytest.approx(np.hypot(512, 512) / 2)


def test_explicit_threshold_is_used_as_given():
    image = disc_image((100, 100), (50.0, 50.0), 30.0, inside=0.5, outside=0.3, rgb=False)
    # 0.3 is not a dark surround relative to 0.5: Otsu's split is rejected...
    assert specimen_mask(image).all()
    # ...but an explicit threshold separates the two levels.
    mask = specimen_mask(image, threshold=0.4)
    assert mask[50, 50] and not mask[0, 0]


def test_dark_image_is_an_error():
    with pytest.raises(InvalidInputError, match="dark"):
        circular_field_of_view(np.zeros((50, 50), dtype=np.float32), threshold=0.5)
    with pytest.raises(InvalidInputError):
        specimen_mask(np.zeros((4, 4)))


def test_crop_to_field_of_view():
    image = disc_image((120, 200), (60.0, 90.0), 40.0)
    crop = crop_to_field_of_view(image)
    # Rows 20..100 and columns 50..130 for the exact circle; detection is within a pixel.
    assert 79 <= crop.shape[0] == crop.shape[1] <= 81
    assert crop[crop.shape[0] // 2, 0].max() > 0.5 and crop[0, 0].max() < 0.1
    inside = crop_to_field_of_view(image, inside=True)
    # The inscribed square holds no surround pixel.
    assert inside.min() > 0.5 and inside.shape[0] == pytest.approx(2 * 40 / np.sqrt(2), abs=2)
    # A given field of view is reused as is (to crop a blurred frame the same way).
    same = crop_to_field_of_view(np.zeros_like(image), field_of_view=(60.0, 90.0, 40.0))
    assert same.shape == (81, 81, 3) and not same.any()
    rows, cols = field_of_view_box((120, 200), (10.0, 10.0, 40.0))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 51, 0, 51)
    with pytest.raises(InvalidInputError):
        field_of_view_box((50, 50), (-100.0, -100.0, 10.0))


def test_vignette_is_deterministic_and_dark_outside():
    image = np.full((100, 120, 3), 0.7, dtype=np.float32)
    first = apply_vignette(image, center=(50, 60), radius=40, rng=np.random.default_rng(3))
    again = apply_vignette(image, center=(50, 60), radius=40, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and first.shape == image.shape
    assert first[0, 0].max() <= 0.7 * 0.05 + 1e-6         # surround transmits at most 5 %
    assert first[50, 60].min() == pytest.approx(0.7)        # the centre is untouched
    factor = vignette_factor((100, 120), center=(50, 60), radius=40, edge_width=2, falloff=0.1, surround=0.02)
    assert factor[50, 60 + 39] > factor[50, 60 + 20] * 0.8 and factor[50, 60 + 42] < 0.1
    # Detection recovers the circle it drew.
    found = circular_field_of_view(first)
    assert found == pytest.approx((50, 60, 40), abs=0.7)
