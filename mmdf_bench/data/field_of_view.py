"""The circular field of view of a phone-on-eyepiece bright-field microscope.

A phone camera held to an eyepiece records a bright disc (the eyepiece
field stop, imaged sharply whatever the specimen focus) on a dark
surround; the disc is often clipped by the edges of the frame. Crops for the
focus and deblur tasks must come from inside the disc: the dark surround
has no specimen and would read as "out of focus" (or as a sharp edge).

`specimen_mask` is the binary threshold plus morphological clean-up that
the MMDF authors used to keep crops inside the field (their Fig. 10);
`circular_field_of_view` fits a circle to the edge of that mask, ignoring the
parts of the edge that are the frame of the image; `apply_vignette` draws
such a field on synthetic images.

References
----------
.. [1] A. Kornilova, M. Salnikov, O. Novitskaya, M. Begicheva,
       E. Sevriugov, K. Shcherbakov, V. Pronina and D. V. Dylov, "Deep
       learning framework for mobile microscopy", IEEE ISBI 2021,
       arXiv:2007.13701 (Fig. 10: specimen mask by binary thresholding).
.. [2] N. Otsu, "A threshold selection method from gray-level histograms",
       IEEE Transactions on Systems, Man, and Cybernetics 9(1): 62-66, 1979.
.. [3] I. Kåsa, "A circle fitting procedure and its error analysis", IEEE
       Transactions on Instrumentation and Measurement 25(1): 8-14, 1976.
"""

import numpy as np

from mmdf_bench.errors import InvalidInputError
from mmdf_bench.images import to_gray

#: Light outside the field over light inside, below which the dark class
#: found by the threshold is taken to be a real dark surround. Stained
#: tissue inside the field transmits far more than a third of the light
#: around it; the surround of an eyepiece field stop transmits ~1-5 %.
SURROUND_CONTRAST = 1 / 3

# The circle fit works on a copy whose longer side is at most this many
# pixels: a phone frame of 12 megapixels would otherwise cost seconds.
_WORKING_SIDE = 512


def _luminance(image):
    image = np.asarray(image, dtype=np.float32)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)) or min(image.shape[:2]) < 8:
        raise InvalidInputError(f"expected an (H, W) or (H, W, 3) image of at least 8x8 pixels, got {image.shape}")
    return to_gray(image)


def surround_threshold(luminance):
    """Luminance threshold between a dark surround and the bright field, or None.

    Otsu's two-class threshold and the two of the three-class version are
    tried on the optical density ``-ln(luminance)`` (the Beer-Lambert scale
    of bright-field light, on which a black surround stands far from any
    stain). A split is accepted when its dark class transmits less than
    `SURROUND_CONTRAST` of the light of its bright class; of the accepted
    splits the one at the lowest optical density is kept (three classes are
    needed when dark stain outnumbers a thin surround). The threshold is
    placed halfway, in optical density, between the two class means, so
    that stain touching the field edge stays inside the field.

    Parameters
    ----------
    luminance : ndarray, shape (H, W)
        Float in [0, 1], preferably smoothed.

    Returns
    -------
    threshold : float or None
        None when no dark surround is found.

    References
    ----------
    .. [1] Otsu, 1979.
    """
    from skimage.filters import threshold_multiotsu, threshold_otsu

    luminance = np.asarray(luminance, dtype=np.float64)
    density = -np.log(np.clip(luminance, 1e-3, 1.0))
    if float(density.max()) - float(density.min()) < 1e-6:
        return None
    candidates = [float(threshold_otsu(density))]
    if np.unique(density).size >= 3:
        candidates += [float(value) for value in threshold_multiotsu(density, classes=3)]
    for candidate in sorted(candidates):
        dark = luminance[density > candidate]
        bright = luminance[density <= candidate]
        if dark.size == 0 or bright.size == 0:
            continue
        if dark.mean() < SURROUND_CONTRAST * bright.mean():
            return float(np.sqrt(max(dark.mean(), 1e-3) * bright.mean()))
    return None


