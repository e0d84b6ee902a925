"""Small bad and unusual inputs for `tests/test_bad_inputs.py` (the catalogue of /shared/BAD_INPUTS.md).

Every stack is three 48x48 planes cut from scikit-image's
immunohistochemistry image, each plane sharp in one third and blurred
elsewhere, written the ways users write them: 8-bit PNG folders, JPEGs,
16-bit and float TIFFs, grey, RGBA, broken files and odd names.
"""

import shutil
from pathlib import Path

import cv2
import numpy as np
import tifffile
from scipy import ndimage
from skimage import data

from mmdf_bench.images import write_image

SIZE = 48


def planes(offset=0):
    """Three RGB float planes in [0, 1], plane k sharp in the k-th third of the columns."""
    image = data.immunohistochemistry().astype(np.float32) / 255
    crop = image[100 + offset:100 + offset + SIZE, 200:200 + SIZE]
    blurred = np.stack([ndimage.gaussian_filter(crop[..., c], 3) for c in range(3)], axis=-1)
    stack = []
    for index in range(3):
        plane = blurred.copy()
        columns = slice(index * SIZE // 3, (index + 1) * SIZE // 3)
        plane[:, columns] = crop[:, columns]
        stack.append(plane)
    return np.stack(stack)


def quantised(stack):
    """`stack` as the 8-bit values a PNG holds, back in [0, 1]."""
    return np.round(stack * 255) / 255


def write_folder(folder, stack, *, suffix=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for index, plane in enumerate(stack):
        write_image(folder / f"z{index:02d}{suffix}", plane)
    return folder


def write_tiff(path, pages, **options):
    """One multi-page TIFF (one image series) of `pages`, as tifffile.imwrite stores a stack."""
    tifffile.imwrite(path, np.stack(list(pages)), **options)
    return path


def good_bag(root):
    """Unusual stacks that must be accepted and scored (rows 12, 13, 15, 16, 20, 21)."""
    stack = planes()
    write_folder(root / "good", stack)
    eight_bit = np.round(stack * 255).astype(np.uint16)
    write_tiff(root / "tiff16.tif", eight_bit * 257, photometric="rgb")  # same values, 16 bits
    grey = np.round(stack.mean(axis=-1) * 65535).astype(np.uint16)
    write_tiff(root / "tiff16g.tif", grey, photometric="minisblack")
    gray = root / "gray"
    gray.mkdir()
    for index, plane in enumerate(stack.mean(axis=-1)):
        write_image(gray / f"z{index:02d}.png", plane)
    rgba = root / "rgba"
    rgba.mkdir()
    for index, plane in enumerate(np.round(stack * 255).astype(np.uint8)):
        alpha = np.full(plane.shape[:2] + (1,), 128 if index == 1 else 255, dtype=np.uint8)
        cv2.imwrite(str(rgba / f"z{index:02d}.png"),
                    cv2.cvtColor(np.concatenate([plane, alpha], axis=-1), cv2.COLOR_RGBA2BGRA))
    for name in ("NA", "null", "None", "nan"):  # names pandas would read as missing
        shutil.copytree(root / "good", root / name)
    return root


def bad_bag(root):
    """One good stack among stacks broken in every way rows 7-11, 14, 17-19 describe."""
    stack = planes()
    write_folder(root / "good", stack)
    write_folder(root / "notes", stack)
    (root / "notes" / "notes.txt").write_text("taken on the phone microscope\n")
    write_folder(root / "oneplane", stack[:1])
    diffsize = write_folder(root / "diffsize", stack)
    write_image(diffsize / "z02.png", stack[2][:40, :44])
    truncated = write_folder(root / "truncjpg", stack, suffix=".jpg")
    content = (truncated / "z01.jpg").read_bytes()
    (truncated / "z01.jpg").write_bytes(content[: len(content) // 2])
    zero = write_folder(root / "zeropng", stack)
    (zero / "z02.png").write_bytes(b"")
    text = write_folder(root / "nonimage", stack)
    (text / "z02.png").write_text("this is not a picture\n")
    # (3, H, W) without `photometric`: tifffile stores one planar RGB page
    write_tiff(root / "s12in16.tif", [np.round(stack.mean(axis=-1) * 65535).astype(np.uint16)])
    with_nan = stack.mean(axis=-1).astype(np.float32)
    with_nan[1, 5, 5] = np.nan
    write_tiff(root / "withnan.tif", with_nan, photometric="minisblack")
    mixed = write_folder(root / "mixed", stack)
    write_image(mixed / "z01.png", stack[1].mean(axis=-1))
    write_tiff(root / "f255.tif", (stack.mean(axis=-1) * 255).astype(np.float32),
               photometric="minisblack")
    return root


def lytro_copy(root, lytro):
    """The first three Lytro pairs, one plane truncated and one empty (row 66)."""
    root.mkdir(parents=True)
    for number in (1, 2, 3):
        for letter in "AB":
            name = f"lytro-{number:02d}-{letter}.jpg"
            shutil.copyfile(lytro / name, root / name)
    content = (root / "lytro-01-B.jpg").read_bytes()
    (root / "lytro-01-B.jpg").write_bytes(content[: len(content) // 3])
    (root / "lytro-02-A.jpg").write_bytes(b"")
    return root


def write_scan(path, num_frames=20):
    """A z-scan video: sharp in the middle frame, blurring towards both ends."""
    sharp = planes()[0]
    sharp[:, :] = data.immunohistochemistry()[100:100 + SIZE, 200:200 + SIZE] / 255
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (SIZE, SIZE))
    for index in range(num_frames):
        sigma = 0.3 + abs(index - num_frames // 2) * 0.6
        frame = np.stack([ndimage.gaussian_filter(sharp[..., c], sigma) for c in range(3)], -1)
        writer.write(cv2.cvtColor(np.round(frame * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    return Path(path)
