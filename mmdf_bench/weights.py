"""Pretrained files: find them locally, else download them with a checksum.

A `WeightFile` names a file by a relative path (``ifcnn/IFCNN-MAX.pth``), its
official URL and its SHA-256. `resolve_weights` looks, in order, in

1. ``$MMDF_BENCH_WEIGHTS/<path>`` (a folder the user or CI provides),
2. the user cache, ``<cache>/weights/<path>`` (see `mmdf_bench.settings`),
3. the official URL, downloading into the user cache and checking the hash,

and otherwise raises `WeightsUnavailableError` saying which file is missing,
where it comes from and where to put it. Set ``MMDF_BENCH_OFFLINE=1`` to skip
step 3.
"""

import hashlib
import os
import urllib.error
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mmdf_bench.downloads import fetch
from mmdf_bench.errors import WeightsUnavailableError
from mmdf_bench.settings import WEIGHTS_VARIABLE, cache_dir, weights_dir

OFFLINE_VARIABLE = "MMDF_BENCH_OFFLINE"


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file.

    Parameters
    ----------
    path : str
        Relative path under a weights folder, ``<family>/<file name>``.
    url : str or None
        Official download address; None for a file without one, which is
        used only once the user has put it in a weights folder.
    sha256 : str, optional
        Full hex digest. Either it or `hash_prefix` should be given.
    hash_prefix : str, optional
        Leading hex digits of the SHA-256, for files published only with a
        prefix in their name (the ``torch.hub`` convention).
    description : str, optional
        What the file is, for messages and the manifest.
    """

    path: str
    url: str = None
    sha256: str = None
    hash_prefix: str = None
    description: str = ""

    @property
    def file_name(self):
        return Path(self.path).name

    def matches(self, digest):
        """True when `digest` (hex SHA-256) is the expected one."""
        if self.sha256:
            return digest == self.sha256.lower()
        if self.hash_prefix:
            return digest.startswith(self.hash_prefix.lower())
        return True


@lru_cache(maxsize=64)
def _sha256(path, size, mtime_ns):
    # size and mtime are part of the cache key so an edited file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path):
    """Return the hex SHA-256 of a file."""
    status = os.stat(path)
    return _sha256(str(path), status.st_size, status.st_mtime_ns)


def candidate_paths(weight_file):
    """Return the local places searched for `weight_file`, in order."""
    places = []
    if weights_dir() is not None:
        places.append(weights_dir() / weight_file.path)
    places.append(cache_dir() / "weights" / weight_file.path)
    return places


def _checked(weight_file, path):
    digest = file_sha256(path)
    if not weight_file.matches(digest):
        expected = weight_file.sha256 or f"{weight_file.hash_prefix}..."
        raise WeightsUnavailableError(
            f"checksum mismatch for {path}: sha256 {digest}, expected {expected}. "
            f"The file is corrupt or not {weight_file.file_name}; delete it and download it "
            f"again from {weight_file.url}"
        )
    return path


def resolve_weights(weight_file, *, download=None, progress=True):
    """Return a local, checksum-verified path to `weight_file`.

    Parameters
    ----------
    weight_file : WeightFile
    download : bool, optional
        Whether to download when no local copy exists. Defaults to True unless
        ``MMDF_BENCH_OFFLINE`` is set.
    progress : bool, optional
        Show a download progress bar on stderr.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    WeightsUnavailableError
        When the file is missing and cannot be downloaded, or fails its checksum.
    """
    places = candidate_paths(weight_file)
    for path in places:
        if path.is_file():
            return _checked(weight_file, path)
    if download is None:
        download = not os.environ.get(OFFLINE_VARIABLE)
    target = places[-1]
    reason = f"downloads are disabled ({OFFLINE_VARIABLE} is set)"
    if weight_file.url is None:
        download, reason = False, "it has no official download address"
    if download:
        try:
            return download_file(weight_file, target, progress=progress)
        except WeightsUnavailableError:
            raise  # a checksum mismatch says everything already
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = f"downloading {weight_file.url} failed: {error}"
    looked = ", ".join(str(path) for path in places)
    hint = f"${WEIGHTS_VARIABLE}/{weight_file.path}" if weights_dir() is None else str(places[0])
    fetch = f"Download it from {weight_file.url} and put it" if weight_file.url else "Put it"
    raise WeightsUnavailableError(
        f"{weight_file.file_name} ({weight_file.description or 'pretrained weights'}) is not available: "
        f"looked in {looked}; {reason}. {fetch} at {hint} or at {target}."
    )


def download_file(weight_file, target, *, progress=True):
    """Download `weight_file` to `target`, verifying its checksum before moving it in place."""
    def verify(path, digest):
        if not weight_file.matches(digest):
            raise WeightsUnavailableError(
                f"downloaded {weight_file.url} but its sha256 {digest} does not match "
                f"{weight_file.sha256 or weight_file.hash_prefix}; the file was discarded"
            )

    fetch(weight_file.url, target, verify=verify, progress=progress, description=weight_file.file_name)
    return Path(target)


def torch_hub_checkpoints():
    """``torch.hub.get_dir()/checkpoints``, worked out without importing torch."""
    if os.environ.get("TORCH_HOME"):
        hub = Path(os.environ["TORCH_HOME"]) / "hub"
    else:
        hub = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch" / "hub"
    return hub.expanduser() / "checkpoints"


def find_local_weights(weight_file):
    """Local, checksum-verified path of `weight_file`, or None; never downloads.

    Looks where `resolve_weights` looks (``$MMDF_BENCH_WEIGHTS``, the user
    cache), then in torch hub's checkpoint folder, because ImageNet files
    used only to initialise or to compute a loss are often already there
    from torchvision. Methods use it to choose an optional initialisation
    without failing when the file is absent.
    """
    try:
        return resolve_weights(weight_file, download=False)
    except WeightsUnavailableError:
        pass
    candidate = torch_hub_checkpoints() / weight_file.file_name
    if candidate.is_file() and weight_file.matches(file_sha256(candidate)):
        return candidate
    return None
