"""Reference runs: a smoke suite whose committed results catch regressions.

The suite runs every registered method of every task on the first few
samples of the task's embedded default data, with the ``smoke`` profile
(deep methods train for seconds) and seed 0, in the same way as ::

    mmdf-bench run --task TASK --methods '*' --profile smoke --limit N --seed 0

Its results, committed under ``results/reference/<task>/``, are the
regression baseline: `check_suite` runs the suite again and compares each
task with `mmdf_bench.compare.compare_runs`, as ``mmdf-bench compare
results/reference/<task> NEW --tolerance ...`` would. `update_references`
rewrites them, after a change that is meant to move the scores. From a
shell::

    mmdf-bench reference check [--reference results/reference]
    mmdf-bench reference update [--reference results/reference]

(``python -m mmdf_bench.reference check|update`` does the same.)

Reproducibility. Deep methods are trained from scratch for every suite run,
in a throw-away checkpoint cache, so that a cached checkpoint can never hide
a change in the training code (checkpoints are keyed by configuration, not
by code). On one machine the suite gives the same bytes run after run as
long as it computes on one thread (``OMP_NUM_THREADS=1``; torch rounds
differently with other thread counts). Another CPU may still round in the
last digits (other SIMD kernels in torch, NumPy and OpenCV), and a few
training steps carry such differences into the trained weights, so every
metric gets a tolerance (`mmdf_bench.reference_suite.SUITE`, where the
suite is defined): a change smaller than it is never a regression. The values
were measured by running the suite with other kernels and are far below a
change worth reporting.

References
----------
.. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993, chapter 16 (paired comparisons).
"""

import argparse
import contextlib
import dataclasses
import fnmatch
import os
import shutil
import sys
import tempfile
from pathlib import Path

from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.run_format import FAILURES_FILE
from mmdf_bench.reference_suite import (DEFAULT_REFERENCE_DIR, EXCLUDED_METRICS, PROFILE,
                                        PRUNED_FILES, SEED, SUITE, SuiteTask, suite_methods,
                                        suite_metrics, suite_tasks)

__all__ = ["DEFAULT_REFERENCE_DIR", "EXCLUDED_METRICS", "PROFILE", "PRUNED_FILES", "SEED", "SUITE",
           "SuiteTask", "add_arguments", "check_suite", "compare_command", "compare_task", "main",
           "one_thread_environment", "report_check", "run_action", "run_suite", "suite_methods",
           "suite_metrics", "suite_tasks", "update_references"]

EXIT_OK, EXIT_REGRESSION, EXIT_INCOMPARABLE = 0, 1, 2


@contextlib.contextmanager
def _fresh_checkpoints():
    """Point the mmdf-bench cache at an empty folder, keeping the user's downloaded weights."""
    from mmdf_bench.settings import CACHE_VARIABLE, cache_dir

    user_weights = cache_dir() / "weights"
    previous = os.environ.get(CACHE_VARIABLE)
    with tempfile.TemporaryDirectory(prefix="mmdf-bench-reference-") as folder:
        if user_weights.is_dir():
            (Path(folder) / "weights").symlink_to(user_weights.resolve(), target_is_directory=True)
        os.environ[CACHE_VARIABLE] = folder
        try:
            yield Path(folder)
        finally:
            if previous is None:
                os.environ.pop(CACHE_VARIABLE, None)
            else:
                os.environ[CACHE_VARIABLE] = previous


@contextlib.contextmanager
def _one_torch_thread():
    # The references were made on one thread; torch sums in another order with more.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_suite(out_dir, *, tasks=None, methods=None, progress=False):
    """Run the smoke suite into ``out_dir/<task>/``.

    Parameters
    ----------
    out_dir : str or Path
    tasks : list of str, optional
        Tasks of `SUITE` (default: all).
    methods : list of str, optional
        Method names or patterns (default ``*``: every registered method of
        each task, including those left out of default runs).
    progress : bool, optional

    Returns
    -------
    dict
        Task -> `mmdf_bench.runner.RunResult`.
    """
    from mmdf_bench.runner import run

    out_dir = Path(out_dir)
    results = {}
    with _fresh_checkpoints(), _one_torch_thread():
        for entry in suite_tasks(tasks):
            results[entry.name] = run(
                entry.task, methods=methods or suite_methods(entry), metrics=suite_metrics(entry.task),
                datasets=list(entry.datasets) or None, out_dir=out_dir / entry.name, seed=SEED,
                limit=entry.limit, profile=PROFILE, progress=progress)
    return results


def _only_methods(tables, patterns):
    """`tables` restricted to the methods matching `patterns`."""
    def keep(frame):
        if "method" not in frame.columns or not len(frame):
            return frame
        chosen = frame["method"].map(
            lambda name: any(fnmatch.fnmatchcase(str(name), p) for p in patterns))
        return frame[chosen]

    return dataclasses.replace(tables, scores=keep(tables.scores), failures=keep(tables.failures))