def specimen_mask(image, *, threshold=None, smoothing=None):
    """Binary mask of the bright field of view, where crops may be taken.

    The luminance is smoothed and thresholded (`surround_threshold` by
    default: Otsu on the optical density), opened to drop specks, reduced to
    its largest connected component, and its holes are filled (dark stain
    inside the field belongs to the field). An image without a dark
    surround is all field.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    threshold : float, optional
        Luminance threshold, used as given; default `surround_threshold`.
    smoothing : float, optional
        Gaussian sigma in pixels; default 1 % of the shorter side (at least 1),
        enough to merge specimen texture but not to round off the field edge.

    Returns
    -------
    mask : ndarray of bool, shape (H, W)

    References
    ----------
    .. [1] Kornilova et al., "Deep learning framework for mobile
           microscopy", 2021, Fig. 10.
    .. [2] Otsu, 1979.
    """
    from scipy import ndimage

    luminance = _luminance(image)
    shape = luminance.shape
    if smoothing is None:
        smoothing = max(1.0, 0.01 * min(shape))
    smooth = ndimage.gaussian_filter(luminance, smoothing, mode="nearest")
    if threshold is None:
        threshold = surround_threshold(smooth)
        if threshold is None:
            return np.ones(shape, dtype=bool)
    mask = smooth > threshold
    radius = max(1, int(round(smoothing)))
    mask = ndimage.binary_opening(mask, structure=_disk(radius))
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    mask = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask)


def _disk(radius):
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2


def fit_circle(rows, cols, *, num_iter=4):
    """Robust least-squares circle through edge points.

    An algebraic (Kåsa) fit, repeated after dropping points whose distance
    to the circle exceeds 3 median absolute deviations (at least 1.5 pixels):
    stain touching the field edge leaves notches that are not on the circle.

    Parameters
    ----------
    rows, cols : array_like
        Point coordinates (at least 3 points, not collinear).
    num_iter : int, optional
        Refits after trimming.

    Returns
    -------
    center_row, center_col, radius : float

    References
    ----------
    .. [1] Kåsa, "A circle fitting procedure and its error analysis", 1976.
    """
    rows = np.asarray(rows, dtype=np.float64).ravel()
    cols = np.asarray(cols, dtype=np.float64).ravel()
    keep = np.ones(rows.size, dtype=bool)
    for _ in range(num_iter + 1):
        if keep.sum() < 3:
            raise InvalidInputError("cannot fit a circle: fewer than 3 edge points")
        r, c = rows[keep], cols[keep]
        # x² + y² = a x + b y + d is linear in (a, b, d).
        design = np.column_stack([r, c, np.ones_like(r)])
        (a, b, d), _, rank, _ = np.linalg.lstsq(design, r**2 + c**2, rcond=None)
        if rank < 3:
            raise InvalidInputError("cannot fit a circle: the edge points are collinear")
        center_row, center_col = a / 2, b / 2
        radius_squared = d + center_row**2 + center_col**2
        if not np.isfinite(radius_squared) or radius_squared <= 0:
            raise InvalidInputError("cannot fit a circle: the edge points are collinear")
        radius = float(np.sqrt(radius_squared))
        residual = np.hypot(rows - center_row, cols - center_col) - radius
        spread = np.median(np.abs(residual[keep] - np.median(residual[keep])))
        new_keep = np.abs(residual) <= max(1.5, 3 * 1.4826 * spread)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return float(center_row), float(center_col), radius


