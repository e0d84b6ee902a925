"""Blur kernels of a fast-scanning mobile microscope: motion and Gaussian-like.

Every kernel is a 2-D float64 array of odd side, non-negative, summing to 1,
with its centre of mass on the central pixel, so convolving with it blurs an
image without shifting it. Kernels are rasterised from sub-pixel point
samples with bilinear weights (each point spreads over its four neighbouring
pixels), which anti-aliases lines and curves and keeps the centre of mass of
the points exactly.

Angles are in degrees, counter-clockwise from the column axis as an image is
displayed (rows grow downwards): 0° is horizontal, 90° points up the screen.

References
----------
.. [1] G. Boracchi and A. Foi, "Modeling the performance of image restoration
       from motion blur", IEEE Transactions on Image Processing 21(8):
       3502-3517, 2012. :doi:`10.1109/TIP.2012.2192126`
.. [2] O. Kupyn, V. Budzan, M. Mykhailych, D. Mishkin and J. Matas,
       "DeblurGAN: blind motion deblurring using conditional adversarial
       networks", CVPR 2018 (uses the trajectories of [1] to make training
       pairs).
.. [3] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021, arXiv:2007.13701 (fast-scan deblurring with motion and
       small and large Gaussian-like kernels).
"""

import numpy as np

from mmdf_bench.errors import InvalidInputError

#: Standard deviations (pixels) of the "small" and "large" Gaussian-like
#: kernels. The MMDF paper names the two kinds without stating their widths;
#: these are our choice: σ = 1 px is a slight softening, σ = 3 px removes
#: most detail finer than about 8 pixels.
SMALL_GAUSSIAN_SIGMA = 1.0
LARGE_GAUSSIAN_SIGMA = 3.0

#: Default range of the trajectory "anxiety" (the strength of the random
#: perturbations), as in the values DeblurGAN draws from.
ANXIETY_RANGE = (0.001, 0.01)


def _check_size(size):
    if size is not None and (int(size) != size or size < 1 or size % 2 == 0):
        raise InvalidInputError(f"kernel size must be a positive odd integer, got {size}")


def rasterize_points(rows, cols, *, weights=None, size=None):
    """Spread sub-pixel points over a pixel grid with bilinear weights, centred on their mean.

    Parameters
    ----------
    rows, cols : array_like
        Point coordinates in pixels (any origin).
    weights : array_like, optional
        Non-negative weight of each point; equal by default.
    size : int, optional
        Odd side of the returned kernel. By default the smallest odd square,
        centred on the central pixel, that holds every point.

    Returns
    -------
    kernel : ndarray of float64, shape (size, size)
        Sums to 1; its centre of mass is the central pixel (to round-off),
        because bilinear weights keep the mean of the points.

    Raises
    ------
    InvalidInputError
        When the points do not fit in `size`.
    """
    rows = np.asarray(rows, dtype=np.float64).ravel()
    cols = np.asarray(cols, dtype=np.float64).ravel()
    weights = np.ones_like(rows) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if rows.size == 0 or rows.shape != cols.shape or rows.shape != weights.shape:
        raise InvalidInputError("need as many rows, columns and weights, and at least one point")
    if np.any(weights < 0) or weights.sum() <= 0 or not np.all(np.isfinite(weights)):
        raise InvalidInputError("point weights must be finite, non-negative and not all zero")
    weights = weights / weights.sum()
    rows = rows - weights @ rows
    cols = cols - weights @ cols
    # Points on an integer coordinate give no weight to the next pixel out.
    needed = int(np.ceil(max(np.abs(rows).max(), np.abs(cols).max()) - 1e-9))
    _check_size(size)
    half = needed if size is None else int(size) // 2
    if half < needed:
        raise InvalidInputError(f"the kernel needs a side of at least {2 * needed + 1} pixels, got {size}")
    # One pixel of margin takes the zero weights of points on the border.
    side = 2 * half + 3
    top, left = np.floor(rows), np.floor(cols)
    down, right = rows - top, cols - left
    top = top.astype(np.intp) + half + 1
    left = left.astype(np.intp) + half + 1
    grid = np.zeros((side, side))
    np.add.at(grid, (top, left), weights * (1 - down) * (1 - right))
    np.add.at(grid, (top, left + 1), weights * (1 - down) * right)
    np.add.at(grid, (top + 1, left), weights * down * (1 - right))
    np.add.at(grid, (top + 1, left + 1), weights * down * right)
    kernel = grid[1:-1, 1:-1]
    return kernel / kernel.sum()


