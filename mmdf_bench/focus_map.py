"""Focus maps: grade every tile of an image with any focus method, and draw the result.

An image is cut into a grid of non-overlapping square tiles (the right and
bottom margins that do not fill a whole tile are left out), each tile is
given to a focus method, and the per-tile answers are kept as a `FocusMap`.
Level-aware methods give a level and a certainty ``1 - entropy / ln K`` per
tile; methods that only give P(out of focus) get ``level = None`` and the
certainty ``|2p - 1|`` (0 at p = 0.5, 1 at p = 0 or 1).

`render_focus_map` colours each tile by its level (or its probability)
with an opacity that grows with certainty, as in the tile overlays of Yang
et al. (2018, Fig. 5) and of the MMDF paper (Fig. 11), and hatches the
tiles unlike the method's training patches (`mmdf_bench.focus_familiarity`),
whose answers mean little; `mmdf_bench.focus_map_key` adds a colour key;
`focus_map_table` lists the tiles for a CSV file.

References
----------
.. [1] S. J. Yang et al., "Assessing microscope image focus quality with deep
       learning", BMC Bioinformatics 19:77, 2018.
.. [2] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021 (arXiv:2007.13701).
"""

from dataclasses import dataclass

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray, validate_image

DEFAULT_TILE = 84

# viridis sampled at 0, 1/4, 1/2, 3/4 and 1, for when matplotlib is absent
_VIRIDIS_ANCHORS = np.array([
    [0.267, 0.005, 0.329],
    [0.229, 0.322, 0.546],
    [0.128, 0.567, 0.551],
    [0.369, 0.789, 0.383],
    [0.993, 0.906, 0.144],
])


def level_certainty(distributions):
    """Certainty ``1 - H(p) / ln K`` of level distributions: 1 for one sure level, 0 for uniform.

    Parameters
    ----------
    distributions : array_like, shape (..., K)

    Returns
    -------
    ndarray of float64, shape (...)

    References
    ----------
    .. [1] Yang et al., BMC Bioinformatics 19:77, 2018.
    """
    distributions = np.asarray(distributions, dtype=np.float64)
    logs = np.log(np.where(distributions > 0, distributions, 1.0))
    entropy = -(distributions * logs).sum(axis=-1)
    return np.clip(1.0 - entropy / np.log(distributions.shape[-1]), 0.0, 1.0)


def certainty_weighted_mean(distributions):
    """Average tile distributions ``(N, K)`` weighted by their certainty (Yang et al.'s whole-image rule).

    Falls back to the plain mean when every tile is completely uncertain.
    """
    distributions = np.asarray(distributions, dtype=np.float64)
    weights = level_certainty(distributions)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    mean = (weights[:, None] * distributions).sum(axis=0) / weights.sum()
    return mean / mean.sum()


@dataclass
class FocusMap:
    """Per-tile focus grades of one image; arrays are shaped ``(num_rows, num_cols)``.

    Attributes
    ----------
    rows, cols : ndarray of int
        Top and left pixel of each tile row / column.
    tile : int
        Tile side in pixels.
    image_shape : tuple
    probability : ndarray
        P(out of focus).
    certainty : ndarray
        In [0, 1].
    level : ndarray of int or None
        Most probable defocus level (None for methods without levels).
    expected_level : ndarray or None
        Mean of the level distribution.
    distributions : ndarray, shape (num_rows, num_cols, K), or None
    unfamiliar : ndarray of bool or None
        Tiles unlike the training patches (out of distribution), when a
        `TrainingRange` was given.
    unfamiliar_reasons : ndarray of str or None
        Why, per tile (empty for familiar tiles).
    """

    rows: np.ndarray
    cols: np.ndarray
    tile: int
    image_shape: tuple
    probability: np.ndarray
    certainty: np.ndarray
    level: np.ndarray = None
    expected_level: np.ndarray = None
    distributions: np.ndarray = None
    unfamiliar: np.ndarray = None
    unfamiliar_reasons: np.ndarray = None

    @property
    def num_levels(self):
        return None if self.distributions is None else self.distributions.shape[-1]