def circular_field_of_view(image, *, threshold=None):
    """Find the bright circular field of view of a bright-field image.

    The `specimen_mask` is computed on a copy at most 512 pixels on its longer
    side and a circle is fitted (`fit_circle`) to the mask edge, leaving out
    the edge pixels on the frame, where the disc is clipped. The radius is
    then moved to where the median radial luminance profile crosses halfway
    between field and surround (`refine_radius`): the mask threshold sits
    nearer the surround, which would make the circle a pixel or two too
    large. An image without a dark surround gets the circle through the
    four corners.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    threshold : float, optional
        Luminance threshold of `specimen_mask`; given, the circle is fitted
        to that contour and not refined.

    Returns
    -------
    center_row, center_col, radius : float
        In pixels of `image` (the centre may lie outside the frame).

    Raises
    ------
    InvalidInputError
        When no bright region is found or its edge is not a usable arc.

    References
    ----------
    .. [1] Kåsa, "A circle fitting procedure and its error analysis", 1976.
    """
    import cv2
    from scipy import ndimage

    luminance = _luminance(image)
    height, width = luminance.shape
    scale = min(1.0, _WORKING_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        small = cv2.resize(luminance, size, interpolation=cv2.INTER_AREA)
    else:
        small = luminance
    whole_frame = ((height - 1) / 2, (width - 1) / 2, float(np.hypot(height, width)) / 2)
    mask = specimen_mask(small, threshold=threshold)
    if not mask.any():
        raise InvalidInputError("no bright field of view found: the image is dark everywhere")
    edge = mask & ~ndimage.binary_erosion(mask, border_value=1)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = False
    rows, cols = np.nonzero(edge)
    if rows.size == 0:
        return whole_frame
    if rows.size < 8:
        raise InvalidInputError("no circular field of view found: the bright region has almost no edge")
    center_row, center_col, radius = fit_circle(rows, cols)
    # Edge pixels are the outermost field pixels: the contour is half a pixel out.
    radius += 0.5
    if threshold is None:
        radius = refine_radius(small, (center_row, center_col, radius))
    row_scale, col_scale = height / small.shape[0], width / small.shape[1]
    return ((center_row + 0.5) * row_scale - 0.5, (center_col + 0.5) * col_scale - 0.5,
            radius * (row_scale + col_scale) / 2)


def refine_radius(luminance, field_of_view, *, reach=8.0, num_angles=360):
    """Radius where the median radial luminance profile crosses halfway from field to surround.

    The profile is sampled along `num_angles` rays over ``radius ± reach``
    pixels; rays that leave the frame are dropped and the median over the
    rest ignores the few that cross stain. Returns the input radius when
    fewer than 12 rays lie inside the frame or the profile does not fall
    from field to surround.

    Parameters
    ----------
    luminance : ndarray, shape (H, W)
    field_of_view : tuple of float
        ``(center_row, center_col, radius)`` to refine.
    reach : float, optional
    num_angles : int, optional

    Returns
    -------
    radius : float
    """
    from scipy.ndimage import map_coordinates

    center_row, center_col, radius = field_of_view
    angles = np.linspace(0, 2 * np.pi, num_angles, endpoint=False)
    radii = radius + np.arange(-reach, reach + 0.125, 0.25)
    rows = center_row + np.sin(angles)[:, None] * radii[None, :]
    cols = center_col + np.cos(angles)[:, None] * radii[None, :]
    height, width = luminance.shape
    inside = ((rows >= 0) & (rows <= height - 1) & (cols >= 0) & (cols <= width - 1)).all(axis=1)
    if inside.sum() < 12:
        return radius
    samples = map_coordinates(luminance, [rows[inside].ravel(), cols[inside].ravel()], order=1)
    profile = np.median(samples.reshape(-1, radii.size), axis=0)
    field, surround = profile[: radii.size // 4].mean(), profile[-(radii.size // 4):].mean()
    if not surround < SURROUND_CONTRAST * field:
        return radius
    halfway = (field + surround) / 2
    below = np.nonzero(profile < halfway)[0]
    if below.size == 0 or below[0] == 0:
        return radius
    index = below[0]
    # Linear interpolation between the last sample above and the first below.
    fraction = (profile[index - 1] - halfway) / (profile[index - 1] - profile[index])
    return float(radii[index - 1] + fraction * (radii[index] - radii[index - 1]))


def field_of_view_box(shape, field_of_view, *, inside=False):
    """Row and column slices of the square around (or inside) a circle, clipped to the frame.

    Parameters
    ----------
    shape : tuple of int
        (H, W) of the image.
    field_of_view : tuple of float
        ``(center_row, center_col, radius)``.
    inside : bool, optional
        False: the square circumscribing the circle; True: the largest
        axis-aligned square inscribed in it (every pixel in the field).

    Returns
    -------
    rows, cols : slice
    """
    center_row, center_col, radius = field_of_view
    half = radius / np.sqrt(2) if inside else radius
    top = max(0, int(np.ceil(center_row - half)))
    bottom = min(shape[0], int(np.floor(center_row + half)) + 1)
    left = max(0, int(np.ceil(center_col - half)))
    right = min(shape[1], int(np.floor(center_col + half)) + 1)
    if bottom - top < 2 or right - left < 2:
        raise InvalidInputError(f"the field of view {field_of_view} leaves no pixels of a {shape[:2]} frame")
    return slice(top, bottom), slice(left, right)


def crop_to_field_of_view(image, *, field_of_view=None, inside=False, threshold=None):
    """Crop the square around the circular field of view.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    field_of_view : tuple of float, optional
        ``(center_row, center_col, radius)``; detected with
        `circular_field_of_view` when omitted. Pass the one found on a sharp
        frame to crop a blurred frame of the same scene identically.
    inside : bool, optional
        Crop the square inscribed in the circle instead (no dark pixels).
    threshold : float, optional
        Passed to the detection.

    Returns
    -------
    crop : ndarray
        A view of `image`; not exactly square where the frame clips the circle.
    """
    if field_of_view is None:
        field_of_view = circular_field_of_view(image, threshold=threshold)
    rows, cols = field_of_view_box(np.shape(image)[:2], field_of_view, inside=inside)
    return np.asarray(image)[rows, cols]


def vignette_factor(shape, *, center, radius, rng=None, edge_width=None, falloff=None, surround=None):
    """Transmission map of a circular field stop seen through an eyepiece.

    Inside the circle the light falls off gently towards the edge (natural
    vignetting, ``1 - falloff * (d / radius)²``); across the edge it drops
    over `edge_width` pixels (smoothstep) to the `surround` level.

    Parameters
    ----------
    shape : tuple of int
        (H, W).
    center : tuple of float
        (row, col) of the circle centre, in pixels.
    radius : float
        In pixels.
    rng : numpy.random.Generator, optional
        Draws the options left as None: `edge_width` in [1.5, 4] px,
        `falloff` in [0.05, 0.2], `surround` in [0.01, 0.05].
        Without `rng`, unset options take the middle of those ranges.
    edge_width, falloff, surround : float, optional

    Returns
    -------
    factor : ndarray of float32, shape (H, W), in [0, 1]
    """
    def draw(value, low, high):
        if value is not None:
            return float(value)
        return float(rng.uniform(low, high)) if rng is not None else (low + high) / 2

    if radius <= 0:
        raise InvalidInputError(f"the field of view radius must be positive, got {radius}")
    edge_width = draw(edge_width, 1.5, 4.0)
    falloff = draw(falloff, 0.05, 0.2)
    surround = draw(surround, 0.01, 0.05)
    rows, cols = np.indices(shape[:2], dtype=np.float64)
    distance = np.hypot(rows - center[0], cols - center[1])
    inside = np.clip((radius - distance) / max(edge_width, 1e-6) + 0.5, 0.0, 1.0)
    inside = inside * inside * (3 - 2 * inside)
    shading = 1.0 - falloff * np.minimum(distance / radius, 1.0) ** 2
    return (surround + (1.0 - surround) * inside * shading).astype(np.float32)


def apply_vignette(image, *, center, radius, rng=None, **options):
    """Darken everything outside a circular field of view, as a phone on an eyepiece sees it.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    center : tuple of float
        (row, col) of the field centre.
    radius : float
    rng : numpy.random.Generator, optional
        Draws the edge width, fall-off and surround level (`vignette_factor`).
    **options
        ``edge_width``, ``falloff``, ``surround`` to fix them.

    Returns
    -------
    vignetted : ndarray of float32, shaped like `image`
    """
    image = np.asarray(image, dtype=np.float32)
    factor = vignette_factor(image.shape[:2], center=center, radius=radius, rng=rng, **options)
    if image.ndim == 3:
        factor = factor[..., None]
    return np.clip(image * factor, 0.0, 1.0).astype(np.float32)
