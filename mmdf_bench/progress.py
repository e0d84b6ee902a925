"""Progress bars on stderr, and the one switch that silences every one of them.

The bars of evaluation (`mmdf_bench.dispatch`), of downloads
(`mmdf_bench.weights`) and of the training loops of deep methods all come
from `progress_bar`. ``--quiet`` calls ``set_progress(False)``, which sets
``MMDF_BENCH_PROGRESS=0`` so that worker processes started afterwards stay
quiet too; the variable can also be set by hand.

References
----------
.. [1] https://tqdm.github.io/docs/tqdm/ (``disable``)
"""

import os
import sys

__all__ = ["PROGRESS_VARIABLE", "progress_bar", "progress_enabled", "set_progress"]

PROGRESS_VARIABLE = "MMDF_BENCH_PROGRESS"


def progress_enabled():
    """False when progress bars are switched off (``MMDF_BENCH_PROGRESS=0``)."""
    return os.environ.get(PROGRESS_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def set_progress(enabled):
    """Switch every progress bar on or off, in this process and the workers it starts."""
    os.environ[PROGRESS_VARIABLE] = "1" if enabled else "0"


def progress_bar(total=None, description=None, *, unit="step", enabled=True, **options):
    """A tqdm bar on stderr, disabled when `enabled` is false or bars are switched off.

    Parameters
    ----------
    total : int, optional
    description : str, optional
    unit : str, optional
    enabled : bool, optional
        The caller's own switch (e.g. ``run(progress=False)``).
    **options
        Passed to ``tqdm`` (``leave``, ``mininterval``, ``unit_scale``).
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr,
                disable=not (enabled and progress_enabled()), **options)
