"""The ``mmdf-bench`` command line.

``mmdf-bench run --task fusion``       evaluate and print a leaderboard
``mmdf-bench list methods [PATTERN]``  what is registered (no torch import)
``mmdf-bench train --method M``        train a deep method and cache its checkpoint
``mmdf-bench focus-map IMAGE ...``     tile map of predicted defocus levels
``mmdf-bench stack-from-video VIDEO``  z-scan video -> folder of planes
``mmdf-bench compare BASE NEW``        regression check of one run against another
``mmdf-bench report RUN [RUN ...]``    one self-contained HTML page of results
``mmdf-bench reference check|update``  smoke suite against the committed reference runs

Exit status: 0 success; 1 the run finished but something failed (see the
leaderboard's failure section); 2 bad usage (unknown name, bad option).
"""

import argparse
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

from mmdf_bench import __version__
from mmdf_bench.errors import MmdfBenchError
from mmdf_bench.output_paths import prepare_output_file, prepare_output_folder, writing
from mmdf_bench.progress import PROGRESS_VARIABLE, set_progress
from mmdf_bench.threads import choose_threads, use_threads
from mmdf_bench.training import DEFAULT_PROFILE, PROFILES

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _add_device(parser):
    """``--device`` and ``--amp``, shared by the commands that run deep methods."""
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]|mps",
                        help="where deep methods (and pyiqa metrics) compute; auto (default) picks "
                             "CUDA when torch sees it, else the CPU")
    parser.add_argument("--amp", action="store_true",
                        help="bfloat16 mixed-precision inference (CUDA only)")


def _compute(arguments):
    from mmdf_bench.devices import compute_setup

    return compute_setup(arguments.device, amp=arguments.amp)


def _split(values):
    """Accept both ``--methods a b`` and ``--methods a,b``."""
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part]


def _add_threads(parser):
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads torch, OpenCV and numpy compute with in this process "
                             "(default: $OMP_NUM_THREADS, else 1; more threads help only on an "
                             "idle machine, and --jobs scales better)")


def _add_quiet(parser):
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (training included) and no notes, only warnings "
                             "and errors")


def _add_run(subparsers):
    parser = subparsers.add_parser(
        "run", help="evaluate methods on datasets and write scores, manifest and leaderboard",
        description="Evaluate methods x datasets for one task. Results go to --out "
                    "(default runs/<task>-<time>): scores.csv, failures.csv, manifest.json, "
                    "leaderboard.md/.csv/.json. An interrupted run keeps what it finished; "
                    "--resume RUN_DIR computes only what is missing.")
    parser.add_argument("--task", help="task name: fusion, focus or deblur (required unless "
                                       "--resume)")
    parser.add_argument("--methods", nargs="+", metavar="PATTERN",
                        help="method names or shell-style patterns (default: all of the task)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME[=PATH][:KEY=VALUE]",
                        help="datasets, optionally with their folder and options, e.g. "
                             "zstack-folder=PATH:bits=12 (default: the task's embedded data)")
    parser.add_argument("--metrics", nargs="+", metavar="PATTERN",
                        help="metric names or patterns (default: all of the task)")
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--seed", type=int, help="seed for training and bootstrap (default 0)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test samples per dataset")
    parser.add_argument("--save-outputs", action="store_true", default=None,
                        help="write every method output")
    parser.add_argument("--profile", choices=PROFILES,
                        help=f"hyper-parameter profile of deep methods (default {DEFAULT_PROFILE}); "
                             "missing checkpoints are trained first")
    _add_quiet(parser)
    _add_threads(parser)
    _add_device(parser)
    scale = parser.add_argument_group("scale")
    scale.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="evaluate samples in N local worker processes (default 1: in this "
                            "process); with --executor dask and no --scheduler, the workers of a "
                            "local Dask cluster")
    scale.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="where samples are evaluated: local processes (default) or a Dask "
                            "distributed cluster (pip install 'mmdf-bench[dask]')")
    scale.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (--executor dask)")
    scale.add_argument("--chunk-size", type=int, metavar="N",
                       help="samples per task (default: about four tasks per worker)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run that --out already holds (its results are "
                             "deleted); without it such a folder is refused")
    scale.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue the interrupted run in RUN_DIR: compute only the missing "
                            "(dataset, method, sample) results; options left out are taken from "
                            "the run, options given must match it")
    parser.set_defaults(handler=_run)


