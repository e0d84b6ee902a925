"""mmdf-bench: benchmarks for mobile bright-field microscopy image processing.

The package holds the framework (registry, task protocols, data, metrics,
statistics, runner and leaderboards). Methods live in the sibling packages
``baselines`` (classical) and ``methods`` (deep) and are found, like any
third-party plugin, through entry points.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("mmdf-bench")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
