"""The catalogue of bad and unusual inputs: every row of /shared/BAD_INPUTS.md, and more.

Each row feeds mmdf-bench one bad (or merely unusual) input the way a user
would and asserts the exit status (2 for bad usage, 1 when some samples or a
named component failed, 0 when the input is valid), that the message names
the problem and the file, that no traceback is shown and, for the rows where
results were once lost, that nothing is lost. Rows are numbered as in
BAD_INPUTS.md; rows 75 and up are inputs found since.

Most rows call `mmdf_bench.cli.main` in this process, as the console script
does; rows about signals, concurrent processes and thread settings start
real processes. Inputs are tiny (48x48 stacks, two or three samples) and
several rows share one run where the run itself is the input (a folder of
many broken stacks).
"""

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmdf_bench.tasks.focus import FocusMethod, FocusPrediction
from mmdf_bench.tasks.fusion import FusionMethod
from mmdf_bench.training import TrainableMethod
from tests import bad_inputs_data as make
from tests.cli_harness import (Outcome, clear, cli, command, failure_of, scores_of,
                               snapshot)
from tests.conftest import require_asset

ROWS = {}


def row(number, title):
    """Register a catalogue row: ``function(context)`` asserts the row's outcome."""
    def register(function):
        ROWS[f"{number:02d} {title}"] = function
        return function
    return register


FUSION = ("run", "--task", "fusion", "--quiet")
CHEAP = ("--methods", "average", "--metrics", "std")
SIGNAL_RUN = ("--methods", "average", "wavelet", "guided-filter", "--metrics", "std", "qabf",
              "--limit", "8")


class Shared:
    """Inputs and runs several rows use, made once per module (each when first needed)."""

    def __init__(self, root):
        self.root = root
        self._made = {}

    def _once(self, key, function):
        if key not in self._made:
            self._made[key] = function()
        return self._made[key]

    @property
    def good_bag(self):
        return self._once("good_bag", lambda: make.good_bag(self._folder("good-bag")))

    @property
    def bad_bag(self):
        return self._once("bad_bag", lambda: make.bad_bag(self._folder("bad-bag")))

    def _folder(self, name):
        folder = self.root / name
        folder.mkdir(parents=True)
        return folder

    def run(self, name, *arguments):
        """A run folder made by ``mmdf-bench run ARGUMENTS --out <root>/<name>``, and its outcome."""
        def start():
            out = self.root / name
            return out, cli(*FUSION, *arguments, "--out", out)
        return self._once(("run", name), start)

    @property
    def finished(self):
        out, outcome = self.run("finished", *CHEAP, "--limit", "3")
        clear(outcome, 0)
        return out

    @property
    def straight(self):
        """The run every interrupted-then-resumed run must reproduce, computed without a break."""
        out, outcome = self.run("straight", *SIGNAL_RUN)
        clear(outcome, 0)
        return out

    @property
    def scan(self):
        return self._once("scan", lambda: make.write_scan(self.root / "scan.avi"))


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return Shared(tmp_path_factory.mktemp("bad-inputs"))


@dataclass
class Context:
    shared: Shared
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    unwritable: tuple = None


@pytest.fixture
def context(shared, tmp_path, monkeypatch, request):
    needs_lock = request.node.callspec.params["name"] in LOCKED_ROWS
    unwritable = request.getfixturevalue("unwritable_folder") if needs_lock else None
    return Context(shared, tmp_path, monkeypatch, unwritable)


# ---------------------------------------------------------------------------- names and options
@row(1, "unknown task")
def _(c):
    clear(cli("run", "--task", "fuson"), 2, "unknown task 'fuson'", "known tasks: deblur, focus, fusion")


@row(2, "method typo")
def _(c):
    outcome = cli(*FUSION, "--methods", "wavelett")
    clear(outcome, 2, "unknown method 'wavelett'", "did you mean 'wavelet'")
    assert "fm-wavelet-ratio" not in outcome.last, "suggests a method of another task"
    assert "'average'" not in outcome.last, "suggests a name that is hardly alike"


@row(3, "unknown metric")
def _(c):
    clear(cli(*FUSION, "--metrics", "psnrr"), 2, "unknown metric 'psnrr'", "did you mean 'psnr'")


@row(4, "unknown dataset")
def _(c):
    clear(cli(*FUSION, "--datasets", "lytroo"), 2, "unknown dataset 'lytroo'", "did you mean 'lytro'")