def _run_settings(arguments):
    """The run's options: those given, else (with --resume) the recorded ones, else defaults."""
    from mmdf_bench.resume import read_manifest

    recorded = {}
    if arguments.resume is not None:
        if arguments.out is not None and arguments.out.resolve() != arguments.resume.resolve():
            raise MmdfBenchError(f"--out {arguments.out} and --resume {arguments.resume} name "
                                 "different folders; --resume writes into the run it continues")
        recorded = read_manifest(arguments.resume)["config"]
        if arguments.task is not None and arguments.task != recorded.get("task"):
            # said first: every recorded method would otherwise "belong to another task"
            raise MmdfBenchError(
                f"cannot resume {arguments.resume}: it is a run of task {recorded.get('task')!r}, "
                f"not {arguments.task!r}; omit --task, or start a new run with another --out")
    elif arguments.task is None:
        raise MmdfBenchError("--task is required (or --resume RUN_DIR)")
    given = {"task": arguments.task, "methods": _split(arguments.methods),
             "datasets": _split(arguments.datasets), "metrics": _split(arguments.metrics),
             "seed": arguments.seed, "limit": arguments.limit, "profile": arguments.profile,
             "save_outputs": arguments.save_outputs}
    defaults = {"seed": 0, "profile": DEFAULT_PROFILE, "save_outputs": False}
    settings = {key: value if value is not None else recorded.get(key, defaults.get(key))
                for key, value in given.items()}
    settings["method_options"] = recorded.get("method_options")
    return settings


def _asked_by_name(patterns):
    """The names among `patterns` given in full, not as wildcard patterns."""
    return {text for text in _split(patterns) or () if not any(c in text for c in "*?[")}


def _run(arguments):
    from mmdf_bench.leaderboard_terminal import did_not_run, short_reason, to_terminal
    from mmdf_bench.run_destination import new_run_folder
    from mmdf_bench.run_format import FAILURES_FILE
    from mmdf_bench.runner import run

    if arguments.limit is not None and arguments.limit < 1:
        raise MmdfBenchError("--limit must be at least 1")
    if arguments.jobs < 1 or (arguments.chunk_size is not None and arguments.chunk_size < 1):
        raise MmdfBenchError("--jobs and --chunk-size must be at least 1")
    if arguments.overwrite and arguments.resume is not None:
        raise MmdfBenchError("--overwrite replaces a run and --resume continues it: give one")
    _compute(arguments)  # an absent device is refused before any folder is made
    settings = _run_settings(arguments)
    out = arguments.resume or arguments.out
    created = None
    if out is None:  # a new folder of its own, even for runs started in the same second
        prepare_output_folder("runs", option="--out")
        out = created = new_run_folder("runs", f"{settings['task']}-{datetime.now():%Y%m%d-%H%M%S}")
    # a write that fails mid-run (the disk fills) loses nothing already journalled
    kept = f"what was recorded before stays in {out}; make room and continue with --resume {out}"
    try:
        with writing(out, option="--out", kept=kept):
            result = run(settings.pop("task"), **settings, out_dir=out,
                         progress=not arguments.quiet, jobs=arguments.jobs,
                         executor=arguments.executor, scheduler=arguments.scheduler,
                         chunk_size=arguments.chunk_size, resume=arguments.resume is not None,
                         overwrite=arguments.overwrite, device=arguments.device,
                         amp=arguments.amp)
    except MmdfBenchError:
        if created is not None and not any(created.iterdir()):
            created.rmdir()  # refused before anything was written: leave no empty folder
        raise
    width = 100  # the same view in a terminal, a log file or a CI job
    interrupted = result.manifest.get("status") == "interrupted"
    if not (interrupted and result.leaderboard.rows.empty):  # nothing to show yet
        print(to_terminal(result.leaderboard, width=width))
        print(f"\nResults written to {result.out_dir}/ (leaderboard.md: every metric, subset, "
              "failure and reason)")
    if interrupted:
        return EXIT_FAILURES  # the runner said how to continue
    status = EXIT_OK
    if not result.ok:
        print(f"mmdf-bench: {len(result.failures)} failure(s); see {result.out_dir / FAILURES_FILE}",
              file=sys.stderr)
        status = EXIT_FAILURES
    # what the user asked for by name and did not get is said last, and is not a success
    asked = {"method": _asked_by_name(arguments.methods), "metric": _asked_by_name(arguments.metrics)}
    missing = {(kind, name): reason for kind, name, reason in did_not_run(result.leaderboard)
               if name in asked.get(kind, ())}
    for (kind, name), reason in missing.items():
        prefix = f"mmdf-bench: requested {kind} {name} did not run: "
        print(prefix + short_reason(reason, max(40, width - len(prefix)), name=name),
              file=sys.stderr)
    return EXIT_FAILURES if missing else status


