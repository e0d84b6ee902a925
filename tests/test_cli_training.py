"""Training through the CLI and the runner: checkpoints are cached, reused and recorded; focus maps."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.cli import main
from mmdf_bench.data.optics import blur, defocus_psf
from mmdf_bench.data.sources import source_images
from mmdf_bench.data.synthetic_zstack import LEVEL_SPACING
from mmdf_bench.images import read_image, to_gray, write_image
from mmdf_bench.focus_map_key import KEY_MIN_HEIGHT, KEY_WIDTH


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One checkpoint cache for the module: the first test trains, the later ones reuse."""
    folder = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("MMDF_BENCH_CACHE")
    os.environ["MMDF_BENCH_CACHE"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["MMDF_BENCH_CACHE"]
    else:
        os.environ["MMDF_BENCH_CACHE"] = previous


def checkpoints(cache):
    return sorted((cache / "checkpoints").rglob("*.pt"))


def test_train_caches_a_checkpoint_and_reuses_it(cache, capsys):
    arguments = ["train", "--method", "mmdf-focus", "--profile", "smoke"]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    assert "trained in" in first
    [checkpoint] = checkpoints(cache)
    assert checkpoint.parent.parts[-2:] == ("mmdf-focus", "smoke")
    assert checkpoint.name.startswith("synthetic-brightfield-zstack-v")
    stamp = checkpoint.stat().st_mtime_ns

    assert main(arguments) == 0
    assert "found in the cache" in capsys.readouterr().out
    assert checkpoints(cache) == [checkpoint] and checkpoint.stat().st_mtime_ns == stamp


def test_train_refuses_a_method_without_training(cache, capsys):
    assert main(["train", "--method", "fm-brenner", "--profile", "smoke"]) == 2
    assert "fm-brenner" in capsys.readouterr().err


def test_run_records_training_in_the_manifest(cache, tmp_path):
    out = tmp_path / "run"
    arguments = ["run", "--task", "focus", "--methods", "mmdf-focus", "--metrics", "accuracy",
                 "--profile", "smoke", "--limit", "6", "--out", str(out), "--quiet"]
    assert main(arguments) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    training = manifest["methods"]["mmdf-focus"]["training"]["synthetic-brightfield-zstack"]
    # the checkpoint made by `train` above is the one the run uses
    assert training["cached"] is True and training["profile"] == "smoke"
    assert training["checkpoint"] == str(checkpoints(cache)[0])
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores.method) == {"mmdf-focus"} and scores.sample_id.nunique() == 6


def test_focus_map_writes_each_tile_prediction(cache, tmp_path, capsys):
    image = list(source_images().values())[0][:252, :336]  # a 3 x 4 grid of 84-pixel tiles
    half = 168
    spoiled = image.copy()
    spoiled[:, half:] = blur(image, defocus_psf(10 * LEVEL_SPACING))[:, half:]
    path = tmp_path / "half.png"
    write_image(path, spoiled)

    out = tmp_path / "map.png"
    assert main(["focus-map", str(path), "--method", "mmdf-focus", "--profile", "smoke", "-o", str(out)]) == 0
    assert "per-tile values" in capsys.readouterr().out
    picture = read_image(out)
    # the map, with its colour key to the right (and white below when the image is short)
    assert picture.shape[:2] == (max(spoiled.shape[0], KEY_MIN_HEIGHT), spoiled.shape[1] + KEY_WIDTH)
    tiles = pd.read_csv(out.with_suffix(".csv"))
    assert len(tiles) == 12 and {"y", "x", "level", "certainty", "probability_out_of_focus"} <= set(tiles.columns)
    assert ((tiles.certainty >= 0) & (tiles.certainty <= 1)).all()
    # the CSV holds what the cached model says of each tile of the image as written
    import torch

    from mmdf_bench.methods.focus_cnn import MMDFFocusCNN
    from mmdf_bench.training import find_checkpoint

    model = MMDFFocusCNN(profile="smoke")
    model.load_state_dict(torch.load(find_checkpoint(model, "mmdf-focus"), weights_only=False))
    grey = to_gray(read_image(path))
    patches = np.stack([grey[y:y + 84, x:x + 84] for y, x in zip(tiles.y, tiles.x)])
    expected = model.predict_levels(patches)
    levels = [f"p{k}" for k in range(expected.shape[1])]
    np.testing.assert_allclose(tiles[levels].to_numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(tiles.level, expected.argmax(axis=1))


def test_focus_map_names_a_missing_image(cache, tmp_path, capsys):
    missing = tmp_path / "nowhere.png"
    assert main(["focus-map", str(missing), "--method", "mmdf-focus", "-o", str(tmp_path / "m.png")]) == 2
    assert "nowhere.png" in capsys.readouterr().err
