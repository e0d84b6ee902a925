"""No result is lost without a word: occupied run folders, same-second runs, stale planes, corrupt checkpoints."""

import concurrent.futures
import hashlib
import json
from datetime import datetime

import numpy as np
import pytest

from mmdf_bench import cli
from mmdf_bench.checkpoints import load_checkpoint, record_path, save_checkpoint
from mmdf_bench.data.base import Dataset
from mmdf_bench.errors import CheckpointError
from mmdf_bench.run_destination import LOCK_FILE, locked_run_folder, new_run_folder
from mmdf_bench.run_folder import load_run
from mmdf_bench.tasks.fusion import FusionMethod, FusionSample
from mmdf_bench.training import TrainableMethod
from tests.test_zstack_readers import SCAN_LEVELS, write_video

main = cli.main


class FourStacks(Dataset):
    """Four two-plane 16x16 stacks; two train stacks."""

    name = "toy-four-stacks"
    task = "fusion"

    def sample_ids(self, split):
        return [f"{split}-{index}" for index in range(4 if split == "test" else 2)]

    def load(self, sample_id):
        index = int(sample_id.split("-")[1]) + (10 if sample_id.startswith("train") else 0)
        reference = np.random.default_rng(index).random((16, 16)).astype(np.float32)
        flat = np.full_like(reference, reference.mean())
        left = np.concatenate([reference[:, :8], flat[:, 8:]], axis=1)
        right = np.concatenate([flat[:, :8], reference[:, 8:]], axis=1)
        return FusionSample(np.stack([left, right]), sample_id, reference=reference)


class ToyLearnedWeight(TrainableMethod, FusionMethod):
    """Fuses with a learned weight of the first plane (the mean of the train references)."""

    name = "toy-learned-weight"
    profiles = {"smoke": {"shift": 0.0}, "cpu": {"shift": 0.0}, "paper": {"shift": 0.0}}
    fits = 0

    def fit(self, train_samples, *, seed=0):
        ToyLearnedWeight.fits += 1
        self.weight = float(np.mean([sample.reference.mean() for sample in train_samples]))
        return self

    def state_dict(self):
        return {"weight": self.weight}

    def load_state_dict(self, state):
        self.weight = state["weight"]

    def fuse(self, stack):
        return self.weight * stack[0] + (1 - self.weight) * stack[1]


