"""`microscopy-stacks`: real bright-field focal stacks without a ground truth, for the fusion task.

Three specimens, one stack each, scored with the no-reference and fusion
metrics only (there is no all-in-focus reference) and shown as image
panels in the HTML report:

``diatom``
    A centric diatom, 3 planes, 305x229 RGB JPEG (test images of the
    MFusionJ ImageJ plugin). Its ``_fus`` image is MFusionJ's own output, a
    method's answer, not a reference: it is not read.
``radiolarian``
    A radiolarian skeleton, 3-plane RGB TIFF, 170x116 (test data of the EPFL
    Extended Depth of Field plugin), planes in page order.
``pseudoscorpion``
    14 frames focused by hand through a live pseudoscorpion (Raspberry-Pi
    camera on a microscope, transmitted light, stored 1296x972 RGB).

The pseudoscorpion frames are in acquisition order, not focal order, and
the animal may move slightly between them. The protocol (a) keeps the
acquisition order: the focal order is unknown, and a fusion method must not
depend on the order of its planes; (b) registers every frame to the middle
kept frame (frame 8, with five frames or all 14) by a translation (`mmdf_bench.data.registration`,
searched within `MAX_MOTION` pixels of the stored frames, at the scale the
frames are fused at), which removes
drift of the whole animal but not the motion of its legs, so residual
ghosting in a fused image is the method's honest result on live data; a
frame without a trustworthy peak is left as recorded (the sample's
metadata lists every shift, in pixels of the scaled frames); (c) scales the
frames by `scale` (default 0.5, 648x486) so that 14 RGB planes stay near
50 MB and every method runs in seconds on a CPU.

Every stack is its own specimen (group); all samples are test samples.
"""

from typing import ClassVar

import numpy as np

from mmdf_bench.data.base import Dataset, resolve_root
from mmdf_bench.data.field_focus import option_number
from mmdf_bench.data.registration import estimate_shift, shift_image
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import read_images

__all__ = ["MAX_MOTION", "MicroscopyStacks"]

#: Largest translation (pixels at the stored size) searched for between two pseudoscorpion frames.
MAX_MOTION = 24
SMALL_FOLDER, PSEUDOSCORPION_FOLDER = "small", "pseudoscorpion"
DIATOM_FILES = tuple(f"diatom_mfusionj_{index}.jpg" for index in (1, 2, 3))
RADIOLARIAN_FILE = "radiolarian_skeleton_zeiss_stack.tif"
PSEUDOSCORPION_FRAMES = 14
#: Frames of the pseudoscorpion stack fused by default: the most every registered fusion method
#: takes (FuseGAN's networks are built for at most 5 planes).
DEFAULT_FRAMES = 5
STACKS = ("pseudoscorpion", "diatom", "radiolarian")


def _pseudoscorpion_files(folder):
    return [folder / f"scorpion_lapse_{index}_half.png" for index in range(1, PSEUDOSCORPION_FRAMES + 1)]


def _resize(image, scale):
    from skimage.transform import rescale

    if scale == 1.0:
        return image
    channel_axis = -1 if image.ndim == 3 else None
    return np.clip(rescale(image, scale, order=1, anti_aliasing=True, channel_axis=channel_axis),
                   0, 1).astype(np.float32)