def _add_list(subparsers):
    parser = subparsers.add_parser("list", help="list registered methods, datasets, metrics or tasks")
    parser.add_argument("kind", choices=["methods", "datasets", "metrics", "tasks"])
    parser.add_argument("pattern", nargs="?", help="shell-style pattern, e.g. 'ifcnn-*'")
    parser.add_argument("--task", help="only components of this task")
    parser.set_defaults(handler=_list)


def _list(arguments):
    from mmdf_bench import registry
    from mmdf_bench.listing import component_rows, format_table, legend
    from mmdf_bench.tasks import get_task, task_names

    if arguments.kind == "tasks":
        rows = [(name, get_task(name).description) for name in task_names()]
        print(format_table(["task", "description"], rows))
        return EXIT_OK
    if arguments.task:
        get_task(arguments.task)  # unknown task -> clear error
    chosen = registry.REGISTRIES[arguments.kind]
    names = chosen.names(arguments.pattern, task=arguments.task, loadable=True)
    if not names:
        print(f"no {arguments.kind} match {arguments.pattern or '*'}"
              + (f" for task {arguments.task}" if arguments.task else ""), file=sys.stderr)
        return EXIT_USAGE
    rows = component_rows(chosen, arguments.kind, names)
    headers = ["name", "tasks", "default", "needs", "summary", "provided by"]
    if all(row[-1].startswith("mmdf-bench ") for row in rows):  # only built-ins: say it once
        headers, rows = headers[:-1], [row[:-1] for row in rows]
    print(format_table(headers, rows, shrink=4))
    print(f"\n{legend(arguments.kind)}")
    return EXIT_OK


