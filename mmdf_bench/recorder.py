"""Write a run's tables as they are produced, so an interruption loses nothing.

`ResultsRecorder` appends to ``scores.csv`` (one row per dataset x method x
sample x metric), ``failures.csv`` (what went wrong, where) and
``samples.csv`` (per-sample facts such as the subset), flushing every row.
"""

import csv
import sys

from mmdf_bench.leaderboard import FAILURE_COLUMNS, SCORE_COLUMNS

SAMPLE_COLUMNS = ("dataset", "sample_id", "group")


class ResultsRecorder:
    """Appends score, failure and sample rows to CSV files in `out_dir`."""

    def __init__(self, out_dir):
        self.scores_path = out_dir / "scores.csv"
        self.failures_path = out_dir / "failures.csv"
        self.samples_path = out_dir / "samples.csv"
        self._handles = []
        self._scores = self._open(self.scores_path, SCORE_COLUMNS)
        self._failures = self._open(self.failures_path, FAILURE_COLUMNS)
        self._samples = None  # opened on the first sample: its columns depend on the task
        self.failure_records = []
        self.timings = []

    def _open(self, path, columns):
        handle = open(path, "w", newline="", encoding="utf-8")
        self._handles.append(handle)
        writer = csv.writer(handle)
        writer.writerow(columns)
        handle.flush()
        return writer, handle

    def score(self, dataset, method, sample, metric, value):
        writer, handle = self._scores
        writer.writerow([dataset, method, sample.sample_id, sample.group, metric, repr(float(value))])
        handle.flush()

    def sample(self, dataset, sample, facts):
        """Record one loaded sample and the task's facts about it."""
        if self._samples is None:
            self._sample_columns = (*SAMPLE_COLUMNS, *facts)
            self._samples = self._open(self.samples_path, self._sample_columns)
        writer, handle = self._samples
        row = {"dataset": dataset, "sample_id": sample.sample_id, "group": sample.group, **facts}
        writer.writerow([row.get(column, "") for column in self._sample_columns])
        handle.flush()

    def timing(self, dataset, method, sample_id, seconds):
        self.timings.append({"dataset": dataset, "method": method, "sample_id": sample_id,
                             "seconds": seconds})

    def failure(self, dataset, method, sample_id, stage, error):
        message = f"{type(error).__name__}: {error}"
        record = dict(zip(FAILURE_COLUMNS, [dataset, method, sample_id, stage, message]))
        self.failure_records.append(record)
        writer, handle = self._failures
        writer.writerow(list(record.values()))
        handle.flush()
        print(f"mmdf-bench: {stage} failed for {method or '-'} on {dataset}/{sample_id or '-'}: "
              f"{message}", file=sys.stderr)

    def close(self):
        for handle in self._handles:
            handle.close()
