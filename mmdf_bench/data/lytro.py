"""The Lytro multi-focus dataset of Nejati, Samavi and Shirani (2015).

Twenty colour pairs (520x520) photographed with a Lytro light-field camera
and refocused near and far, plus four triples. There is no all-in-focus
reference, so every sample is in the test split and only no-reference and
fusion metrics apply.

Expected layout (as distributed)::

    lytro/
        lytro-01-A.jpg  lytro-01-B.jpg  ...  lytro-20-A.jpg  lytro-20-B.jpg
        Triple_Series/
            lytro-01-A.jpg  lytro-01-B.jpg  lytro-01-C.jpg  ...  lytro-04-C.jpg

References
----------
.. [1] M. Nejati, S. Samavi and S. Shirani, "Multi-focus image fusion using
       dictionary-based sparse representation", Information Fusion 25:
       72-84, 2015. :doi:`10.1016/j.inffus.2014.10.004`
"""

import hashlib
from typing import ClassVar

from mmdf_bench.data.base import Dataset, check_split, resolve_root
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_image

NUM_PAIRS = 20
NUM_TRIPLES = 4
TRIPLE_FOLDER = "Triple_Series"

#: SHA-256 of every file of the distribution, by path relative to the root.
CHECKSUMS = {
    "lytro-01-A.jpg": "e2a1acece08828c5a50c96b396af2c20e354ae19b0ce7caac187d6d5ffc77018",
    "lytro-01-B.jpg": "311d21d4a857b50813ccf86fee2bb08bcb72cb3710c8120967ff21d2932292e6",
    "lytro-02-A.jpg": "babca8a6eb4a8f374160c43a734a2552ab1754aeb71a442e40d6c5fde7f85910",
    "lytro-02-B.jpg": "588251b87680579491e7c7c56182bc55e373eefea3b4ed1d05cda0fb423a7308",
    "lytro-03-A.jpg": "0220d2c5b55267dda03840321d3693da8f4e22a772d7dffc7a5fecc5b76b61bc",
    "lytro-03-B.jpg": "dab6aeb745b397ba59a3fcd653839823b68ca33245e66ed6deb7bfdd44d99a68",
    "lytro-04-A.jpg": "def97cc3abe4169e7479cc6de19d89c39b8d146b5873a8eef79b6db73dd63361",
    "lytro-04-B.jpg": "9680178192a820801b5c4f8ea337db8d744c6eb0e228caa517b8c6f692f8e450",
    "lytro-05-A.jpg": "8992c3a42feb4b729bef04a891b0d9e2fcb94333c12440f4467cadccb92712ba",
    "lytro-05-B.jpg": "c437fc33638e019f01302d4e705420f2cabb6554d74d786e8be5c6a3d4c4c893",
    "lytro-06-A.jpg": "09528f6dfc7408cc535b0273b420d5bdd64e8a476b65d27e8403ce29b56ba701",
    "lytro-06-B.jpg": "fca680fc66cfdce3ff8d777fa159a37d0c6a4eb1996ac7b3845bd56901a58604",
    "lytro-07-A.jpg": "96740f84244aeeac15cddf38f07fd4177578cc8b94b0008032e8a3e231d32156",
    "lytro-07-B.jpg": "870b61576c84085218fa17700011e4071711f4dc8efb6dbb8d1ead23d045833c",
    "lytro-08-A.jpg": "87ff78a73a203fa63ece66e56967f687dcb83ebe60d64021c0b691d3fbf68855",
    "lytro-08-B.jpg": "e776710085844355f9c732256c614aab05ab82c9316d631c7cfd6c452b9433c3",
    "lytro-09-A.jpg": "61465f3687d60e734594e383a9bfa218b9c51c876250ba63e5c69e416c3fc151",
    "lytro-09-B.jpg": "1b22f487cf0c29be712ba6c1d3872a05ac540269f54013d8670fc78139fb02c1",
    "lytro-10-A.jpg": "f3872c3ee3a188d55f4ef0c0dc28c12af0653ebab8b8bd1b8aa99439ed9a2e60",
    "lytro-10-B.jpg": "e0c4d7ecad60a3270bd4bcafeb5db24adc54b111c0666b17a0941e51c8bf88ab",
    "lytro-11-A.jpg": "1eeb60ae25503f7624c58b29c0524a8f1f2e120dd3ed8f4134e17053f7d3660d",
    "lytro-11-B.jpg": "3cc6acf8d1baf5965ce327351308cd9c99f5d513122862d81af8f818744f4b11",
    "lytro-12-A.jpg": "fb090858d530ef63489742ca47f6f79e75726a6e7da1ed4bee6155c9a62daebe",
    "lytro-12-B.jpg": "d0931944e814d19367dd1486308b628bba4d9857d04ca11e772c3283035a2a69",
    "lytro-13-A.jpg": "089db066b8bb3386a36836703d31ee96940c12bcb6a167abe919bcd2dca2e96e",
    "lytro-13-B.jpg": "c46b476026d2d19027a82a7e7b5b876235ca503b7fee92504ab4d15863dcf05b",
    "lytro-14-A.jpg": "c8c412a2e52d86ba8ecb4787f47581265e95293f5d7427cbffc702259ab37beb",
    "lytro-14-B.jpg": "e04148af48acd1012024f52e4fed6c9e3d5ac84fb02d04809e3e3e9077a8c5b2",
    "lytro-15-A.jpg": "57ba0e3e2edf651e36b908c1c6f11415bf840dadd7575ccf22218456ddad2925",
    "lytro-15-B.jpg": "c3ac46ab6f0891ac01977700f8b24197537f5a0d30e62001cc5e8c7779a42d7a",
    "lytro-16-A.jpg": "aefc598d9599f7208f9ac7706360fb9cb39c8543b8202d608f7014154e57c54c",
    "lytro-16-B.jpg": "084c8782a19500f1c5ab05ddcb9dffa6e3303d8d5281f75b52e7077d8d544356",
    "lytro-17-A.jpg": "457e2879aa6d1593ff444d7bb7f46783820d89352399d080fbb2edcd27766634",
    "lytro-17-B.jpg": "eec9a9b107182ffe73a1c299b792b08e04d5855e106f55a55f6c274a241f33cb",
    "lytro-18-A.jpg": "6b476b10c4c0aac61dc1bb07985f6f059e2aff6e1a7764b9b22674a0ac316d15",
    "lytro-18-B.jpg": "f5461a86c1d2246cdcc2c26e0632a62115c544875fe67916e7ff4a0c19e8f4b0",
    "lytro-19-A.jpg": "0312fc8ccf5053d771f165d5425b4153cb9133492828de6fd178f4ec7557d0e1",
    "lytro-19-B.jpg": "a2cc3e78246dfe288d838af605ee0d98e506a72b5e087edf05d622fb596f5d4b",
    "lytro-20-A.jpg": "dffc4a0ac9e2ef2dc1fa7edd939f47ebe574d454a39e266a7c87a70fc206b2e2",
    "lytro-20-B.jpg": "e245c21a31b75f3b7a4d325a6afe620578105d4fb8f2bd68a6914bfb4ca88d9b",
    "Triple_Series/lytro-01-A.jpg": "53b14b66d702a0f4c4d6cee0fa751b046f2aef7c656227d1ff77541236e11502",
    "Triple_Series/lytro-01-B.jpg": "88354a4e6ab62d30b5115cdb971856bbe01b191d9ed5cdd4cdcd0e2b1e922764",
    "Triple_Series/lytro-01-C.jpg": "8fecffe1707a9adbbbbb8be4243c123789f27c59ff5b7f6c12ad8da7aa6b7e01",
    "Triple_Series/lytro-02-A.jpg": "a1fd56fd1fd340f38512079b37f323664733043b214eeb38851e1168dee087fc",
    "Triple_Series/lytro-02-B.jpg": "9058dca8182a0878ab2ff31d2adce272583cf2ca067964605d54c24f6f5e1c60",
    "Triple_Series/lytro-02-C.jpg": "0c6dd53b729bf343afbfa50348b2b8f354743d90cb3e3783332e947952992904",
    "Triple_Series/lytro-03-A.jpg": "09547c3c10bbe0a298a7a4423ac4010a30909fb03f30e502b00978fafdb1829d",
    "Triple_Series/lytro-03-B.jpg": "89df35f71b73a7ea76bf677882e2e8f5b48b917d2d2513c25f3e9dc3f5699dfd",
    "Triple_Series/lytro-03-C.jpg": "7907399ef8dd41860ab50e838cb3d5b46aea47800a65146fac852f1a4bccf5cb",
    "Triple_Series/lytro-04-A.jpg": "b14011f3b3722edea81f57b48502f2297c8224364750c2161095845dd1f69d10",
    "Triple_Series/lytro-04-B.jpg": "49e7ffd8034d74082bbee7e766c118970d1c1f203bdacde8557a047ce0d52c43",
    "Triple_Series/lytro-04-C.jpg": "c096fd4546e8d1586d081cd68ea0a9201ba1a595a6dee7c2c6a0ca5871098a9b",
}


