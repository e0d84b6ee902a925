"""Is a tile like the patches a focus method learned from? Flags for out-of-distribution tiles.

A focus method answers for any tile, but it is only tested on tiles like its
training patches: a tile sharper, darker or flatter than anything it saw
gets an answer that means little (a CNN trained on blurred "in focus"
patches called every tile of a sharp micrograph out of focus). `TrainingRange`
describes the training patches by four numbers each tile also has, computed
on the grey image the focus methods see:

``brightness``
    Mean luminance.
``contrast``
    Standard deviation of the luminance.
``sharpness``
    ``log10`` of the variance of the Laplacian over the variance of the
    luminance: how much of the contrast sits in the finest detail. It does
    not change with exposure or contrast, only with blur and noise.
``dark area``
    Fraction of pixels below 10 % luminance: the dark surround of a phone's
    field of view, or a dark background.

It keeps the central range of each number over the training patches (0.5th
to 99.5th percentile, widened by 10 % of its width and at least by a small
fixed amount, so that a number all training patches share, such as no dark
area at all, still tolerates a few dark pixels) and flags a tile when any of
its numbers falls outside, naming which and how.

References
----------
.. [1] S. J. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
       operators for shape-from-focus", Pattern Recognition 46(5):
       1415-1432, 2013 (the variance of the Laplacian as a focus measure).
"""

from dataclasses import dataclass

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

#: Names of the numbers, in the column order of `tile_features`.
FEATURES = ("brightness", "contrast", "sharpness", "dark area")
#: Percentiles of the training patches that bound the familiar range.
PERCENTILES = (0.5, 99.5)
#: The range is widened on both sides by this fraction of its width ...
MARGIN = 0.1
#: ... and at least by these amounts (brightness, contrast, sharpness, dark area).
MIN_MARGIN = (0.02, 0.01, 0.1, 0.02)
#: Luminance below which a pixel counts as dark.
DARK = 0.1

_WORDS = {
    ("brightness", "low"): "darker", ("brightness", "high"): "brighter",
    ("contrast", "low"): "flatter", ("contrast", "high"): "more contrasted",
    ("sharpness", "low"): "blurrier", ("sharpness", "high"): "sharper",
    ("dark area", "low"): "less dark area", ("dark area", "high"): "more dark area",
}


def tile_features(tiles):
    """The four numbers of each tile (`FEATURES`).

    Parameters
    ----------
    tiles : array_like, shape (N, S, S) or (N, S, S, 3)
        Float images in [0, 1].

    Returns
    -------
    features : ndarray of float64, shape (N, 4)
    """
    from scipy.ndimage import laplace

    grey = to_gray(np.asarray(tiles, dtype=np.float32)).astype(np.float64)
    if grey.ndim != 3 or min(grey.shape[1:]) < 3:
        raise InvalidInputError(f"expected tiles shaped (N, S, S[, 3]) with S >= 3, got {np.shape(tiles)}")
    mean = grey.mean(axis=(1, 2))
    variance = grey.var(axis=(1, 2))
    # the Laplacian of the interior only: no border rule leaks into the number
    detail = np.stack([laplace(tile)[1:-1, 1:-1] for tile in grey]).var(axis=(1, 2))
    sharpness = np.log10((detail + 1e-12) / (variance + 1e-12))
    dark = (grey < DARK).mean(axis=(1, 2))
    return np.stack([mean, np.sqrt(variance), sharpness, dark], axis=1)


@dataclass(frozen=True)
class TrainingRange:
    """The familiar range of each of `FEATURES`, from training patches.

    Attributes
    ----------
    low, high : tuple of float
        Bounds per feature.
    num_patches : int
        How many patches the range was measured on.
    """

    low: tuple
    high: tuple
    num_patches: int

    @classmethod
    def fit(cls, patches):
        """Measure the range on training `patches` ``(N, S, S[, 3])``, N >= 20."""
        features = tile_features(patches)
        if len(features) < 20:
            raise InvalidInputError(f"need at least 20 training patches to measure their range, got {len(features)}")
        low, high = np.percentile(features, PERCENTILES, axis=0)
        margin = np.maximum(MARGIN * (high - low), MIN_MARGIN)
        return cls(tuple(float(value) for value in low - margin),
                   tuple(float(value) for value in high + margin), len(features))

    def check(self, tiles):
        """Which tiles are unlike the training patches, and why.

        Returns
        -------
        unfamiliar : ndarray of bool, shape (N,)
        reasons : list of str
            Empty for familiar tiles, else e.g. ``"sharper than the training
            patches (sharpness 0.41 > 0.12)"``, several joined by ``"; "``.
        """
        features = tile_features(tiles)
        low, high = np.asarray(self.low), np.asarray(self.high)
        reasons = []
        for row in features:
            parts = []
            for index, name in enumerate(FEATURES):
                if row[index] < low[index]:
                    parts.append(f"{_WORDS[name, 'low']} than the training patches "
                                 f"({name} {row[index]:.3g} < {low[index]:.3g})")
                elif row[index] > high[index]:
                    parts.append(f"{_WORDS[name, 'high']} than the training patches "
                                 f"({name} {row[index]:.3g} > {high[index]:.3g})")
            reasons.append("; ".join(parts))
        return np.array([bool(reason) for reason in reasons]), reasons

    def as_dict(self):
        """JSON-ready description (bounds per feature)."""
        return {"num_patches": self.num_patches,
                **{name: [self.low[index], self.high[index]] for index, name in enumerate(FEATURES)}}


def training_range_of(dataset, *, split="train", max_patches=400):
    """`TrainingRange` of up to `max_patches` patches of `dataset`'s `split`, evenly spread over its ids."""
    ids = list(dataset.sample_ids(split))
    if not ids:
        raise InvalidInputError(f"{dataset.name} has no {split} patches to compare tiles with")
    chosen = [ids[int(index)] for index in np.linspace(0, len(ids) - 1, min(max_patches, len(ids)))]
    patches = [dataset.load(sample_id).patch for sample_id in dict.fromkeys(chosen)]
    return TrainingRange.fit(np.stack(patches))