def _add_train(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a deep method and cache its checkpoint",
        description="Train METHOD on the train split of DATASET (and its validation split, "
                    "when the method uses one) with a hyper-parameter profile; the checkpoint "
                    "is cached where `run` finds it.")
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", help="NAME[=PATH][:KEY=VALUE] (default: the task's embedded data)")
    parser.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true", help="train even if a checkpoint exists")
    _add_quiet(parser)
    _add_threads(parser)
    _add_device(parser)
    parser.set_defaults(handler=_train)


def _train(arguments):
    from mmdf_bench import registry
    from mmdf_bench.components import DatasetSpec, build_method
    from mmdf_bench.tasks import get_task
    from mmdf_bench.training import TrainableMethod, fit_or_load_on

    compute = _compute(arguments)
    method = build_method(arguments.method, profile=arguments.profile)
    if not isinstance(method, TrainableMethod):
        raise MmdfBenchError(f"{arguments.method} has nothing to train (it is not a deep method)")
    compute.apply(method)
    task = get_task(method.task)
    spec = DatasetSpec.parse(arguments.dataset or task.default_datasets[0])
    registry.datasets.select([spec.name], task=task.name)
    dataset = spec.create(registry.datasets)
    record = fit_or_load_on(method, arguments.method, dataset, seed=arguments.seed,
                            retrain=arguments.retrain)
    state = ("shipped with mmdf-bench (SHA-256 checked; --retrain trains it here)" if record.shipped
             else "found in the cache" if record.cached else f"trained in {record.seconds:.1f} s")
    print(f"{arguments.method} ({record.profile} profile) on {dataset.name}: {state}\n"
          f"checkpoint: {record.checkpoint}")
    return EXIT_OK


def _add_focus_map(subparsers):
    parser = subparsers.add_parser(
        "focus-map", help="colour an image's tiles by predicted defocus level and certainty",
        description="Tile IMAGE, predict each tile's focus with METHOD and write a picture "
                    "(tile colour = level, opacity = certainty, hatched = unlike the training data, "
                    "with a colour key) and the per-tile values as CSV.")
    parser.add_argument("image", type=Path)
    parser.add_argument("--method", required=True)
    parser.add_argument("-o", "--out", type=Path, required=True, help="output PNG; the CSV goes beside it")
    parser.add_argument("--tile", type=int, default=84, help="tile size in pixels (default 84)")
    parser.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE)
    parser.add_argument("--seed", type=int, default=0)
    _add_quiet(parser)
    _add_threads(parser)
    _add_device(parser)
    parser.set_defaults(handler=_focus_map)


def _focus_map(arguments):
    from mmdf_bench import registry
    from mmdf_bench.focus_familiarity import training_range_of
    from mmdf_bench.focus_map import focus_map, focus_map_table, render_focus_map
    from mmdf_bench.focus_map_key import add_colour_key
    from mmdf_bench.images import read_image, write_image
    from mmdf_bench.components import build_method, prepare_method
    from mmdf_bench.tasks import get_task

    if arguments.tile < 2:  # before calibrating, which takes seconds
        raise MmdfBenchError(f"--tile must be at least 2 pixels, got {arguments.tile}")
    prepare_output_file(arguments.out, option="-o")
    compute = _compute(arguments)
    image = read_image(arguments.image)
    if min(image.shape[:2]) < arguments.tile:
        raise MmdfBenchError(f"image {arguments.image} of shape {image.shape[:2]} is smaller than "
                             f"one {arguments.tile}x{arguments.tile} tile (--tile)")
    registry.methods.select([arguments.method], task="focus")
    method = compute.apply(build_method(arguments.method, profile=arguments.profile))
    task = get_task("focus")
    dataset = registry.datasets.create(task.default_datasets[0])
    # classical methods calibrate, deep ones load (or train) their checkpoint, on the embedded data
    prepare_method(task, method, arguments.method, dataset, dataset.sample_ids("train"),
                   seed=arguments.seed)
    # tiles unlike the patches the method learned from are flagged: its answer there means little
    # (measured on patches of the training size; other tile sizes are not checked)
    training_range = training_range_of(dataset) if arguments.tile == getattr(dataset, "patch_size", None) else None
    result = focus_map(image, method, tile=arguments.tile, training_range=training_range)
    table_path = arguments.out.with_suffix(".csv")
    with writing(arguments.out, option="-o"):
        write_image(arguments.out, add_colour_key(render_focus_map(image, result), result))
        focus_map_table(result).to_csv(table_path, index=False)
    print(f"focus map: {arguments.out}\nper-tile values: {table_path}")
    if result.unfamiliar is not None and result.unfamiliar.any():
        print(f"{int(result.unfamiliar.sum())} of {result.unfamiliar.size} tiles are unlike the training data "
              f"(hatched; out_of_distribution in the CSV): their answers mean little")
    return EXIT_OK


