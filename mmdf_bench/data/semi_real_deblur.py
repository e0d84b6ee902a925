"""`semi-real-fast-scan`: the synthetic fast-scan blurs applied to real in-focus microscope planes.

No source reachable by the suite holds real pairs of fast-scan (motion)
blurred and sharp microscope images. This set keeps the synthetic blur of
`synthetic-brightfield-deblur` (its kernel mixture, `BLUR_PATTERN`: half
linear fast-scan motion along the rows, a quarter random shake
trajectories, an eighth each small and large Gaussian, and its sensor
noise) but replaces the scikit-image photographs by the in-focus planes of
the real fields beside the project: the seven `wafer-defocus` fields
(reflected light) and the two `sephace-brightfield` fields (transmitted
bright field of unstained cells). The image content and its noise are
real, the blur is not.

Each field gives up to ``crops_per_field`` 256x256 crops of its in-focus
plane, the most structured cells of the grid (`field_crops`); crop k of a
field gets the k-th kernel kind of a shuffled block of `BLUR_PATTERN`, so
every field with eight crops sees the whole mixture. Kernels and noise
follow from the sample id alone (not the run seed). Every sample's group
is its field; all samples are test samples.
"""

import hashlib
from typing import ClassVar

import numpy as np

from mmdf_bench.data import optics
from mmdf_bench.data.field_dataset import FieldDataset, interleave, option_number
from mmdf_bench.data.sephace import SEPHACE_CITATION, read_sephace_fields
from mmdf_bench.data.synthetic_deblur import BLUR_PATTERN, draw_blur_kernel
from mmdf_bench.data.wafer_defocus import WAFER_CITATION, read_wafer_fields
from mmdf_bench.errors import InvalidInputError
from mmdf_bench.settings import DATA_VARIABLE, data_dir

__all__ = ["SOURCES", "SemiRealFastScan"]

#: The real sets whose in-focus planes are blurred: folder -> field reader.
SOURCES = {"wafer-defocus": read_wafer_fields, "sephace-brightfield": read_sephace_fields}


def _digest(*parts):
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


class SemiRealFastScan(FieldDataset):
    """Real in-focus planes blurred by the synthetic fast-scan kernels (semi-real deblur pairs).

    Parameters
    ----------
    root : str or Path, optional
        A folder holding ``wafer-defocus/`` and ``sephace-brightfield/``;
        default ``$MMDF_BENCH_DATA``.
    seed : int, optional
        Unused: kernels and noise depend on the sample id only.
    crop_size : int, optional
    crops_per_field : int, optional
    noise : bool, optional
        Add the synthetic set's photon and read noise to the blurred crops.
    fields : str or sequence of str, optional
        Only these fields (see `FieldDataset`).
    """

    name: ClassVar[str] = "semi-real-fast-scan"
    task: ClassVar[str] = "deblur"
    realism: ClassVar[str] = "semi-real"
    summary: ClassVar[str] = ("synthetic fast-scan motion / shake / Gaussian kernels applied to the in-focus planes "
                              "of the real wafer and bright-field cell fields (9 fields, 256x256 crops, exact PSFs)")
    citation: ClassVar[str] = (f"Blur as in synthetic-brightfield-deblur (Kornilova et al., ISBI 2021; Boracchi and "
                               f"Foi, IEEE TIP 2012); images: {WAFER_CITATION}; {SEPHACE_CITATION}")
    licence: ClassVar[str] = "generated from MIT-licensed images (sephace: noncommercial and research use)"
    version: ClassVar[str] = "1"
    card: ClassVar[str] = "semi-real-fast-scan.md"
    #: Sub-folders of $MMDF_BENCH_DATA (or of the folder given) it reads.
    data_folders: ClassVar[tuple] = tuple(SOURCES)

    def __init__(self, *, root=None, seed=0, crop_size=256, crops_per_field=8, noise=True, fields=None):
        super().__init__(root=root, seed=seed, fields=fields)
        self.crop_size = int(option_number(crop_size, "crop_size", self.name, positive=True))
        self.crops_per_field = int(option_number(crops_per_field, "crops_per_field", self.name, positive=True))
        self.noise = noise not in (False, 0, "0", "false", "False", "no")
        self._sharp = {}

    def data_root(self):
        base = self.root if self.root is not None else data_dir()
        if base is None:
            raise InvalidInputError(f"{self.name}: data not found ({DATA_VARIABLE} is not set). Set {DATA_VARIABLE} "
                                    f"to a folder holding {' and '.join(f'{name}/' for name in SOURCES)}, or pass "
                                    f"that folder as --datasets {self.name}=PATH.")
        missing = [name for name in SOURCES if not (base / name).is_dir()]
        if missing:
            raise InvalidInputError(f"{self.name}: {base} lacks {', '.join(f'{name}/' for name in missing)}; it "
                                    "needs the real sets whose in-focus planes are blurred")
        return base

    def read_fields(self, root):
        return [field for folder, reader in SOURCES.items() for field in reader(root / folder, dataset=self.name)]

    def build_index(self):
        groups = [[(name, rank, row, col) for rank, (row, col) in enumerate(self.crops(name))]
                  for name in self.fields()]
        return {f"{name}-y{row}x{col}": (name, rank, row, col) for name, rank, row, col in interleave(groups)}

    def blur_kind(self, name, rank):
        """The (kind, Gaussian scale) of crop `rank` of field `name`: a shuffled block of `BLUR_PATTERN`."""
        order = np.random.default_rng(_digest("pattern", name)).permutation(len(BLUR_PATTERN))
        block, position = divmod(rank, len(BLUR_PATTERN))
        if block:
            order = np.random.default_rng(_digest("pattern", name, block)).permutation(len(BLUR_PATTERN))
        return BLUR_PATTERN[order[position]]

    def _sharp_crop(self, name, row, col):
        if name not in self._sharp:
            field = self.fields()[name]
            plane = field.read_plane(field.focus_index)
            size = self.crop_size
            self._sharp[name] = {(r, c): plane[r:r + size, c:c + size].copy() for r, c in self.crops(name)}
        return self._sharp[name][(row, col)]

    def load(self, sample_id):
        from mmdf_bench.tasks.deblur import DeblurSample

        name, rank, row, col = self.entry(sample_id)
        field = self.fields()[name]
        sharp = self._sharp_crop(name, row, col)
        kind, scale = self.blur_kind(name, rank)
        rng = np.random.default_rng(_digest("sample", sample_id))
        kernel, parameters = draw_blur_kernel(kind, rng=rng, scale=scale)
        blurred = optics.blur(sharp, kernel)
        if self.noise:
            blurred = optics.add_sensor_noise(blurred, rng=rng)
        metadata = {"blur": kind, "kernel": {key: (round(value, 6) if isinstance(value, float) else value)
                                              for key, value in parameters.items()},
                    "psf_shape": list(kernel.shape), "field": name, "row": row, "col": col,
                    "source_plane": field.planes[field.focus_index].path.name, **field.metadata}
        return DeblurSample(blurred=blurred, reference=sharp, sample_id=sample_id, psf=kernel, group=name,
                            metadata=metadata, source=f"{self.name}:{sample_id}")

    def describe(self):
        description = super().describe()
        description["options"] = {"crop_size": self.crop_size, "crops_per_field": self.crops_per_field,
                                  "noise": self.noise,
                                  "blur_pattern": [kind if scale is None else f"{kind}-{scale}"
                                                   for kind, scale in BLUR_PATTERN]}
        description["fields"] = {name: {"crops": len(self.crops(name))} for name in self.fields()}
        return description
