"""Where mmdf-bench looks for pretrained weights, real data and its cache.

Three environment variables steer it:

``MMDF_BENCH_WEIGHTS``
    A folder of pretrained files, laid out as ``<family>/<file>``
    (for example ``ifcnn/IFCNN-MAX.pth``). Searched first.
``MMDF_BENCH_DATA``
    A folder of real datasets, one sub-folder per dataset (``lytro/``, ...).
``MMDF_BENCH_CACHE``
    Where downloads and trained checkpoints are kept. Defaults to
    ``$XDG_CACHE_HOME/mmdf-bench`` or ``~/.cache/mmdf-bench``.
"""

import os
from pathlib import Path

WEIGHTS_VARIABLE = "MMDF_BENCH_WEIGHTS"
DATA_VARIABLE = "MMDF_BENCH_DATA"
CACHE_VARIABLE = "MMDF_BENCH_CACHE"


def cache_dir():
    """Return the user cache folder (not created)."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mmdf-bench"


def weights_dir():
    """Return the folder named by ``MMDF_BENCH_WEIGHTS``, or None."""
    value = os.environ.get(WEIGHTS_VARIABLE)
    return Path(value).expanduser() if value else None


def data_dir():
    """Return the folder named by ``MMDF_BENCH_DATA``, or None."""
    value = os.environ.get(DATA_VARIABLE)
    return Path(value).expanduser() if value else None
