"""MFIFB: the test set of the multi-focus image fusion benchmark of X. Zhang (2020).

105 pairs of multi-focus images (colour and grey, 79 and 26) collected from
earlier public sets (Lytro, MFFW, Savić, Aymaz, Tsai and others), with a
published evaluation protocol: the same pairs fused by 30 algorithms and
scored by 20 metrics, fused images included. There is no all-in-focus
reference, so only no-reference and fusion metrics apply.

The set is taken from the benchmark's repository at a fixed commit
(`mmdf_bench.data.mfifb_files.COMMIT`), whose tree publishes a git object id
for every file: `download_mfifb` fetches each input image from
``raw.githubusercontent.com`` and checks it against that id (and records
its SHA-256 in ``download-manifest.csv``). Layout, as in the repository::

    mfifb/
        input/
            aymaz_01/aymaz_01_A.bmp  aymaz_01/aymaz_01_B.bmp
            ...
            lytro_20/lytro_20_A.jpg  lytro_20/lytro_20_B.jpg
            ...

References
----------
.. [1] X. Zhang, "Multi-focus image fusion: a benchmark", arXiv:2005.01116,
       2020 (github.com/xingchenzhang/MFIFB).
"""

from pathlib import Path
from typing import ClassVar

from mmdf_bench.data.base import Dataset, check_split, resolve_root
from mmdf_bench.data.mfifb_files import COMMIT, FILES
from mmdf_bench.downloads import fetch, git_blob_sha1, read_download_records, record_download
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_images

__all__ = ["BASE_URL", "Mfifb", "download_mfifb", "pair_files"]

BASE_URL = f"https://raw.githubusercontent.com/xingchenzhang/MFIFB/{COMMIT}/"
CITATION = 'X. Zhang, "Multi-focus image fusion: a benchmark", arXiv:2005.01116, 2020'


def pair_files(files=None):
    """Pair name -> its two relative paths (``_A`` then ``_B``), from a file table (default `FILES`)."""
    pairs = {}
    for path in sorted(files or FILES):
        name = Path(path).parent.name
        pairs.setdefault(name, []).append(path)
    broken = {name: paths for name, paths in pairs.items() if len(paths) != 2}
    if broken:
        raise InvalidInputError(f"mfifb: pairs without exactly two images: {broken}")
    return pairs


def _check_blob(path, expected, url):
    found = git_blob_sha1(path)
    if found != expected:
        raise InvalidInputError(f"downloaded {url} but its git object id {found} is not the published "
                                f"{expected}; the file was discarded")


def download_mfifb(root, *, progress=True, base_url=BASE_URL, files=None):
    """Download the 210 MFIFB input images into `root`, each checked against its published git object id.

    Files already present with the right id are kept.

    Parameters
    ----------
    root : str or Path
        The ``mfifb`` folder to fill (created).
    progress : bool, optional
    base_url : str, optional
        The repository's raw-file address at the pinned commit (default).
    files : dict, optional
        Path -> git blob id; default `FILES`.

    Returns
    -------
    root : Path
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    files = files or FILES
    for index, (relative, blob) in enumerate(sorted(files.items()), start=1):
        target = root / relative
        if target.is_file() and git_blob_sha1(target) == blob:
            continue
        url = base_url.rstrip("/") + "/" + relative

        def verify(path, sha256, blob=blob, url=url):
            _check_blob(path, blob, url)

        sha256 = fetch(url, target, verify=verify, progress=progress,
                       description=f"[{index}/{len(files)}] {target.name}")
        record_download(root, file=relative, url=url, sha256=sha256, size=target.stat().st_size,
                        published_checksum=f"git blob {blob}")
    return root


class Mfifb(Dataset):
    """MFIFB: 105 multi-focus pairs of a published benchmark protocol (no reference).

    Sample ids are the pair folder names (``aymaz_01`` ... ``tsai_12``),
    planes ``_A`` then ``_B``; each pair is its own group. All samples are
    test samples.

    Parameters
    ----------
    root : str or Path, optional
        Default ``$MMDF_BENCH_DATA/mfifb``, then ``<cache>/data/mfifb``.
    seed : int, optional
        Unused.
    """

    name: ClassVar[str] = "mfifb"
    task: ClassVar[str] = "fusion"
    realism: ClassVar[str] = "photographs"
    summary: ClassVar[str] = ("MFIFB: 105 colour and grey multi-focus pairs of a published benchmark protocol "
                              "(30 algorithms, 20 metrics), no reference")
    citation: ClassVar[str] = CITATION
    licence: ClassVar[str] = "none stated; images from earlier public sets, research use with citation"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "mfifb"
    card: ClassVar[str] = "mfifb.md"

    @staticmethod
    def download(root, *, progress=True, base_url=BASE_URL):
        """`download_mfifb` (``mmdf-bench download mfifb``)."""
        return download_mfifb(root, progress=progress, base_url=base_url)

    def sample_ids(self, split):
        if check_split(self, split) != "test":
            return []
        resolve_root(self.root, self)  # one clear error, not 105
        return list(pair_files())

    def load(self, sample_id):
        from mmdf_bench.tasks.fusion import FusionSample

        pairs = pair_files()
        if sample_id not in pairs:
            raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}; ids are the folder names "
                                    f"under input/, e.g. {next(iter(pairs))}")
        root = resolve_root(self.root, self)
        paths = [root / relative for relative in pairs[sample_id]]
        planes, depth = read_images(paths, source=f"{self.name}: {sample_id}")
        if planes[0].shape != planes[1].shape:
            raise InvalidInputError(f"{paths[1]}: shape {planes[1].shape} differs from {paths[0].name}, "
                                    f"{planes[0].shape}")
        return FusionSample(stack=planes, sample_id=sample_id, group=sample_id,
                            metadata={"files": pairs[sample_id], "collection": sample_id.rsplit("_", 1)[0]},
                            source=str(paths[0].parent), bit_depth=depth.bits)

    def verify(self):
        """Check every file against its published git object id; raise naming each missing or altered one."""
        root = resolve_root(self.root, self)
        problems = []
        for relative, blob in FILES.items():
            path = root / relative
            if not path.is_file():
                problems.append(f"missing {path}")
            elif git_blob_sha1(path) != blob:
                problems.append(f"{path} is not the published file (git object id {git_blob_sha1(path)}, "
                                f"expected {blob})")
        if problems:
            raise InvalidInputError(f"{self.name}: the data in {root} is not the published set: "
                                    + "; ".join(problems))
        return sorted(FILES)

    def describe(self):
        description = super().describe()
        description["source_commit"] = COMMIT
        description["downloads"] = read_download_records(resolve_root(self.root, self))
        return description
