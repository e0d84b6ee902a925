"""Optical artefacts of mobile microscopes, overlaid on in-focus images.

A phone held to an eyepiece images, besides the specimen, whatever sits on
the glass surfaces near a focal plane: dust, drops of water or immersion
liquid, and condensation. The MMDF authors overlaid such artefacts on
in-focus patches and labelled the results *out of focus* (unusable), so
that their classifier learned to reject them; a focus measure cannot,
because dust adds sharp edges and condensation only lowers contrast.

Each function takes a float image in [0, 1] (grey or RGB, any size), draws
every random choice from the given generator (the same generator state gives
the same result) and returns float32 in [0, 1]. Sizes are in pixels and
counts scale with the image area, relative to an 84x84 patch.

References
----------
.. [1] A. Kornilova, M. Salnikov, O. Novitskaya, M. Begicheva, E. Sevriugov,
       K. Shcherbakov, V. Pronina and D. V. Dylov, "Deep learning framework
       for mobile microscopy", IEEE ISBI 2021 (arXiv:2007.13701).
.. [2] M. Born and E. Wolf, *Principles of Optics*, 7th ed., 1999, section
       4.4 (thin lenses) and section 1.5 (total internal reflection).
"""

import numpy as np

from mmdf_bench.errors import InvalidInputError

#: Side of the patch the default counts refer to (the 84x84 patches of Yang et al.).
REFERENCE_SIDE = 84


def _prepare(image):
    image = np.asarray(image, dtype=np.float32)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)) or min(image.shape[:2]) < 4:
        raise InvalidInputError(f"expected an (H, W) or (H, W, 3) image of at least 4x4 pixels, got {image.shape}")
    return image


def _count(rng, low, high, shape):
    """Draw how many objects of a density ``U(low, high)`` per 84x84 patch fall on `shape`."""
    area = shape[0] * shape[1] / REFERENCE_SIDE**2
    return int(rng.poisson(rng.uniform(low, high) * area))


def _channels(values, image):
    """Broadcast a (H, W) map or a per-channel vector against `image`."""
    values = np.asarray(values, dtype=np.float32)
    return values[..., None] if image.ndim == 3 and values.ndim == 2 else values


def _blob(shape, center, radius, rng):
    """Coverage in [0, 1] of an irregular blob: 1 to 4 overlapping anti-aliased discs."""
    rows, cols = np.indices(shape, dtype=np.float32)
    coverage = np.zeros(shape, dtype=np.float32)
    for _ in range(int(rng.integers(1, 5))):
        offset = rng.normal(0.0, 0.5 * radius, size=2)
        part = radius * rng.uniform(0.5, 1.0)
        distance = np.hypot(rows - (center[0] + offset[0]), cols - (center[1] + offset[1]))
        coverage = np.maximum(coverage, np.clip(part - distance + 0.5, 0.0, 1.0))
    return coverage


def _fibre(shape, rng):
    """Coverage of a thin curved fibre: a smooth random walk drawn with width 1-2 px."""
    rows, cols = np.indices(shape, dtype=np.float32)
    length = rng.uniform(0.2, 0.6) * REFERENCE_SIDE
    steps = 24
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.15, steps))
    start = rng.uniform(0, 1, size=2) * shape
    points = start + np.cumsum(np.column_stack([np.sin(heading), np.cos(heading)]) * length / steps, axis=0)
    half_width = rng.uniform(0.5, 1.0)
    distance = np.full(shape, np.inf, dtype=np.float32)
    for row, col in points:
        distance = np.minimum(distance, np.hypot(rows - row, cols - col))
    return np.clip(half_width - distance + 0.5, 0.0, 1.0)