class MicroscopyStacks(Dataset):
    """Three real bright-field focal stacks (diatom, radiolarian skeleton, live pseudoscorpion), no reference.

    Parameters
    ----------
    root : str or Path, optional
        The ``microscopy-stacks`` folder (holding ``small/`` and
        ``pseudoscorpion/``); default ``$MMDF_BENCH_DATA/microscopy-stacks``.
    seed : int, optional
        Unused.
    scale : float, optional
        Scale of the pseudoscorpion frames (0 < scale <= 1).
    max_frames : int, optional
        Pseudoscorpion frames kept, evenly spread in acquisition order (0: all 14).
    register : bool, optional
        Register the pseudoscorpion frames to the middle frame (default).
    """

    name: ClassVar[str] = "microscopy-stacks"
    task: ClassVar[str] = "fusion"
    realism: ClassVar[str] = "real"
    summary: ClassVar[str] = ("three real bright-field focal stacks (a diatom, a radiolarian skeleton, 14 hand-focused "
                              "frames of a live pseudoscorpion), no reference: no-reference metrics and panels")
    citation: ClassVar[str] = (
        "Diatom: MFusionJ test images (gcristobal/MFusionJ, BSD-3-Clause); radiolarian: EPFL Extended Depth of "
        "Field plugin test data (B. Forster, D. Van De Ville, J. Berent, D. Sage and M. Unser, Microscopy Research "
        "and Technique 65(1-2), 2004; GPL-3.0); pseudoscorpion: la3lma/focusstack (Apache-2.0)")
    licence: ClassVar[str] = "BSD-3-Clause (diatom), GPL-3.0 (radiolarian), Apache-2.0 (pseudoscorpion)"
    version: ClassVar[str] = "1"
    default_folder: ClassVar[str] = "microscopy-stacks"
    card: ClassVar[str] = "microscopy-stacks.md"

    def __init__(self, *, root=None, seed=0, scale=0.5, register=True, max_frames=DEFAULT_FRAMES):
        super().__init__(root=root, seed=seed)
        self.max_frames = int(option_number(max_frames, "max_frames", self.name))
        if self.max_frames == 1:
            raise InvalidInputError(f"{self.name}: max_frames must be 0 (all frames) or at least 2")
        self.scale = option_number(scale, "scale", self.name, positive=True)
        if self.scale > 1:
            raise InvalidInputError(f"{self.name}: scale must lie in (0, 1], got {scale}")
        self.register = register not in (False, 0, "0", "false", "False", "no")

    def _root(self):
        root = resolve_root(self.root, self)
        for folder in (SMALL_FOLDER, PSEUDOSCORPION_FOLDER):
            if not (root / folder).is_dir():
                raise InvalidInputError(f"{self.name}: {root} lacks {folder}/ (see the card microscopy-stacks.md)")
        return root

    def sample_ids(self, split):
        if split in ("train", "validation"):
            return []
        if split == "test":
            self._root()
            return list(STACKS)
        raise InvalidInputError(f"{self.name}: unknown split {split!r}; use 'train', 'validation' or 'test'")

    def load(self, sample_id):
        from mmdf_bench.tasks.fusion import FusionSample

        root = self._root()
        if sample_id == "diatom":
            paths = [root / SMALL_FOLDER / name for name in DIATOM_FILES]
            planes, depth = read_images(paths, source=f"{self.name}: diatom")
            metadata = {"files": [path.name for path in paths], "order": "as published (planes 1-3)"}
        elif sample_id == "radiolarian":
            from mmdf_bench.tiff_stacks import read_tiff_stack

            path = root / SMALL_FOLDER / RADIOLARIAN_FILE
            stack, depth = read_tiff_stack(path)
            planes = list(stack)
            metadata = {"files": [path.name], "order": "page order"}
        elif sample_id == "pseudoscorpion":
            planes, depth, metadata = self._pseudoscorpion(root)
        else:
            raise InvalidInputError(f"{self.name}: unknown sample id {sample_id!r}; ids are {', '.join(STACKS)}")
        return FusionSample(stack=planes, sample_id=sample_id, group=sample_id, metadata=metadata,
                            source=f"{self.name}: {sample_id} in {root}", bit_depth=depth.bits)

    def frame_numbers(self):
        """The pseudoscorpion frames (1-based, acquisition order) the stack holds."""
        if self.max_frames == 0 or self.max_frames >= PSEUDOSCORPION_FRAMES:
            return list(range(1, PSEUDOSCORPION_FRAMES + 1))
        return [int(k) for k in np.linspace(1, PSEUDOSCORPION_FRAMES, self.max_frames).round()]

    def _pseudoscorpion(self, root):
        paths = _pseudoscorpion_files(root / PSEUDOSCORPION_FOLDER)
        chosen = self.frame_numbers()
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise InvalidInputError(f"{self.name}: pseudoscorpion frame(s) missing: {', '.join(missing)}")
        kept = [paths[number - 1] for number in chosen]
        frames, depth = read_images(kept, source=f"{self.name}: pseudoscorpion")
        frames = [_resize(frame, self.scale) for frame in frames]
        reference_index = len(frames) // 2
        shifts = []
        if self.register:
            # registered at the scale they are fused at: cheaper, and the shift is what the planes need
            search = max(1, int(np.ceil(MAX_MOTION * self.scale)))
            registered = []
            for frame in frames:
                estimate = estimate_shift(frames[reference_index], frame, max_shift=search)
                registered.append(shift_image(frame, estimate.shift))
                shifts.append(estimate.describe())
            frames = registered
        metadata = {"files": [path.name for path in kept],
                    "order": "acquisition order (not focal order)",
                    "registered_to": kept[reference_index].name if self.register else None,
                    "registration": shifts, "scale": self.scale}
        return frames, depth, metadata

    def describe(self):
        description = super().describe()
        description["options"] = {"scale": self.scale, "register": self.register, "max_motion_px": MAX_MOTION,
                                  "pseudoscorpion_frames": self.frame_numbers()}
        return description