def _add_stack_from_video(subparsers):
    parser = subparsers.add_parser(
        "stack-from-video", help="turn a z-scan video into a folder of focal planes",
        description="Read VIDEO, find the sharpest frame with a focus measure and write "
                    "--planes frames around it as plane_000.png, ... into DIR.")
    parser.add_argument("video", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--planes", type=int, default=11, help="number of planes (default 11)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the planes of an earlier extraction in DIR (without it, "
                             "a folder that is not empty is refused)")
    parser.set_defaults(handler=_stack_from_video)


def _stack_from_video(arguments):
    from mmdf_bench.data.zstack import stack_from_video, stale_planes, write_stack

    import pandas as pd

    prepare_output_folder(arguments.out, option="-o")  # before decoding the video
    stale = stale_planes(arguments.out, replace=arguments.overwrite)
    stack, frames, scores = stack_from_video(arguments.video, num_planes=arguments.planes)
    with writing(arguments.out, option="-o"):
        for path in stale:  # only once the new planes are ready
            path.unlink()
        if stale:
            print(f"removed the {sum(path.suffix == '.png' for path in stale)} planes of an "
                  f"earlier extraction from {arguments.out}")
        paths = write_stack(stack, arguments.out)
        # keep the evidence for the choice: which frame became which plane, and every frame's score
        pd.DataFrame({"plane": range(len(frames)), "frame": frames, "file": [p.name for p in paths]}
                     ).to_csv(arguments.out / "planes.csv", index=False)
        pd.DataFrame({"frame": range(len(scores)), "focus_score": scores}
                     ).to_csv(arguments.out / "frame_scores.csv", index=False)
    print(f"{len(paths)} planes from frames {', '.join(str(index) for index in frames)} "
          f"written to {arguments.out} (planes.csv, frame_scores.csv beside them)")
    return EXIT_OK


def _add_compare(subparsers):
    parser = subparsers.add_parser(
        "compare", help="check a run against a base run: regressions, improvements",
        description="Match the scores of NEW and BASE by (dataset, method, sample, metric), "
                    "bootstrap each paired difference and print a Markdown table. Exit 0 when "
                    "nothing regressed, 1 on a regression (or results missing from NEW), "
                    "2 when the runs cannot be compared (other samples or dataset versions).")
    parser.add_argument("base", type=Path, help="results folder of the base (reference) run")
    parser.add_argument("new", type=Path, help="results folder of the run to check")
    parser.add_argument("--tolerance", nargs="+", action="extend", default=[],
                        metavar="METRIC=VALUE",
                        help="allowed worsening per metric, in its units (psnr=0.1) or percent "
                             "of the base value (ssim=0.5%%); METRIC may be a pattern ('*=0.001')")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="coverage of the bootstrap intervals (default 0.95)")
    parser.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--changes-only", action="store_true", help="hide unchanged rows")
    parser.add_argument("-o", "--out", type=Path, help="also write the Markdown table here")
    parser.set_defaults(handler=_compare)


def _compare(arguments):
    from mmdf_bench.compare import compare_runs, parse_tolerances, to_markdown

    if not 0 < arguments.confidence < 1 or arguments.resamples < 1:
        raise MmdfBenchError("--confidence must lie in (0, 1) and --resamples be at least 1")
    if arguments.out:
        prepare_output_file(arguments.out, option="-o")
    comparison = compare_runs(arguments.base, arguments.new,
                              tolerances=parse_tolerances(arguments.tolerance),
                              confidence=arguments.confidence, n_resamples=arguments.resamples,
                              seed=arguments.seed)
    text = to_markdown(comparison, changes_only=arguments.changes_only)
    print(text)
    if arguments.out:
        with writing(arguments.out, option="-o"):
            arguments.out.write_text(text, encoding="utf-8")
    if not comparison.ok:
        print(f"mmdf-bench: {len(comparison.failing)} regression(s) or missing result(s) "
              f"against {arguments.base}", file=sys.stderr)
        return EXIT_FAILURES
    return EXIT_OK


