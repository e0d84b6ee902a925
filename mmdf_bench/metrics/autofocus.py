"""Autofocus metrics: how far from focus is the plane a method would focus on?

On a z-stack sample (`mmdf_bench.tasks.focus.FocusStackSample`) a focus
method scores every plane (`FocusMethod.focus_score`); its autofocus choice
is the plane with the highest score. When several planes tie exactly, the
error is the mean over them: what choosing one of them at random would
give on average, so that a method that cannot tell planes apart is not
rewarded by the order of the planes.

Each z-stack is one field, so the leaderboard's interval for these metrics
is a confidence interval over fields.

References
----------
.. [1] F. C. A. Groen, I. T. Young and G. Ligthart, "A comparison of
       different focus functions for use in autofocus algorithms",
       Cytometry 6(2): 81-91, 1985.
.. [2] S. Pertuz, D. Puig and M. A. Garcia, "Analysis of focus measure
       operators for shape-from-focus", Pattern Recognition 46(5),
       1415-1432, 2013.
"""

import numpy as np

from mmdf_bench.metrics.base import Metric

__all__ = ["AutofocusError", "AutofocusSuccess", "autofocus_error"]


def autofocus_error(scores, z_um, focus_z_um):
    """Distance (µm) from focus of the highest-scoring plane; the mean over exact ties.

    Parameters
    ----------
    scores : array_like of float, shape (N,)
        Focus score of each plane, larger is closer to focus.
    z_um : array_like of float, shape (N,)
        z of each plane (µm).
    focus_z_um : float
        z of the focal plane (µm).

    Returns
    -------
    error : float

    Examples
    --------
    >>> autofocus_error([0.1, 0.9, 0.3], [-5.0, 0.5, 5.0], 0.0)
    0.5
    >>> autofocus_error([1.0, 1.0, 0.0], [-4.0, 2.0, 6.0], 0.0)
    3.0
    """
    scores = np.asarray(scores, dtype=np.float64)
    z_um = np.asarray(z_um, dtype=np.float64)
    chosen = scores == scores.max()
    return float(np.abs(z_um[chosen] - focus_z_um).mean())


def _is_stack(sample):
    return getattr(sample, "z_um", None) is not None and getattr(sample, "focus_z_um", None) is not None


def _is_autofocus(output):
    return getattr(output, "scores", None) is not None and getattr(output, "z_um", None) is not None


class _AutofocusMetric(Metric):
    tasks = ("focus",)

    def applies_to(self, sample):
        return _is_stack(sample)

    def applies_to_output(self, output):
        return _is_autofocus(output)


class AutofocusError(_AutofocusMetric):
    """Distance (µm) from the true focus of the plane the method rates sharpest."""

    name = "autofocus-error"
    higher_is_better = False
    value_range = "µm, 0 = the true focal plane"
    summary = ("µm between the true focus and the plane a method rates closest to focus, per "
               "z-stack (CI over fields)")
    citation = ("Groen, Young & Ligthart (1985), A comparison of different focus functions for use "
                "in autofocus algorithms, Cytometry 6(2)")

    def compute(self, output, sample):
        return autofocus_error(output.scores, output.z_um, sample.focus_z_um)


class AutofocusSuccess(_AutofocusMetric):
    """1 when the plane the method rates sharpest is within the in-focus tolerance of focus."""

    name = "autofocus-success"
    proportion = True  # 0/1 per stack
    higher_is_better = True
    value_range = "0..1"
    # 0/1 per stack; a tie gives a fraction, but a mean of exactly 0 or 1 means every value was 0 or 1
    proportion = True
    summary = "fraction of z-stacks whose chosen plane lies within the in-focus tolerance of the true focus"
    citation = AutofocusError.citation

    def compute(self, output, sample):
        scores = np.asarray(output.scores, dtype=np.float64)
        chosen = scores == scores.max()
        hits = np.abs(np.asarray(output.z_um)[chosen] - sample.focus_z_um) <= sample.tolerance_um
        return float(hits.mean())
