"""The results folder of ``mmdf-bench run``: its files, columns, manifest and leaderboard JSON.

This module is the one place that knows how a run folder is laid out; the
recorder that writes it (`mmdf_bench.recorder`), the runner, the readers
(`mmdf_bench.run_folder`, `mmdf_bench.resume`, reports, comparisons) and
the leaderboard files all go through it.

======================  ==================================================
file                    contents
======================  ==================================================
``scores.csv``          `SCORE_COLUMNS`: one row per dataset x method x
                        sample x metric
``failures.csv``        `FAILURE_COLUMNS`: what went wrong, where
``samples.csv``         `SAMPLE_COLUMNS`, then the task's facts about each
                        loaded sample (subset, label, ...)
``completed.csv``       `COMPLETED_COLUMNS`: the journal of finished
                        (dataset, method, sample) units, with their
                        prediction time (what ``--resume`` keeps)
``manifest.json``       the manifest (below)
``leaderboard.md``      the leaderboard for people
``leaderboard.csv``     the leaderboard's rows
``leaderboard.json``    the whole leaderboard (`leaderboard_to_json`)
``outputs/``            with ``--save-outputs``: ``<dataset>/<method>/<sample>.*``
======================  ==================================================

The manifest is a JSON object whose key ``mmdf_bench_results`` holds the
format version (`FORMAT_VERSION`); the runner also records ``task``,
``status`` (running, complete, interrupted), ``started``, ``seed``,
``profile``, ``limit``, ``config`` (what a resumed run must repeat, see
`mmdf_bench.resume.run_config`), ``executor``, ``git_commit``,
``versions``, ``environment``, ``datasets``, ``methods``, ``metrics``,
``primary_metrics`` and, at the end, ``failures``, ``timings`` and
``seconds``.

Reading: the name columns (`NAME_COLUMNS`) are plain strings. A sample
named ``NA``, ``null``, ``None``, ``nan`` or ``N/A`` keeps its name, where
pandas would read it as missing; only an empty cell is missing.

Writing: a file that is written whole is replaced atomically
(`write_text_atomic`), so an interruption, or another process reading it,
meets the old file or the new one, never half of one. Which folder a run
may write into is `mmdf_bench.run_destination`'s concern.

References
----------
.. [1] https://pandas.pydata.org/docs/reference/api/pandas.read_csv.html
       (``keep_default_na`` and ``na_values``)
"""

import csv
import dataclasses
import io
import json
import math
import os
import secrets
import typing
from pathlib import Path

from mmdf_bench.errors import MmdfBenchError

# NumPy and pandas are imported where they are used: the command line reads
# the file names from here before any heavy import (`mmdf-bench list` stays
# fast; `mmdf-bench reference` still sets the thread count before NumPy loads).

__all__ = ["COMPLETED_COLUMNS", "COMPLETED_FILE", "FAILURES_FILE", "FAILURE_COLUMNS",
           "FORMAT_VERSION", "LEADERBOARD_FILES", "MANIFEST_FILE", "NAME_COLUMNS",
           "OUTPUTS_FOLDER", "RUN_FILES", "RunFormatError", "SAMPLES_FILE", "SAMPLE_COLUMNS",
           "SCORES_FILE", "SCORE_COLUMNS", "leaderboard_from_json", "leaderboard_to_json",
           "plain", "read_csv_rows", "read_journal", "read_leaderboard", "read_manifest",
           "read_table", "write_csv_atomic", "write_leaderboard", "write_manifest",
           "write_text_atomic"]

#: Written under the manifest key ``mmdf_bench_results``; a reader refuses a newer one.
FORMAT_VERSION = 1
VERSION_KEY = "mmdf_bench_results"

SCORES_FILE = "scores.csv"
FAILURES_FILE = "failures.csv"
SAMPLES_FILE = "samples.csv"
COMPLETED_FILE = "completed.csv"
MANIFEST_FILE = "manifest.json"
LEADERBOARD_FILES = {"markdown": "leaderboard.md", "csv": "leaderboard.csv",
                     "json": "leaderboard.json"}
OUTPUTS_FOLDER = "outputs"

