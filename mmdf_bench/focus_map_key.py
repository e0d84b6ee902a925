"""A colour key beside a rendered focus map: what each tint, its strength and the hatching mean.

`add_colour_key` puts a panel to the right of `render_focus_map`'s picture:
one swatch per defocus level (or a bar of P(out of focus) for methods
without levels) in the colours the map uses, a note that a stronger tint
means a more certain answer, and, when the map was checked against the
training patches, the hatching that marks tiles unlike them. The panel is
drawn with matplotlib's Agg canvas, so no display is needed.

References
----------
.. [1] https://matplotlib.org/stable/api/backend_agg_api.html
"""

import numpy as np

from mmdf_bench.focus_map import HATCH_OPACITY, colormap_rgb, hatch_pattern

#: Width of the key panel in pixels, and the least height it needs.
KEY_WIDTH = 300
KEY_MIN_HEIGHT = 420
_SWATCH = 18
_GREY = 0.55  # the tint samples are drawn over mid-grey, as the map tints a grey image


def _tinted(colour, fill):
    return (1 - fill) * _GREY + fill * np.asarray(colour)


def key_entries(focus_map, *, colormap="viridis"):
    """``[(label, rgb), ...]`` of the swatches: one per level, or five steps of P(out of focus)."""
    if focus_map.level is not None and focus_map.num_levels and focus_map.num_levels > 1:
        last = focus_map.num_levels - 1
        names = {0: "in focus", last: "farthest out of focus"}
        return [(f"level {level}" + (f": {names[level]}" if level in names else ""),
                 colormap_rgb(level / last, colormap=colormap)) for level in range(focus_map.num_levels)]
    steps = np.linspace(0.0, 1.0, 5)
    return [(f"P(out of focus) {value:.2f}" + (" (in focus)" if value == 0 else " (out of focus)" if value == 1
                                               else ""), colormap_rgb(value, colormap=colormap))
            for value in steps]


def add_colour_key(rendered, focus_map, *, colormap="viridis"):
    """`rendered` (from `render_focus_map`) with the colour key to its right.

    Parameters
    ----------
    rendered : ndarray, shape (H, W, 3)
    focus_map : mmdf_bench.focus_map.FocusMap
    colormap : str
        The one the map was rendered with.

    Returns
    -------
    rgb : ndarray of float32, shape (max(H, KEY_MIN_HEIGHT), W + KEY_WIDTH, 3)
        The map on white, the key on white to its right.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    rendered = np.asarray(rendered, dtype=np.float32)
    height = max(rendered.shape[0], KEY_MIN_HEIGHT)
    figure = Figure(figsize=(KEY_WIDTH / 100, height / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, KEY_WIDTH)
    axes.set_ylim(height, 0)
    axes.axis("off")
    top = 12
    axes.text(10, top, "colour key", fontsize=10, fontweight="bold", va="top")
    top += 24
    entries = key_entries(focus_map, colormap=colormap)
    for label, colour in entries:
        axes.add_patch(Rectangle((10, top), _SWATCH, _SWATCH, facecolor=_tinted(colour, 0.7), edgecolor=colour,
                                 linewidth=1.5, antialiased=False))
        axes.text(10 + _SWATCH + 8, top + _SWATCH / 2, label, fontsize=8, va="center")
        top += _SWATCH + 6
    top += 8
    middle = entries[len(entries) // 2][1]
    for index, fill in enumerate((0.2, 0.7)):
        axes.add_patch(Rectangle((10 + index * (_SWATCH + 4), top), _SWATCH, _SWATCH,
                                 facecolor=_tinted(middle, fill), edgecolor="none", antialiased=False))
    axes.text(10 + 2 * (_SWATCH + 4) + 4, top + _SWATCH / 2, "faint to strong tint:\nless to more certain",
              fontsize=8, va="center")
    top += _SWATCH + 16
    if focus_map.unfamiliar is not None:
        sample = np.full((_SWATCH, _SWATCH, 3), _tinted(middle, 0.45), dtype=np.float64)
        stripes = hatch_pattern(_SWATCH, period=8, width=2)
        sample[stripes] = (1 - HATCH_OPACITY) * sample[stripes] + HATCH_OPACITY
        axes.imshow(sample, extent=(10, 10 + _SWATCH, top + _SWATCH, top), interpolation="nearest")
        axes.set_xlim(0, KEY_WIDTH)
        axes.set_ylim(height, 0)
        count = int(np.count_nonzero(focus_map.unfamiliar))
        axes.text(10 + _SWATCH + 8, top + _SWATCH / 2,
                  f"hatched: unlike the training data\n(out of distribution: {count} of "
                  f"{focus_map.unfamiliar.size} tiles);\nits answer means little", fontsize=8, va="center")
    figure.canvas.draw()
    key = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0
    canvas = np.ones((height, rendered.shape[1] + KEY_WIDTH, 3), dtype=np.float32)
    canvas[:rendered.shape[0], :rendered.shape[1]] = rendered
    canvas[:key.shape[0], rendered.shape[1]:rendered.shape[1] + key.shape[1]] = key[:height, :KEY_WIDTH]
    return canvas