def add_dust(image, *, rng, density=None):
    """Overlay dust: dark specks, a few soft blobs and the odd fibre.

    Dust on the slide lies near the focal plane and shows sharp edges; dust
    on the cover glass or the eyepiece is defocused into a faint soft blob.
    Specks have a radius log-uniform in 0.8-4 px, an edge blur of
    0.9-1.5 px (no sharper than the in-focus PSF of the default optics,
    whose Gaussian equivalent has σ ≈ 0.21 λ / NA = 0.9 px) and absorb
    55-95 % of the light; blobs (a Poisson number, on average 0-2 per
    84x84 area) have a radius of 4-12 px, a blur of 2-4 px and absorb
    20-50 %; a fibre (1-2 px wide) appears with probability 0.3. Absorption is slightly stronger in
    blue than in red: grey-brown debris. Sharp specks add edges, so a
    sharpness measure rates a dusty patch *sharper*.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Float image in [0, 1].
    rng : numpy.random.Generator
        The only source of randomness.
    density : float, optional
        Expected specks per 84x84 area; default drawn in [6, 20].

    Returns
    -------
    dusty : ndarray of float32, shaped like `image`, in [0, 1]

    References
    ----------
    .. [1] Kornilova et al., "Deep learning framework for mobile microscopy", 2021.
    """
    from scipy.ndimage import gaussian_filter

    image = _prepare(image)
    shape = image.shape[:2]
    low, high = (6.0, 20.0) if density is None else (density, density)
    # (radius range, blur range, opacity range) of each piece of dust.
    pieces = [((0.8, 4.0), (0.9, 1.5), (0.55, 0.95))] * max(1, _count(rng, low, high, shape))
    pieces += [((4.0, 12.0), (2.0, 4.0), (0.2, 0.5))] * _count(rng, 0.0, 2.0, shape)
    pieces += [None] * int(rng.uniform() < 0.3)
    transmission = np.ones(image.shape, dtype=np.float32)
    for piece in pieces:
        if piece is None:
            coverage, sigma, opacity = _fibre(shape, rng), rng.uniform(0.9, 1.5), rng.uniform(0.4, 0.8)
        else:
            (r_low, r_high), blur, strength = piece
            center = rng.uniform(0, 1, size=2) * shape
            coverage = _blob(shape, center, float(np.exp(rng.uniform(np.log(r_low), np.log(r_high)))), rng)
            sigma, opacity = rng.uniform(*blur), rng.uniform(*strength)
        coverage = gaussian_filter(coverage, sigma)
        # Absorption of red, green, blue: debris is grey to brownish.
        tint = np.array([0.85, 0.93, 1.0], dtype=np.float32) * rng.uniform(0.9, 1.0) if image.ndim == 3 else 1.0
        transmission *= 1.0 - opacity * _channels(coverage, image) * tint
    return np.clip(image * transmission, 0.0, 1.0).astype(np.float32)


def _warp(image, rows, cols):
    from scipy.ndimage import map_coordinates

    if image.ndim == 2:
        return map_coordinates(image, [rows, cols], order=1, mode="reflect")
    return np.stack([map_coordinates(image[..., k], [rows, cols], order=1, mode="reflect")
                     for k in range(image.shape[-1])], axis=-1)


def add_water_drops(image, *, rng, count=None):
    """Overlay water drops: magnifying, defocused discs with a dark rim and a highlight.

    A sessile drop is a thin plano-convex lens: seen through it, the
    specimen is magnified by up to 1.3-2x at the centre and undistorted at
    the contact line (the sampling radius scales by ``1 - k (1 - ρ²)``),
    and it is out of focus (Gaussian blur of 1-2.5 px). Near the contact
    line the surface is steep, light is refracted out of the objective's
    acceptance cone and the rim is dark; a specular highlight of the lamp
    sits off centre. Radii are 12-35 % of the shorter side.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    rng : numpy.random.Generator
    count : int, optional
        Number of drops; default 1 to 3.

    Returns
    -------
    wet : ndarray of float32, shaped like `image`, in [0, 1]

    References
    ----------
    .. [1] Born and Wolf, *Principles of Optics*, sections 1.5 and 4.4.
    """
    from scipy.ndimage import gaussian_filter

    result = _prepare(image).copy()
    shape = result.shape[:2]
    rows, cols = np.indices(shape, dtype=np.float64)
    count = int(rng.integers(1, 4)) if count is None else int(count)
    for _ in range(count):
        radius = rng.uniform(0.12, 0.35) * min(shape)
        center = rng.uniform(0, 1, size=2) * shape
        d_rows, d_cols = rows - center[0], cols - center[1]
        rho = np.hypot(d_rows, d_cols) / radius
        scale = 1.0 - rng.uniform(0.25, 0.5) * np.clip(1.0 - rho**2, 0.0, 1.0)
        seen = _warp(result, center[0] + d_rows * scale, center[1] + d_cols * scale)
        sigma = rng.uniform(1.0, 2.5)
        seen = gaussian_filter(seen, (sigma, sigma, 0)[: seen.ndim])
        # The dark band is at least about a pixel wide, whatever the drop size.
        width = max(0.07, 1.2 / radius)
        rim = rng.uniform(0.35, 0.7) * np.exp(-(((rho - 1.0 + width) / width) ** 2))
        angle = rng.uniform(0, 2 * np.pi)
        spot_rho = np.hypot(d_rows / radius - 0.35 * np.sin(angle), d_cols / radius - 0.35 * np.cos(angle))
        highlight = rng.uniform(0.1, 0.25) * np.exp(-((spot_rho / 0.12) ** 2))
        seen = seen * _channels(1.0 - rim, seen) + _channels(highlight, seen)
        # Anti-aliased drop outline: 1 inside, 0 outside, over one pixel.
        inside = np.clip((1.0 - rho) * radius + 0.5, 0.0, 1.0)
        result = result * _channels(1.0 - inside, result) + seen * _channels(inside, result)
    return np.clip(result, 0.0, 1.0).astype(np.float32)


