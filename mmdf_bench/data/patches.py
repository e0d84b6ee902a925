"""Where square patches may be cut from a masked image.

`window_positions` lists every window wholly inside a mask (random crops of
the synthetic focus data); `grid_positions` picks the non-overlapping grid
that fits the most windows inside it (every patch of a real z-stack).
"""

import numpy as np


def window_positions(mask, size, *, luminance=None, min_content=0.0):
    """Top-left corners of the `size` x `size` windows lying wholly inside `mask`.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    size : int
    luminance : ndarray, shape (H, W), optional
        With `min_content`, windows whose luminance standard deviation is
        below `min_content` are left out.
    min_content : float, optional

    Returns
    -------
    positions : ndarray of int, shape (K, 2)
        (row, col) pairs in row-major order.
    """
    def window_sums(values):
        # Summed-area table: every window sum in four look-ups.
        table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.float64)
        table[1:, 1:] = np.cumsum(np.cumsum(values, axis=0), axis=1)
        return table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]

    mask = np.asarray(mask, dtype=bool)
    if size > min(mask.shape):
        return np.zeros((0, 2), dtype=int)
    valid = window_sums(mask) >= size * size - 0.5
    if luminance is not None and min_content > 0:
        luminance = np.asarray(luminance, dtype=np.float64)
        mean = window_sums(luminance) / size**2
        variance = window_sums(luminance**2) / size**2 - mean**2
        valid &= variance >= min_content**2
    return np.argwhere(valid)


def grid_positions(mask, size, *, luminance=None, min_content=0.0):
    """Top-left corners of the non-overlapping grid of windows that fits most windows in `mask`.

    Of the ``size²`` possible offsets of a grid of `size` x `size` cells,
    the one with the most allowed cells is kept (ties go to the smallest
    offset); a disc thus gets a window at its centre. A cell is allowed when
    `window_positions` allows its window.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    size : int
    luminance : ndarray, shape (H, W), optional
    min_content : float, optional
        As for `window_positions`.

    Returns
    -------
    positions : list of (int, int)
        (row, col) pairs in row-major order; the windows do not overlap.
    """
    mask = np.asarray(mask, dtype=bool)
    valid = np.zeros(mask.shape, dtype=bool)
    inside = window_positions(mask, size, luminance=luminance, min_content=min_content)
    if len(inside) == 0:
        return []
    valid[inside[:, 0], inside[:, 1]] = True
    best, best_count = (0, 0), -1
    for row_offset in range(size):
        rows = valid[row_offset::size]
        if not rows.any():
            continue
        for col_offset in range(size):
            count = int(np.count_nonzero(rows[:, col_offset::size]))
            if count > best_count:
                best, best_count = (row_offset, col_offset), count
    grid = np.zeros_like(valid)
    grid[best[0]::size, best[1]::size] = True
    return [(int(row), int(col)) for row, col in np.argwhere(valid & grid)]
