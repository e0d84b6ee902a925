"""Write a run's tables as they are produced, so an interruption loses nothing.

`ResultsRecorder` appends to four CSV files, flushing every write:

``scores.csv``
    One row per dataset x method x sample x metric.
``failures.csv``
    What went wrong, where.
``samples.csv``
    Per-sample facts (group, subset, ...), one row per loaded sample.
``completed.csv``
    One row per (dataset, method, sample) whose rows are all written, with
    the prediction time (empty when the prediction failed). It is the
    run's journal: a resumed run (``--resume``) keeps exactly the
    completed units, drops rows of a unit that was cut off half-way, and
    computes the rest.

Rows arrive in whatever order parallel workers finish; `finish` rewrites
every table in the serial order (datasets, then methods, then samples, in
the order the run lists them), so a parallel or resumed run writes the
same bytes as an uninterrupted serial one. Timings stay out of
``scores.csv`` for the same reason.
"""

import csv
import logging

from mmdf_bench.run_format import (COMPLETED_COLUMNS, COMPLETED_FILE, FAILURE_COLUMNS,
                                   FAILURES_FILE, SAMPLE_COLUMNS, SAMPLES_FILE, SCORE_COLUMNS,
                                   SCORES_FILE, read_csv_rows, read_journal, write_csv_atomic)

_log = logging.getLogger(__name__)

__all__ = ["RETRIED_STAGES", "ResultsRecorder", "RunOrder"]

#: Failures a resumed run forgets and meets again (or not): they concern no
#: finished unit - a dataset that did not open, a method that did not
#: build, a task lost with its worker.
RETRIED_STAGES = ("dataset", "build", "worker")


class RunOrder:
    """The serial order of a run: datasets, methods, and each dataset's samples.

    Parameters
    ----------
    datasets, methods : sequence of str
    samples : dict
        Dataset -> sequence of sample ids.
    """

    def __init__(self, datasets, methods, samples):
        self.datasets = _positions(datasets)
        self.methods = _positions(methods)
        self.samples = {name: _positions(ids) for name, ids in samples.items()}

    def unit_key(self, dataset, method, sample_id):
        """Sort key; a missing method or sample (dataset, load, build rows) sorts first."""
        samples = self.samples.get(dataset, {})
        return (self.datasets.get(dataset, len(self.datasets)),
                -1 if not method else self.methods.get(method, len(self.methods)),
                -1 if not sample_id else samples.get(sample_id, len(samples)))


def _positions(names):
    return {name: index for index, name in enumerate(names)}