def add_condensate(image, *, rng, strength=None):
    """Overlay condensation: a scattering haze and a carpet of tiny drops.

    Fog on a cold lens scatters part of the light: the image becomes
    ``(1 - h) image + h (w * blurred + (1 - w) * veil)`` where `h` (the
    haze, 35-60 %, varying smoothly by ±20 % across the image) removes
    contrast, `blurred` is the forward-scattered image (Gaussian of 3-6 px)
    and `veil` a uniform whitish level. On top sit many micro-drops (radius
    0.6-2.2 px), each a small lens with a dark ring and a bright centre,
    imaged through the in-focus PSF (Gaussian σ = 0.9 px).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    rng : numpy.random.Generator
    strength : float, optional
        Mean haze fraction `h`; default drawn in [0.35, 0.6].

    Returns
    -------
    fogged : ndarray of float32, shaped like `image`, in [0, 1]
    """
    from scipy.ndimage import gaussian_filter, zoom
    from scipy.signal import fftconvolve

    image = _prepare(image)
    shape = image.shape[:2]
    strength = rng.uniform(0.35, 0.6) if strength is None else float(strength)
    if not 0.0 <= strength <= 1.0:
        raise InvalidInputError(f"condensate strength must lie in [0, 1], got {strength}")
    coarse = rng.standard_normal((3, 3))
    variation = zoom(coarse, (shape[0] / 3, shape[1] / 3), order=1, grid_mode=True, mode="nearest")
    haze = np.clip(strength * (1.0 + 0.2 * variation[: shape[0], : shape[1]]), 0.0, 1.0).astype(np.float32)
    sigma = rng.uniform(3.0, 6.0)
    blurred = gaussian_filter(image, (sigma, sigma, 0)[: image.ndim], mode="reflect")
    veil = rng.uniform(0.8, 0.95)
    weight = rng.uniform(0.3, 0.7)
    fogged = (1 - _channels(haze, image)) * image + _channels(haze, image) * (weight * blurred + (1 - weight) * veil)

    # Micro-drops: impulses convolved with a ring-and-centre template, per size class.
    modulation = np.zeros(shape, dtype=np.float64)
    num_drops = _count(rng, 30.0, 90.0, shape)
    if num_drops:
        positions = (rng.uniform(0, 1, size=(num_drops, 2)) * shape).astype(int)
        radii = rng.uniform(0.6, 2.2, size=num_drops)
        for low, high in ((0.6, 1.1), (1.1, 1.6), (1.6, 2.21)):
            chosen = (radii >= low) & (radii < high)
            if not chosen.any():
                continue
            radius = (low + high) / 2
            impulses = np.zeros(shape, dtype=np.float64)
            np.add.at(impulses, (positions[chosen, 0], positions[chosen, 1]), 1.0)
            half = int(np.ceil(radius + 2))
            offsets = np.arange(-half, half + 1)
            distance = np.hypot(offsets[:, None], offsets[None, :])
            template = -0.5 * np.exp(-(((distance - radius) / 0.5) ** 2)) + 0.25 * np.exp(
                -((distance / (0.4 * radius)) ** 2))
            modulation += fftconvolve(impulses, template, mode="same")
    modulation = gaussian_filter(modulation, 0.9)
    fogged = fogged * _channels(1.0 + modulation, image)
    return np.clip(fogged, 0.0, 1.0).astype(np.float32)


#: Artefact kind (the `subset` of a focus sample) -> function.
ARTEFACTS = {"dust": add_dust, "water": add_water_drops, "condensate": add_condensate}
