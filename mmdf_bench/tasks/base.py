"""What every task shares: the `Task` description and the method base class."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, ClassVar


class Method:
    """Base class of every method, classical or deep, built-in or third-party.

    Subclasses set the class attributes below and implement the task's
    prediction (``fuse`` for fusion). Options are keyword arguments of
    ``__init__``; `config` reports them for the results manifest.

    Attributes
    ----------
    name : str
        The registry name (lower case, dashes).
    task : str
        The task the method solves.
    summary : str
        One line shown by ``mmdf-bench list``.
    citation : str
        The reference to cite for the method.
    weights_source : str
        For methods with pretrained or trained weights: where they come from.
    upper_bound : bool
        True for oracle rows (a method told the answer, e.g. the true depth
        map): shown in every table as an upper bound, never ranked or bolded.
    information : tuple of str
        What the method is given beyond the task's input, e.g.
        ``("psf-oracle",)`` or ``("depth-oracle",)``. Training data and
        pretrained weights are added by the runner.
    deviations : str
        Known deviations from the original method, one line (empty when none).
    family : str
        ``"deep"`` or ``"classical"``: which side of the leaderboard's
        deep-vs-classical verdict the method is on. Built-in methods leave it
        empty (their module says: ``mmdf_bench.methods`` or
        ``mmdf_bench.baselines``); third-party methods should set it.
    fitted_choices : dict
        Set by ``fit`` where it helps the manifest: each choice it made
        (``"weights"``, ``"threshold"``, ``"calibration"``, ...) -> the split
        it came from (``"train"`` or ``"validation"``). Without it, every
        fitted parameter is attributed to the splits ``fit`` received.
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    weights_source: ClassVar[str] = ""
    upper_bound: ClassVar[bool] = False
    information: ClassVar[tuple] = ()
    deviations: ClassVar[str] = ""
    family: ClassVar[str] = ""

    def fit(self, train_samples: Sequence, *, seed: int = 0,
            validation_samples: Sequence | None = None) -> "Method":
        """Learn from (or calibrate on) the train split. Does nothing by default.

        The runner passes `validation_samples` only to a ``fit`` that names
        that keyword (`mmdf_bench.tuning.fit_method`); a subclass may leave it
        out. Neither sequence ever holds a sample the method is scored on.

        Parameters
        ----------
        train_samples : sequence of samples
            Loaded lazily: a method that does not iterate it costs nothing.
        seed : int
            The run seed; all randomness must derive from it.
        validation_samples : sequence of samples, optional
            The validation split (disjoint by specimen from train and test),
            for choices made after fitting: thresholds, calibration, early
            stopping, model selection. Empty or None when the dataset has none.
        """
        return self

    def check_available(self) -> None:
        """Raise `WeightsUnavailableError` when the method cannot run here.

        Called once by the runner after construction; methods with
        pretrained files resolve them here so that missing weights make the
        method *unavailable* (reported with the reason) rather than failing
        on every sample.
        """

    @classmethod
    def needs_training(cls) -> bool:
        """True when the subclass overrides `fit`."""
        return cls.fit is not Method.fit

    def config(self) -> dict:
        """Return the options this instance was built with (JSON-serialisable)."""
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}


@dataclass(frozen=True)
class Task:
    """Everything the runner needs to know about one task.

    Attributes
    ----------
    name : str
    method_base : type
        The class every method of the task derives from (or quacks like).
    predict : callable
        ``predict(method, sample) -> output``; validates the output.
    save_output : callable
        ``save_output(output, path_without_suffix, *, bit_depth)`` writes the
        output for a person to open; image outputs at the sample's storage
        ``bit_depth``.
    default_datasets : tuple of str
    primary_metrics : tuple of str
        Metrics the leaderboard sorts by, the first available one wins.
    describe_sample : callable, optional
        ``describe_sample(sample) -> dict`` of per-sample facts kept in
        ``samples.csv``; a ``subset`` key makes the leaderboard break results down by it.
    baseline_method : str, optional
        A "do nothing" method (deblur: ``identity``) every other method is
        compared with, by paired bootstrap, on `gain_metrics`.
    gain_metrics : tuple of str
        Metrics of that comparison.
    method_call : str
        The method `predict` calls on a method of the task (``"fuse"``): a
        plugin class that does not derive from `method_base` must provide it.
    """

    name: str
    method_base: type
    predict: Callable
    save_output: Callable
    default_datasets: tuple = ()
    primary_metrics: tuple = ()
    description: str = ""
    describe_sample: Callable | None = None
    baseline_method: str | None = None
    gain_metrics: tuple = ()
    method_call: str = ""
