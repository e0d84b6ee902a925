"""mmdf-bench: benchmarks for mobile bright-field microscopy image processing.

The package holds the framework (registry, task protocols, data, metrics,
statistics, runner and leaderboards). Methods live in the sub-packages
``mmdf_bench.baselines`` (classical) and ``mmdf_bench.methods`` (deep; the
repository folders ``baselines/`` and ``methods/``) and are found, like any
third-party plugin, through entry points.

The Python API is imported on first use, so ``import mmdf_bench`` stays
light:

``run``                                     evaluate methods x datasets, write a results folder
``load_run``, ``compare_runs``              read a results folder; compare two
``list_methods``, ``list_datasets``,        registered names (patterns, ``task=``)
``list_metrics``
``create_method``, ``create_dataset``,      build a registered component by name
``create_metric``
``register_method``, ``register_dataset``,  register a class of your own (decorators)
``register_metric``

Messages go to the ``logging`` logger ``"mmdf_bench"``; the command line
installs a handler for it, a program configures its own.

Examples
--------
>>> import numpy as np
>>> import mmdf_bench
>>> "wavelet" in mmdf_bench.list_methods(task="fusion")
True
>>> stack = np.zeros((2, 32, 32), np.float32)
>>> stack[0, :, :16] = stack[1, :, 16:] = 1.0
>>> mmdf_bench.create_method("max-abs").fuse(stack).shape
(32, 32)
"""

import logging as _logging
from importlib import import_module as _import_module
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("mmdf-bench")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# A library logs; the program that uses it decides where messages go.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

#: Public name -> the module that defines it, imported on first access.
_API = {
    "run": "mmdf_bench.runner",
    "load_run": "mmdf_bench.run_folder",
    "compare_runs": "mmdf_bench.compare",
    **dict.fromkeys(("list_methods", "list_datasets", "list_metrics", "create_method",
                     "create_dataset", "create_metric", "register_method", "register_dataset",
                     "register_metric"), "mmdf_bench.registry"),
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name):
    if name in _API:
        value = getattr(_import_module(_API[name]), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'mmdf_bench' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_API})
