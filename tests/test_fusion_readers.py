import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from mmdf_bench.data.folder import FusionFolder
from mmdf_bench.data.lytro import CHECKSUMS, Lytro
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import write_image
from mmdf_bench.settings import DATA_VARIABLE


@pytest.fixture(scope="module")
def lytro_root():
    # The real data is part of the test suite: a missing folder is a failure, not a skip.
    base = os.environ.get(DATA_VARIABLE)
    if not base:
        pytest.fail(f"{DATA_VARIABLE} is not set; point it at the folder holding lytro/ (e.g. ../shared/data)")
    root = Path(base) / "lytro"
    if not root.is_dir():
        pytest.fail(f"{root} does not exist; {DATA_VARIABLE} must point at the folder holding lytro/")
    return root


def test_lytro_samples(lytro_root):
    dataset = Lytro()
    ids = dataset.sample_ids("test")
    assert len(ids) == 24 and dataset.sample_ids("train") == []
    samples = [dataset.load(sample_id) for sample_id in ids]
    counts = [sample.num_planes for sample in samples]
    assert counts.count(2) == 20 and counts.count(3) == 4
    for sample in samples:
        assert sample.stack.shape[1:] == (520, 520, 3)
        assert sample.stack.dtype == np.float32
        assert sample.reference is None
        # The planes of a pair are different focus settings of one scene.
        assert not np.array_equal(sample.stack[0], sample.stack[1])
    assert samples[20].metadata["files"][0] == "Triple_Series/lytro-01-A.jpg"


def test_lytro_checksums(lytro_root):
    assert len(CHECKSUMS) == 52
    assert Lytro(root=lytro_root).verify() == list(CHECKSUMS)


def test_lytro_errors(tmp_path, lytro_root):
    copy = tmp_path / "lytro"
    copy.mkdir()
    (copy / "lytro-01-A.jpg").write_bytes((lytro_root / "lytro-01-A.jpg").read_bytes())
    (copy / "lytro-02-A.jpg").write_bytes(b"not a jpeg")
    (copy / "lytro-02-B.jpg").write_bytes((lytro_root / "lytro-02-B.jpg").read_bytes())
    dataset = Lytro(root=copy)
    with pytest.raises(InvalidInputError, match="lytro-01-B.jpg"):
        dataset.load("pair-01")
    with pytest.raises(InvalidInputError, match="lytro-02-A.jpg"):
        dataset.load("pair-02")
    with pytest.raises(InvalidInputError, match="pair-21"):
        dataset.load("pair-21")
    with pytest.raises(InvalidInputError, match="lytro-02-A.jpg"):
        dataset.verify()


def test_lytro_without_data_says_where_to_look(monkeypatch):
    monkeypatch.delenv(DATA_VARIABLE, raising=False)
    with pytest.raises(InvalidInputError, match=DATA_VARIABLE):
        Lytro().load("pair-01")


def _planes(rng, count=3, shape=(24, 32, 3)):
    return [rng.uniform(size=shape).astype(np.float32) for _ in range(count)]


