"""Downloading files from their official location: atomically, with progress, checked and recorded.

`fetch` streams one URL into a file next to its target and moves it in
place only once it is complete and has passed the caller's check, so a
partial or corrupt download is never mistaken for the real file. Pretrained
weights (`mmdf_bench.weights`) and public datasets (``mmdf-bench
download``) both use it.

Datasets record what they downloaded in ``download-manifest.csv`` in their
folder (`record_download`): file, URL, SHA-256, size, the checksum the
publisher gives (if any) and the time. Where the publisher gives none, the
recorded SHA-256 is what a later run can compare against; datasets put the
records in the run manifest.
"""

import csv
import hashlib
import tempfile
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from mmdf_bench.settings import cache_dir

__all__ = ["DOWNLOAD_MANIFEST", "DOWNLOAD_TIMEOUT_SECONDS", "data_cache_dir", "fetch", "git_blob_sha1",
           "read_download_records", "record_download"]

DOWNLOAD_TIMEOUT_SECONDS = 60
#: File, in a downloaded dataset's folder, that lists every file fetched with its SHA-256.
DOWNLOAD_MANIFEST = "download-manifest.csv"
_RECORD_COLUMNS = ("file", "url", "sha256", "bytes", "published_checksum", "downloaded")


def data_cache_dir():
    """Where ``mmdf-bench download`` puts datasets: ``<cache>/data`` (not created)."""
    return cache_dir() / "data"


def fetch(url, target, *, verify=None, progress=True, description=None):
    """Download `url` to `target`; return the file's SHA-256.

    Parameters
    ----------
    url : str
    target : str or Path
        Created (with its folder) only when the download is complete and verified.
    verify : callable, optional
        ``verify(path, sha256)`` on the complete temporary file; it raises to
        reject the file, which is then deleted.
    progress : bool, optional
        A progress bar on stderr.
    description : str, optional
        Label of the progress bar (default: the file name).

    Returns
    -------
    sha256 : str

    Raises
    ------
    urllib.error.URLError, OSError, TimeoutError
        When the server cannot be reached or the transfer fails.
    """
    from mmdf_bench.progress import progress_bar

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "mmdf-bench"})
    temporary = None
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            digest = hashlib.sha256()
            # written next to the target so that the final rename is atomic
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as handle:
                temporary = Path(handle.name)
                with progress_bar(total, description or target.name, unit="B", unit_scale=True,
                                  enabled=progress) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        handle.write(block)
                        digest.update(block)
                        bar.update(len(block))
        if verify is not None:
            verify(temporary, digest.hexdigest())
    except BaseException:
        # a partial or rejected download must never be mistaken for the real file later
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    temporary.replace(target)
    return digest.hexdigest()


def git_blob_sha1(path):
    """The object id git gives the file's content: SHA-1 of ``b"blob <size>\\0" + content``.

    A repository's tree lists it for every file, so it is the checksum a
    publisher on GitHub gives.
    """
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def record_download(folder, *, file, url, sha256, size, published_checksum=""):
    """Append one downloaded file to ``<folder>/download-manifest.csv``."""
    path = Path(folder) / DOWNLOAD_MANIFEST
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_RECORD_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({"file": file, "url": url, "sha256": sha256, "bytes": int(size),
                         "published_checksum": published_checksum or "none published",
                         "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def read_download_records(folder):
    """The records of ``<folder>/download-manifest.csv`` (latest per file), or an empty list."""
    path = Path(folder) / DOWNLOAD_MANIFEST
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        latest = {row["file"]: row for row in csv.DictReader(handle)}
    return list(latest.values())
