"""Small copies of the real data folders, written in their exact published layouts.

The readers of the real sets are tested on these in every environment; the
tests that read the real data itself (``../shared/data``) live beside them
and fail, never skip, when it is missing.
"""

import csv

import imageio.v3 as iio
import numpy as np
from scipy.ndimage import gaussian_filter

from mmdf_bench.data import optics
from mmdf_bench.data.registration import shift_image


def textured(shape, rng, *, blur=0.0):
    image = np.full(shape, 0.5, dtype=np.float32)
    image[:, : shape[1] // 2] = rng.random((shape[0], shape[1] // 2))  # texture on the left half only
    return np.clip(gaussian_filter(image, blur) if blur else image, 0, 1)


def smooth_scene(shape, seed=0):
    rng = np.random.default_rng(seed)
    image = gaussian_filter(rng.random(shape), 2.0)
    image = (image - image.min()) / (image.max() - image.min())
    return (0.15 + 0.7 * image).astype(np.float32)


def write_wafer_fixture(root, *, fields=("level1_iy000", "level2_iy000"), z_values=(-6.0, 0.0, 0.8, 12.0)):
    """A `wafer-defocus` folder in the published layout: grey PNGs and manifest.csv."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    for field in fields:
        for z in z_values:
            name = f"{field}_z{z:+08.3f}um.png"
            image = textured((96, 180), rng, blur=abs(z) / 2)
            iio.imwrite(root / name, np.round(image * 255).astype(np.uint8))
            rows.append({"file": name, "level": field.split("_")[0], "field": field, "z_offset_um": f"{z:.4f}",
                         "abs_defocus_um": f"{abs(z):.4f}", "in_focus": int(abs(z) < 1),
                         "source_file": f"sample_data/{name}"})
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def write_wafer_pairs_fixture(root, *, sigma_per_um=0.5, shift=(0.4, -0.3)):
    """A `wafer-defocus` folder whose planes are the focal plane blurred by known Gaussians and shifted."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for field, seed in (("level1_iy000", 3), ("level2_iy000", 4)):
        sharp = smooth_scene((300, 560), seed=seed)
        for z in (-30.0, -8.0, 0.0, 4.0, 12.0):
            plane = sharp if z == 0 else shift_image(optics.blur(sharp, optics.gaussian_psf(abs(z) * sigma_per_um)),
                                                     shift)
            name = f"{field}_z{z:+08.3f}um.png"
            iio.imwrite(root / name, np.round(plane * 255).astype(np.uint8))
            rows.append({"file": name, "level": field[:6], "field": field, "z_offset_um": z})
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_sephace_fixture(root):
    """A `sephace-brightfield` folder: bright-field planes and one DAPI image per field."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for field, seed in (("Set_1", 5), ("Set_2", 6)):
        sharp = smooth_scene((300, 300), seed=seed)
        for z in (-10.0, 0.0, 10.0):
            name = f"{field.lower()}_z{z:+.1f}.png"
            plane = sharp if z == 0 else optics.blur(sharp, optics.gaussian_psf(3.0))
            iio.imwrite(root / name, np.round(plane * 255).astype(np.uint8))
            rows.append({"file": name, "field": field, "modality": "bright-field (transmitted)",
                         "z_rel_focus_um": z, "pixel_size_um": 0.2004, "objective": "40x air"})
        iio.imwrite(root / f"{field.lower()}_fl.png", np.zeros((300, 300), np.uint8))
        rows.append({"file": f"{field.lower()}_fl.png", "field": field, "modality": "fluorescence DAPI",
                     "z_rel_focus_um": "", "pixel_size_um": 0.2004, "objective": "40x air"})
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


#: Translations (rows, cols) of the 14 pseudoscorpion fixture frames; frame 8 (the middle) does not move.
FRAME_SHIFTS = [(0, 0) if k == 7 else (2 * ((k * 7) % 5) - 4, 2 * ((k * 3) % 5) - 4) for k in range(14)]


def write_microscopy_stacks_fixture(root):
    """A `microscopy-stacks` folder in the published layout (small/ and pseudoscorpion/).

    The pseudoscorpion frames are one scene moved by `FRAME_SHIFTS` (whole
    pixels of the stored frames), frame 8 unmoved, each blurred by its own
    amount; the MFusionJ "_fus" image is an unreadable file, since the
    reader must not read it.
    """
    import tifffile

    small, pseudoscorpion = root / "small", root / "pseudoscorpion"
    small.mkdir(parents=True)
    pseudoscorpion.mkdir()
    rgb = np.stack([smooth_scene((64, 80), seed=10 + channel) for channel in range(3)], axis=-1)
    for index, sigma in enumerate((0.0, 1.5, 3.0), start=1):
        plane = np.stack([gaussian_filter(rgb[..., c], sigma) for c in range(3)], axis=-1) if sigma else rgb
        iio.imwrite(small / f"diatom_mfusionj_{index}.jpg", np.round(plane * 255).astype(np.uint8), quality=95)
    (small / "diatom_mfusionj_fus.jpg").write_bytes(b"not a jpeg")
    pages = np.round(np.stack([rgb[:40, :50], rgb[:40, :50] * 0.9, rgb[:40, :50] * 0.8]) * 255).astype(np.uint8)
    tifffile.imwrite(small / "radiolarian_skeleton_zeiss_stack.tif", pages, photometric="rgb")
    base = smooth_scene((140, 180), seed=20)
    base = np.stack([base, base * 0.8, base * 0.6], axis=-1)
    for index, (rows, cols) in enumerate(FRAME_SHIFTS, start=1):
        moved = np.roll(base, (rows, cols), axis=(0, 1))
        iio.imwrite(pseudoscorpion / f"scorpion_lapse_{index}_half.png", np.round(moved * 255).astype(np.uint8))
