"""The `Metric` protocol the runner scores outputs with."""

from typing import ClassVar


class Metric:
    """Base class of registered metrics.

    A metric is instantiated once per run (so heavy models load once), asked
    `check_available` once, then called through `compute` for every output.

    Attributes
    ----------
    name : str
        Registry name.
    tasks : tuple of str
        Tasks the metric applies to.
    higher_is_better : bool
        Direction used by ranks, ties and regression checks.
    requires_reference : bool
        When True, samples without a reference are skipped (no row, no failure).
    summary, citation : str
    """

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple] = ()
    higher_is_better: ClassVar[bool] = True
    requires_reference: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    citation: ClassVar[str] = ""

    def check_available(self):
        """Raise `MetricUnavailableError` with the reason when it cannot run here."""

    def applies_to(self, sample):
        """False when the sample lacks what the metric needs (e.g. a reference)."""
        return not self.requires_reference or getattr(sample, "reference", None) is not None

    def compute(self, output, sample):
        """Score one method output on one sample; return a float."""
        raise NotImplementedError