@row(5, "missing data folder")
def _(c):
    missing = c.tmp / "nonexistent"
    outcome = cli(*FUSION, *CHEAP, "--datasets", f"fusion-folder={missing}", "--out", c.tmp / "out")
    clear(outcome, 2, "fusion-folder: data folder not found", missing)
    assert not (c.tmp / "out").exists()  # refused before anything was written


@row(6, "empty data folder")
def _(c):
    (c.tmp / "empty").mkdir()
    outcome = cli(*FUSION, *CHEAP, "--datasets", f"fusion-folder={c.tmp / 'empty'}",
                  "--out", c.tmp / "out")
    clear(outcome, 2, "fusion-folder: no stacks in", c.tmp / "empty")


def _bad_bag_run(c):
    out, outcome = c.shared.run("bad-bag", *CHEAP, "--datasets", f"fusion-folder={c.shared.bad_bag}")
    clear(outcome, 1, "failure(s); see", out / "failures.csv")
    assert set(scores_of(out)["sample_id"]) == {"good", "notes"}  # the readable stacks are scored
    assert "| nan" not in (out / "leaderboard.md").read_text()  # no phantom method
    return out


def _bad_stack(number, title, sample_id, *fragments):
    @row(number, title)
    def check(c):
        out = _bad_bag_run(c)
        failure = failure_of(out, sample_id)
        assert failure["stage"] == "load" and failure["method"] == ""
        for fragment in fragments:
            assert fragment in failure["error"], failure["error"]
        assert "pyav" not in failure["error"] and "\n" not in failure["error"]


_bad_stack(7, "one plane per stack", "oneplane", "a stack needs at least 2 images",
           "oneplane/z00.png")
_bad_stack(8, "planes of different sizes", "diffsize", "diffsize/z02.png",
           "plane shape (40, 44, 3) differs from z00.png")
_bad_stack(9, "truncated JPEG among good images", "truncjpg", "cannot read image file",
           "truncjpg/z01.jpg")
_bad_stack(10, "zero-byte PNG among good images", "zeropng", "zeropng/z02.png",
           "the file is empty (0 bytes)")
_bad_stack(11, "text file named .png", "nonimage", "nonimage/z02.png",
           "not an image format")
_bad_stack(14, "(3,H,W) uint16 TIFF without photometric", "s12in16",
           "a stack needs at least 2 images, got 1", "s12in16.tif")
_bad_stack(17, "float TIFF with NaN", "withnan", "NaN or infinite values", "withnan.tif")
_bad_stack(18, "grey and colour planes mixed", "mixed", "mixed/z01.png",
           "plane shape (48, 48) differs from z00.png")
_bad_stack(19, "float TIFF in 0..255", "f255", "must lie in [0, 1]", "f255.tif")


def _good_bag_run(c):
    out, outcome = c.shared.run("good-bag", *CHEAP, "--datasets", f"fusion-folder={c.shared.good_bag}")
    clear(outcome, 0)
    scores = scores_of(out).set_index("sample_id")["value"]
    assert set(scores.index) == {"good", "tiff16", "tiff16g", "gray", "rgba", "NA", "null",
                                 "None", "nan"}
    return out, scores


@row(12, "16-bit RGB TIFF stack")
def _(c):
    _, scores = _good_bag_run(c)
    # the same values in 16 bits; the fused output is rounded to 16 instead of 8 bits
    assert scores["tiff16"] == pytest.approx(scores["good"], abs=1e-4)


@row(13, "16-bit grey TIFF")
def _(c):
    _, scores = _good_bag_run(c)
    assert np.isfinite(scores["tiff16g"]) and scores["tiff16g"] > 0


@row(15, "grayscale PNG stack")
def _(c):
    _, scores = _good_bag_run(c)
    assert scores["gray"] == pytest.approx(scores["tiff16g"], abs=2e-3)  # the same grey, 8 bits


@row(16, "RGBA PNG")
def _(c):
    _, scores = _good_bag_run(c)
    assert scores["rgba"] == pytest.approx(scores["good"], abs=1e-4)  # alpha dropped


@row(20, "stacks named NA, null, None, nan")
def _(c):
    out, scores = _good_bag_run(c)
    board = json.loads((out / "leaderboard.json").read_text())
    assert {"NA", "null", "None", "nan"} <= set(scores.index)
    assert board["rows"], "no leaderboard"


