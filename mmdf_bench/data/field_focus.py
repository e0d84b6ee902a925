"""Focus samples from real z-stacks: textured patches of every plane, and one z-stack per field.

`FieldFocusDataset` is the focus-task face of datasets made of
`mmdf_bench.data.field_stacks.FieldStack` fields (`wafer-defocus`,
`sephace-brightfield`, `bbbc006`, `zstack-folder`). Subclasses say how to
find the fields (`read_fields`); this class cuts the samples:

* **Patches.** The non-overlapping ``patch_size`` grid that fits most cells
  inside the field's patch region (`patch_region`; the whole frame unless a
  subclass says otherwise; `mmdf_bench.data.patches.grid_positions`). A cell
  is kept when the field's in-focus plane shows something there: the
  spread (1st to 99th percentile) of its luminance, smoothed by a Gaussian
  of 1 pixel to ignore sensor noise, is at least `min_contrast`. Focus is
  undefined on bare background, which looks the same in every plane. The
  same cells are cut from every plane and labelled by the plane's distance
  from focus in micrometres (`mmdf_bench.data.defocus_levels`).
* **z-stacks.** One `FocusStackSample` per field, the whole planes, scored
  by the autofocus metrics.

Every sample's group is its field. All samples are test samples: the real
sets are a handful of fields, too few to hold some out for training and
still bound the test error over fields, so deep methods use models trained
on the embedded synthetic data and classical methods are calibrated by the
runner (see the dataset cards).

Sample ids: ``<field>-stack`` for the z-stacks (listed first), then
``<field>-z<z>um-y<row>x<col>`` for the patches, taken in turn from every
(field, plane) in a fixed shuffled order of cells, so that the first ids
(``--limit``) cover every field and plane. A plane is read once per process
and all its patches are cut at once (`PLANE_CACHE` planes are kept).
"""

import hashlib
from collections import OrderedDict
from typing import ClassVar

import numpy as np

from mmdf_bench.data.defocus_levels import (DEFAULT_STEP_UM, DEFAULT_TOLERANCE_UM, NUM_LEVELS, defocus_level,
                                            describe_bins)
from mmdf_bench.data.field_dataset import MIN_CONTRAST, FieldDataset, interleave, option_number, patch_contrast
from mmdf_bench.data.patches import grid_positions
from mmdf_bench.errors import InvalidInputError

__all__ = ["FieldFocusDataset", "MIN_CONTRAST", "PLANE_CACHE", "option_number", "patch_contrast"]

#: Planes whose patches are kept in memory (per process).
PLANE_CACHE = 128


def _order_key(*parts):
    return hashlib.sha256("/".join(str(part) for part in parts).encode()).hexdigest()


