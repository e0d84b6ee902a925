"""The ``mmdf-bench`` command line.

``mmdf-bench run --task fusion``       evaluate and print a leaderboard
``mmdf-bench list methods [PATTERN]``  what is registered (no torch import)

Exit status: 0 success; 1 the run finished but something failed (see the
leaderboard's failure section); 2 bad usage (unknown name, bad option).
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

from mmdf_bench import __version__
from mmdf_bench.errors import MmdfBenchError

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _split(values):
    """Accept both ``--methods a b`` and ``--methods a,b``."""
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part]


def _add_run(subparsers):
    parser = subparsers.add_parser(
        "run", help="evaluate methods on datasets and write scores, manifest and leaderboard",
        description="Evaluate methods x datasets for one task. Results go to --out "
                    "(default runs/<task>-<time>): scores.csv, failures.csv, manifest.json, "
                    "leaderboard.md/.csv/.json.")
    parser.add_argument("--task", required=True, help="task name (fusion)")
    parser.add_argument("--methods", nargs="+", metavar="PATTERN",
                        help="method names or shell-style patterns (default: all of the task)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME[=PATH]",
                        help="datasets, optionally with their folder (default: the task's embedded data)")
    parser.add_argument("--metrics", nargs="+", metavar="PATTERN",
                        help="metric names or patterns (default: all of the task)")
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for training and bootstrap (default 0)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test samples per dataset")
    parser.add_argument("--save-outputs", action="store_true", help="write every output image")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_run)


def _run(arguments):
    from mmdf_bench.leaderboard import to_markdown
    from mmdf_bench.runner import run

    if arguments.limit is not None and arguments.limit < 1:
        raise MmdfBenchError("--limit must be at least 1")
    out = arguments.out or Path("runs") / f"{arguments.task}-{datetime.now():%Y%m%d-%H%M%S}"
    result = run(arguments.task, methods=_split(arguments.methods),
                 datasets=_split(arguments.datasets), metrics=_split(arguments.metrics),
                 out_dir=out, seed=arguments.seed, limit=arguments.limit,
                 save_outputs=arguments.save_outputs, progress=not arguments.quiet)
    print(to_markdown(result.leaderboard))
    print(f"\nResults written to {result.out_dir}/ "
          f"({', '.join(sorted(path.name for path in result.files.values()))}, scores.csv, manifest.json)")
    if not result.ok:
        print(f"mmdf-bench: {len(result.failures)} failure(s); see {result.out_dir / 'failures.csv'}",
              file=sys.stderr)
        return EXIT_FAILURES
    return EXIT_OK


def _add_list(subparsers):
    parser = subparsers.add_parser("list", help="list registered methods, datasets, metrics or tasks")
    parser.add_argument("kind", choices=["methods", "datasets", "metrics", "tasks"])
    parser.add_argument("pattern", nargs="?", help="shell-style pattern, e.g. 'ifcnn-*'")
    parser.add_argument("--task", help="only components of this task")
    parser.set_defaults(handler=_list)


def _list(arguments):
    from tabulate import tabulate

    from mmdf_bench import registry
    from mmdf_bench.tasks import get_task, task_names

    if arguments.kind == "tasks":
        rows = [(name, get_task(name).description) for name in task_names()]
        print(tabulate(rows, headers=["task", "description"], tablefmt="simple"))
        return EXIT_OK
    if arguments.task:
        get_task(arguments.task)  # unknown task -> clear error
    chosen = registry.REGISTRIES[arguments.kind]
    names = chosen.names(arguments.pattern, task=arguments.task)
    if not names:
        print(f"no {arguments.kind} match {arguments.pattern or '*'}"
              + (f" for task {arguments.task}" if arguments.task else ""), file=sys.stderr)
        return EXIT_USAGE
    rows = [chosen.describe(name) for name in names]
    print(tabulate([list(row.values()) for row in rows],
                   headers=["name", "tasks", "summary", "provided by"], tablefmt="simple"))
    return EXIT_OK


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmdf-bench",
        description="Benchmarks for mobile bright-field microscopy image processing.")
    parser.add_argument("--version", action="version", version=f"mmdf-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run(subparsers)
    _add_list(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``mmdf-bench`` console script."""
    parser = build_parser()
    # parse_known_args lets the list pattern follow options: `list methods --task fusion 'ifcnn-*'`
    arguments, extra = parser.parse_known_args(argv)
    if arguments.command == "list" and arguments.pattern is None and len(extra) == 1 \
            and not extra[0].startswith("-"):
        arguments.pattern = extra.pop()
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return arguments.handler(arguments)
    except MmdfBenchError as error:
        print(f"mmdf-bench: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