@row(21, "report on a run with a stack named NA")
def _(c):
    out, _ = _good_bag_run(c)
    outcome = cli("report", out, "-o", c.tmp / "report.html")
    clear(outcome, 0)
    assert "report written to" in outcome.out and (c.tmp / "report.html").is_file()


@row(22, "--limit 0")
def _(c):
    clear(cli(*FUSION, "--limit", "0"), 2, "--limit must be at least 1")


@row(23, "--limit -5")
def _(c):
    clear(cli(*FUSION, "--limit", "-5"), 2, "--limit must be at least 1")


@row(24, "--limit abc")
def _(c):
    clear(cli(*FUSION, "--limit", "abc"), 2, "argument --limit: invalid int value: 'abc'")


@row(25, "huge --limit")
def _(c):
    out = c.tmp / "out"
    outcome = cli(*FUSION, *CHEAP, "--limit", "99999999", "--datasets",
                  f"fusion-folder={c.shared.good_bag}", "--out", out)
    clear(outcome, 0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["limit"] == 99999999 and manifest["datasets"]["fusion-folder"]["evaluated"] == 9


@row(26, "negative --jobs")
def _(c):
    clear(cli(*FUSION, "--jobs", "-2"), 2, "--jobs and --chunk-size must be at least 1")


# ---------------------------------------------------------------------------- resuming
@row(27, "--resume on a folder that is not a run")
def _(c):
    (c.tmp / "notarun").mkdir()
    clear(cli("run", "--resume", c.tmp / "notarun"), 2, "nothing to resume in", c.tmp / "notarun",
          "manifest.json not found")


@row(28, "--resume on a path that does not exist")
def _(c):
    clear(cli("run", "--resume", c.tmp / "none"), 2, "nothing to resume in", c.tmp / "none")


@row(29, "--resume with changed options")
def _(c):
    outcome = cli("run", "--resume", c.shared.finished, "--methods", "wavelet", "--quiet")
    clear(outcome, 2)
    assert "methods: recorded ['average'], now ['wavelet']" in outcome.err


@row(30, "--resume a fusion run with --task focus")
def _(c):
    clear(cli("run", "--resume", c.shared.finished, "--task", "focus"), 2,
          f"cannot resume {c.shared.finished}: it is a run of task 'fusion', not 'focus'")


@row(31, "--resume after the weights went away")
def _(c):
    out = _lytro_run(c)
    c.monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(c.tmp / "no-weights"))
    c.monkeypatch.setenv("MMDF_BENCH_CACHE", str(c.tmp / "no-cache"))
    c.monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")
    before = snapshot(out)
    outcome = cli("run", "--resume", out, "--quiet")
    clear(outcome, 2)
    assert ("metric brisque: unavailable now (brisque_svm_weights.pth is not available), "
            "available in the run") in outcome.err
    assert snapshot(out) == before


@row(32, "--resume with a corrupt manifest.json")
def _(c):
    copy = c.tmp / "badman"
    shutil.copytree(c.shared.finished, copy)
    manifest = copy / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:500])
    before = snapshot(copy)
    clear(cli("run", "--resume", copy), 2, f"cannot resume {copy}", "is not valid JSON")
    assert snapshot(copy) == before


@row(33, "--resume a complete run")
def _(c):
    copy = c.tmp / "complete"
    shutil.copytree(c.shared.finished, copy)
    before = (copy / "scores.csv").read_bytes()
    clear(cli("run", "--resume", copy, "--quiet"), 0)
    assert (copy / "scores.csv").read_bytes() == before