def _predict_tiles(method, tiles):
    many = getattr(method, "predict_many", None)
    predictions = many(tiles) if callable(many) else [method.predict(tile) for tile in tiles]
    probabilities = np.array([float(getattr(p, "probability", p)) for p in predictions])
    if not np.all(np.isfinite(probabilities)) or np.any((probabilities < 0) | (probabilities > 1)):
        raise InvalidInputError(f"{getattr(method, 'name', '') or type(method).__name__} returned a "
                                "P(out of focus) outside [0, 1] on a tile")
    levels = [getattr(p, "levels", None) for p in predictions]
    if any(level is None for level in levels):
        return probabilities, None
    return probabilities, np.asarray(levels, dtype=np.float64)


def focus_map(image, method, *, tile=DEFAULT_TILE, training_range=None):
    """Grade each tile of `image` with a focus method.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        At least one tile high and wide.
    method : FocusMethod
        Fitted (or calibrated) focus method; ``predict_many`` is used when it
        has one (batched CNN inference), else ``predict`` on each tile.
    tile : int
        Tile side in pixels (84 for the CNNs of Yang et al. and MMDF).
    training_range : mmdf_bench.focus_familiarity.TrainingRange, optional
        The range of the method's training patches: tiles outside it are
        flagged as out of distribution (`FocusMap.unfamiliar`).

    Returns
    -------
    FocusMap
    """
    image = validate_image(image)
    if int(tile) != tile or tile < 2:
        raise InvalidInputError(f"tile must be an integer of at least 2 pixels, got {tile}")
    if image.shape[0] < tile or image.shape[1] < tile:
        raise InvalidInputError(f"image of shape {image.shape[:2]} is smaller than one {tile}x{tile} tile")
    rows = np.arange(0, image.shape[0] - tile + 1, tile)
    cols = np.arange(0, image.shape[1] - tile + 1, tile)
    tiles = [image[r:r + tile, c:c + tile] for r in rows for c in cols]
    probabilities, distributions = _predict_tiles(method, tiles)
    grid = (len(rows), len(cols))
    flags = {}
    if training_range is not None:
        unfamiliar, reasons = training_range.check(np.stack(tiles))
        flags = {"unfamiliar": unfamiliar.reshape(grid),
                 "unfamiliar_reasons": np.array(reasons, dtype=object).reshape(grid)}
    if distributions is None:
        return FocusMap(rows, cols, int(tile), image.shape, probabilities.reshape(grid),
                        np.abs(2 * probabilities - 1).reshape(grid), **flags)
    distributions = distributions / distributions.sum(axis=1, keepdims=True)
    expected = distributions @ np.arange(distributions.shape[1])
    return FocusMap(rows, cols, int(tile), image.shape, probabilities.reshape(grid),
                    level_certainty(distributions).reshape(grid),
                    level=distributions.argmax(axis=1).reshape(grid), expected_level=expected.reshape(grid),
                    distributions=distributions.reshape(grid + (distributions.shape[1],)), **flags)


def colormap_rgb(values, *, colormap="viridis"):
    """RGB colours ``(..., 3)`` of `values` in [0, 1] from a matplotlib colormap.

    Without matplotlib only ``"viridis"`` is available, interpolated from
    five samples of it.
    """
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    try:
        import matplotlib

        return np.asarray(matplotlib.colormaps[colormap](values))[..., :3]
    except ImportError:
        if colormap != "viridis":
            raise InvalidInputError(f"colormap {colormap!r} needs matplotlib; only 'viridis' is built in") from None
    positions = np.linspace(0.0, 1.0, len(_VIRIDIS_ANCHORS))
    return np.stack([np.interp(values, positions, _VIRIDIS_ANCHORS[:, channel]) for channel in range(3)], axis=-1)