def _add_report(subparsers):
    parser = subparsers.add_parser(
        "report", help="write one self-contained HTML page of one or more runs",
        description="Leaderboards with confidence intervals, forest plots and, for runs saved "
                    "with --save-outputs, image panels of samples; images are embedded.")
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="results folders")
    parser.add_argument("-o", "--out", type=Path, default=Path("report.html"),
                        help="HTML file to write (default report.html)")
    parser.add_argument("--samples", type=int, default=3,
                        help="samples shown per dataset when outputs were saved (default 3)")
    parser.add_argument("--image-size", type=int, default=192,
                        help="longest side of each sample picture in pixels (default 192)")
    parser.set_defaults(handler=_report)


def _report(arguments):
    from mmdf_bench.report import write_report

    prepare_output_file(arguments.out, option="-o")  # before reading every run
    with writing(arguments.out, option="-o"):
        path = write_report(arguments.runs, arguments.out, max_samples=arguments.samples,
                            max_size=arguments.image_size)
    print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return EXIT_OK


def _add_reference(subparsers):
    from mmdf_bench.reference import DESCRIPTION, add_arguments

    parser = subparsers.add_parser(
        "reference", help="check the smoke suite against the committed reference runs, or "
                          "rewrite them", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=_reference)


def _reference(arguments):
    from mmdf_bench.reference import one_thread_environment, run_action

    if "numpy" not in sys.modules:  # else its thread pools have started: too late to ask
        one_thread_environment()
    return run_action(arguments)


def _add_download(subparsers):
    from mmdf_bench.download_command import DESCRIPTION, add_arguments

    parser = subparsers.add_parser("download", help="download a public dataset (bbbc006, mfifb) into the cache",
                                   description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=_download)


def _download(arguments):
    from mmdf_bench.download_command import run_download

    return run_download(arguments)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmdf-bench",
        description="Benchmarks for mobile bright-field microscopy image processing.")
    parser.add_argument("--version", action="version", version=f"mmdf-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run(subparsers)
    _add_list(subparsers)
    _add_train(subparsers)
    _add_focus_map(subparsers)
    _add_stack_from_video(subparsers)
    _add_compare(subparsers)
    _add_report(subparsers)
    _add_reference(subparsers)
    _add_download(subparsers)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message comes (tests swap it)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("mmdf-bench: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; the property always answers
        pass


def _show_messages(quiet):
    """Send the library's log messages to stderr, one ``mmdf-bench: ...`` line each."""
    logger = logging.getLogger("mmdf_bench")
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


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
    quiet = bool(getattr(arguments, "quiet", False))
    _show_messages(quiet)
    progress_before = os.environ.get(PROGRESS_VARIABLE)
    if quiet:
        set_progress(False)  # training bars too, in this process and its workers
    try:
        # chosen before torch, OpenCV or a BLAS starts its threads (see mmdf_bench.threads)
        use_threads(choose_threads(getattr(arguments, "threads", None)))
        return arguments.handler(arguments)
    except (MmdfBenchError, ValueError) as error:
        # ours say what to do; a ValueError is a method or option refusing a value
        text = str(error) if isinstance(error, MmdfBenchError) \
            else f"{type(error).__name__}: {' '.join(str(error).split())}"
        print(f"mmdf-bench: error: {text}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a file the command needed: which one and why, not a traceback
        from mmdf_bench.output_paths import describe_os_error

        where = f"{error.filename}: " if error.filename else ""
        print(f"mmdf-bench: error: {where}{describe_os_error(error)}", file=sys.stderr)
        return EXIT_USAGE
    finally:  # main() may be called again in this process (tests, notebooks)
        if progress_before is None:
            os.environ.pop(PROGRESS_VARIABLE, None)
        else:
            os.environ[PROGRESS_VARIABLE] = progress_before


if __name__ == "__main__":
    sys.exit(main())