def _interrupt(c, sig, *extra):
    """Start a run, `sig` it once it has finished a few units; return its folder and outcome."""
    out = c.tmp / "interrupted"
    # a shell starts background jobs with SIGINT ignored, and children inherit it: restore it
    process = subprocess.Popen(command(*FUSION, *SIGNAL_RUN, *extra, "--out", out),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    journal = out / "completed.csv"
    while process.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(sig)
    sent = time.monotonic()
    stdout, stderr = process.communicate(timeout=120)
    return out, Outcome(process.returncode, stdout, stderr), time.monotonic() - sent


def _resumes_to_the_straight_run(c, out):
    expected = (c.shared.straight / "scores.csv").read_bytes()
    assert (out / "scores.csv").read_bytes() != expected, "nothing was left to resume"
    clear(cli("run", "--resume", out, "--quiet"), 0)
    assert (out / "scores.csv").read_bytes() == expected


@row(34, "SIGINT during a run, then --resume")
def _(c):
    out, outcome, _ = _interrupt(c, signal.SIGINT)
    clear(outcome, 1, "interrupted; keeping what was finished", f"--resume {out}")
    _resumes_to_the_straight_run(c, out)


@row(35, "SIGINT with --jobs 2, then --resume --jobs 2")
def _(c):
    out, outcome, seconds = _interrupt(c, signal.SIGINT, "--jobs", "2")
    clear(outcome, 1, "interrupted; keeping what was finished")
    assert seconds < 30, f"took {seconds:.0f} s to stop after SIGINT"
    expected = (c.shared.straight / "scores.csv").read_bytes()
    clear(cli("run", "--resume", out, "--jobs", "2", "--quiet"), 0)
    assert (out / "scores.csv").read_bytes() == expected


@row(36, "SIGKILL, then --resume")
def _(c):
    out, outcome, _ = _interrupt(c, signal.SIGKILL)
    assert outcome.status == -signal.SIGKILL
    _resumes_to_the_straight_run(c, out)


@row(37, "journals cut mid-line, then --resume")
def _(c):
    copy = c.tmp / "cut"
    shutil.copytree(c.shared.straight, copy)
    for name in ("completed.csv", "scores.csv"):
        content = (copy / name).read_bytes()
        (copy / name).write_bytes(content[: len(content) // 3 + 7])  # mid-line
    _resumes_to_the_straight_run(c, copy)


class InterruptedTraining(TrainableMethod, FusionMethod):
    """Ctrl-C arrives while it trains."""

    name = "toy-interrupted-training"
    profiles = {"smoke": {}, "cpu": {}, "paper": {}}

    def fit(self, train_samples, *, seed=0):
        raise KeyboardInterrupt

    def fuse(self, stack):
        return stack.mean(axis=0)


@row(38, "Ctrl-C during training")
def _(c):
    from mmdf_bench import registry

    registry.methods.register(InterruptedTraining)
    try:
        c.monkeypatch.setenv("MMDF_BENCH_CACHE", str(c.tmp / "cache"))
        out = c.tmp / "out"
        outcome = cli(*FUSION, "--methods", "average", InterruptedTraining.name,
                      "--metrics", "std", "--limit", "2", "--out", out)
    finally:
        registry.methods.unregister(InterruptedTraining.name)
    clear(outcome, 1, "interrupted; keeping what was finished", f"--resume {out}")
    assert "Legend" not in outcome.out and "Cells:" not in outcome.out  # no empty leaderboard
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert not list((c.tmp / "cache").rglob("*.pt")), "a partial checkpoint was kept"


# ---------------------------------------------------------------------------- compare, report
@row(39, "compare runs of different tasks")
def _(c):
    deblur = c.tmp / "deblur"
    clear(cli("run", "--task", "deblur", "--methods", "identity", "--metrics", "psnr",
              "--limit", "2", "--quiet", "--out", deblur), 0)
    outcome = cli("compare", c.shared.finished, deblur)
    clear(outcome, 2)
    assert "cannot be compared" in outcome.err and "'fusion'" in outcome.err \
        and "'deblur'" in outcome.err


@row(40, "compare with a folder that does not exist")
def _(c):
    clear(cli("compare", c.shared.finished, c.tmp / "none"), 2, c.tmp / "none", "not found")


@row(41, "report on an empty folder")
def _(c):
    (c.tmp / "empty").mkdir()
    clear(cli("report", c.tmp / "empty", "-o", c.tmp / "x.html"), 2, c.tmp / "empty",
          "scores.csv not found")


@row(42, "report on a folder that does not exist")
def _(c):
    clear(cli("report", c.tmp / "none", "-o", c.tmp / "x.html"), 2, c.tmp / "none", "not found")


@row(43, "report on a run without scores")
def _(c):
    data = c.tmp / "data"
    make.write_folder(data / "oneplane", make.planes()[:1])
    out = c.tmp / "out"
    clear(cli(*FUSION, *CHEAP, "--datasets", f"fusion-folder={data}", "--out", out), 1)
    outcome = cli("report", out, "-o", c.tmp / "r.html")
    clear(outcome, 0)
    assert "report written to" in outcome.out


# ---------------------------------------------------------------------------- focus-map
def _no_calibration(c):
    def calibrate(*arguments, **options):
        raise AssertionError("calibrated before checking the input")
    c.monkeypatch.setattr("mmdf_bench.components.prepare_method", calibrate)


@row(44, "focus-map on a file that is not an image")
def _(c):
    _no_calibration(c)
    path = c.tmp / "notanimage.png"
    path.write_text("hello")
    outcome = cli("focus-map", path, "--method", "fm-brenner", "-o", c.tmp / "fm.png")
    clear(outcome, 2, path, "not an image format")
    assert "pyav" not in outcome.err


@row(45, "focus-map on a folder")
def _(c):
    _no_calibration(c)
    clear(cli("focus-map", c.tmp, "--method", "fm-brenner", "-o", c.tmp / "fm.png"), 2,
          f"{c.tmp} is a folder, not an image file")


@row(46, "focus-map on a 50x50 image")
def _(c):
    _no_calibration(c)
    path = c.tmp / "tiny.png"
    make.write_image(path, np.zeros((50, 50), dtype=np.float32))
    clear(cli("focus-map", path, "--method", "fm-brenner", "-o", c.tmp / "fm.png"), 2, path,
          "smaller than one 84x84 tile")


@row(47, "focus-map --tile 0")
def _(c):
    _no_calibration(c)
    path = c.tmp / "image.png"
    make.write_image(path, make.planes()[0])
    clear(cli("focus-map", path, "--method", "fm-brenner", "-o", c.tmp / "fm.png", "--tile", "0"),
          2, "--tile must be at least 2 pixels, got 0")


# ---------------------------------------------------------------------------- stack-from-video
@row(48, "stack-from-video on random bytes")
def _(c):
    video = c.tmp / "notavideo.mp4"
    video.write_bytes(os.urandom(2000))
    clear(cli("stack-from-video", video, "-o", c.tmp / "planes"), 2, video)


@row(49, "stack-from-video on a zero-byte file")
def _(c):
    video = c.tmp / "empty.mp4"
    video.write_bytes(b"")
    clear(cli("stack-from-video", video, "-o", c.tmp / "planes"), 2, video)


@row(50, "stack-from-video on a missing file")
def _(c):
    clear(cli("stack-from-video", c.tmp / "none.mp4", "-o", c.tmp / "planes"), 2,
          "video file not found", c.tmp / "none.mp4")


@row(51, "stack-from-video --planes 0")
def _(c):
    clear(cli("stack-from-video", c.shared.scan, "-o", c.tmp / "planes", "--planes", "0"), 2,
          "num_planes must be an integer of at least 2, got 0")


@row(52, "stack-from-video --planes 500")
def _(c):
    clear(cli("stack-from-video", c.shared.scan, "-o", c.tmp / "planes", "--planes", "500"), 2,
          "500 planes", "do not fit")


@row(53, "stack-from-video twice into one folder")
def _(c):
    from mmdf_bench.data.folder import read_folder_stack

    planes = c.tmp / "planes"
    clear(cli("stack-from-video", c.shared.scan, "-o", planes), 0)
    first = snapshot(planes)
    second = cli("stack-from-video", c.shared.scan, "-o", planes, "--planes", "5")
    if second.status == 0:  # the planes were replaced, and it says so
        clear(second, 0)
        stack, _ = read_folder_stack(planes)
        assert len(stack) == 5 == len(pd.read_csv(planes / "planes.csv"))
    else:  # or the used folder was refused, untouched
        clear(second, 2, planes)
        assert snapshot(planes) == first


# ---------------------------------------------------------------------------- where results go
LOCKED_ROWS = set()


def _locked(number, title):
    def register(function):
        LOCKED_ROWS.add(f"{number:02d} {title}")
        return row(number, title)(function)
    return register


@_locked(54, "--out on a read-only file system")
def _(c):
    folder, reason = c.unwritable
    clear(cli(*FUSION, *CHEAP, "--limit", "1", "--out", folder), 2, f"cannot write {folder}", reason)


@_locked(55, "--out a new folder on a read-only file system")
def _(c):
    folder, reason = c.unwritable
    clear(cli(*FUSION, *CHEAP, "--limit", "1", "--out", folder / "sub"), 2,
          f"cannot write {folder / 'sub'}", reason)


@row(56, "--out names an existing file")
def _(c):
    path = c.tmp / "afile.txt"
    path.write_text("keep me")
    clear(cli(*FUSION, *CHEAP, "--limit", "1", "--out", path), 2, f"output folder {path}",
          "is a file, not a folder")
    assert path.read_text() == "keep me"


@_locked(57, "report -o on a read-only file system")
def _(c):
    folder, reason = c.unwritable
    clear(cli("report", c.shared.finished, "-o", folder / "r.html"), 2,
          f"cannot write {folder / 'r.html'} (-o)", reason)


@_locked(58, "stack-from-video -o on a read-only file system")
def _(c):
    folder, reason = c.unwritable
    clear(cli("stack-from-video", c.shared.scan, "-o", folder / "planes"), 2,
          f"cannot write {folder / 'planes'} (-o)", reason)


@row(59, "--out an existing finished run without --resume")
def _(c):
    copy = c.tmp / "b23"
    shutil.copytree(c.shared.finished, copy)
    before = snapshot(copy)
    outcome = cli(*FUSION, "--methods", "wavelet", "--metrics", "std", "--limit", "2",
                  "--out", copy)
    clear(outcome, 2, copy)
    assert snapshot(copy) == before, "the finished run was replaced"


@row(60, "two runs started in the same second with the default --out")
def _(c):
    processes = [subprocess.Popen(command(*FUSION, "--methods", method, "--metrics", "std",
                                          "entropy", "--limit", "6"),
                                  cwd=c.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
                 for method in ("average", "wavelet")]
    folders = []
    for process, method in zip(processes, ("average", "wavelet")):
        stdout, stderr = process.communicate(timeout=300)
        clear(Outcome(process.returncode, stdout, stderr), 0)
        line = next(line for line in stdout.splitlines() if line.startswith("Results written to"))
        folder = c.tmp / line.split()[3].rstrip("/")
        scores = scores_of(folder)
        assert set(scores["method"]) == {method} and len(scores) == 12
        assert set(scores["dataset"]) == {"synthetic-brightfield-fusion"}
        folders.append(folder)
    assert folders[0] != folders[1]


# ---------------------------------------------------------------------------- weights and data
def _weights_copy(c, corrupt):
    weights = require_asset("MMDF_BENCH_WEIGHTS", ".")
    folder = c.tmp / "weights"
    for relative in ("ifcnn/IFCNN-MAX.pth", "pyiqa/brisque_svm_weights.pth"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        if corrupt:
            (folder / relative).write_bytes((weights / relative).read_bytes()[:1000])
    c.monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(folder))
    c.monkeypatch.setenv("MMDF_BENCH_CACHE", str(c.tmp / "cache"))
    c.monkeypatch.setenv("MMDF_BENCH_OFFLINE", "1")


@row(61, "MMDF_BENCH_WEIGHTS is an empty folder")
def _(c):
    _weights_copy(c, corrupt=False)
    out = c.tmp / "out"
    outcome = cli(*FUSION, "--methods", "average", "ifcnn-max", "--metrics", "std", "--limit", "2",
                  "--out", out)
    clear(outcome, 1, "requested method ifcnn-max did not run",
          "IFCNN-MAX.pth is not available")
    assert set(scores_of(out)["method"]) == {"average"}
    assert "looked in" in (out / "leaderboard.md").read_text()  # the full reason is kept


@row(62, "corrupted weights")
def _(c):
    _weights_copy(c, corrupt=True)
    outcome = cli(*FUSION, "--methods", "average", "ifcnn-max", "--metrics", "std", "brisque",
                  "--limit", "2", "--out", c.tmp / "out")
    clear(outcome, 1, "did not run", "checksum mismatch for")
    asked = [line for line in outcome.err.splitlines() if "mmdf-bench: requested " in line]
    assert len(asked) == 2 and "IFCNN-MAX.pth" in "".join(asked) \
        and "brisque_svm_weights.pth" in "".join(asked)


class TrainedThreshold(TrainableMethod, FocusMethod):
    """The smallest trainable method: a variance threshold kept in a checkpoint."""

    name = "toy-trained-threshold"
    profiles = {"smoke": {}, "cpu": {}, "paper": {}}
    _threshold = None

    def fit(self, train_samples, *, seed=0):
        self._threshold = 0.001
        return self

    def state_dict(self):
        import torch

        return {"threshold": torch.tensor(self._threshold)}

    def load_state_dict(self, state):
        self._threshold = float(state["threshold"])

    def predict(self, patch):
        return FocusPrediction(probability=float(np.var(patch) < self._threshold))


@row(63, "corrupted cached checkpoint")
def _(c):
    from mmdf_bench import registry

    c.monkeypatch.setenv("MMDF_BENCH_CACHE", str(c.tmp / "cache"))
    registry.methods.register(TrainedThreshold)
    try:
        trained = cli("train", "--method", TrainedThreshold.name, "--profile", "smoke")
        clear(trained, 0)
        checkpoint = Path(trained.out.split("checkpoint:")[1].split()[0])
        checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
        image = c.tmp / "image.png"
        make.write_image(image, np.tile(make.planes()[0], (2, 2, 1)))
        mapped = cli("focus-map", image, "--method", TrainedThreshold.name, "--profile", "smoke",
                     "-o", c.tmp / "map.png")
        out = c.tmp / "out"
        ran = cli("run", "--task", "focus", "--methods", TrainedThreshold.name, "--profile",
                  "smoke", "--metrics", "accuracy", "--limit", "4", "--quiet", "--out", out)
    finally:
        registry.methods.unregister(TrainedThreshold.name)
    clear(mapped, 2, checkpoint.name, "--retrain")
    assert ran.status == 1 and "Traceback" not in ran.err, ran.err[-2000:]
    failures = pd.read_csv(out / "failures.csv", dtype=str)
    assert failures["error"].str.contains(checkpoint.name, regex=False).any()
    assert failures["error"].str.contains("--retrain", regex=False).any()


@row(64, "--datasets lytro without MMDF_BENCH_DATA")
def _(c):
    c.monkeypatch.delenv("MMDF_BENCH_DATA", raising=False)
    clear(cli(*FUSION, *CHEAP, "--datasets", "lytro", "--out", c.tmp / "out"), 2,
          "lytro: data not found (MMDF_BENCH_DATA is not set)", "--datasets lytro=PATH")


@row(65, "lytro= a folder that is not Lytro")
def _(c):
    data = make.write_folder(c.tmp / "good", make.planes()).parent
    clear(cli(*FUSION, *CHEAP, "--datasets", f"lytro={data}", "--out", c.tmp / "out"), 2,
          f"lytro: {data} is not a Lytro folder")


def _lytro_run(c):
    lytro = require_asset("MMDF_BENCH_DATA", "lytro")
    copy = c.shared._once("lytro-copy", lambda: make.lytro_copy(c.shared.root / "lytro-bad", lytro))
    out, outcome = c.shared.run("lytro-bad", "--methods", "average", "--metrics", "brisque",
                                "qabf", "--datasets", f"lytro={copy}", "--limit", "3")
    clear(outcome, 1, "failure(s); see")
    return out


@row(66, "Lytro copy with a truncated and a zero-byte JPEG")
def _(c):
    out = _lytro_run(c)
    assert "lytro-01-B.jpg" in failure_of(out, "pair-01")["error"]
    empty = failure_of(out, "pair-02")["error"]
    assert "lytro-02-A.jpg: the file is empty (0 bytes)" in empty and "pyav" not in empty
    assert set(scores_of(out)["sample_id"]) == {"pair-03"}


@row(67, "the same dataset twice")
def _(c):
    clear(cli(*FUSION, "--datasets", f"fusion-folder={c.tmp}", f"fusion-folder={c.tmp}"), 2,
          "dataset(s) given twice: fusion-folder")


@row(68, "a dataset of another task")
def _(c):
    clear(cli("run", "--task", "focus", "--datasets", f"fusion-folder={c.tmp}"), 2,
          "dataset 'fusion-folder' belongs to task(s) fusion, not 'focus'")


@row(69, "list methods --task nope")
def _(c):
    clear(cli("list", "methods", "--task", "nope"), 2, "unknown task 'nope'")


@row(70, "train a classical method")
def _(c):
    clear(cli("train", "--method", "wavelet"), 2, "wavelet has nothing to train")


@row(71, "compare with a bad tolerance")
def _(c):
    clear(cli("compare", c.shared.finished, c.shared.finished, "--tolerance", "psnr=abc"), 2,
          "bad tolerance 'psnr=abc'")


@row(72, "compare with a tolerance for an unknown metric")
def _(c):
    clear(cli("compare", c.shared.finished, c.shared.finished, "--tolerance", "psnrr=0.1"), 2,
          "names metric 'psnrr'")


@row(73, "deblur-folder without blurred/ and sharp/")
def _(c):
    data = make.write_folder(c.tmp / "good", make.planes()).parent
    clear(cli("run", "--task", "deblur", "--methods", "identity", "--datasets",
              f"deblur-folder={data}", "--out", c.tmp / "out"), 2,
          "needs sub-folders 'blurred/' and 'sharp/'", data)


@row(74, "empty zstack-folder")
def _(c):
    (c.tmp / "empty").mkdir()
    clear(cli("run", "--task", "focus", "--methods", "fm-brenner", "--datasets",
              f"zstack-folder={c.tmp / 'empty'}", "--out", c.tmp / "out"), 2,
          "zstack-folder: no stacks in", c.tmp / "empty")


# ---------------------------------------------------------------------------- found since
@row(75, "--threads 0")
def _(c):
    clear(cli(*FUSION, "--threads", "0"), 2, "--threads must be a whole number of at least 1, got 0")


@row(76, "OMP_NUM_THREADS is not a number")
def _(c):
    completed = subprocess.run(command("list", "tasks"), capture_output=True, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "abc"})
    clear(Outcome(completed.returncode, completed.stdout, completed.stderr), 2,
          "OMP_NUM_THREADS must be a whole number of at least 1, got 'abc'")


@row(77, "report -o on a full disk")
def _(c):
    if not Path("/dev/full").exists():
        pytest.fail("/dev/full is missing: this row needs Linux")
    clear(cli("report", c.shared.finished, "-o", "/dev/full"), 2,
          "cannot write /dev/full (-o): the disk is full")


@row(78, "the disk fills during a run, then --resume")
def _(c):
    import errno

    from mmdf_bench.recorder import ResultsRecorder

    real_unit, written = ResultsRecorder.unit, []

    def fill_up(self, *arguments, **options):
        if len(written) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(1)
        return real_unit(self, *arguments, **options)

    c.monkeypatch.setattr(ResultsRecorder, "unit", fill_up)
    out = c.tmp / "out"
    outcome = cli(*FUSION, *SIGNAL_RUN, "--out", out)
    clear(outcome, 2, f"cannot write {out} (--out): the disk is full",
          f"what was recorded before stays in {out}", f"continue with --resume {out}")
    c.monkeypatch.setattr(ResultsRecorder, "unit", real_unit)
    _resumes_to_the_straight_run(c, out)


@row(79, "focus-map -o names a folder")
def _(c):
    path = c.tmp / "image.png"
    make.write_image(path, np.zeros((100, 100), dtype=np.float32))
    clear(cli("focus-map", path, "--method", "fm-brenner", "-o", c.tmp), 2,
          f"output file {c.tmp} (-o) is a folder")


@row(80, "--datasets NAME=PATH names a file")
def _(c):
    path = c.tmp / "stack.txt"
    path.write_text("x")
    clear(cli(*FUSION, *CHEAP, "--datasets", f"fusion-folder={path}"), 2,
          f"fusion-folder: {path} is a file; give the data folder")


@row(81, "methods chosen by a pattern lack their weights")
def _(c):
    _weights_copy(c, corrupt=False)
    outcome = cli(*FUSION, "--methods", "average", "ifcnn-*", "--metrics", "std", "--limit", "2",
                  "--out", c.tmp / "out")
    clear(outcome, 0)
    assert "Did not run:\n  method ifcnn-max: IFCNN-MAX.pth is not available" in outcome.out


@_locked(82, "compare -o on a read-only file system")
def _(c):
    folder, reason = c.unwritable
    clear(cli("compare", c.shared.finished, c.shared.finished, "-o", folder / "c.md"), 2,
          f"cannot write {folder / 'c.md'} (-o)", reason)


@row(83, "stack-from-video -o names an existing file")
def _(c):
    path = c.tmp / "afile.txt"
    path.write_text("keep me")
    clear(cli("stack-from-video", c.shared.scan, "-o", path), 2, f"output folder {path} (-o)",
          "is a file, not a folder")
    assert path.read_text() == "keep me"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_bad_input(name, context):
    ROWS[name](context)


def test_the_catalogue_covers_every_row_of_bad_inputs_md():
    assert {int(name.split()[0]) for name in ROWS} >= set(range(1, 75))