SCORE_COLUMNS = ("dataset", "method", "sample_id", "group", "metric", "value")
FAILURE_COLUMNS = ("dataset", "method", "sample_id", "stage", "error")
#: The leading columns of ``samples.csv``; the task's facts follow.
SAMPLE_COLUMNS = ("dataset", "sample_id", "group")
#: Also the columns of the manifest's per-sample ``timings``.
COMPLETED_COLUMNS = ("dataset", "method", "sample_id", "seconds")
#: Everything a run writes in its folder (the outputs folder aside).
RUN_FILES = (SCORES_FILE, FAILURES_FILE, SAMPLES_FILE, COMPLETED_FILE, MANIFEST_FILE,
             *LEADERBOARD_FILES.values())
#: Columns read as plain strings wherever they appear (empty cell = missing).
NAME_COLUMNS = ("dataset", "method", "sample_id", "group", "metric", "stage", "error", "subset")
# What pandas reads as missing in the other columns (its defaults, less odd spellings).
_MISSING = ("", "nan", "NaN", "-nan", "NA", "N/A", "n/a", "null", "NULL", "None", "<NA>")


class RunFormatError(MmdfBenchError):
    """A file of a results folder is missing, unreadable or of another format."""


# --- writing ---------------------------------------------------------------------------------

def write_text_atomic(path, text):
    """Replace `path` by `text` atomically: readers meet the old or the new file whole.

    The text goes to a uniquely named file beside `path` first, so two
    writers never share a temporary file.
    """
    path = Path(path)
    # opened with "x" (not tempfile's 0600 files): the result gets the usual permissions
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    handle = open(temporary, "x", encoding="utf-8", newline="")
    try:
        with handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_csv_atomic(path, columns, rows):
    """Replace the CSV file `path` by a header and `rows`, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def plain(value):
    """A JSON-ready copy: numpy scalars to Python, NaN and missing to None, paths to text."""
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_manifest(out_dir, manifest):
    """Write ``manifest.json`` whole (a killed run leaves one that ``--resume`` can read)."""
    document = {VERSION_KEY: FORMAT_VERSION, **manifest}
    write_text_atomic(Path(out_dir) / MANIFEST_FILE,
                      json.dumps(document, indent=2, default=str))


# --- reading ---------------------------------------------------------------------------------

def read_csv_rows(path):
    """All rows of a CSV file, header first, without a last line cut off by a crash."""
    with open(path, newline="", encoding="utf-8") as handle:
        text = handle.read()
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    rows = []
    try:
        for row in csv.reader(io.StringIO(text)):
            rows.append(row)
    except csv.Error:  # a quoted message cut off half-way: the rows before it stand
        pass
    return rows


def read_journal(path, columns):
    """The complete rows (lists of str) of a table the recorder appends to.

    Raises `RunFormatError` when the file is missing or has another header.
    """
    path = Path(path)
    if not path.exists():
        raise RunFormatError(f"{path} is missing: the folder was not written by a run that can "
                             "be resumed")
    rows = read_csv_rows(path)
    if not rows or tuple(rows[0]) != tuple(columns):
        raise RunFormatError(f"{path} does not start with the header {','.join(columns)}")
    return [row for row in rows[1:] if len(row) == len(columns)]


def read_table(path, *, required=(), numeric=()):
    """Read a CSV table of a results folder into a DataFrame.

    Parameters
    ----------
    path : str or Path
    required : sequence of str, optional
        Columns the table must have.
    numeric : sequence of str, optional
        Columns that must hold numbers (``nan`` and ``inf`` allowed).

    Returns
    -------
    pandas.DataFrame
        `NAME_COLUMNS` as plain strings (NaN only for an empty cell); other
        columns as pandas infers them.

    Raises
    ------
    RunFormatError
        Naming the file, when it is empty, lacks a required column or holds
        a value that is not a number in a numeric column.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    header = read_csv_rows(path)[:1]
    if not header:
        raise RunFormatError(f"{path} is empty (not even a header row)")
    header = header[0]
    missing = [column for column in required if column not in header]
    if missing:
        raise RunFormatError(f"{path} lacks column(s) {missing}; has {header}")
    frame = pd.read_csv(
        path, keep_default_na=False,
        dtype={column: str for column in header if column in NAME_COLUMNS},
        na_values={column: [""] if column in NAME_COLUMNS else list(_MISSING)
                   for column in header})
    for column in numeric:
        try:
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype(np.float64)
        except (ValueError, TypeError) as error:
            raise RunFormatError(f"{path}: column {column!r} holds a value that is not a "
                                 f"number ({error})") from None
    return frame


