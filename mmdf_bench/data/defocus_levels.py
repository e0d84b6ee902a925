"""Defocus in micrometres -> the focus task's in-focus label and 11 defocus levels.

Real z-stacks know how far each plane lies from focus in micrometres; the
focus task wants a binary label and a level 0..10. The rule is one function
so that every real dataset (and `zstack-folder` with physical z) states it
the same way:

* in focus (label 0, level 0) when ``|z - z_focus| <= tolerance``;
* otherwise level ``round(|dz| / step)``, at least 1 and at most 10, with
  halves rounded up. With the defaults (tolerance 1 µm, step 5 µm) level 1
  is 1-7.5 µm from focus, level k (2..9) is ``(k - 0.5) * 5`` to
  ``(k + 0.5) * 5`` µm and level 10 is beyond 47.5 µm.

The 5 µm step puts the largest defocus of the real stacks shipped beside the
project (50 µm) at level 10, and is close to the 6 µm spacing of the embedded
synthetic z-stack, so that a level means roughly the same distance in both.
It does not mean the same *blur*: that depends on the objective (numerical
aperture, magnification), which differs between microscopes.
"""

import math

import numpy as np

from mmdf_bench.errors import InvalidInputError

__all__ = ["DEFAULT_STEP_UM", "DEFAULT_TOLERANCE_UM", "NUM_LEVELS", "defocus_level", "describe_bins",
           "is_in_focus"]

#: Planes closer to focus than this (µm) are in focus. The depth of field of
#: the objectives behind the real data: on `wafer-defocus` a plane 0.8 µm
#: from focus looks like the focal plane and one 1.8 µm away is visibly softer.
DEFAULT_TOLERANCE_UM = 1.0
#: Micrometres per defocus level.
DEFAULT_STEP_UM = 5.0
NUM_LEVELS = 11


def _check(tolerance_um, step_um):
    if not (math.isfinite(tolerance_um) and tolerance_um >= 0):
        raise InvalidInputError(f"the in-focus tolerance must be a non-negative number of µm, got {tolerance_um}")
    if not (math.isfinite(step_um) and step_um > 0):
        raise InvalidInputError(f"the level step must be a positive number of µm, got {step_um}")


def is_in_focus(defocus_um, *, tolerance_um=DEFAULT_TOLERANCE_UM):
    """True where ``|defocus_um| <= tolerance_um``.

    Parameters
    ----------
    defocus_um : float or array_like
        Signed distance from the focal plane (µm).
    tolerance_um : float, optional

    Returns
    -------
    bool or ndarray of bool
    """
    _check(tolerance_um, DEFAULT_STEP_UM)
    result = np.abs(np.asarray(defocus_um, dtype=np.float64)) <= tolerance_um
    return bool(result) if result.ndim == 0 else result


def defocus_level(defocus_um, *, tolerance_um=DEFAULT_TOLERANCE_UM, step_um=DEFAULT_STEP_UM,
                  num_levels=NUM_LEVELS):
    """The defocus level of a plane `defocus_um` micrometres from focus.

    Parameters
    ----------
    defocus_um : float or array_like
        Signed distance from the focal plane (µm).
    tolerance_um : float, optional
        Level 0 up to this distance.
    step_um : float, optional
        Micrometres per level beyond it.
    num_levels : int, optional
        Levels 0..num_levels-1; farther planes get the last one.

    Returns
    -------
    int or ndarray of int

    Examples
    --------
    >>> [defocus_level(z) for z in (0.0, -0.8, 1.8, 7.4, 7.6, 50.0, 120.0)]
    [0, 0, 1, 1, 2, 10, 10]
    """
    _check(tolerance_um, step_um)
    distance = np.abs(np.asarray(defocus_um, dtype=np.float64))
    if not np.all(np.isfinite(distance)):
        raise InvalidInputError("defocus values must be finite numbers of µm")
    level = np.clip(np.floor(distance / step_um + 0.5), 1, num_levels - 1).astype(np.int64)
    level = np.where(distance <= tolerance_um, 0, level)
    return int(level) if level.ndim == 0 else level


def describe_bins(*, tolerance_um=DEFAULT_TOLERANCE_UM, step_um=DEFAULT_STEP_UM, num_levels=NUM_LEVELS):
    """The level bins in words, for dataset cards and manifests.

    Returns
    -------
    dict
        ``{"in_focus_tolerance_um", "level_step_um", "levels": [[level, low_um, high_um], ...]}``:
        level 0 is ``|dz| <= tolerance``, level 1 ``tolerance < |dz| < high``, every other level
        ``low <= |dz| < high`` (halves go up); the last level is unbounded.
    """
    _check(tolerance_um, step_um)
    levels = [[0, 0.0, tolerance_um]]
    for level in range(1, num_levels):
        low = tolerance_um if level == 1 else max(tolerance_um, (level - 0.5) * step_um)
        high = math.inf if level == num_levels - 1 else max(tolerance_um, (level + 0.5) * step_um)
        levels.append([level, low, high])
    return {"in_focus_tolerance_um": tolerance_um, "level_step_um": step_um, "levels": levels}