def linear_motion_kernel(length, angle, *, size=None):
    """Uniform straight-line motion blur, anti-aliased.

    The image moves by `length` pixels at constant speed during the
    exposure: the kernel is the uniform distribution over a segment of that
    length, centred on the central pixel, integrated (midpoint rule, 8
    samples per pixel of length) and rasterised bilinearly.

    Parameters
    ----------
    length : float
        Motion during the exposure, in pixels; 0 gives a single-pixel delta.
    angle : float
        Direction in degrees (see the module docstring); the kernel is the
        same for `angle` and ``angle + 180``.
    size : int, optional
        Odd side; by default the smallest that holds the segment.

    Returns
    -------
    kernel : ndarray of float64, shape (size, size), summing to 1

    References
    ----------
    .. [1] Boracchi and Foi, 2012 (rectilinear blur is the trajectory with
           no random perturbation).
    """
    if not np.isfinite(length) or length < 0 or not np.isfinite(angle):
        raise InvalidInputError(f"need a finite length >= 0 and a finite angle, got {length} and {angle}")
    num_points = max(1, int(np.ceil(8 * length)))
    # Midpoints of equal sub-segments: a symmetric set whose mean is 0.
    along = (np.arange(num_points) + 0.5) / num_points * length - length / 2
    theta = np.deg2rad(angle)
    return rasterize_points(-np.sin(theta) * along, np.cos(theta) * along, size=size)


def scan_motion_kernel(*, rng, min_length, max_length, scan_angle=0.0, angle_jitter=5.0, size=None,
                       return_parameters=False):
    """Motion blur of a fast stage scan: a line of random length, mostly along the scan axis.

    A phone microscope scanned quickly moves the slide along one stage axis
    during the exposure, so the blur is a straight line whose length (speed
    times exposure) varies from frame to frame while its direction stays
    near the scan axis.

    Parameters
    ----------
    rng : numpy.random.Generator
    min_length, max_length : float
        The length is drawn uniformly in this range (pixels).
    scan_angle : float, optional
        Direction of the scan axis, degrees; 0 is along the image rows.
    angle_jitter : float, optional
        The angle is drawn uniformly within ``scan_angle ± angle_jitter``.
    size : int, optional
        Odd side; by default the smallest that holds the line.
    return_parameters : bool, optional
        Also return ``{"length": ..., "angle": ...}``.

    Returns
    -------
    kernel : ndarray of float64
    parameters : dict
        Only with `return_parameters`.
    """
    if not 0 <= min_length <= max_length or angle_jitter < 0:
        raise InvalidInputError(
            f"need 0 <= min_length <= max_length and angle_jitter >= 0, got {min_length}, {max_length}, {angle_jitter}")
    length = float(rng.uniform(min_length, max_length))
    angle = float(scan_angle + rng.uniform(-angle_jitter, angle_jitter))
    kernel = linear_motion_kernel(length, angle, size=size)
    if return_parameters:
        return kernel, {"length": length, "angle": angle}
    return kernel


def random_trajectory(*, rng, max_length, anxiety=None, num_samples=2000):
    """Random camera-shake trajectory of Boracchi and Foi (2012), as DeblurGAN generates it.

    A particle starts in a random direction and moves `num_samples - 1`
    steps of equal length ``max_length / (num_samples - 1)``. At each step
    its velocity gets a Gaussian kick, a pull back towards the start
    (inertia) and, rarely, an impulsive reversal (a sudden jerk); it is then
    renormalised, so every trajectory has the same path length. The
    strengths of the kick, pull and jerk frequency are drawn per trajectory
    (uniform in [0, 10], [0, 0.7] and [0, 0.2]) and scaled by `anxiety`.

    Parameters
    ----------
    rng : numpy.random.Generator
    max_length : float
        Path length in pixels.
    anxiety : float, optional
        Strength of the perturbations; drawn uniformly in `ANXIETY_RANGE`
        when omitted. 0 gives a straight line.
    num_samples : int, optional
        Positions along the path (at least 2).

    Returns
    -------
    rows, cols : ndarray of float64, shape (num_samples,)
        Positions in pixels, starting at (0, 0).
    parameters : dict
        The drawn ``anxiety``, ``gaussian_shake``, ``centripetal``,
        ``big_shake_probability``, ``initial_angle`` (degrees) and the number
        of ``big_shakes``.

    References
    ----------
    .. [1] Boracchi and Foi, 2012, section II.
    .. [2] Kupyn et al., "DeblurGAN", 2018.
    """
    if num_samples < 2 or not np.isfinite(max_length) or max_length < 0:
        raise InvalidInputError(f"need num_samples >= 2 and a path length >= 0, got {num_samples}, {max_length}")
    if anxiety is None:
        anxiety = float(rng.uniform(*ANXIETY_RANGE))
    if anxiety < 0:
        raise InvalidInputError(f"anxiety must be non-negative, got {anxiety}")
    centripetal = 0.7 * float(rng.uniform())
    big_shake_probability = 0.2 * float(rng.uniform())
    gaussian_shake = 10 * float(rng.uniform())
    initial_angle = 360 * float(rng.uniform())
    step = max_length / (num_samples - 1)
    jerks = rng.uniform(size=num_samples - 1) < big_shake_probability * anxiety
    jerk_angles = np.pi + rng.uniform(-0.5, 0.5, size=num_samples - 1)
    kicks = rng.standard_normal(num_samples - 1) + 1j * rng.standard_normal(num_samples - 1)

    direction = np.exp(1j * np.deg2rad(initial_angle))
    # As in the reference generator, a non-zero anxiety also shrinks the
    # first velocity, which makes the first kick relatively stronger.
    velocity = direction * (anxiety if anxiety > 0 else step)
    position = np.zeros(num_samples, dtype=np.complex128)
    for t in range(num_samples - 1):
        change = anxiety * (gaussian_shake * kicks[t] - centripetal * position[t]) * step
        if jerks[t]:
            change += 2 * velocity * np.exp(1j * jerk_angles[t])
        velocity = velocity + change
        speed = abs(velocity)
        # A zero velocity (probability zero) keeps the previous direction.
        velocity = velocity / speed * step if speed > 0 else direction * step
        position[t + 1] = position[t] + velocity
    parameters = {
        "anxiety": float(anxiety),
        "gaussian_shake": gaussian_shake,
        "centripetal": centripetal,
        "big_shake_probability": big_shake_probability,
        "initial_angle": initial_angle,
        "big_shakes": int(jerks.sum()),
    }
    # Imaginary part down the rows, real part along the columns (screen axes).
    return -position.imag, position.real, parameters


