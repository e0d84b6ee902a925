import numpy as np
import pytest

from mmdf_bench.data import optics
from mmdf_bench.data.blur_kernels import linear_motion_kernel
from mmdf_bench.data.pairs_folder import DeblurPairsFolder, read_psf
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import write_image
from mmdf_bench.settings import DATA_VARIABLE


def make_pair(rng, shape=(40, 48, 3)):
    sharp = rng.uniform(0.1, 0.9, size=shape).astype(np.float32)
    sharp = np.round(sharp * 255) / 255
    blurred = optics.blur(sharp, linear_motion_kernel(5, 0))
    return np.round(blurred * 255) / 255, sharp


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for stem in ("field-01", "field-02", "field-03"):
        blurred, sharp = make_pair(rng)
        write_image(tmp_path / "blurred" / f"{stem}.png", blurred)
        # The sharp partner may have another extension: only the stem matters.
        write_image(tmp_path / "sharp" / f"{stem}{'.bmp' if stem == 'field-02' else '.png'}", sharp)
    (tmp_path / "psf").mkdir()
    np.save(tmp_path / "psf" / "field-01.npy", 3 * linear_motion_kernel(5, 0))
    write_image(tmp_path / "psf" / "field-02.png", np.pad(np.full((1, 3), 1.0), ((1, 1), (0, 0))))
    (tmp_path / "blurred" / "notes.txt").write_text("not an image")
    (tmp_path / "sharp" / ".hidden.png").write_bytes(b"")
    return tmp_path


def test_pairs_are_read_with_matching_names_and_optional_psfs(folder):
    dataset = DeblurPairsFolder(root=folder)
    assert dataset.sample_ids("test") == ["field-01", "field-02", "field-03"]
    assert dataset.sample_ids("train") == []
    rng = np.random.default_rng(0)
    for sample_id in dataset.sample_ids("test"):
        blurred, sharp = make_pair(rng)
        sample = dataset.load(sample_id)
        np.testing.assert_allclose(sample.blurred, blurred, atol=1e-6)
        np.testing.assert_allclose(sample.reference, sharp, atol=1e-6)
        assert sample.group == sample_id
    # The .npy kernel is normalised (it was stored times 3).
    np.testing.assert_allclose(dataset.load("field-01").psf, linear_motion_kernel(5, 0), atol=1e-12)
    # The PNG kernel is a horizontal 3-pixel line, normalised to thirds.
    np.testing.assert_allclose(dataset.load("field-02").psf, [[0, 0, 0], [1 / 3] * 3, [0, 0, 0]], atol=1e-12)
    assert dataset.load("field-03").psf is None
    assert dataset.load("field-02").metadata == {"blurred_file": "field-02.png", "sharp_file": "field-02.bmp",
                                                 "psf_file": "field-02.png", "bit_depth_source": "container"}
    assert dataset.load("field-02").bit_depth == 8


def test_missing_partner_names_the_file_in_either_direction(folder):
    (folder / "sharp" / "field-03.png").unlink()
    write_image(folder / "sharp" / "extra.png", np.zeros((8, 8)))
    dataset = DeblurPairsFolder(root=folder)
    assert "extra" in dataset.sample_ids("test")
    with pytest.raises(InvalidInputError, match=r"blurred[/\\]field-03\.png has no partner.*sharp"):
        dataset.load("field-03")
    with pytest.raises(InvalidInputError, match=r"sharp[/\\]extra\.png has no partner.*blurred"):
        dataset.load("extra")
    # The other pairs still load.
    dataset.load("field-01")


def test_shape_mismatch_names_both_files(folder):
    write_image(folder / "sharp" / "field-01.png", np.zeros((40, 50, 3)))
    with pytest.raises(InvalidInputError, match=r"field-01\.png: shape \(40, 48, 3\) differs .*\(40, 50, 3\)"):
        DeblurPairsFolder(root=folder).load("field-01")
    write_image(folder / "sharp" / "field-01.png", np.zeros((40, 48)))
    with pytest.raises(InvalidInputError, match="differs"):
        DeblurPairsFolder(root=folder).load("field-01")


def test_unreadable_image_names_the_file(folder):
    (folder / "blurred" / "field-02.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(InvalidInputError, match=r"cannot read image file .*blurred[/\\]field-02\.png"):
        DeblurPairsFolder(root=folder).load("field-02")


def test_nan_in_a_float_tiff_names_the_file(folder):
    import tifffile

    image = np.full((40, 48, 3), 0.5, dtype=np.float32)
    image[3, 4, 1] = np.nan
    (folder / "sharp" / "field-03.png").unlink()
    tifffile.imwrite(folder / "sharp" / "field-03.tif", image, photometric="rgb")
    with pytest.raises(InvalidInputError, match=r"NaN.*sharp[/\\]field-03\.tif"):
        DeblurPairsFolder(root=folder).load("field-03")


def test_two_files_with_one_stem_are_an_error(folder):
    write_image(folder / "blurred" / "field-01.jpg", np.zeros((40, 48, 3)))
    with pytest.raises(InvalidInputError, match="several blurred files for 'field-01'"):
        DeblurPairsFolder(root=folder).load("field-01")


@pytest.mark.parametrize("array, message", [
    (np.ones((4, 5)), "odd size"),
    (np.ones((3, 3, 3)), "odd size"),
    (np.array([[0, np.nan, 0]] * 3), "NaN"),
    (np.array([[0, -1.0, 2]] * 3), "non-negative"),
    (np.zeros((3, 3)), "not all zero"),
])
def test_bad_psf_files_name_the_file(folder, array, message):
    np.save(folder / "psf" / "field-01.npy", array)
    with pytest.raises(InvalidInputError, match=f"{message}.*field-01.npy"):
        DeblurPairsFolder(root=folder).load("field-01")
    with pytest.raises(InvalidInputError, match=message):
        read_psf(folder / "psf" / "field-01.npy")


def test_missing_folders_and_unknown_ids(tmp_path, folder, monkeypatch):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blurred").mkdir()
    with pytest.raises(InvalidInputError, match=r"missing: .*sharp"):
        DeblurPairsFolder(root=tmp_path / "empty").sample_ids("test")
    with pytest.raises(InvalidInputError, match="not found"):
        DeblurPairsFolder(root=tmp_path / "nowhere").sample_ids("test")
    with pytest.raises(InvalidInputError, match="unknown sample id 'field-09'"):
        DeblurPairsFolder(root=folder).load("field-09")
    with pytest.raises(InvalidInputError, match="split"):
        DeblurPairsFolder(root=folder).sample_ids("val")
    # Without a root the folder is $MMDF_BENCH_DATA/deblur-folder.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "deblur-folder").symlink_to(folder, target_is_directory=True)
    monkeypatch.setenv(DATA_VARIABLE, str(tmp_path / "data"))
    assert DeblurPairsFolder().sample_ids("test") == ["field-01", "field-02", "field-03"]