def _planes(sample_id):
    """Relative paths of the planes of `sample_id`, or None when the id is unknown."""
    kind, _, number = str(sample_id).partition("-")
    if not (number.isdigit() and len(number) == 2):
        return None
    index = int(number)
    if kind == "pair" and 1 <= index <= NUM_PAIRS:
        return [f"lytro-{index:02d}-{letter}.jpg" for letter in "AB"]
    if kind == "triple" and 1 <= index <= NUM_TRIPLES:
        return [f"{TRIPLE_FOLDER}/lytro-{index:02d}-{letter}.jpg" for letter in "ABC"]
    return None


class Lytro(Dataset):
    """Lytro multi-focus pairs and triples, read from ``$MMDF_BENCH_DATA/lytro``.

    Sample ids are ``pair-01`` ... ``pair-20`` and ``triple-01`` ...
    ``triple-04``; planes are stacked in file order (A, B[, C]). All samples
    are test samples; the train split is empty.

    Parameters
    ----------
    root : str or Path, optional
        The ``lytro`` folder; defaults to ``$MMDF_BENCH_DATA/lytro``.
    seed : int, optional
        Unused (the dataset is fixed).
    """

    name: ClassVar[str] = "lytro"
    task: ClassVar[str] = "fusion"
    summary: ClassVar[str] = "20 colour multi-focus pairs and 4 triples from a Lytro camera (no reference)"
    citation: ClassVar[str] = (
        'M. Nejati, S. Samavi, S. Shirani, "Multi-focus image fusion using dictionary-based sparse '
        'representation", Information Fusion 25 (2015) 72-84, doi:10.1016/j.inffus.2014.10.004'
    )
    licence: ClassVar[str] = "research use with citation (no explicit licence); not redistributed by mmdf-bench"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "lytro"
    card: ClassVar[str] = "lytro.md"
    realism = "photographs"

    def sample_ids(self, split):
        # test data only: no train or validation split (`check_split` refuses unknown names)
        if check_split(self, split) != "test":
            return []
        self.root = resolve_root(self.root, self)  # one clear error, not 24
        if not any((self.root / relative).is_file() for relative in CHECKSUMS):
            raise InvalidInputError(
                f"{self.name}: {self.root} is not a Lytro folder: it holds none of its files "
                "(lytro-01-A.jpg ... lytro-20-B.jpg, Triple_Series/); see datasets/lytro.md")
        pairs = [f"pair-{index:02d}" for index in range(1, NUM_PAIRS + 1)]
        triples = [f"triple-{index:02d}" for index in range(1, NUM_TRIPLES + 1)]
        return pairs + triples

    def load(self, sample_id):
        from mmdf_bench.tasks.fusion import FusionSample

        relative_paths = _planes(sample_id)
        if relative_paths is None:
            raise InvalidInputError(
                f"{self.name}: unknown sample id {sample_id!r}; ids are pair-01..pair-{NUM_PAIRS:02d} "
                f"and triple-01..triple-{NUM_TRIPLES:02d}"
            )
        root = resolve_root(self.root, self)
        paths = [root / relative for relative in relative_paths]
        planes = [read_image(path) for path in paths]
        for path, plane in zip(paths[1:], planes[1:]):
            if plane.shape != planes[0].shape:
                raise InvalidInputError(
                    f"{path}: shape {plane.shape} differs from {paths[0].name} with shape {planes[0].shape}"
                )
        return FusionSample(
            stack=planes,
            sample_id=sample_id,
            metadata={"files": relative_paths},
            source=str(paths[0].parent / f"lytro-{sample_id[-2:]}-*.jpg"),
        )

    def verify(self):
        """Check every file against `CHECKSUMS`.

        Returns
        -------
        checked : list of str
            The relative paths that matched, in `CHECKSUMS` order.

        Raises
        ------
        InvalidInputError
            Naming every missing file and every file whose SHA-256 differs.
        """
        root = resolve_root(self.root, self)
        problems, checked = [], []
        for relative, expected in CHECKSUMS.items():
            path = root / relative
            if not path.is_file():
                problems.append(f"missing {path}")
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != expected:
                problems.append(f"checksum mismatch for {path}: expected {expected}, got {digest}")
            else:
                checked.append(relative)
        if problems:
            raise InvalidInputError(
                f"{self.name}: the data in {root} is not the published dataset: " + "; ".join(problems)
            )
        return checked
