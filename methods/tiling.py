"""Whole-image and tiled inference of image-to-image networks (torch).

A restoration network sees at most one ``tile x tile`` window at a time, so
the memory of a restore is bounded by the tile, whatever the image size.
Neighbouring tiles overlap; each tile's output is weighted by a window that
is zero on a strip of ``overlap // 4`` pixels along every edge it shares
with a neighbour (where the tile's own border padding corrupts it) and rises
as a raised cosine over the rest of the overlap. Edges on the image border
keep full weight. The blend divides by the summed weights, so a network whose
receptive field reaches no further than that strip gives exactly the
whole-image result; a deeper one gives a seamless approximation of it.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from mmdf_bench.devices import is_cpu, module_device
from mmdf_bench.errors import InvalidInputError

#: Default tile side and overlap of `restore_tiled`.
TILE = 256
OVERLAP = 32
#: Tiles per call of `restore_tiled` on an accelerator.
TILE_BATCH = 16


def size_multiple(network):
    """Input sides must be multiples of this (``network.size_multiple``, default 1)."""
    return int(getattr(network, "size_multiple", 1))


def pad_to_multiple(batch, multiple):
    """Reflect-pad ``(N, C, H, W)`` at the bottom/right to multiples of `multiple`.

    Returns the padded batch and the original ``(H, W)``. Falls back to
    replicate padding when the image is too small to reflect.
    """
    rows, cols = batch.shape[-2:]
    extra_rows, extra_cols = (-rows) % multiple, (-cols) % multiple
    if extra_rows == 0 and extra_cols == 0:
        return batch, (rows, cols)
    mode = "reflect" if extra_rows < rows and extra_cols < cols else "replicate"
    return F.pad(batch, (0, extra_cols, 0, extra_rows), mode=mode), (rows, cols)


@torch.no_grad()
def infer(network, batch):
    """Run `network` on ``(N, C, H, W)`` of any size, padding to its size multiple and cropping back.

    The batch goes to the network's device; the result stays there.
    """
    padded, (rows, cols) = pad_to_multiple(batch.to(module_device(network)), size_multiple(network))
    return network(padded)[..., :rows, :cols]


def image_to_batch(image):
    """``(H, W, C)`` numpy -> ``(1, C, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)))[None]


def batch_to_image(batch):
    """``(1, C, H, W)`` tensor -> ``(H, W, C)`` float32 numpy."""
    # .float(): a mixed-precision forward pass may return bfloat16, which NumPy cannot hold
    return np.ascontiguousarray(batch[0].detach().float().cpu().numpy().transpose(1, 2, 0), dtype=np.float32)


def tile_starts(length, tile, overlap):
    """Start offsets of tiles of `tile` pixels covering `length`, neighbours overlapping by >= `overlap`."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = math.ceil((length - tile) / stride) + 1
    # spread the tiles evenly: the overlaps then differ by at most one pixel
    return [round(index * (length - tile) / (count - 1)) for index in range(count)]


def edge_ramp(size, overlap, *, start_inner, end_inner):
    """1-D blending weights of one tile (see the module docstring)."""
    weights = np.ones(size, dtype=np.float64)
    margin = overlap // 4
    ramp_length = max(overlap - 2 * margin, 1)
    position = (np.arange(ramp_length) + 0.5) / ramp_length
    ramp = np.concatenate([np.zeros(margin), np.sin(0.5 * np.pi * position) ** 2])
    ramp = ramp[:size]
    if start_inner:
        weights[: len(ramp)] *= ramp
    if end_inner:
        weights[size - len(ramp):] *= ramp[::-1]
    return weights


def restore_tiled(network, image, *, tile=TILE, overlap=OVERLAP, tile_batch=TILE_BATCH):
    """Apply an image-to-image network to an image of any size in overlapping tiles.

    Parameters
    ----------
    network : torch.nn.Module
        Maps ``(1, C, h, w)`` to ``(1, C', h, w)``; it is put in eval mode.
        An attribute ``size_multiple`` asks for inputs padded to multiples
        of it (by reflection; the padding is cropped off the output).
    image : ndarray, shape (H, W, C)
        Float32 intensities.
    tile : int
        Largest tile side the network ever sees.
    overlap : int
        Least overlap of neighbouring tiles; the outer quarter of it on each
        side is discarded, the rest blended with a raised cosine.
    tile_batch : int
        Tiles per network call when the network is on an accelerator (on
        the CPU tiles go one at a time, which bounds memory).

    Returns
    -------
    restored : ndarray of float32, shape (H, W, C')
        Not clipped. For an image no larger than one tile this is exactly
        ``infer`` on the whole image.
    """
    if overlap < 0 or tile <= 2 * overlap:
        raise InvalidInputError(f"need 0 <= overlap < tile / 2, got tile={tile}, overlap={overlap}")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise InvalidInputError(f"expected an (H, W, C) image, got shape {image.shape}")
    network.eval()
    rows, cols = image.shape[:2]
    if rows <= tile and cols <= tile:
        return batch_to_image(infer(network, image_to_batch(image)))
    row_starts, col_starts = tile_starts(rows, tile, overlap), tile_starts(cols, tile, overlap)
    tile_rows, tile_cols = min(tile, rows), min(tile, cols)
    accumulated, total_weight = None, np.zeros((rows, cols, 1), dtype=np.float64)
    placements = []
    for row_index, top in enumerate(row_starts):
        row_weights = edge_ramp(tile_rows, overlap, start_inner=row_index > 0,
                                end_inner=row_index < len(row_starts) - 1)
        for col_index, left in enumerate(col_starts):
            col_weights = edge_ramp(tile_cols, overlap, start_inner=col_index > 0,
                                    end_inner=col_index < len(col_starts) - 1)
            placements.append((top, left, np.outer(row_weights, col_weights)[..., None]))
    # all tiles have one size: an accelerator takes them in batches, the CPU one at a time
    per_call = 1 if is_cpu(module_device(network)) else max(1, int(tile_batch))
    for start in range(0, len(placements), per_call):
        chosen = placements[start:start + per_call]
        if per_call == 1:
            top, left, _ = chosen[0]
            outputs = [batch_to_image(infer(network, image_to_batch(image[top:top + tile_rows,
                                                                          left:left + tile_cols])))]
        else:
            pieces = np.stack([image[top:top + tile_rows, left:left + tile_cols] for top, left, _ in chosen])
            restored = infer(network, torch.from_numpy(np.ascontiguousarray(pieces.transpose(0, 3, 1, 2))))
            outputs = list(restored.float().cpu().numpy().transpose(0, 2, 3, 1))
        for (top, left, window), output in zip(chosen, outputs):
            output = output.astype(np.float64)
            if accumulated is None:
                accumulated = np.zeros((rows, cols, output.shape[-1]), dtype=np.float64)
            accumulated[top:top + tile_rows, left:left + tile_cols] += window * output
            total_weight[top:top + tile_rows, left:left + tile_cols] += window
    return (accumulated / total_weight).astype(np.float32)
