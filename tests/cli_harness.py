"""Running the command line as a user would, and judging what it printed."""

import io
import os
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmdf_bench.cli import main


@dataclass
class Outcome:
    status: int
    out: str
    err: str

    @property
    def last(self):
        lines = [line for line in self.err.splitlines() if line.strip()]
        return lines[-1] if lines else ""


@contextmanager
def _inside(folder):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def cli(*arguments, cwd=None):
    """Run ``mmdf-bench ARGUMENTS`` in this process; the exit status and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), _inside(cwd or os.getcwd()):
        try:
            status = main([str(argument) for argument in arguments])
        except SystemExit as stop:  # argparse's own usage errors
            status = stop.code
    return Outcome(status, out.getvalue(), err.getvalue())


def command(*arguments):
    """The console script as a new process would run it."""
    return [sys.executable, "-m", "mmdf_bench.cli", *[str(argument) for argument in arguments]]


def clear(outcome, status, *fragments):
    """`outcome` exited with `status`, without a traceback, its last line holding `fragments`."""
    text = outcome.out + outcome.err
    assert outcome.status == status, f"exit {outcome.status}, expected {status}:\n{text[-3000:]}"
    assert "Traceback" not in text, text[-3000:]
    for fragment in fragments:
        assert str(fragment) in outcome.last, f"{fragment!r} not in the last line {outcome.last!r}"


def failure_of(run, sample_id):
    """The failures.csv row of `sample_id` in the run folder `run`."""
    failures = pd.read_csv(run / "failures.csv", dtype=str, keep_default_na=False)
    chosen = failures[failures["sample_id"] == sample_id]
    assert len(chosen) == 1, failures.to_string()
    return chosen.iloc[0]


def scores_of(run):
    return pd.read_csv(run / "scores.csv", dtype={"sample_id": str}, keep_default_na=False)


def snapshot(folder):
    """File name -> bytes of everything in `folder` (to prove nothing changed)."""
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(Path(folder).rglob("*")) if path.is_file()}
