"""Where results are written, and a clear message when they cannot be.

Every command that writes (``run --out``, ``report -o``, ``focus-map -o``,
``stack-from-video -o``, ``compare -o``) checks its destination before it
computes anything, so that a read-only file system, a full disk or a file
standing where a folder should be is reported in one line, before minutes
of work, and names the path. Writes that fail later (the disk fills during
a run) go through `writing`, which turns the operating system's error into
the same kind of message.
"""

import errno
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from mmdf_bench.errors import OutputError

__all__ = ["describe_os_error", "is_storage_error", "prepare_output_file", "prepare_output_folder",
           "writing"]

_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENAMETOOLONG: "the name is too long",
}


#: Errors of the storage itself, not of one sample: a run stops on them instead of
#: recording one failure per sample (nothing is lost; --resume continues).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def is_storage_error(error):
    """True when `error` says the disk is full or read-only (not a problem of one sample)."""
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def describe_os_error(error):
    """A short, plain reason for an `OSError` raised while writing."""
    return _REASONS.get(error.errno) or (error.strerror or str(error)).lower()


def _message(path, error, option):
    where = f" ({option})" if option else ""
    return f"cannot write {path}{where}: {describe_os_error(error)}"


def _blocking_file(path):
    """The first of `path` and its parents that exists and is not a folder, or None."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def prepare_output_folder(path, *, option=None):
    """Create the folder `path` (and its parents) and make sure files can be written in it.

    Parameters
    ----------
    path : str or Path
    option : str, optional
        The command-line option that named it (``"--out"``), for the message.

    Returns
    -------
    path : Path

    Raises
    ------
    OutputError
        When `path` (or a parent) is a file, or the folder cannot be created
        or written to (read-only file system, no permission, disk full).
    """
    path = Path(path)
    where = f" ({option})" if option else ""
    blocking = _blocking_file(path)
    if blocking is not None:
        what = "is a file" if blocking == path else f"cannot be created: {blocking} is a file"
        raise OutputError(f"output folder {path}{where} {what}, not a folder; "
                          "give the path of a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
    except OSError as error:
        raise OutputError(_message(path, error, option)) from None
    return path


def prepare_output_file(path, *, option=None):
    """Check that the file `path` can be written: not a folder, its folder writable.

    The folder is created when missing. The file itself is not created, so a
    command that fails later leaves nothing behind.

    Returns
    -------
    path : Path

    Raises
    ------
    OutputError
    """
    path = Path(path)
    where = f" ({option})" if option else ""
    if path.is_dir():
        raise OutputError(f"output file {path}{where} is a folder; give the name of a file")
    blocking = _blocking_file(path.parent)
    if blocking is not None:
        raise OutputError(f"cannot write {path}{where}: {blocking} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(path))
        _probe(path.parent)
    except OSError as error:
        raise OutputError(_message(path, error, option)) from None
    return path


def _probe(folder):
    # Writing one byte, not only testing permissions: a read-only mount or a
    # full disk shows itself only when data is written (os.access says yes to root).
    probe = folder / f".mmdf-bench-probe-{uuid.uuid4().hex}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"0")
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        probe.unlink(missing_ok=True)


@contextmanager
def writing(path, *, option=None, kept=None):
    """Turn an `OSError` raised inside the block into an `OutputError` naming `path`.

    Parameters
    ----------
    path : str or Path
        What the block writes.
    option : str, optional
        The command-line option that named it.
    kept : str, optional
        What survives the failure (e.g. "the results recorded so far are kept
        in runs/x; continue with --resume runs/x"), appended to the message.
    """
    try:
        yield
    except OutputError:
        raise
    except OSError as error:
        if error.errno is None:  # not the operating system's (e.g. a closed network link)
            raise
        name = Path(error.filename) if error.filename else Path(path)
        if name == Path(path) or Path(path) in name.parents:
            message = _message(name, error, option)
        else:  # something else the block touched
            message = f"{name}: {describe_os_error(error)}"
        raise OutputError(message + (f"; {kept}" if kept else "")) from None
