"""The `Metric` protocol the runner scores outputs with."""

from typing import Any, ClassVar


class Metric:
    """Base class of registered metrics.

    A metric is instantiated once per run (so heavy models load once), asked
    `check_available` once, then called through `compute` for every output.

    Most metrics are *plain*: `compute` returns one float per sample and the
    leaderboard reports their mean. Some metrics are not means of per-sample
    values (balanced accuracy, F1): they set `components`, `compute` returns
    one float per component (e.g. the sample's contribution to the confusion
    counts) and `aggregate` turns the components' sums over a set of samples
    into the metric value. The runner writes each component as a score row
    named ``"<metric>:<component>"``; the leaderboard pools and bootstraps
    them through `aggregate`.

    Attributes
    ----------
    name : str
        Registry name.
    tasks : tuple of str
        Tasks the metric applies to.
    higher_is_better : bool
        Direction used by ranks, ties and regression checks.
    value_range : str
        The values it takes, in words (``"0..1"``, ``"dB, capped at 100"``),
        shown with the direction in the leaderboard legend.
    requires_reference : bool
        When True, samples without a reference are skipped (no row, no failure).
    components : tuple of str
        Empty for plain metrics; otherwise the names of the per-sample values
        `compute` returns and `aggregate` combines.
    proportion : bool
        True when every per-sample value (or component) is a 0/1 count, as in
        accuracy or confusion counts: a value of exactly 0 or 1 then gets a
        Wilson interval instead of the bootstrap's zero-width one
        (`mmdf_bench.proportions`).
    summary, citation : str
    """

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple] = ()
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[str] = ""
    requires_reference: ClassVar[bool] = False
    components: ClassVar[tuple] = ()
    proportion: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    citation: ClassVar[str] = ""

    def check_available(self) -> None:
        """Raise `MetricUnavailableError` with the reason when it cannot run here."""

    def applies_to(self, sample: Any) -> bool:
        """False when the sample lacks what the metric needs (e.g. a reference)."""
        return not self.requires_reference or getattr(sample, "reference", None) is not None

    def applies_to_output(self, output: Any) -> bool:
        """False when the method's output lacks what the metric needs.

        E.g. a level distribution, which only level-aware focus methods give.
        The runner skips the pair (no score row, no failure) when either this
        or `applies_to` is False.
        """
        return True

    def compute(self, output: Any, sample: Any) -> float | dict[str, float]:
        """Score one method output on one sample.

        Returns a float for plain metrics, and a dict ``{component: float}``
        holding every name of `components` for component metrics.
        """
        raise NotImplementedError

    @staticmethod
    def aggregate(sums: dict, count: Any) -> Any:
        """Metric value from component sums (component metrics only).

        Parameters
        ----------
        sums : dict
            Component name -> ndarray (any shape, e.g. one entry per bootstrap
            resample) of that component summed over a set of samples.
        count : ndarray
            Number of samples in each set, same shape.

        Returns
        -------
        value : ndarray
            Same shape; NaN (without a warning) where the value is undefined,
            e.g. 0/0. It must depend on the component *means* only
            (``aggregate(c * sums, c * count) == aggregate(sums, count)``):
            the bootstrap relies on it to recognise constant data.
        """
        raise NotImplementedError("plain metrics are aggregated by their mean")