@pytest.fixture
def toys(scratch_registrations, tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    scratch_registrations("datasets", FourStacks)
    scratch_registrations("methods", ToyLearnedWeight)


def toy_run(*options):
    return ["run", "--task", "fusion", "--datasets", "toy-four-stacks", "--metrics", "psnr",
            "--quiet", *options]


def folder_bytes(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


# --- an occupied --out -------------------------------------------------------------------------

def test_a_folder_holding_a_run_is_refused_and_kept(toys, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(toy_run("--methods", "average", "--out", str(out), "--save-outputs")) == 0
    before = folder_bytes(out)
    capsys.readouterr()
    assert main(toy_run("--methods", "wavelet", "--limit", "2", "--out", str(out))) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert f"{out} already holds a run" in error
    assert "--resume" in error and "--overwrite" in error
    assert folder_bytes(out) == before  # nothing touched


def test_overwrite_replaces_the_whole_run(toys, tmp_path):
    out = tmp_path / "run"
    assert main(toy_run("--methods", "average", "--out", str(out), "--save-outputs")) == 0
    assert main(toy_run("--methods", "wavelet", "--limit", "2", "--out", str(out),
                        "--overwrite")) == 0
    run = load_run(out)
    assert set(run.scores["method"]) == {"wavelet"} and len(run.scores) == 2
    assert run.manifest["config"]["methods"] == ["wavelet"]
    assert not (out / "outputs").exists()  # the old run's images went with it
    assert not (out / LOCK_FILE).exists()


def test_overwrite_and_resume_together_are_refused(toys, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(toy_run("--methods", "average", "--out", str(out))) == 0
    assert main(["run", "--resume", str(out), "--overwrite", "--quiet"]) == 2
    assert "give one" in capsys.readouterr().err


def test_a_folder_another_run_is_writing_into_is_refused(toys, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    with locked_run_folder(out):
        assert main(toy_run("--methods", "average", "--out", str(out))) == 2
        assert main(toy_run("--methods", "average", "--out", str(out), "--overwrite")) == 2
    error = capsys.readouterr().err
    assert f"is writing into {out}" in error and "pid" in error
    assert list(out.iterdir()) == []
    assert main(toy_run("--methods", "average", "--out", str(out))) == 0  # released


def test_a_file_system_without_locks_still_runs(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with locked_run_folder(tmp_path):
        (tmp_path / "scores.csv").write_text("written\n")
    assert [path.name for path in tmp_path.iterdir()] == ["scores.csv"]


# --- the default folder ------------------------------------------------------------------------

class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 12, 3, 5, 7, 5)


def test_runs_started_in_the_same_second_get_their_own_folders(toys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "datetime", _FrozenClock)
    assert main(toy_run("--methods", "average")) == 0
    assert main(toy_run("--methods", "wavelet")) == 0
    first, second = tmp_path / "runs" / "fusion-20261203-050705", \
        tmp_path / "runs" / "fusion-20261203-050705-2"
    assert set(load_run(first).scores["method"]) == {"average"}
    assert set(load_run(second).scores["method"]) == {"wavelet"}


def test_a_refused_default_run_leaves_no_empty_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--task", "fusion", "--methods", "wavelte", "--quiet"]) == 2
    assert list((tmp_path / "runs").iterdir()) == []


def _claim(parent):
    return new_run_folder(parent, "fusion-20261203-050705").name


def test_new_folders_are_unique_across_processes(tmp_path):
    with concurrent.futures.ProcessPoolExecutor(4) as pool:
        names = list(pool.map(_claim, [tmp_path] * 8))
    assert len(set(names)) == 8
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)


# --- stack-from-video into a used folder --------------------------------------------------------

@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    from mmdf_bench.data.synthetic_zstack import SyntheticBrightfieldZStack

    dataset = SyntheticBrightfieldZStack(seed=0)
    specimen = dataset.specimen_stack(dataset.specimen_ids("test")[4], noise=False)
    video = tmp_path_factory.mktemp("scan") / "scan.avi"
    write_video(video, [specimen[level] for level in SCAN_LEVELS])
    return video


def test_stack_from_video_refuses_a_used_folder_and_replaces_on_request(scan, tmp_path, capsys):
    from mmdf_bench.data.zstack import read_zstack_folder

    planes = tmp_path / "planes"
    assert main(["stack-from-video", str(scan), "-o", str(planes), "--planes", "7"]) == 0
    before = folder_bytes(planes)
    capsys.readouterr()
    assert main(["stack-from-video", str(scan), "-o", str(planes), "--planes", "3"]) == 2
    error = capsys.readouterr().err
    assert "already holds planes" in error and "--overwrite" in error and str(planes) in error
    assert folder_bytes(planes) == before
    assert main(["stack-from-video", str(scan), "-o", str(planes), "--planes", "3",
                 "--overwrite"]) == 0
    assert "removed the 7 planes of an earlier extraction" in capsys.readouterr().out
    stack, names = read_zstack_folder(planes)
    assert len(stack) == 3 and names == ["plane_000.png", "plane_001.png", "plane_002.png"]


def test_stack_from_video_never_deletes_files_it_did_not_write(scan, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.png").write_bytes(b"mine")
    assert main(["stack-from-video", str(scan), "-o", str(folder), "--overwrite"]) == 2
    assert "holds other files (notes.png)" in capsys.readouterr().err
    assert [path.name for path in folder.iterdir()] == ["notes.png"]


# --- checksummed checkpoints -------------------------------------------------------------------

def test_a_checkpoint_is_written_with_its_checksum_and_read_back(tmp_path):
    path = tmp_path / "model.pt"
    digest = save_checkpoint({"weight": np.float32(0.25)}, path, record={"dataset": "d"})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(record_path(path).read_text()) == {"dataset": "d", "sha256": digest}
    state, record = load_checkpoint(path)
    assert state == {"weight": np.float32(0.25)} and record["dataset"] == "d"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["model.pt", "model.pt.json"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "legacy-truncate"])
def test_a_damaged_checkpoint_is_named_with_the_cure(tmp_path, damage):
    path = tmp_path / "model.pt"
    save_checkpoint({"weights": np.arange(1000.0)}, path)
    data = path.read_bytes()
    if damage == "flip":
        path.write_bytes(data[:500] + bytes([data[500] ^ 1]) + data[501:])
    else:
        path.write_bytes(data[: len(data) // 3])
    if damage.startswith("legacy"):  # a checkpoint from before records held a checksum
        record_path(path).unlink()
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, method_name="mmdf-focus", profile="cpu")
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert ("corrupt" if damage != "legacy-truncate" else "cannot be read") in message
    assert "mmdf-bench train --method mmdf-focus --profile cpu --retrain" in message


def test_a_run_with_a_corrupt_checkpoint_says_which_file_and_goes_on(toys, tmp_path, capsys):
    out = tmp_path / "first"
    assert main(toy_run("--methods", "toy-learned-weight", "average", "--profile", "smoke",
                        "--out", str(out))) == 0
    checkpoint = tmp_path.joinpath(
        load_run(out).manifest["methods"]["toy-learned-weight"]["training"]["toy-four-stacks"]
        ["checkpoint"])
    checkpoint.write_bytes(checkpoint.read_bytes()[:10])
    capsys.readouterr()
    fits = ToyLearnedWeight.fits
    assert main(toy_run("--methods", "toy-learned-weight", "average", "--profile", "smoke",
                        "--out", str(tmp_path / "second"))) == 1
    error = capsys.readouterr().err
    assert "Traceback" not in error and f"checkpoint {checkpoint} is corrupt" in error
    failures = load_run(tmp_path / "second").failures
    assert failures[["method", "stage"]].values.tolist() == [["toy-learned-weight", "build"]]
    assert set(load_run(tmp_path / "second").scores["method"]) == {"average"}
    assert ToyLearnedWeight.fits == fits  # not silently retrained
    # the cure the message gives works
    assert main(["train", "--method", "toy-learned-weight", "--profile", "smoke", "--dataset",
                 "toy-four-stacks", "--retrain"]) == 0
    assert main(toy_run("--methods", "toy-learned-weight", "--profile", "smoke",
                        "--out", str(tmp_path / "third"))) == 0
