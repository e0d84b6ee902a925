"""Reading a results folder written by ``mmdf-bench run``, and telling whether two are comparable.

A results folder holds ``scores.csv`` (one row per dataset, method, sample
and metric), ``manifest.json`` (versions, datasets, metrics), and usually
``failures.csv``, ``samples.csv``, the leaderboard files and, with
``--save-outputs``, ``outputs/<dataset>/<method>/<sample>.*`` (the format is
`mmdf_bench.run_format`'s). Regression checks (`mmdf_bench.compare`) and
reports (`mmdf_bench.report`) read it through `load_run`.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.run_format import (COMPLETED_COLUMNS, FAILURE_COLUMNS, FAILURES_FILE, MANIFEST_FILE, OUTPUTS_FOLDER,
                                   SAMPLES_FILE, SCORES_FILE, read_manifest, read_table)

__all__ = ["IncomparableRunsError", "RunTables", "check_comparable", "leaderboard_of_run",
           "load_run"]

# Dataset facts that decide which samples a dataset produces; the root folder
# and the providing package's version do not.
_CONTENT_FIELDS = ("version", "seed", "options")
_EXAMPLES = 5


class IncomparableRunsError(MmdfBenchError):
    """The two runs did not evaluate the same samples of the same dataset versions."""


@dataclass
class RunTables:
    """What a results folder holds, as `load_run` reads it.

    Attributes
    ----------
    path : Path
    scores : pandas.DataFrame
        The long table (dataset, method, sample_id, group, metric, value).
    manifest : dict
    samples : dict
        Dataset -> ``{sample_id: group}`` of every sample the run set out to
        evaluate (loaded, or failed to load).
    sample_facts : pandas.DataFrame
        ``samples.csv``: one row per loaded sample with the task's facts
        about it (subset, label, number of planes, ...); empty when absent.
    failures : pandas.DataFrame
        ``failures.csv`` (dataset, method, sample_id, stage, error); empty
        when absent.
    """

    path: Path
    scores: pd.DataFrame
    manifest: dict
    samples: dict
    sample_facts: pd.DataFrame
    failures: pd.DataFrame

    @property
    def outputs(self):
        """The folder of saved method outputs (present after ``run --save-outputs``)."""
        return self.path / OUTPUTS_FOLDER


def load_run(path):
    """Read a results folder written by ``mmdf-bench run``.

    Parameters
    ----------
    path : str or Path
        The run folder (holding ``scores.csv`` and ``manifest.json``), or its
        ``scores.csv``.

    Returns
    -------
    RunTables
        Sample, method, dataset and metric names are plain strings, whatever
        they spell (``NA``, ``None``, ...).

    Raises
    ------
    MmdfBenchError
        When the folder lacks ``scores.csv`` or ``manifest.json``, or a table
        lacks a column, naming the file.
    """
    path = Path(path)
    if path.is_file() and path.name == SCORES_FILE:
        path = path.parent
    scores_path, manifest_path = path / SCORES_FILE, path / MANIFEST_FILE
    for required in (scores_path, manifest_path):
        if not required.is_file():
            raise MmdfBenchError(f"{required} not found: {path} is not a results folder of "
                                 "`mmdf-bench run`")
    scores = read_table(scores_path, required=("dataset", "method", "sample_id", "metric",
                                               "value"), numeric=("value",))
    if "group" not in scores.columns:
        scores["group"] = np.nan
    scores["group"] = scores["group"].where(scores["group"].notna(), scores["sample_id"])
    manifest = read_manifest(manifest_path)
    facts = (read_table(path / SAMPLES_FILE) if (path / SAMPLES_FILE).is_file()
             else pd.DataFrame(columns=["dataset", "sample_id"]))
    failures = (read_table(path / FAILURES_FILE) if (path / FAILURES_FILE).is_file()
                else pd.DataFrame(columns=FAILURE_COLUMNS))
    return RunTables(path, scores, manifest, _attempted_samples(scores, facts, failures),
                     facts, failures)


def leaderboard_of_run(run):
    """Compute the leaderboard of a run from its tables and manifest.

    What ``mmdf-bench run`` writes as ``leaderboard.*`` at its end, and what
    a report shows for a run whose ``leaderboard.json`` is missing.

    Parameters
    ----------
    run : RunTables

    Returns
    -------
    mmdf_bench.leaderboard.Leaderboard

    Raises
    ------
    MmdfBenchError
        When the manifest describes no metric (their directions are unknown).
    """
    from mmdf_bench.components import aggregators_of
    from mmdf_bench.leaderboard import build_leaderboard
    from mmdf_bench.tasks import get_task

    manifest = run.manifest
    metrics = manifest.get("metrics") or {}
    if not metrics:
        raise MmdfBenchError(f"{run.path / MANIFEST_FILE} describes no metrics; cannot build "
                             "the run's leaderboard")
    task = get_task(manifest["task"]) if manifest.get("task") else None
    return build_leaderboard(
        run.scores, metrics=metrics, failures=run.failures,
        seconds=pd.DataFrame(manifest.get("timings") or [], columns=list(COMPLETED_COLUMNS)),
        primary_metrics=manifest.get("primary_metrics", ()), seed=manifest.get("seed", 0),
        aggregators=aggregators_of(list(metrics)),
        samples=run.sample_facts if len(run.sample_facts) else None,
        baseline=task.baseline_method if task else None,
        gain_metrics=task.gain_metrics if task else (),
        unavailable_methods={name: record.get("reason")
                             for name, record in (manifest.get("methods") or {}).items()
                             if record.get("available") is False},
        methods=manifest.get("methods") or {}, datasets=manifest.get("datasets") or {})


def _attempted_samples(scores, facts, failures):
    """Dataset -> {sample_id: group}: the samples the run loaded or tried to load."""
    samples = {}
    if len(facts):
        groups = facts["group"] if "group" in facts.columns else facts["sample_id"]
        for dataset, sample_id, group in zip(facts["dataset"], facts["sample_id"], groups):
            samples.setdefault(dataset, {})[sample_id] = sample_id if pd.isna(group) else group
    else:  # runs from before samples.csv existed: the samples that have scores
        for dataset, sample_id, group in zip(scores["dataset"], scores["sample_id"],
                                             scores["group"]):
            samples.setdefault(dataset, {})[sample_id] = group
    if len(failures) and "stage" in failures.columns:
        # A sample that failed to load was still part of the run.
        for _, row in failures[failures["stage"] == "load"].iterrows():
            samples.setdefault(row["dataset"], {}).setdefault(row["sample_id"], row["sample_id"])
    return samples


def _examples(items):
    items = sorted(items, key=str)
    shown = ", ".join(str(item) for item in items[:_EXAMPLES])
    return shown + (f" and {len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else "")


def check_comparable(base, new):
    """Raise `IncomparableRunsError` unless both runs evaluated the same samples.

    Same task, same datasets, each at the same version, seed and options,
    and the same sample ids with the same groups.
    """
    problems = []
    base_task, new_task = base.manifest.get("task"), new.manifest.get("task")
    if base_task != new_task:
        problems.append(f"the base run is of task {base_task!r}, the new run of {new_task!r}")
    base_info = base.manifest.get("datasets", {})
    new_info = new.manifest.get("datasets", {})
    base_sets, new_sets = set(base.samples) | set(base_info), set(new.samples) | set(new_info)
    if base_sets != new_sets:
        if base_sets - new_sets:
            problems.append(f"dataset(s) only in the base run: {_examples(base_sets - new_sets)}")
        if new_sets - base_sets:
            problems.append(f"dataset(s) only in the new run: {_examples(new_sets - base_sets)}")
    for dataset in sorted(base_sets & new_sets):
        old, now = base_info.get(dataset, {}), new_info.get(dataset, {})
        for key in _CONTENT_FIELDS:
            if old.get(key) != now.get(key):
                problems.append(f"{dataset}: {key} differs (base {old.get(key)!r}, "
                                f"new {now.get(key)!r})")
        old_samples, new_samples = base.samples.get(dataset, {}), new.samples.get(dataset, {})
        only_base = set(old_samples) - set(new_samples)
        only_new = set(new_samples) - set(old_samples)
        if only_base:
            problems.append(f"{dataset}: {len(only_base)} sample(s) only in the base run "
                            f"({_examples(only_base)})")
        if only_new:
            problems.append(f"{dataset}: {len(only_new)} sample(s) only in the new run "
                            f"({_examples(only_new)})")
        regrouped = [sample for sample in set(old_samples) & set(new_samples)
                     if str(old_samples[sample]) != str(new_samples[sample])]
        if regrouped:
            problems.append(f"{dataset}: {len(regrouped)} sample(s) belong to another group "
                            f"(specimen) in the new run ({_examples(regrouped)})")
    if problems:
        raise IncomparableRunsError(
            f"runs {base.path} and {new.path} cannot be compared:\n  - "
            + "\n  - ".join(problems)
            + "\nCompare runs of the same datasets (same versions and options) with the same "
              "--limit.")