def compare_command(reference, new, entry, *, trained=False):
    """The ``mmdf-bench compare`` command line that repeats one task's check.

    With `trained`, the tolerances are those of the trained methods.
    """
    tolerances = " ".join(f"'{option}'" for option in entry.tolerance_options(trained=trained))
    return f"mmdf-bench compare {reference} {new} --tolerance {tolerances}"


def _is_trained(method_name):
    from mmdf_bench import registry
    from mmdf_bench.errors import UnknownNameError
    from mmdf_bench.training import TrainableMethod

    try:
        return issubclass(registry.methods.load(method_name), TrainableMethod)
    except UnknownNameError:  # gone from the registry: judged like the others
        return False


def compare_task(base, new, entry, *, n_resamples=9999):
    """Compare a task's new run with its reference, trained methods with their own tolerances.

    Parameters
    ----------
    base, new : RunTables
    entry : SuiteTask
    n_resamples : int, optional

    Returns
    -------
    Comparison
        One row per (dataset, method, metric), as `compare_runs` gives.

    Raises
    ------
    IncomparableRunsError
    """
    import pandas as pd

    from mmdf_bench.compare import Comparison, compare_runs

    methods = set(base.scores["method"]) | set(new.scores["method"])
    trained = {name for name in methods if _is_trained(name)}
    groups = [(chosen, is_trained) for chosen, is_trained
              in ((methods - trained, False), (trained, True)) if chosen] or [(methods, False)]
    parts = []
    for chosen, is_trained in groups:
        old, now = _only_methods(base, chosen), _only_methods(new, chosen)
        scored = set(old.scores["metric"].str.partition(":")[0]) | set(
            now.scores["metric"].str.partition(":")[0])
        # compare refuses tolerances of metrics that these methods do not have
        tolerances = [option for option in entry.tolerance_options(trained=is_trained)
                      if option.partition("=")[0] in scored]
        parts.append(compare_runs(old, now, tolerances=tolerances, n_resamples=n_resamples,
                                  seed=SEED))
    rows = pd.concat([part.rows for part in parts], ignore_index=True)
    rows = rows.sort_values(["dataset", "method", "metric"], ignore_index=True)
    return Comparison(rows=rows, base=base, new=new, confidence=parts[0].confidence,
                      tolerances=parts[0].tolerances)


def check_suite(reference_dir=DEFAULT_REFERENCE_DIR, out_dir=None, *, tasks=None, methods=None,
                n_resamples=9999, progress=False):
    """Run the smoke suite and compare every task with its reference run.

    Parameters
    ----------
    reference_dir : str or Path, optional
        Folder holding one reference run per task (``<task>/scores.csv``, ...).
    out_dir : str or Path
        Where the new runs go (``out_dir/<task>/``).
    tasks, methods : list of str, optional
        As in `run_suite`. With `methods`, the references are restricted to
        the same methods before the comparison.
    n_resamples : int, optional
        Bootstrap resamples of each comparison.
    progress : bool, optional

    Returns
    -------
    dict
        Task -> `mmdf_bench.compare.Comparison`, or the
        `mmdf_bench.compare.IncomparableRunsError` that task raised.

    Raises
    ------
    MmdfBenchError
        When a task's reference run is missing.
    """
    from mmdf_bench.compare import IncomparableRunsError, load_run

    if out_dir is None:
        raise MmdfBenchError("check_suite needs an out_dir for the new runs")
    reference_dir = Path(reference_dir)
    entries = suite_tasks(tasks)
    references = {}
    for entry in entries:  # refuse before spending minutes on the runs
        references[entry.name] = load_run(reference_dir / entry.name)
    results = run_suite(out_dir, tasks=[entry.name for entry in entries], methods=methods,
                        progress=progress)
    outcomes = {}
    for entry in entries:
        base, new = references[entry.name], load_run(results[entry.name].out_dir)
        if methods:
            base = _only_methods(base, methods)
        try:
            outcomes[entry.name] = compare_task(base, new, entry, n_resamples=n_resamples)
        except IncomparableRunsError as error:
            outcomes[entry.name] = error
    return outcomes


def _incomplete(result, task):
    """Why a run cannot serve as a reference (failures, unavailable parts), or None."""
    problems = [f"{len(result.failures)} failure(s), see {result.out_dir / FAILURES_FILE}"
                ] if len(result.failures) else []
    for kind in ("methods", "metrics"):
        for name, record in (result.manifest.get(kind) or {}).items():
            if record.get("available") is False:
                problems.append(f"{kind[:-1]} {name} unavailable: {record.get('reason')}")
    return f"{task}: " + "; ".join(problems) if problems else None