def test_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    planes = _planes(rng)
    folder = tmp_path / "stack-a"
    for index, plane in enumerate(planes):
        write_image(folder / f"z{index:02d}.png", plane)
    (folder / "notes.txt").write_text("ignored")
    grey = (rng.uniform(size=(4, 20, 22)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "stack-b.tif", grey, photometric="minisblack")
    colour = (rng.uniform(size=(2, 16, 18, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack-c.tiff", colour, photometric="rgb")
    planar = (rng.uniform(size=(2, 3, 12, 14)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack-d.tif", planar, photometric="rgb", planarconfig="separate")
    write_image(tmp_path / "references" / "stack-a.png", planes[1])

    dataset = FusionFolder(root=tmp_path)
    assert dataset.sample_ids("test") == ["stack-a", "stack-b", "stack-c", "stack-d"]
    assert dataset.sample_ids("train") == []

    sample = dataset.load("stack-a")
    assert sample.stack.shape == (3, 24, 32, 3)
    # 8-bit PNG round trip: within half a grey level.
    np.testing.assert_allclose(sample.stack, np.stack(planes), atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(sample.reference, planes[1], atol=0.5 / 255 + 1e-6)
    assert sample.metadata["files"] == ["z00.png", "z01.png", "z02.png"]

    tiff_sample = dataset.load("stack-b")
    assert tiff_sample.reference is None
    np.testing.assert_allclose(tiff_sample.stack, grey / 65535, atol=1e-6)
    rgb_sample = dataset.load("stack-c")
    np.testing.assert_allclose(rgb_sample.stack, colour / 255, atol=1e-6)
    planar_sample = dataset.load("stack-d")
    np.testing.assert_allclose(planar_sample.stack, np.moveaxis(planar, 1, -1) / 255, atol=1e-6)


def test_folder_planes_sorted_by_name(tmp_path):
    values = {"b.png": 0.2, "a.png": 0.6, "c.png": 0.9}
    for name, value in values.items():
        write_image(tmp_path / "stack" / name, np.full((8, 8), value, dtype=np.float32))
    stack = FusionFolder(root=tmp_path).load("stack").stack
    np.testing.assert_allclose(stack[:, 0, 0], [0.6, 0.2, 0.9], atol=1 / 255)


def test_folder_errors_name_the_file(tmp_path):
    rng = np.random.default_rng(1)
    shapes = tmp_path / "shapes"
    write_image(shapes / "a.png", rng.uniform(size=(10, 10)))
    write_image(shapes / "b.png", rng.uniform(size=(10, 12)))
    single = tmp_path / "single"
    write_image(single / "only.png", rng.uniform(size=(10, 10)))
    broken = tmp_path / "broken"
    write_image(broken / "a.png", rng.uniform(size=(10, 10)))
    (broken / "b.png").write_bytes(b"\x89PNG truncated")
    nan_planes = rng.uniform(size=(3, 10, 10)).astype(np.float32)
    nan_planes[1, 4, 4] = np.nan
    tifffile.imwrite(tmp_path / "nan-stack.tif", nan_planes, photometric="minisblack")
    tifffile.imwrite(tmp_path / "one-page.tif", rng.uniform(size=(10, 10)).astype(np.float32))
    (tmp_path / "bad-tiff.tif").write_bytes(b"II*\x00garbage")
    mismatch = tmp_path / "mismatch"
    write_image(mismatch / "a.png", rng.uniform(size=(10, 10)))
    write_image(mismatch / "b.png", rng.uniform(size=(10, 10)))
    write_image(tmp_path / "references" / "mismatch.png", rng.uniform(size=(9, 10)))

    dataset = FusionFolder(root=tmp_path)
    expectations = {
        "shapes": "b.png",
        "single": "only.png",
        "broken": "b.png",
        "nan-stack": "nan-stack.tif",
        "one-page": "one-page.tif",
        "bad-tiff": "bad-tiff.tif",
        "mismatch": "mismatch.png",
    }
    for sample_id, file_name in expectations.items():
        with pytest.raises(InvalidInputError) as error:
            dataset.load(sample_id)
        assert file_name in str(error.value), (sample_id, str(error.value))
    nan_message = _message(dataset, "nan-stack")
    assert "NaN" in nan_message
    assert "at least 2" in _message(dataset, "single") and "at least 2" in _message(dataset, "one-page")
    assert "cannot read" in _message(dataset, "bad-tiff") and "cannot read" in _message(dataset, "broken")


def _message(dataset, sample_id):
    with pytest.raises(InvalidInputError) as error:
        dataset.load(sample_id)
    return str(error.value)


def test_folder_duplicate_and_missing(tmp_path):
    write_image(tmp_path / "dup" / "a.png", np.zeros((4, 4)))
    write_image(tmp_path / "dup" / "b.png", np.zeros((4, 4)))
    tifffile.imwrite(tmp_path / "dup.tif", np.zeros((2, 4, 4), dtype=np.uint8), photometric="minisblack")
    with pytest.raises(InvalidInputError, match="dup"):
        FusionFolder(root=tmp_path).sample_ids("test")
    with pytest.raises(InvalidInputError, match="not-there"):
        FusionFolder(root=tmp_path / "not-there").sample_ids("test")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no stacks"):
        FusionFolder(root=empty).sample_ids("test")
