"""Pictures for the HTML report: forest plots of confidence intervals, and images as data URIs.

Everything is returned as ``data:`` URIs so that the report is one
self-contained file. Figures are drawn with matplotlib's object-oriented API
on an Agg canvas (no pyplot, no global backend switch), so building a report
does not disturb an interactive session.

References
----------
.. [1] S. Lewis and M. Clarke, "Forest plots: trying to see the wood and the
       trees", BMJ 322:1479, 2001.
.. [2] https://matplotlib.org/stable/api/backend_agg_api.html
"""

import base64
import io
import math

import numpy as np

from mmdf_bench.errors import InvalidInputError

__all__ = ["data_uri", "forest_plot", "image_data_uri", "thumbnail"]

# Colours of the colour-blind-safe Okabe-Ito palette.
BEST_COLOUR = "#009E73"
TIED_COLOUR = "#56B4E9"
OTHER_COLOUR = "#555555"
_INCH_PER_METHOD = 0.26
_PANEL_COLUMNS = 3


def data_uri(data, mime="image/png"):
    """``data:<mime>;base64,...`` for the bytes `data`."""
    return f"data:{mime};base64,{base64.b64encode(bytes(data)).decode('ascii')}"


def thumbnail(image, *, max_size=192):
    """Shrink an image (area averaging) so that its longer side is at most `max_size`.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float in [0, 1].
    max_size : int
        Longest side of the result in pixels; smaller images are unchanged.

    Returns
    -------
    ndarray of float32
    """
    from skimage.transform import resize

    image = np.asarray(image, dtype=np.float32)
    if image.ndim not in (2, 3):
        raise InvalidInputError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    if int(max_size) != max_size or max_size < 8:
        raise InvalidInputError(f"max_size must be an integer of at least 8 pixels, got {max_size}")
    scale = max_size / max(image.shape[:2])
    if scale >= 1:
        return image
    shape = tuple(max(1, round(side * scale)) for side in image.shape[:2]) + image.shape[2:]
    # anti-aliasing keeps fine texture from turning into moiré in the small copy
    return resize(image, shape, order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)


def image_data_uri(image, *, max_size=192):
    """A PNG data URI of a float image in [0, 1], shrunk by `thumbnail`."""
    import imageio.v3 as iio

    small = np.clip(thumbnail(image, max_size=max_size), 0.0, 1.0)
    encoded = iio.imwrite("<bytes>", np.round(small * 255).astype(np.uint8), extension=".png")
    return data_uri(encoded)


def _figure_png(figure, *, dpi):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches itself to the figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _finite(value):
    return value is not None and isinstance(value, (int, float, np.floating)) \
        and math.isfinite(value)


def forest_plot(rows, *, metrics, methods=None, confidence=0.95, title=None, dpi=90):
    """Forest plot of one leaderboard table: per metric, every method's value and CI.

    Parameters
    ----------
    rows : pandas.DataFrame
        Leaderboard rows of one dataset (columns metric, method, mean,
        ci_low, ci_high, best, tied_with_best, higher_is_better).
    metrics : list of str
        Metrics to draw, one panel each, in this order.
    methods : list of str, optional
        Top-to-bottom order of the methods (e.g. by rank on the primary
        metric); by default sorted by name.
    confidence : float
        Coverage of the intervals, for the axis label.
    title : str, optional
    dpi : int

    Returns
    -------
    png : bytes
    """
    from matplotlib.figure import Figure

    metrics = [metric for metric in metrics if (rows["metric"] == metric).any()]
    if not metrics:
        raise InvalidInputError("forest_plot: the rows hold none of the requested metrics")
    methods = list(methods) if methods is not None else sorted(set(rows["method"]), key=str)
    columns = min(_PANEL_COLUMNS, len(metrics))
    lines = math.ceil(len(metrics) / columns)
    height = lines * (0.9 + _INCH_PER_METHOD * len(methods)) + (0.4 if title else 0)
    figure = Figure(figsize=(4.2 * columns, height), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False)
    positions = {method: index for index, method in enumerate(methods)}
    for index, metric in enumerate(metrics):
        axis = axes.flat[index]
        block = rows[(rows["metric"] == metric) & rows["method"].isin(positions)]
        higher = bool(block["higher_is_better"].iloc[0])
        for _, row in block.iterrows():
            y = positions[row["method"]]
            colour = (BEST_COLOUR if row["best"] else TIED_COLOUR if row["tied_with_best"]
                      else OTHER_COLOUR)
            if _finite(row["ci_low"]) and _finite(row["ci_high"]):
                axis.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, linewidth=2)
            axis.plot([row["mean"]], [y], marker="o", color=colour, markersize=5)
        best = block[block["best"].astype(bool)]
        if len(best):
            axis.axvline(float(best["mean"].iloc[0]), color=BEST_COLOUR, linestyle="--",
                         linewidth=0.8)
        axis.set_yticks(range(len(methods)))
        axis.set_yticklabels(methods if index % columns == 0 else [""] * len(methods),
                             fontsize=8)
        axis.set_ylim(len(methods) - 0.5, -0.5)
        axis.set_title(f"{metric} {'↑' if higher else '↓'}", fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
        axis.grid(axis="x", color="#dddddd", linewidth=0.5)
    for axis in axes.flat[len(metrics):]:
        axis.set_visible(False)
    if title:
        figure.suptitle(f"{title} — mean and {confidence * 100:g}% CI", fontsize=10)
    return _figure_png(figure, dpi=dpi)
