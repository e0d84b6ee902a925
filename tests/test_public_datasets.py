"""Public datasets users ask for: BBBC006 and MFIFB readers, and their downloaders.

Nothing is downloaded from the internet here: each reader is tested on a
small fixture written in the exact published layout, and each downloader
against a loopback HTTP server serving such a fixture.
"""

import functools
import hashlib
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from mmdf_bench.cli import main
from mmdf_bench.data.bbbc006 import FOCUS_PLANE, Bbbc006, archive_name, download_bbbc006
from mmdf_bench.data.mfifb import Mfifb, download_mfifb, pair_files
from mmdf_bench.data.mfifb_files import FILES
from mmdf_bench.downloads import DOWNLOAD_MANIFEST, git_blob_sha1, read_download_records
from mmdf_bench.errors import InvalidInputError
from tests.real_fixtures import smooth_scene


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def serve(monkeypatch):
    """Serve a folder on 127.0.0.1: ``serve(folder) -> base URL``."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    servers = []

    def start(folder):
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------- BBBC006

WELLS = (("a01", 1), ("a01", 2), ("b03", 1))
PLANES = (12, 14, 16, 18, 20)


def _bbbc006_image(seed, distance):
    """12-bit nuclei in a 16-bit TIFF, blurred with the distance from focus."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    image = np.zeros((120, 160))
    rows, cols = rng.integers(10, 110, 12), rng.integers(10, 150, 12)
    image[rows, cols] = 1.0
    image = gaussian_filter(image, 3.0 + 1.5 * abs(distance))
    return np.round(200 + 3000 * image / image.max()).astype(np.uint16)


def write_bbbc006_archives(folder):
    """One zip per plane, each holding its BBBC006_v1_images_z_NN/ folder, as the Broad publishes them."""
    folder.mkdir(parents=True)
    for plane in PLANES:
        inner = f"BBBC006_v1_images_z_{plane:02d}"
        archive = folder / archive_name(plane)
        with zipfile.ZipFile(archive, "w") as bundle:
            for index, (well, site) in enumerate(WELLS):
                for channel in (1, 2):
                    name = f"{inner}/mcf-z-stacks-03212011_{well}_s{site}_w{channel}{plane:02d}c0ffee{index}.tif"
                    path = folder / "scratch.tif"
                    tifffile.imwrite(path, _bbbc006_image(10 * index + channel, plane - FOCUS_PLANE))
                    bundle.write(path, name)
        (folder / "scratch.tif").unlink()


def test_bbbc006_download_and_read(tmp_path, serve):
    published = tmp_path / "broad"
    write_bbbc006_archives(published)
    root = tmp_path / "bbbc006"
    download_bbbc006(root, planes=PLANES, base_url=serve(published), progress=False)
    assert sorted(path.name for path in root.iterdir()) == sorted([DOWNLOAD_MANIFEST] + [
        f"BBBC006_v1_images_z_{plane:02d}" for plane in PLANES])  # archives unpacked, then deleted
    records = {record["file"]: record for record in read_download_records(root)}
    for plane in PLANES:  # no published checksum: the archive's SHA-256 is recorded
        record = records[archive_name(plane)]
        assert record["sha256"] == _sha256(published / archive_name(plane))
        assert record["published_checksum"] == "none published"
    # a second call finds the planes unpacked and fetches nothing
    download_bbbc006(root, planes=PLANES, base_url="http://127.0.0.1:9/", progress=False)

    dataset = Bbbc006(root=root, bits=12, patch_size=40)
    fields = dataset.fields()
    assert list(fields) == ["a01_s1", "a01_s2", "b03_s1"]
    np.testing.assert_array_equal(fields["a01_s1"].z_um, [-8.0, -4.0, 0.0, 4.0, 8.0])
    assert fields["b03_s1"].metadata == {"well": "b03", "site": 1, "channel": "w1"}
    stack = dataset.load("a01_s2-stack")
    plane = next(stack.planes())
    assert plane.shape == (120, 160) and plane.max() <= 3200 / 4095 + 1e-6 and plane.max() > 0.5  # 12 bits
    patches = [dataset.load(sample_id) for sample_id in dataset.sample_ids("test")[3:]]
    assert {patch.level for patch in patches} == {0, 1, 2}  # 0, 4 and 8 µm from focus
    assert Bbbc006(root=root, max_fields=2).fields().keys() == {"a01_s1", "b03_s1"}  # spread over the plate
    description = dataset.describe()
    assert len(description["downloads"]) == len(PLANES) and description["options"]["channel"] == 1
    with pytest.raises(InvalidInputError, match="channel must be 1"):
        Bbbc006(root=root, channel=3)


