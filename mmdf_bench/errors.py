"""Exceptions raised by mmdf-bench.

Every error says what went wrong and, where there is one, which file or name
caused it, so that a user can act on the message alone.
"""


class MmdfBenchError(Exception):
    """Base class of the errors raised by mmdf-bench."""


class InvalidInputError(MmdfBenchError, ValueError):
    """An image, stack or file is not what the task expects."""


class UnknownNameError(MmdfBenchError, LookupError):
    """A method, dataset, metric or task name is not registered."""

    def __str__(self):  # LookupError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class NameCollisionError(MmdfBenchError):
    """Two registrations claim the same name."""


class WeightsUnavailableError(MmdfBenchError, FileNotFoundError):
    """A pretrained file is neither on disk nor downloadable."""


class NotApplicableError(MmdfBenchError):
    """A method cannot run on a dataset: an oracle needs a truth the data does not carry."""


class MetricUnavailableError(MmdfBenchError):
    """A metric cannot be computed here (missing weights or package)."""


class OutputError(MmdfBenchError, OSError):
    """A result, report or picture cannot be written where the user asked."""


class CheckpointError(MmdfBenchError):
    """A cached checkpoint is missing, corrupt or unreadable."""


class PluginError(MmdfBenchError):
    """A registered component cannot be imported, or its class breaks the contract."""
