"""Resuming an interrupted run: what must match, and what was already recorded.

A run records its configuration (`run_config`) in ``manifest.json`` when it
starts, and its progress in ``completed.csv`` as it goes (see
`mmdf_bench.recorder`). ``mmdf-bench run --resume RUN_DIR`` computes only
the (dataset, method, sample) units that are missing, and only if it would
compute them exactly as the interrupted run did: the same task, methods,
datasets, metrics, seed, limit, profile and options (`check_config`), the
same dataset versions holding the samples already recorded
(`check_dataset`), and the same metrics available (`check_metrics`).
Anything else is refused with a `ResumeError` naming every difference:
mixing results of two configurations in one table would make its
leaderboard meaningless.
"""

import json
from pathlib import Path

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.run_format import (FAILURES_FILE, MANIFEST_FILE, SAMPLES_FILE, RunFormatError,
                                   read_csv_rows)
from mmdf_bench.run_format import read_manifest as read_manifest_file

__all__ = ["ResumeError", "check_config", "check_dataset", "check_metrics", "read_manifest",
           "recorded_samples", "run_config"]

#: Dataset facts that decide which samples it produces (the root folder may move).
DATASET_FIELDS = ("version", "seed", "options")


class ResumeError(MmdfBenchError):
    """The run folder cannot be resumed with the given configuration."""


def _plain(value):
    """The JSON form of `value`, so recorded and new values compare alike."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def run_config(task, method_names, dataset_specs, metric_names, *, seed, limit, profile,
               save_outputs, method_options):
    """The configuration a run records and a resumed run must repeat.

    Returns
    -------
    dict
        JSON-serialisable; datasets as ``NAME[=PATH][:KEY=VALUE...]``.
    """
    return _plain({
        "task": task,
        "methods": list(method_names),
        "datasets": [str(spec) for spec in dataset_specs],
        "metrics": list(metric_names),
        "seed": seed,
        "limit": limit,
        "profile": profile,
        "save_outputs": bool(save_outputs),
        "method_options": method_options or {},
    })


def read_manifest(out_dir):
    """Return the manifest of the run in `out_dir`, which must record its configuration."""
    path = Path(out_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ResumeError(f"nothing to resume in {out_dir}: {path.name} not found (the folder "
                          "was not written by `mmdf-bench run`)")
    try:
        manifest = read_manifest_file(path)
    except RunFormatError as error:
        raise ResumeError(f"cannot resume {out_dir}: {error}") from None
    if "config" not in manifest:
        raise ResumeError(f"cannot resume {out_dir}: its manifest records no run configuration "
                          "(written by an mmdf-bench without --resume)")
    return manifest


def check_config(manifest, config, out_dir):
    """Raise `ResumeError` unless `config` equals the one recorded in `manifest`."""
    recorded = manifest["config"]
    differences = [f"{key}: recorded {recorded.get(key)!r}, now {config.get(key)!r}"
                   for key in sorted(set(recorded) | set(config))
                   if recorded.get(key) != config.get(key)]
    if differences:
        raise ResumeError(_refusal(out_dir, differences))


def check_metrics(manifest, metric_info, out_dir):
    """Raise `ResumeError` when a metric became available or unavailable since the run.

    Its rows would exist for some samples and not for others.
    """
    recorded = manifest.get("metrics", {})

    def why(info):  # the gist of the reason, e.g. which weights file is missing
        from mmdf_bench.leaderboard_terminal import short_reason

        return f" ({short_reason(info['reason'], 100, name=name)})" if info.get("reason") else ""

    differences = []
    for name, info in metric_info.items():
        if name not in recorded or bool(recorded[name].get("available")) == info["available"]:
            continue
        now, then = (info, recorded[name])
        differences.append(
            f"metric {name}: {'available' if now['available'] else 'unavailable'} now"
            f"{'' if now['available'] else why(now)}, "
            f"{'available' if then.get('available') else 'unavailable'} in the run"
            f"{'' if then.get('available') else why(then)}")
    if differences:
        raise ResumeError(_refusal(out_dir, differences))


def recorded_samples(out_dir):
    """Dataset -> sample ids the run in `out_dir` loaded or failed to load."""
    samples = {}
    for name, only_loads in ((SAMPLES_FILE, False), (FAILURES_FILE, True)):
        path = Path(out_dir) / name
        if not path.is_file():
            continue
        header, *rows = read_csv_rows(path) or [[]]
        for row in rows:
            if len(row) != len(header):  # cut off by the interruption
                continue
            record = dict(zip(header, row))
            if (not only_loads or record.get("stage") == "load") \
                    and record.get("dataset") and record.get("sample_id"):
                samples.setdefault(record["dataset"], set()).add(record["sample_id"])
    return samples


def check_dataset(manifest, name, dataset, test_ids, recorded, out_dir):
    """Raise `ResumeError` when `dataset` is not the version the run recorded.

    Parameters
    ----------
    manifest : dict
        The recorded manifest.
    name : str
    dataset : Dataset
        As opened now.
    test_ids : list of str
        The test samples the resumed run would evaluate.
    recorded : collection of str
        Sample ids the interrupted run already loaded (or failed to load).
    out_dir : Path
    """
    before = manifest.get("datasets", {}).get(name)
    differences = []
    if before is not None:
        now = _plain(dataset.describe())
        differences = [f"{name}: {key} recorded {before.get(key)!r}, now {now.get(key)!r}"
                       for key in DATASET_FIELDS if _plain(before.get(key)) != now.get(key)]
    gone = sorted(set(recorded) - set(test_ids))
    if gone:
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        differences.append(f"{name}: {len(gone)} recorded sample(s) are no longer among the "
                           f"samples to evaluate ({shown})")
    if differences:
        raise ResumeError(_refusal(out_dir, differences))


def _refusal(out_dir, differences):
    return (f"cannot resume {out_dir}: the run was made with another configuration or data\n  - "
            + "\n  - ".join(differences)
            + "\nResume with the recorded options (omit them to reuse them), or start a new "
              "run with another --out.")