class ResultsRecorder:
    """Appends score, failure, sample and completion rows to CSV files in `out_dir`.

    Parameters
    ----------
    out_dir : Path
    resume : bool, optional
        Keep the tables already in `out_dir`, minus the rows of units that
        did not complete, and append to them.

    Attributes
    ----------
    completed : dict
        ``(dataset, method, sample_id) -> seconds`` (None when the
        prediction failed) of every finished unit.
    recorded_samples : set
        ``(dataset, sample_id)`` of the samples loaded or failed to load.
    failed_loads : set
        ``(dataset, sample_id)`` of the samples that failed to load.
    failure_records, timings : list of dict
        Filled by `finish`, in serial order, for the manifest.
    """

    def __init__(self, out_dir, *, resume=False):
        self.scores_path = out_dir / SCORES_FILE
        self.failures_path = out_dir / FAILURES_FILE
        self.samples_path = out_dir / SAMPLES_FILE
        self.completed_path = out_dir / COMPLETED_FILE
        self.completed = {}
        self.recorded_samples = set()
        self.failed_loads = set()
        self.failure_records = []
        self.timings = []
        self._sample_columns = None
        self._handles = {}
        if resume:
            self._restore()
        else:
            if self.samples_path.exists():  # a table left by an earlier run in this folder
                self.samples_path.unlink()
            for path, columns in self._tables():
                self._open(path, columns, mode="w")

    def _tables(self):
        return [(self.scores_path, SCORE_COLUMNS), (self.failures_path, FAILURE_COLUMNS),
                (self.completed_path, COMPLETED_COLUMNS)]

    def _open(self, path, columns, *, mode):
        handle = open(path, mode, newline="", encoding="utf-8")
        writer = csv.writer(handle)
        if mode == "w":
            writer.writerow(columns)
            handle.flush()
        self._handles[path] = (writer, handle)

    def _restore(self):
        """Read what an interrupted run wrote; keep the rows of completed units only."""
        tables = {path: read_journal(path, columns) for path, columns in self._tables()}
        for row in tables[self.completed_path]:
            dataset, method, sample_id, seconds = row
            self.completed[dataset, method, sample_id] = float(seconds) if seconds else None
        tables[self.scores_path] = [row for row in tables[self.scores_path]
                                    if tuple(row[:3]) in self.completed]
        kept = []
        for row in tables[self.failures_path]:
            dataset, method, sample_id, stage = row[:4]
            if stage == "load":
                self.recorded_samples.add((dataset, sample_id))
                self.failed_loads.add((dataset, sample_id))
                kept.append(row)
            elif stage not in RETRIED_STAGES and (dataset, method, sample_id) in self.completed:
                kept.append(row)
        tables[self.failures_path] = kept
        for path, columns in self._tables():
            write_csv_atomic(path, columns, tables[path])
            self._open(path, columns, mode="a")
        header, *rows = (read_csv_rows(self.samples_path) if self.samples_path.exists() else []) or [[]]
        if header:  # else no sample was recorded: the table starts with the first one
            self._sample_columns = tuple(header)
            rows = [row for row in rows if len(row) == len(header)]
            self.recorded_samples.update((row[0], row[1]) for row in rows)
            write_csv_atomic(self.samples_path, self._sample_columns, rows)
            self._open(self.samples_path, self._sample_columns, mode="a")

    def _write(self, path, rows):
        writer, handle = self._handles[path]
        writer.writerows(rows)
        handle.flush()

    def sample(self, dataset, sample_id, group, facts):
        """Record one loaded sample and the task's facts about it."""
        if self._sample_columns is None:
            self._sample_columns = (*SAMPLE_COLUMNS, *facts)
            self._open(self.samples_path, self._sample_columns, mode="w")
        row = {"dataset": dataset, "sample_id": sample_id, "group": group, **facts}
        self._write(self.samples_path, [[row.get(column, "") for column in self._sample_columns]])
        self.recorded_samples.add((dataset, sample_id))

    def failure(self, dataset, method, sample_id, stage, error):
        """Record one failure; `error` is an exception or its message."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._write(self.failures_path, [[dataset, method, sample_id, stage, message]])
        if stage == "load":
            self.recorded_samples.add((dataset, sample_id))
            self.failed_loads.add((dataset, sample_id))
        _log.warning("%s failed for %s on %s/%s: %s", stage, method or "-", dataset,
                     sample_id or "-", message)

    def unit(self, dataset, method, result):
        """Record everything one method produced on one sample, then mark it completed.

        Parameters
        ----------
        dataset, method : str
        result : mmdf_bench.evaluation.SampleResult
        """
        sample_id = result.sample_id
        self._write(self.scores_path, [[dataset, method, sample_id, result.group, metric,
                                        repr(float(value))] for metric, value in result.scores])
        for stage, message in result.failures:
            self.failure(dataset, method, sample_id, stage, message)
        # the journal row comes last: a unit cut off before it is computed again on resume
        seconds = "" if result.seconds is None else repr(float(result.seconds))
        self._write(self.completed_path, [[dataset, method, sample_id, seconds]])
        self.completed[dataset, method, sample_id] = result.seconds

    def close(self):
        for _, handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def finish(self, order):
        """Close the files and rewrite every table in the serial order of `order` (a `RunOrder`)."""
        self.close()
        for path, columns in self._tables():
            # rows start with dataset, method, sample; the sort is stable: metric order stays
            rows = sorted(read_journal(path, columns), key=lambda row: order.unit_key(*row[:3]))
            write_csv_atomic(path, columns, rows)
            if path == self.failures_path:
                self.failure_records = [dict(zip(FAILURE_COLUMNS, [value or None for value in row]))
                                        for row in rows]
            if path == self.completed_path:
                self.timings = [{"dataset": dataset, "method": method, "sample_id": sample_id,
                                 "seconds": float(seconds)}
                                for dataset, method, sample_id, seconds in rows if seconds]
        if self._sample_columns:
            _, *rows = read_csv_rows(self.samples_path)
            rows.sort(key=lambda row: order.unit_key(row[0], None, row[1]))
            write_csv_atomic(self.samples_path, self._sample_columns, rows)
