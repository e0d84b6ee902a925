"""Multi-focus stacks from a plain folder: one sub-folder or one TIFF per stack.

Layout::

    my-stacks/
        specimen-a/            a stack as separate images, planes in name order
            z00.png
            z01.png
            z02.png
        specimen-b.tif         a stack as one multi-page TIFF, planes in page order
        references/            optional all-in-focus references, one per stack
            specimen-a.png     named like the stack (any image extension)

The sample id is the sub-folder name or the TIFF file name without its
extension. Plane images may be PNG, JPEG, TIFF or BMP; other files (notes,
hidden files) are ignored. References live in their own folder, not beside the
planes, so that they can never be mistaken for a plane and so that TIFF
stacks can have one too. All samples are test samples.
"""

from pathlib import Path
from typing import ClassVar


from mmdf_bench.data.base import Dataset, check_split, resolve_root
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_image_with_depth, stack_bit_depth, validate_stack
from mmdf_bench.tiff_stacks import read_tiff_stack

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
TIFF_SUFFIXES = (".tif", ".tiff")
REFERENCE_FOLDER = "references"


def _is_image(path):
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def read_folder_stack(folder, *, bits=None):
    """Read the images of `folder`, sorted by file name, as a validated stack.

    Parameters
    ----------
    folder : str or Path
    bits : int, optional
        Bit depth of the stored values (see `mmdf_bench.bit_depth`); by
        default from the files' metadata or data, one depth for all planes.

    Returns
    -------
    stack : ndarray of float32, shape (N, H, W[, 3])
    names : list of str
        The file names, in plane order.
    depth : mmdf_bench.bit_depth.StackDepth

    Raises
    ------
    InvalidInputError
        Naming the offending file: unreadable, NaN, a shape that differs from
        the first plane, or a folder with fewer than two images.
    """
    folder = Path(folder)
    paths = sorted(path for path in folder.iterdir() if _is_image(path))
    if len(paths) < 2:
        found = f"only {paths[0]}" if paths else "no image files"
        raise InvalidInputError(f"a stack needs at least 2 images, {folder} holds {found}")
    depth = stack_bit_depth(paths, bits=bits, source=str(folder))
    planes = []
    for path in paths:
        plane = read_image_with_depth(path, depth=depth)[0]
        if planes and plane.shape != planes[0].shape:
            raise InvalidInputError(
                f"{path}: plane shape {plane.shape} differs from {paths[0].name} with shape {planes[0].shape}"
            )
        planes.append(plane)
    return validate_stack(planes, source=str(folder)), [path.name for path in paths], depth


def dataset_bits(bits, dataset_name):
    """Validate a dataset's ``bits`` option (None: decided per file or stack)."""
    from mmdf_bench.bit_depth import check_bits

    return None if bits is None else check_bits(bits, source=f"dataset {dataset_name}")


def dataset_channel(channel, dataset_name):
    """Validate a dataset's ``channel`` option (None: files must have one channel or RGB)."""
    if channel is None:
        return None
    text = str(channel).strip()
    if isinstance(channel, bool) or not text.isdigit():
        raise InvalidInputError(f"{dataset_name}: channel must be a non-negative integer, got {channel!r}")
    return int(text)


class FusionFolder(Dataset):
    """Multi-focus stacks from a folder of sub-folders and multi-page TIFFs.

    See the module docstring for the layout. Without `root`, the folder is
    ``$MMDF_BENCH_DATA/fusion-folder``.

    Parameters
    ----------
    root : str or Path, optional
    seed : int, optional
        Unused.
    bits : int, optional
        Bit depth of the stored values, e.g. 12 for 12-bit data in 16-bit
        files (``--datasets fusion-folder=PATH:bits=12``); by default read
        from the files' metadata, else guessed from the data with a warning
        (see `mmdf_bench.bit_depth`). Method outputs are stored and scored
        at this depth.
    channel : int, optional
        The channel to read from multi-channel TIFF files (0-based).
    """

    name: ClassVar[str] = "fusion-folder"
    task: ClassVar[str] = "fusion"
    summary: ClassVar[str] = "your own z-stacks: one sub-folder of images or one multi-page TIFF per stack"
    citation: ClassVar[str] = ""
    licence: ClassVar[str] = "that of the user's data"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "fusion-folder"
    card: ClassVar[str] = "fusion-folder.md"
    realism = "real"

    def __init__(self, *, root=None, seed=0, bits=None, channel=None):
        super().__init__(root=root, seed=seed)
        self.bits = dataset_bits(bits, self.name)
        self.channel = dataset_channel(channel, self.name)
        self._index = None

    def _stacks(self):
        """Map sample id -> path of its sub-folder or TIFF, scanned once."""
        if self._index is None:
            root = resolve_root(self.root, self)
            index = {}
            for path in sorted(root.iterdir()):
                if path.name.startswith(".") or path.name == REFERENCE_FOLDER:
                    continue
                if path.is_dir():
                    sample_id = path.name
                elif path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
                    sample_id = path.stem
                else:
                    continue
                if sample_id in index:
                    raise InvalidInputError(
                        f"{self.name}: two stacks are called {sample_id!r}: {index[sample_id]} and {path}"
                    )
                index[sample_id] = path
            if not index:
                raise InvalidInputError(
                    f"{self.name}: no stacks in {root}; expected sub-folders of images or multi-page TIFF files"
                )
            self._index = index
        return self._index

    def sample_ids(self, split):
        # test data only: no train or validation split (`check_split` refuses unknown names)
        return list(self._stacks()) if check_split(self, split) == "test" else []

    def _reference_path(self, sample_id):
        folder = resolve_root(self.root, self) / REFERENCE_FOLDER
        if not folder.is_dir():
            return None
        matches = sorted(path for path in folder.iterdir() if _is_image(path) and path.stem == sample_id)
        if len(matches) > 1:
            raise InvalidInputError(
                f"{self.name}: several references for {sample_id!r}: {', '.join(str(path) for path in matches)}"
            )
        return matches[0] if matches else None

    def load(self, sample_id):
        from mmdf_bench.tasks.fusion import FusionSample

        stacks = self._stacks()
        if sample_id not in stacks:
            raise InvalidInputError(
                f"{self.name}: unknown sample id {sample_id!r}; known: {', '.join(stacks) or 'none'}"
            )
        path = stacks[sample_id]
        if path.is_dir():
            if self.channel is not None:
                raise InvalidInputError(f"{self.name}: channel={self.channel} applies to TIFF stacks, "
                                        f"but {path} is a folder of images")
            stack, files, depth = read_folder_stack(path, bits=self.bits)
        else:
            stack, depth = read_tiff_stack(path, bits=self.bits, channel=self.channel)
            stack = validate_stack(stack, source=str(path))
            files = [path.name]
        reference = None
        reference_path = self._reference_path(sample_id)
        if reference_path is not None:
            # the reference is stored like the planes: same bit depth option
            reference = read_image_with_depth(reference_path, bits=self.bits)[0]
            if reference.shape != stack.shape[1:]:
                raise InvalidInputError(
                    f"{reference_path}: reference shape {reference.shape} differs from the plane shape "
                    f"{stack.shape[1:]} of {path}"
                )
        metadata = {"files": files, "bit_depth_source": depth.source}
        if reference_path is not None:
            metadata["reference_file"] = reference_path.name
        return FusionSample(stack=stack, sample_id=sample_id, reference=reference, metadata=metadata,
                            source=str(path), bit_depth=depth.bits)