def test_bbbc006_refuses_a_folder_without_the_focal_plane(tmp_path):
    (tmp_path / "BBBC006_v1_images_z_03").mkdir()
    with pytest.raises(InvalidInputError, match="BBBC006_v1_images_z_16/.*mmdf-bench download bbbc006"):
        Bbbc006(root=tmp_path).sample_ids("test")


def test_a_zip_escaping_its_folder_is_refused(tmp_path, serve):
    published = tmp_path / "broad"
    published.mkdir()
    with zipfile.ZipFile(published / archive_name(16), "w") as bundle:
        bundle.writestr("../evil.tif", b"x")
    with pytest.raises(InvalidInputError, match="unsafe path"):
        download_bbbc006(tmp_path / "bbbc006", planes=[16], base_url=serve(published), progress=False)
    assert not (tmp_path / "evil.tif").exists()


# --------------------------------------------------------------------- MFIFB


def write_mfifb_layout(root, names):
    """Small images at the published paths of `names` (pair folders), colour or grey as published."""
    for index, name in enumerate(names):
        for relative in pair_files()[name]:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            image = smooth_scene((24, 32), seed=index)
            image = np.stack([image, image * 0.9, image * 0.8], axis=-1) if index % 3 else image
            iio.imwrite(path, np.round(image * 255).astype(np.uint8))


def test_mfifb_reader_on_the_published_layout(tmp_path):
    pairs = pair_files()
    assert len(pairs) == 105 and len(FILES) == 210
    write_mfifb_layout(tmp_path / "mfifb", list(pairs))
    dataset = Mfifb(root=tmp_path / "mfifb")
    ids = dataset.sample_ids("test")
    assert ids[0] == "aymaz_01" and len(ids) == 105 and dataset.sample_ids("train") == []
    sample = dataset.load("lytro_07")
    assert sample.num_planes == 2 and sample.group == "lytro_07" and sample.reference is None
    assert sample.metadata["collection"] == "lytro"
    with pytest.raises(InvalidInputError, match="not the published set"):
        dataset.verify()  # the fixture's images are not the published files
    with pytest.raises(InvalidInputError, match="unknown sample id"):
        dataset.load("lytro_99")


def test_mfifb_download_checks_each_file_against_its_git_object_id(tmp_path, serve):
    published = tmp_path / "repository"
    names = ["aymaz_02", "savic_05"]
    write_mfifb_layout(published, names)
    files = {relative: git_blob_sha1(published / relative) for name in names for relative in pair_files()[name]}
    root = tmp_path / "mfifb"
    download_mfifb(root, base_url=serve(published), files=files, progress=False)
    for relative in files:
        assert (root / relative).read_bytes() == (published / relative).read_bytes()
    records = read_download_records(root)
    assert {record["published_checksum"] for record in records} == {f"git blob {blob}" for blob in files.values()}
    # a file that is not the published one is discarded with a clear error
    tampered = dict(files)
    first = sorted(files)[0]
    tampered[first] = "0" * 40
    (root / first).unlink()
    with pytest.raises(InvalidInputError, match="is not the published"):
        download_mfifb(root, base_url=serve(published), files=tampered, progress=False)
    assert not (root / first).exists() and not list(root.rglob("*.part"))


def test_download_command_into_the_cache(tmp_path, serve, monkeypatch, capsys):
    published = tmp_path / "broad"
    write_bbbc006_archives(published)
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MMDF_BENCH_DATA", raising=False)
    base_url = serve(published)  # the official location, played by the loopback server
    monkeypatch.setattr(Bbbc006, "download", staticmethod(
        lambda root, *, progress=True, planes=None: download_bbbc006(
            root, planes=planes, progress=progress, base_url=base_url)))
    assert main(["download", "bbbc006", "--planes", "14,16-16", "--quiet"]) == 0
    folder = tmp_path / "cache" / "data" / "bbbc006"
    assert sorted(path.name for path in folder.iterdir() if path.is_dir()) == [
        "BBBC006_v1_images_z_14", "BBBC006_v1_images_z_16"]
    # the dataset finds the download without MMDF_BENCH_DATA
    assert Bbbc006().fields()
    assert main(["download", "lytro"]) == 2
    assert "has no downloader" in capsys.readouterr().err
