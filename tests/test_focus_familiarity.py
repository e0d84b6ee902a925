"""Out-of-distribution flags and the colour key of focus maps (issue 13, section 4)."""

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.cli import main
from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.focus_familiarity import FEATURES, TrainingRange, tile_features, training_range_of
from mmdf_bench.focus_map import colormap_rgb, focus_map, focus_map_table, hatch_pattern, render_focus_map
from mmdf_bench.focus_map_key import KEY_MIN_HEIGHT, KEY_WIDTH, add_colour_key, key_entries
from mmdf_bench.images import read_image, write_image
from mmdf_bench.tasks.focus import FocusPrediction

SIZE = 84


class _Brightness:
    """A stand-in focus method: P(out of focus) is the tile's mean."""

    name = "brightness"

    def predict(self, patch):
        return FocusPrediction(float(np.mean(patch)))


@pytest.fixture(scope="module")
def textures():
    """Noisy mid-grey textures, like training patches."""
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    return np.stack([np.clip(0.6 + 0.1 * gaussian_filter(rng.standard_normal((SIZE, SIZE)), 2.0) * 4
                             + 0.01 * rng.standard_normal((SIZE, SIZE)), 0, 1) for _ in range(60)])


def test_tile_features_closed_form():
    flat = np.full((1, 10, 10), 0.3)
    np.testing.assert_allclose(tile_features(flat)[0], [0.3, 0.0, 0.0, 0.0], atol=1e-9)
    dark = np.full((1, 10, 10), 0.05)
    assert tile_features(dark)[0, 3] == 1.0
    # a checkerboard of +-a around m: contrast a; the interior Laplacian is +-8a, variance 64 a^2
    board = 0.5 + 0.2 * (2 * (np.indices((12, 12)).sum(axis=0) % 2) - 1.0)
    brightness, contrast, sharpness, dark_area = tile_features(board[None])[0]
    assert brightness == pytest.approx(0.5) and contrast == pytest.approx(0.2)
    assert sharpness == pytest.approx(np.log10(64.0)) and dark_area == 0.0
    assert FEATURES == ("brightness", "contrast", "sharpness", "dark area")
    with pytest.raises(InvalidInputError):
        tile_features(np.zeros((4, 4)))


def test_training_range_flags_what_the_patches_never_showed(textures):
    known = TrainingRange.fit(textures)
    assert known.num_patches == 60 and set(known.as_dict()) == {"num_patches", *FEATURES}
    familiar, reasons = known.check(textures[:5])
    assert not familiar.any() and reasons == [""] * 5
    surround = textures[0].copy()
    surround[:, :30] = 0.02  # the dark surround of a phone's field of view
    razor = textures[1] + 0.2 * (2 * (np.indices((SIZE, SIZE)).sum(axis=0) % 2) - 1.0)
    flags, reasons = known.check(np.stack([surround, np.clip(razor, 0, 1)]))
    assert flags.all()
    assert "more dark area than the training patches" in reasons[0]
    assert "sharper than the training patches" in reasons[1]
    with pytest.raises(InvalidInputError, match="at least 20"):
        TrainingRange.fit(textures[:5])


def test_focus_map_table_and_render_mark_unfamiliar_tiles(textures):
    known = TrainingRange.fit(textures)
    image = np.concatenate([textures[2], np.full((SIZE, SIZE), 0.02)], axis=1)
    result = focus_map(image, _Brightness(), training_range=known)
    assert result.unfamiliar.tolist() == [[False, True]]
    table = focus_map_table(result)
    assert table["out_of_distribution"].tolist() == [False, True]
    assert table["why_out_of_distribution"][0] == "" and "darker" in table["why_out_of_distribution"][1]
    plain = render_focus_map(image, focus_map(image, _Brightness()))
    hatched = render_focus_map(image, result)
    # the familiar tile is drawn as before; the other gets white stripes where the pattern says
    np.testing.assert_array_equal(hatched[:, :SIZE], plain[:, :SIZE])
    stripes = hatch_pattern(SIZE)
    assert (hatched[:, SIZE:][stripes] > plain[:, SIZE:][stripes] + 0.3).all()
    np.testing.assert_array_equal(hatched[:, SIZE:][~stripes], plain[:, SIZE:][~stripes])
    assert "out_of_distribution" not in focus_map_table(focus_map(image, _Brightness()))


def test_colour_key_shows_every_level_colour():
    class _Levels:
        name = "levels"

        def predict(self, patch):
            level = int(round(10 * float(np.mean(patch))))
            distribution = np.full(11, 1e-3)
            distribution[level] = 1.0
            distribution /= distribution.sum()
            return FocusPrediction(1.0 - distribution[0], distribution)

    image = np.concatenate([np.full((SIZE, SIZE), value) for value in (0.0, 0.5, 1.0)], axis=1)
    result = focus_map(image, _Levels())
    keyed = add_colour_key(render_focus_map(image, result), result)
    assert keyed.shape == (KEY_MIN_HEIGHT, 3 * SIZE + KEY_WIDTH, 3) and keyed.dtype == np.float32
    entries = key_entries(result)
    assert len(entries) == 11 and entries[0][0] == "level 0: in focus" and "farthest" in entries[-1][0]
    key = keyed[:, 3 * SIZE:].reshape(-1, 3)
    for level in (0, 5, 10):
        # each swatch is outlined in the level's own colour (8-bit rounding of the canvas)
        colour = colormap_rgb(level / 10)
        assert np.abs(key - colour).max(axis=1).min() < 0.01, level
    # the map itself is unchanged on the left, on white below
    np.testing.assert_allclose(keyed[:SIZE, :3 * SIZE], render_focus_map(image, result))
    assert (keyed[SIZE:, :3 * SIZE] == 1.0).all()
    probability_key = key_entries(focus_map(image, _Brightness()))
    assert [label for label, _ in probability_key][0].startswith("P(out of focus) 0.00")


def test_the_focus_map_command_writes_the_key_and_the_flags(tmp_path, capsys):
    dataset = SyntheticBrightfieldZStack()
    patches = [dataset.load(sample_id).patch for sample_id in dataset.sample_ids("test")[:6]]
    image = np.concatenate([np.concatenate(patches[:3], axis=1), np.concatenate(patches[3:], axis=1)])
    image[:SIZE, :SIZE] = 0.01  # a tile of dark surround, unlike any training patch
    write_image(tmp_path / "slide.png", image)
    out = tmp_path / "map.png"
    assert main(["focus-map", str(tmp_path / "slide.png"), "--method", "fm-brenner", "-o", str(out)]) == 0
    picture = read_image(out)
    assert picture.shape == (KEY_MIN_HEIGHT, 3 * SIZE + KEY_WIDTH, 3)
    table = pd.read_csv(tmp_path / "map.csv", keep_default_na=False)
    assert table["out_of_distribution"].dtype == bool and table["out_of_distribution"][0]
    assert "dark area" in table["why_out_of_distribution"][0]
    assert "unlike the training data" in capsys.readouterr().out


def test_training_range_of_the_embedded_data_covers_its_own_test_patches():
    dataset = SyntheticBrightfieldZStack()
    known = training_range_of(dataset, max_patches=200)
    patches = np.stack([dataset.load(sample_id).patch for sample_id in dataset.sample_ids("test")])
    flags, _ = known.check(patches)
    assert flags.mean() <= 0.1
