"""How long the first `mmdf-bench run --task fusion` takes, and whether it had to train.

Runs README command (1)'s benchmark part, ``mmdf-bench run --task fusion``,
in a subprocess with an empty checkpoint cache (a fresh ``$MMDF_BENCH_CACHE``
that links only the user's downloaded weights), as on a fresh install, and
reports the wall time and, from the run's manifest, how every trainable
method got its weights: ``shipped`` (a checkpoint installed with the
package, `mmdf_bench.shipped`), ``trained`` (with the seconds it took) or
``cache``. The goal for the default fusion run is under 3 minutes; it is
met only when ``fusegan-u`` comes shipped.

For the figure of a fresh clone, install first and time this script's run
only (the installation is not part of the goal)::

    git clone REPO mmdf-bench && cd mmdf-bench
    python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt . \\
        && pip install --force-reinstall --no-deps opencv-contrib-python-headless
    MMDF_BENCH_WEIGHTS=../shared/weights python benchmarks/first_run.py --out benchmarks/results/first_run.json

``--task`` times another task's default run the same way.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="fusion")
    parser.add_argument("--out", type=Path, help="write the record as JSON here")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="further `mmdf-bench run` options (after everything else)")
    arguments = parser.parse_args(argv)

    executable = shutil.which("mmdf-bench") or str(Path(sys.executable).with_name("mmdf-bench"))
    with tempfile.TemporaryDirectory(prefix="mmdf-bench-first-run-") as folder:
        cache = Path(folder) / "cache"
        cache.mkdir()
        previous = os.environ.get("MMDF_BENCH_CACHE")
        if previous and (Path(previous) / "weights").is_dir():  # downloads are not what is being timed
            (cache / "weights").symlink_to(Path(previous, "weights").resolve(), target_is_directory=True)
        environment = {**os.environ, "MMDF_BENCH_CACHE": str(cache)}
        out = Path(folder) / "run"
        command = [executable, "run", "--task", arguments.task, "--out", str(out), "--quiet", *arguments.extra]
        load_before = os.getloadavg()
        started = time.perf_counter()
        completed = subprocess.run(command, env=environment, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
        manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    weights = {}
    for name, record in manifest.get("methods", {}).items():
        for training in (record.get("training") or {}).values():
            if "checkpoint" not in training:
                continue
            weights[name] = ("shipped" if training.get("shipped") else "cache" if training.get("cached")
                             else f"trained ({training.get('training_seconds')} s)")
    result = {"task": arguments.task, "command": " ".join(["mmdf-bench", *command[1:]]), "exit_status":
              completed.returncode, "seconds": round(seconds, 1), "weights": weights,
              "load_average_before": [round(value, 2) for value in load_before],
              "load_average_after": [round(value, 2) for value in load_after],
              "cpu_count": os.cpu_count(), "goal_seconds": 180, "met": seconds < 180}
    print(json.dumps(result, indent=2))
    if completed.returncode not in (0, 1):
        print(completed.stderr[-2000:], file=sys.stderr)
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if completed.returncode in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