def read_manifest(path):
    """Read ``manifest.json`` (or the one in the folder `path`) as a dict.

    Raises
    ------
    RunFormatError
        When the file is missing, not JSON, not an object, or written in a
        newer format than this mmdf-bench reads.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise RunFormatError(f"{path} not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFormatError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise RunFormatError(f"{path} holds a JSON {type(document).__name__}, not an object")
    version = document.get(VERSION_KEY, FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunFormatError(f"{path} is in results format {version!r}; this mmdf-bench reads "
                             f"format {FORMAT_VERSION} and older: upgrade mmdf-bench")
    return document


# --- the leaderboard -------------------------------------------------------------------------

def leaderboard_to_json(leaderboard):
    """The JSON document of `leaderboard`; `leaderboard_from_json` rebuilds it.

    Every field of `mmdf_bench.leaderboard.Leaderboard` is kept: tables as
    lists of records (NaN written as null) with their column types under
    ``"dtypes"``, so that reading gives the same frames back.
    """
    import pandas as pd

    hints = typing.get_type_hints(type(leaderboard))
    document = {"format": FORMAT_VERSION, "dtypes": {}}
    for item in dataclasses.fields(leaderboard):
        value = getattr(leaderboard, item.name)
        if hints.get(item.name) is pd.DataFrame:
            document["dtypes"][item.name] = {str(column): str(dtype)
                                             for column, dtype in value.dtypes.items()}
            value = value.to_dict("records")
        document[item.name] = plain(value)
    return document


def _restore_frame(records, dtypes):
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(records or [], columns=list(dtypes))
    for column, dtype in dtypes.items():
        if dtype == "bool":
            frame[column] = frame[column].astype(bool)
        elif dtype.startswith(("int", "float")):
            frame[column] = pd.to_numeric(frame[column]).astype(dtype)
        else:  # text ("str" or "object"): a JSON null was a missing value
            frame[column] = frame[column].where(frame[column].notna(), np.nan).astype(dtype)
    return frame


def leaderboard_from_json(document):
    """Rebuild the `Leaderboard` that `leaderboard_to_json` wrote.

    Raises
    ------
    RunFormatError
        When the document is not in this format (no ``dtypes``).
    """
    import pandas as pd

    from mmdf_bench.leaderboard import Leaderboard

    if "dtypes" not in document:
        raise RunFormatError("the leaderboard document holds no column types (written by an "
                             "older mmdf-bench)")
    hints = typing.get_type_hints(Leaderboard)
    values = {}
    for item in dataclasses.fields(Leaderboard):
        if item.name not in document:
            continue
        value = document[item.name]
        if hints.get(item.name) is pd.DataFrame:
            value = _restore_frame(value, document["dtypes"].get(item.name, {}))
        elif hints.get(item.name) is tuple:
            value = tuple(value)
        values[item.name] = value
    return Leaderboard(**values)


def write_leaderboard(leaderboard, out_dir):
    """Write ``leaderboard.md``, ``leaderboard.csv`` (its rows) and ``leaderboard.json``.

    Parameters
    ----------
    leaderboard : mmdf_bench.leaderboard.Leaderboard
    out_dir : str or Path
        Created when missing.

    Returns
    -------
    paths : dict
        ``{"markdown": ..., "csv": ..., "json": ...}`` paths written.
    """
    from mmdf_bench.leaderboard_render import to_markdown

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in LEADERBOARD_FILES.items()}
    write_text_atomic(paths["markdown"], to_markdown(leaderboard))
    write_text_atomic(paths["csv"], leaderboard.rows.to_csv(index=False))
    write_text_atomic(paths["json"], json.dumps(leaderboard_to_json(leaderboard), indent=2,
                                                allow_nan=False, ensure_ascii=False) + "\n")
    return paths


def read_leaderboard(run_dir):
    """The leaderboard stored in `run_dir`, or None when it has none in this format."""
    path = Path(run_dir) / LEADERBOARD_FILES["json"]
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFormatError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(document, dict) or "dtypes" not in document:
        return None
    return leaderboard_from_json(document)
