"""mmdf-bench: benchmarks for mobile bright-field microscopy image processing.

The package holds the framework (registry, task protocols, data, metrics,
statistics, runner and leaderboards). Methods live in the sub-packages
``mmdf_bench.baselines`` (classical) and ``mmdf_bench.methods`` (deep; the
repository folders ``baselines/`` and ``methods/``) and are found, like any
third-party plugin, through entry points.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("mmdf-bench")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