class FieldFocusDataset(FieldDataset):
    """Focus patches and z-stack samples of real fields with planes at known z (µm).

    Parameters
    ----------
    root : str or Path, optional
        Default ``$MMDF_BENCH_DATA/<default_folder>``.
    seed : int, optional
        Unused: the samples do not depend on it.
    patch_size : int, optional
    min_contrast : float, optional
        Smallest luminance spread of a kept patch (`MIN_CONTRAST`); 0 keeps every cell.
    tolerance_um : float, optional
        In focus up to this distance from focus (default `in_focus_tolerance_um`).
    level_step_um : float, optional
        Micrometres per defocus level (default `DEFAULT_STEP_UM`).
    fields : str or sequence of str, optional
        Only these fields (names, or one comma-separated string as the command
        line gives it: ``--datasets wafer-defocus:fields=level1_iy000,level2_iy003``).
    """

    task: ClassVar[str] = "focus"
    num_levels: ClassVar[int] = NUM_LEVELS
    in_focus_tolerance_um: ClassVar[float] = DEFAULT_TOLERANCE_UM

    def __init__(self, *, root=None, seed=0, patch_size=84, min_contrast=MIN_CONTRAST, tolerance_um=None,
                 level_step_um=DEFAULT_STEP_UM, fields=None):
        super().__init__(root=root, seed=seed, fields=fields)
        size = option_number(patch_size, "patch_size", self.name)
        if int(size) != size or size < 8:
            raise InvalidInputError(f"{self.name}: patch_size must be an integer of at least 8, got {patch_size}")
        self.patch_size = int(size)
        self.min_contrast = option_number(min_contrast, "min_contrast", self.name)
        self.tolerance_um = option_number(self.in_focus_tolerance_um if tolerance_um is None else tolerance_um,
                                          "tolerance_um", self.name)
        self.level_step_um = option_number(level_step_um, "level_step_um", self.name, positive=True)
        describe_bins(tolerance_um=self.tolerance_um, step_um=self.level_step_um)  # checks both
        self._positions = {}
        self._patches = OrderedDict()

    def patch_region(self, field):
        """Boolean mask ``(H, W)`` where patches of `field` may be cut, or None for the whole frame."""
        return None

    def positions(self, name):
        """Top-left corners of the kept patches of field `name` (row-major)."""
        if name not in self._positions:
            field = self.fields()[name]
            focused = field.read_plane(field.focus_index)
            region = self.patch_region(field)
            if region is None:
                region = np.ones(focused.shape[:2], dtype=bool)
            positions = grid_positions(region, self.patch_size)
            if self.min_contrast > 0 and positions:
                keep = patch_contrast(focused, positions, self.patch_size) >= self.min_contrast
                positions = [position for position, kept in zip(positions, keep) if kept]
            self._positions[name] = positions
        return self._positions[name]

    def _patch_id(self, name, plane, row, col):
        z = self.fields()[name].planes[plane].z_um
        return f"{name}-z{z:+08.3f}um-y{row}x{col}"

    def build_index(self):
        index, groups = {}, []
        for name, field in self.fields().items():
            index[f"{name}-stack"] = (name, None, None, None)
            positions = sorted(self.positions(name), key=lambda position: _order_key(name, *position))
            groups += [[(name, plane, row, col) for row, col in positions] for plane in range(len(field))]
        for entry in interleave(groups):
            index[self._patch_id(*entry)] = entry
        return index

    def stack_ids(self):
        """Ids of the z-stack samples (one per field)."""
        return [f"{name}-stack" for name in self.fields()]

    def _patch(self, name, plane, row, col):
        key = (name, plane)
        if key not in self._patches:
            image = self.fields()[name].read_plane(plane)
            size = self.patch_size
            self._patches[key] = {(r, c): image[r:r + size, c:c + size].copy() for r, c in self.positions(name)}
            while len(self._patches) > PLANE_CACHE:
                self._patches.popitem(last=False)
        self._patches.move_to_end(key)
        return self._patches[key][(row, col)]

    def load(self, sample_id):
        from mmdf_bench.tasks.focus import FocusSample, FocusStackSample

        name, plane, row, col = self.entry(sample_id)
        field = self.fields()[name]
        if plane is None:
            return FocusStackSample(sample_id=sample_id, z_um=field.z_um, focus_z_um=field.focus_z_um,
                                    read_plane=field.read_plane, group=name, tolerance_um=self.tolerance_um,
                                    metadata={"field": name, **field.metadata},
                                    source=f"{self.name}: field {name} ({field.planes[0].path.parent})")
        defocus = float(field.defocus_um[plane])
        level = defocus_level(defocus, tolerance_um=self.tolerance_um, step_um=self.level_step_um,
                              num_levels=self.num_levels)
        metadata = {"field": name, "plane": plane, "z_um": field.planes[plane].z_um, "defocus_um": defocus,
                    "row": row, "col": col, **field.metadata}
        return FocusSample(patch=self._patch(name, plane, row, col), label=int(level >= 1), sample_id=sample_id,
                           group=name, level=level, subset="clean", metadata=metadata,
                           source=field.planes[plane].describe())

    def describe(self):
        description = super().describe()
        fields = self.fields()
        description["options"] = {
            "patch_size": self.patch_size, "min_contrast": self.min_contrast, "fields": self.only_fields,
            **describe_bins(tolerance_um=self.tolerance_um, step_um=self.level_step_um,
                            num_levels=self.num_levels)}
        description["fields"] = {
            name: {"planes": len(field), "z_um": [round(float(z), 4) for z in field.z_um],
                   "focus_z_um": field.focus_z_um, "patches_per_plane": len(self.positions(name)),
                   **({"focus_rule": field.focus_rule} if field.focus_rule else {})}
            for name, field in fields.items()}
        rules = sorted({field.focus_rule for field in fields.values() if field.focus_rule})
        if rules:
            description["notes"] = [f"in-focus plane chosen by rule (no measured focus): {rule}" for rule in rules]
        return description