def update_references(reference_dir=DEFAULT_REFERENCE_DIR, *, tasks=None, methods=None,
                      progress=False):
    """Run the smoke suite and make its runs the new references.

    The old reference of a task is replaced only when the new run is
    complete: no failure, every method and metric available (an
    incomplete reference would excuse the same gap in every later run).

    Parameters
    ----------
    reference_dir : str or Path, optional
    tasks : list of str, optional
        Tasks of `SUITE` to rewrite (default: all).
    methods : list of str, optional
        Only these methods (names or patterns). The committed references hold
        every method; a subset is for tests and experiments.
    progress : bool, optional

    Returns
    -------
    dict
        Task -> the reference folder written.

    Raises
    ------
    MmdfBenchError
        Naming what was incomplete; nothing is replaced then.
    """
    reference_dir = Path(reference_dir)
    reference_dir.mkdir(parents=True, exist_ok=True)
    entries = suite_tasks(tasks)
    with tempfile.TemporaryDirectory(prefix="mmdf-bench-reference-new-") as staging:
        results = run_suite(staging, tasks=[entry.name for entry in entries], methods=methods,
                            progress=progress)
        problems = [problem for task, result in results.items()
                    if (problem := _incomplete(result, task))]
        if problems:
            raise MmdfBenchError("the suite did not run completely, references left as they "
                                 "were:\n  - " + "\n  - ".join(problems))
        written = {}
        for task, result in results.items():
            target = reference_dir / task
            if target.exists():
                shutil.rmtree(target)
            for name in PRUNED_FILES:
                (result.out_dir / name).unlink(missing_ok=True)
            shutil.move(str(result.out_dir), str(target))
            written[task] = target
    return written


def report_check(outcomes, reference_dir, out_dir):
    """Print each outcome of `check_suite` as Markdown; return the exit status.

    Returns
    -------
    int
        0 when every task passed, 1 when one regressed (or lost results), 2
        when one could not be compared.
    """
    from mmdf_bench.compare import to_markdown

    status = EXIT_OK
    for task, outcome in outcomes.items():
        print(f"\n# Reference check: {task}\n")
        folders = Path(reference_dir) / task, Path(out_dir) / task
        print("Repeat with: " + compare_command(*folders, SUITE[task]) + "\n\n"
              "(methods that learn: " + compare_command(*folders, SUITE[task], trained=True)
              + ")\n")
        if isinstance(outcome, Exception):
            print(f"**Cannot compare**: {outcome}\n")
            status = max(status, EXIT_INCOMPARABLE)
            continue
        print(to_markdown(outcome))
        if not outcome.ok:
            status = max(status, EXIT_REGRESSION)
    failed = [task for task, outcome in outcomes.items()
              if isinstance(outcome, Exception) or not outcome.ok]
    print("reference check: " + (f"FAILED for {', '.join(failed)}" if failed else "passed"),
          file=sys.stderr)
    return status


def add_arguments(parser):
    """Add the ``check|update`` arguments to `parser` (``mmdf-bench reference`` and ``-m``)."""
    parser.add_argument("action", choices=("check", "update"),
                        help="check: run the suite and compare (exit 1 on a regression, 2 when "
                             "a run cannot be compared); update: rewrite the references")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE_DIR,
                        help=f"folder of the reference runs (default {DEFAULT_REFERENCE_DIR})")
    parser.add_argument("--out", type=Path,
                        help="check: where the new runs go (default: a temporary folder)")
    parser.add_argument("--tasks", nargs="+", choices=list(SUITE), help="default: all")
    parser.add_argument("--methods", nargs="+", metavar="PATTERN",
                        help="check: only these methods, against the same methods of the "
                             "references (default: every method)")
    parser.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


DESCRIPTION = ("Run the smoke suite of every task and compare it with the committed reference "
               "runs, or rewrite them. Computes on one thread, like the references (it sets "
               "OMP_NUM_THREADS=1).")


def build_parser():
    return add_arguments(argparse.ArgumentParser(prog="python -m mmdf_bench.reference",
                                                 description=DESCRIPTION))


def one_thread_environment():
    """Ask NumPy, OpenCV and torch for one thread: the references were computed on one.

    Effective only before they start their thread pools (before NumPy is
    imported); torch is also set to one thread while the suite runs.
    """
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"


def run_action(arguments):
    """Carry out parsed ``check|update`` arguments; return the exit status.

    Raises
    ------
    MmdfBenchError
        When the references are missing or incomplete, or the options conflict.
    """
    if arguments.action == "update":
        if arguments.methods:
            raise MmdfBenchError("update rewrites whole references: --methods is for check")
        written = update_references(arguments.reference, tasks=arguments.tasks,
                                    progress=not arguments.quiet)
        print("references written: " + ", ".join(str(path) for path in written.values()))
        return EXIT_OK
    with contextlib.ExitStack() as stack:
        out = arguments.out or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="mmdf-bench-smoke-")))
        outcomes = check_suite(arguments.reference, out, tasks=arguments.tasks,
                               methods=arguments.methods, n_resamples=arguments.resamples,
                               progress=not arguments.quiet)
        return report_check(outcomes, arguments.reference, out)


def main(argv=None):
    """``python -m mmdf_bench.reference check|update``; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        return run_action(arguments)
    except MmdfBenchError as error:
        print(f"mmdf_bench.reference: error: {error}", file=sys.stderr)
        return EXIT_INCOMPARABLE


if __name__ == "__main__":
    # Before NumPy, OpenCV and torch start their thread pools (nothing above
    # imports them).
    one_thread_environment()
    sys.exit(main())