def random_trajectory_kernel(*, rng, size=None, max_length=16.0, anxiety=None, num_samples=2000, exposure=1.0,
                             return_parameters=False):
    """Motion-blur kernel of a random shake trajectory (Boracchi and Foi, 2012).

    The trajectory of `random_trajectory` is recorded for the first
    `exposure` fraction of its duration; every position is one equal point
    sample of the kernel, rasterised bilinearly (sub-pixel) and centred on
    its centre of mass.

    Parameters
    ----------
    rng : numpy.random.Generator
    size : int, optional
        Odd side. By default the smallest square that holds the kernel
        (at most ``2 * ceil(exposure * max_length) + 1``).
    max_length : float, optional
        Path length of the whole trajectory, pixels.
    anxiety : float, optional
        Perturbation strength; drawn in `ANXIETY_RANGE` when omitted.
    num_samples : int, optional
        Positions along the whole trajectory.
    exposure : float, optional
        Fraction of the trajectory in (0, 1] seen during the exposure
        (Boracchi and Foi's exposure time T).
    return_parameters : bool, optional
        Also return the trajectory parameters (`random_trajectory`) plus
        ``max_length``, ``exposure`` and ``num_samples``.

    Returns
    -------
    kernel : ndarray of float64, summing to 1
    parameters : dict
        Only with `return_parameters`.

    References
    ----------
    .. [1] Boracchi and Foi, 2012.
    .. [2] Kupyn et al., "DeblurGAN", 2018.
    """
    if not 0 < exposure <= 1:
        raise InvalidInputError(f"exposure must lie in (0, 1], got {exposure}")
    _check_size(size)
    rows, cols, parameters = random_trajectory(rng=rng, max_length=max_length, anxiety=anxiety,
                                               num_samples=num_samples)
    seen = max(1, round(exposure * num_samples))
    kernel = rasterize_points(rows[:seen], cols[:seen], size=size)
    if return_parameters:
        parameters.update(max_length=float(max_length), exposure=float(exposure), num_samples=int(num_samples))
        return kernel, parameters
    return kernel


def gaussian_kernel(sigma, *, size=None):
    """Isotropic Gaussian blur integrated over each pixel.

    Each weight is the Gaussian's mass over the pixel's square (differences
    of the normal distribution function), the image of a Gaussian spot on a
    camera pixel. Unlike point sampling (`optics.gaussian_psf`) this stays
    right for σ below a pixel; the kernel's variance per axis is close to
    ``σ² + 1/12`` (the Gaussian plus the pixel's box).

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels; 0 gives a single-pixel delta. The
        MMDF paper's small and large kernels are `SMALL_GAUSSIAN_SIGMA` and
        `LARGE_GAUSSIAN_SIGMA`.
    size : int, optional
        Odd side; default ``2 * ceil(3 * sigma) + 1``.

    Returns
    -------
    kernel : ndarray of float64, shape (size, size), summing to 1

    References
    ----------
    .. [1] Kornilova et al., "Deep learning framework for mobile
           microscopy", 2021.
    """
    from scipy.special import ndtr

    if not np.isfinite(sigma) or sigma < 0:
        raise InvalidInputError(f"sigma must be finite and non-negative, got {sigma}")
    if size is None:
        size = 2 * int(np.ceil(3 * sigma)) + 1
    _check_size(size)
    edges = np.arange(-(size // 2), size // 2 + 2) - 0.5
    if sigma == 0:
        profile = (np.arange(size) == size // 2).astype(np.float64)
    else:
        profile = np.diff(ndtr(edges / sigma))
    kernel = np.outer(profile, profile)
    return kernel / kernel.sum()
