"""Where a run writes: a folder that holds no other run, created uniquely, held by one run.

Results are never lost without a word:

* a folder that already holds a run is refused, unless the run continues it
  (``--resume``) or replaces it (``--overwrite``): `claim_run_folder`;
* the default folder (``runs/<task>-<time>``) is created atomically, with a
  suffix when the name is taken, so two runs started in the same second
  get two folders: `new_run_folder`;
* while a run writes into a folder, another run (or a ``--resume`` of it)
  is refused: `locked_run_folder`.

References
----------
.. [1] https://man7.org/linux/man-pages/man2/flock.2.html
"""

import contextlib
import errno
import itertools
import os
import shutil
from pathlib import Path

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.run_format import OUTPUTS_FOLDER, RUN_FILES

__all__ = ["LOCK_FILE", "RunFolderError", "claim_run_folder", "locked_run_folder",
           "new_run_folder", "run_files"]

LOCK_FILE = ".mmdf-bench.lock"


class RunFolderError(MmdfBenchError):
    """A results folder cannot be used: it holds another run, or a run is writing into it."""


def run_files(folder):
    """The names of the run files (and ``outputs/``) present in `folder`, in `RUN_FILES` order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    present = [name for name in RUN_FILES if (folder / name).exists()]
    return present + ([OUTPUTS_FOLDER] if (folder / OUTPUTS_FOLDER).is_dir() else [])


def claim_run_folder(folder, *, overwrite=False):
    """Make sure `folder` holds no earlier run, or (with `overwrite`) delete that run's files.

    Raises
    ------
    RunFolderError
        When `folder` holds a run and `overwrite` is false: continuing it
        is ``--resume``, replacing it ``--overwrite``.
    """
    folder = Path(folder)
    present = run_files(folder)
    if not present:
        return
    if not overwrite:
        raise RunFolderError(
            f"{folder} already holds a run ({', '.join(present)}); continue it with --resume "
            f"{folder}, replace it with --overwrite, or choose another --out")
    for name in present:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def new_run_folder(parent, stem):
    """Create and return a new, empty folder ``parent/stem`` (``stem-2``, ... when taken).

    The folder is created atomically (`os.mkdir` fails when it exists), so
    two runs started in the same second get two folders.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in itertools.count(1):
        folder = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder


@contextlib.contextmanager
def locked_run_folder(folder):
    """Hold `folder` for one writing run; another run (or ``--resume``) meanwhile is refused.

    The lock is an advisory ``flock`` on ``.mmdf-bench.lock``, which the
    operating system releases when the process ends, however it ends: a
    killed run never leaves its folder locked. Where ``fcntl`` does not
    exist (Windows), or the file system has no locks, the folder is not
    locked.

    Raises
    ------
    RunFolderError
        When another process holds the folder.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(folder) / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            # a file system without locks (some network mounts): the run writes unlocked
            handle.close()
            path.unlink(missing_ok=True)
            yield
            return
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunFolderError(f"another mmdf-bench run ({holder}) is writing into {folder}; "
                             "wait for it to finish, or choose another --out") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)  # before the release: no run finds a stale file
        handle.close()
