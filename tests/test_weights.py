"""Finding, checking and downloading pretrained files (`mmdf_bench.weights`).

The download tests serve the shared IFCNN weights over a loopback HTTP
server, so the real ``urllib`` code path runs without internet.
"""

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mmdf_bench.methods.ifcnn import IFCNN_MAX_WEIGHTS, IFCNN_MEAN_WEIGHTS
from mmdf_bench.errors import WeightsUnavailableError
from mmdf_bench.weights import WeightFile, file_sha256, find_local_weights, resolve_weights


def _asset(path):
    if not path.is_file():
        pytest.fail(f"asset missing: {path}")
    return path


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Empty weights folder and cache; returns them as (weights, cache)."""
    weights, cache = tmp_path / "weights", tmp_path / "cache"
    weights.mkdir()
    cache.mkdir()
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(weights))
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(cache))
    monkeypatch.delenv("MMDF_BENCH_OFFLINE", raising=False)
    return weights, cache


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def weights_server(shared_weights, monkeypatch):
    """Serve the shared ``ifcnn/`` folder on 127.0.0.1; yields its base URL.

    Request it before `isolated`, which repoints MMDF_BENCH_WEIGHTS.
    """
    folder = shared_weights / "ifcnn"
    _asset(folder / IFCNN_MAX_WEIGHTS.file_name)
    # a proxy configured in the environment must not intercept loopback requests
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("weight_file", [IFCNN_MAX_WEIGHTS, IFCNN_MEAN_WEIGHTS])
def test_found_in_weights_folder_and_verified(shared_weights, monkeypatch, tmp_path, weight_file):
    expected = _asset(shared_weights / weight_file.path)
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    path = resolve_weights(weight_file)
    assert path.resolve() == expected.resolve()
    assert file_sha256(path) == weight_file.sha256


def test_corrupted_copy_is_rejected(shared_weights, isolated):
    weights, _ = isolated
    copy = weights / IFCNN_MAX_WEIGHTS.path
    copy.parent.mkdir(parents=True)
    shutil.copyfile(_asset(shared_weights / IFCNN_MAX_WEIGHTS.path), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailableError, match="checksum mismatch") as error:
        resolve_weights(IFCNN_MAX_WEIGHTS)
    assert str(copy) in str(error.value)


def test_offline_and_missing_says_what_and_where(isolated, monkeypatch):
    weights, cache = isolated
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as error:
        resolve_weights(IFCNN_MAX_WEIGHTS)
    message = str(error.value)
    assert "IFCNN-MAX.pth" in message
    assert IFCNN_MAX_WEIGHTS.url in message
    assert str(weights / "ifcnn" / "IFCNN-MAX.pth") in message
    assert "MMDF_BENCH_OFFLINE" in message
    assert not any(cache.rglob("*")), "nothing may be written when offline"


def test_offline_without_weights_folder_names_the_variable(isolated, monkeypatch):
    monkeypatch.delenv("MMDF_BENCH_WEIGHTS")
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"\$MMDF_BENCH_WEIGHTS/ifcnn/IFCNN-MAX\.pth"):
        resolve_weights(IFCNN_MAX_WEIGHTS)


def test_download_lands_in_cache_with_checksum(weights_server, isolated):
    _, cache = isolated
    served = WeightFile(path=IFCNN_MAX_WEIGHTS.path, url=f"{weights_server}/IFCNN-MAX.pth",
                        sha256=IFCNN_MAX_WEIGHTS.sha256)
    path = resolve_weights(served, progress=False)
    assert path == cache / "weights" / "ifcnn" / "IFCNN-MAX.pth"
    assert file_sha256(path) == IFCNN_MAX_WEIGHTS.sha256
    assert sorted(p.name for p in path.parent.iterdir()) == ["IFCNN-MAX.pth"]


def test_downloaded_file_is_reused_offline(weights_server, isolated, monkeypatch):
    served = WeightFile(path=IFCNN_MEAN_WEIGHTS.path, url=f"{weights_server}/IFCNN-MEAN.pth",
                        sha256=IFCNN_MEAN_WEIGHTS.sha256)
    first = resolve_weights(served, progress=False)
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    assert resolve_weights(served) == first


def test_download_with_wrong_checksum_is_discarded(weights_server, isolated):
    _, cache = isolated
    wrong = WeightFile(path=IFCNN_MAX_WEIGHTS.path, url=f"{weights_server}/IFCNN-MAX.pth",
                       sha256="0" * 64)
    with pytest.raises(WeightsUnavailableError, match="does not match") as error:
        resolve_weights(wrong, progress=False)
    assert "IFCNN-MAX.pth" in str(error.value)
    assert not [p for p in cache.rglob("*") if p.is_file()], "no file may be left behind"


def test_download_of_missing_url_reports_failure(weights_server, isolated):
    _, cache = isolated
    absent = WeightFile(path="ifcnn/ABSENT.pth", url=f"{weights_server}/ABSENT.pth",
                        sha256="0" * 64)
    with pytest.raises(WeightsUnavailableError, match="404") as error:
        resolve_weights(absent, progress=False)
    assert absent.url in str(error.value)
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_local_lookup_checks_the_torch_hub_folder_and_the_checksum(isolated, monkeypatch, tmp_path):
    import hashlib

    content = b"stand-in for an ImageNet file"
    weight_file = WeightFile("torchvision/net-1234.pth", "https://example.invalid/net-1234.pth",
                             sha256=hashlib.sha256(content).hexdigest())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    assert find_local_weights(weight_file) is None  # absent: None, no download, no error
    hub_copy = tmp_path / "torch" / "hub" / "checkpoints" / "net-1234.pth"
    hub_copy.parent.mkdir(parents=True)
    hub_copy.write_bytes(b"a different file of the same name")
    assert find_local_weights(weight_file) is None  # wrong content is never used
    hub_copy.write_bytes(content)
    assert find_local_weights(weight_file) == hub_copy
    # the project's own weights folder comes first
    ours = isolated[0] / weight_file.path
    ours.parent.mkdir(parents=True)
    ours.write_bytes(content)
    assert find_local_weights(weight_file).resolve() == ours.resolve()