def render_focus_map(image, focus_map, *, colormap="viridis", border=2):
    """Draw a focus map over its image.

    Each tile is tinted with the colour of its level (``level / (K - 1)``;
    for methods without levels, of P(out of focus)) and outlined in that
    colour. The tint is stronger, and the outline more opaque, the more
    certain the tile. With viridis, dark purple is in focus and yellow is
    the farthest level (or certainly out of focus). Tiles flagged as unlike
    the training patches (`FocusMap.unfamiliar`) are hatched with diagonal
    white stripes (`hatch_pattern`).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        The image the map was computed on.
    focus_map : FocusMap
    colormap : str
    border : int
        Outline width in pixels (0 for none).

    Returns
    -------
    rgb : ndarray of float32, shape (H, W, 3), in [0, 1]
    """
    image = validate_image(image)
    if tuple(image.shape[:2]) != tuple(focus_map.image_shape[:2]):
        raise InvalidInputError(f"the focus map was made for an image of shape {focus_map.image_shape[:2]}, "
                                f"got {image.shape[:2]}")
    grey = to_gray(image).astype(np.float64)
    canvas = np.repeat(grey[..., None], 3, axis=-1)
    if focus_map.level is not None and focus_map.num_levels > 1:
        values = focus_map.level / (focus_map.num_levels - 1)
    else:
        values = focus_map.probability
    colours = colormap_rgb(values, colormap=colormap)
    size = focus_map.tile
    for i, top in enumerate(focus_map.rows):
        for j, left in enumerate(focus_map.cols):
            certainty = float(focus_map.certainty[i, j])
            window = canvas[top:top + size, left:left + size]
            fill = 0.2 + 0.5 * certainty
            window[:] = (1 - fill) * window + fill * colours[i, j]
            if border > 0:
                edge = np.zeros((size, size), dtype=bool)
                edge[:border], edge[-border:], edge[:, :border], edge[:, -border:] = True, True, True, True
                outline = 0.4 + 0.6 * certainty
                window[edge] = (1 - outline) * window[edge] + outline * colours[i, j]
            if focus_map.unfamiliar is not None and focus_map.unfamiliar[i, j]:
                stripes = hatch_pattern(size)
                window[stripes] = (1 - HATCH_OPACITY) * window[stripes] + HATCH_OPACITY
    return np.clip(canvas, 0.0, 1.0).astype(np.float32)


#: Opacity of the white stripes over out-of-distribution tiles.
HATCH_OPACITY = 0.7


def hatch_pattern(size, *, period=12, width=3):
    """Boolean ``(size, size)`` mask of diagonal stripes (`width` pixels every `period`)."""
    rows, cols = np.indices((size, size))
    return (rows + cols) % period < width


def focus_map_table(focus_map):
    """One row per tile, for a CSV file.

    Columns: ``tile_row``, ``tile_col`` (grid indices), ``y``, ``x``
    (top-left pixel), ``size``, ``probability_out_of_focus``,
    ``certainty``, ``level`` and ``expected_level`` (empty for methods
    without levels), ``p0`` .. ``p{K-1}`` for level-aware methods, and,
    when the map checked them, ``out_of_distribution`` (True for tiles
    unlike the training patches) and ``why_out_of_distribution``.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    tile_rows, tile_cols = np.indices(focus_map.probability.shape)
    table = pd.DataFrame({
        "tile_row": tile_rows.ravel(),
        "tile_col": tile_cols.ravel(),
        "y": focus_map.rows[tile_rows.ravel()],
        "x": focus_map.cols[tile_cols.ravel()],
        "size": focus_map.tile,
        "probability_out_of_focus": focus_map.probability.ravel(),
        "certainty": focus_map.certainty.ravel(),
    })
    if focus_map.level is None:
        table["level"] = pd.array([pd.NA] * len(table), dtype="Int64")
        table["expected_level"] = np.nan
    else:
        table["level"] = focus_map.level.ravel()
        table["expected_level"] = focus_map.expected_level.ravel()
        flat = focus_map.distributions.reshape(-1, focus_map.num_levels)
        for level in range(focus_map.num_levels):
            table[f"p{level}"] = flat[:, level]
    if focus_map.unfamiliar is not None:
        table["out_of_distribution"] = focus_map.unfamiliar.ravel().astype(bool)
        table["why_out_of_distribution"] = [str(reason) for reason in focus_map.unfamiliar_reasons.ravel()]
    return table
