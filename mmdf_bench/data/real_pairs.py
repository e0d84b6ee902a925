"""Real defocus pairs for the deblur task: a defocused plane and the in-focus plane of one field.

`FieldPairsDataset` turns fields (`mmdf_bench.data.field_stacks.FieldStack`)
into deblur samples:

1. **Pairs.** Every plane whose distance from focus lies in
   ``[min_defocus_um, max_defocus_um]`` is paired with the field's in-focus
   plane (the reference).
2. **Registration.** The defocused plane is registered to the reference to
   a fraction of a pixel over the whole frame
   (`mmdf_bench.data.registration`: cross-correlation peak within 6 pixels,
   parabolic refinement) and the shift is removed by the Fourier shift
   theorem before anything is cut or scored. The shift is kept in the
   sample's metadata; a pair without a trustworthy peak is left as
   recorded, and its metadata says so.
3. **Crops.** Each field is cut into the non-overlapping ``crop_size`` grid
   (16 pixels from the frame edges, beyond any wrapped-around border of
   the shift); the ``crops_per_field`` cells whose reference shows the most
   structure (luminance spread, as for the focus patches) are kept, if
   their spread reaches `MIN_CONTRAST`. The same crops are cut from every
   pair of the field.
4. **PSF.** Non-blind methods receive the disc or Gaussian kernel that best
   explains the pair (`mmdf_bench.data.psf_fit.fit_defocus_psf`, fitted on
   the registered planes around the kept crops): an oracle PSF, read from
   the sharp image, like the exact kernel of the synthetic sets.

Every sample's group is its field; all samples are test samples. Ids read
``<field>-z<z>um-y<row>x<col>``, taken in turn from every pair so that the
first ids cover every field.
"""

from typing import ClassVar

import numpy as np

from mmdf_bench.data.field_dataset import FieldDataset, field_crops, interleave, option_number, registered_plane
from mmdf_bench.data.psf_fit import fit_defocus_psf
from mmdf_bench.errors import InvalidInputError

__all__ = ["FieldPairsDataset", "field_crops"]

#: Side of the window the PSF is fitted on (around the most structured crop).
PSF_WINDOW = 512


class FieldPairsDataset(FieldDataset):
    """Registered (defocused, in-focus) crops of real fields, with a fitted oracle PSF.

    Parameters
    ----------
    root : str or Path, optional
    seed : int, optional
        Unused.
    min_defocus_um, max_defocus_um : float, optional
        Range of |z| of the defocused planes (default `default_defocus_range_um`).
    crop_size : int, optional
    crops_per_field : int, optional
    fields : str or sequence of str, optional
        Only these fields (see `FieldDataset`).
    """

    task: ClassVar[str] = "deblur"
    default_defocus_range_um: ClassVar[tuple] = (1.5, 20.0)

    def __init__(self, *, root=None, seed=0, min_defocus_um=None, max_defocus_um=None, crop_size=256,
                 crops_per_field=4, fields=None):
        super().__init__(root=root, seed=seed, fields=fields)
        low, high = self.default_defocus_range_um
        self.min_defocus_um = option_number(low if min_defocus_um is None else min_defocus_um,
                                            "min_defocus_um", self.name)
        self.max_defocus_um = option_number(high if max_defocus_um is None else max_defocus_um,
                                            "max_defocus_um", self.name)
        if self.min_defocus_um > self.max_defocus_um:
            raise InvalidInputError(f"{self.name}: min_defocus_um {self.min_defocus_um} exceeds max_defocus_um "
                                    f"{self.max_defocus_um}")
        self.crop_size = int(option_number(crop_size, "crop_size", self.name, positive=True))
        self.crops_per_field = int(option_number(crops_per_field, "crops_per_field", self.name, positive=True))
        self._pairs = {}

    def pair_planes(self, name):
        """Indices of the planes of field `name` paired with its in-focus plane."""
        field = self.fields()[name]
        distance = np.abs(field.defocus_um)
        return [index for index in range(len(field)) if index != field.focus_index
                and self.min_defocus_um <= distance[index] <= self.max_defocus_um]

    def build_index(self):
        groups = [[(name, plane, row, col) for row, col in self.crops(name)]
                  for name in self.fields() for plane in self.pair_planes(name)]
        index = {}
        for name, plane, row, col in interleave(groups):
            z = self.fields()[name].planes[plane].z_um
            index[f"{name}-z{z:+08.3f}um-y{row}x{col}"] = (name, plane, row, col)
        if not index:
            raise InvalidInputError(
                f"{self.name}: no plane lies {self.min_defocus_um}-{self.max_defocus_um} µm from focus with "
                f"structure to crop in {self.data_root()}")
        return index

    def registered_pair(self, name, plane):
        """``(sharp, registered defocused plane, ShiftEstimate, FittedPSF)`` of one pair (whole planes)."""
        field = self.fields()[name]
        sharp = field.read_plane(field.focus_index)
        registered, shift = registered_plane(field, plane, sharp)
        crops = self.crops(name)
        row, col = crops[0] if crops else (0, 0)
        window = self._psf_window(sharp.shape, row, col)
        return sharp, registered, shift, fit_defocus_psf(sharp[window], registered[window])

    def _pair(self, name, plane):
        # a pair is registered and fitted once per process; only its crops are kept
        key = (name, plane)
        if key not in self._pairs:
            sharp, registered, shift, fit = self.registered_pair(name, plane)
            size = self.crop_size
            crops = {(row, col): (registered[row:row + size, col:col + size].copy(),
                                  sharp[row:row + size, col:col + size].copy()) for row, col in self.crops(name)}
            self._pairs[key] = (crops, shift, fit)
        return self._pairs[key]

    def _psf_window(self, shape, row, col):
        center_row, center_col = row + self.crop_size // 2, col + self.crop_size // 2
        half = PSF_WINDOW // 2
        top = int(np.clip(center_row - half, 0, max(shape[0] - PSF_WINDOW, 0)))
        left = int(np.clip(center_col - half, 0, max(shape[1] - PSF_WINDOW, 0)))
        return slice(top, top + PSF_WINDOW), slice(left, left + PSF_WINDOW)

    def load(self, sample_id):
        from mmdf_bench.tasks.deblur import DeblurSample

        name, plane, row, col = self.entry(sample_id)
        field = self.fields()[name]
        crops, shift, fit = self._pair(name, plane)
        blurred, sharp = crops[(row, col)]
        metadata = {"blur": "defocus", "field": name, "z_um": field.planes[plane].z_um,
                    "defocus_um": float(field.defocus_um[plane]), "row": row, "col": col,
                    "registration": shift.describe(),
                    "psf": {"source": "fitted to the registered pair (oracle)", **fit.describe()},
                    **field.metadata}
        return DeblurSample(blurred=blurred, reference=sharp, sample_id=sample_id,
                            psf=fit.kernel(), group=name, metadata=metadata,
                            source=f"{field.planes[plane].describe()} vs {field.planes[field.focus_index].describe()}")

    def describe(self):
        description = super().describe()
        description["options"] = {"defocus_range_um": [self.min_defocus_um, self.max_defocus_um],
                                  "crop_size": self.crop_size, "crops_per_field": self.crops_per_field}
        description["fields"] = {name: {"pairs_z_um": [round(float(self.fields()[name].planes[k].z_um), 4)
                                                       for k in self.pair_planes(name)],
                                        "crops": len(self.crops(name))}
                                 for name in self.fields()}
        return description

