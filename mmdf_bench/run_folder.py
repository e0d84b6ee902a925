"""Reading a results folder written by ``mmdf-bench run``, and telling whether two are comparable.

A results folder holds ``scores.csv`` (one row per dataset, method, sample
and metric), ``manifest.json`` (versions, datasets, metrics), and usually
``failures.csv``, ``samples.csv``, the leaderboard files and, with
``--save-outputs``, ``outputs/<dataset>/<method>/<sample>.*``. Regression
checks (`mmdf_bench.compare`) and reports (`mmdf_bench.report`) read it
through `load_run`.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.leaderboard import FAILURE_COLUMNS

__all__ = ["IncomparableRunsError", "RunTables", "check_comparable", "load_run"]

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
        return self.path / "outputs"


def _read_csv(path, what, **options):
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise MmdfBenchError(f"{what} {path} is empty (not even a header row)") from None


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

    Raises
    ------
    MmdfBenchError
        When the folder lacks ``scores.csv`` or ``manifest.json``, or a table
        lacks a column, naming the file.
    """
    path = Path(path)
    if path.is_file() and path.name == "scores.csv":
        path = path.parent
    scores_path, manifest_path = path / "scores.csv", path / "manifest.json"
    for required in (scores_path, manifest_path):
        if not required.is_file():
            raise MmdfBenchError(f"{required} not found: {path} is not a results folder of "
                                 "`mmdf-bench run`")
    ids = {"sample_id": str, "group": str}
    scores = _read_csv(scores_path, "scores table", dtype=ids)
    missing = {"dataset", "method", "sample_id", "metric", "value"} - set(scores.columns)
    if missing:
        raise MmdfBenchError(f"{scores_path} lacks column(s) {sorted(missing)}")
    if "group" not in scores.columns:
        scores["group"] = np.nan
    scores["group"] = scores["group"].where(scores["group"].notna(), scores["sample_id"])
    scores["value"] = pd.to_numeric(scores["value"], errors="raise").astype(np.float64)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MmdfBenchError(f"{manifest_path} is not valid JSON: {error}") from None
    facts = (_read_csv(path / "samples.csv", "samples table", dtype=ids)
             if (path / "samples.csv").is_file()
             else pd.DataFrame(columns=["dataset", "sample_id"]))
    failures = (_read_csv(path / "failures.csv", "failures table", dtype=str)
                if (path / "failures.csv").is_file() else pd.DataFrame(columns=FAILURE_COLUMNS))
    return RunTables(path, scores, manifest, _attempted_samples(scores, facts, failures),
                     facts, failures)


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
