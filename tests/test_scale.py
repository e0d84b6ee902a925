"""Scaling a run: --jobs, the Dask executor, and --resume give the serial run's results."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mmdf_bench import evaluation
from mmdf_bench.cli import main
from mmdf_bench.data.base import Dataset
from mmdf_bench.errors import InvalidInputError, MetricUnavailableError
from mmdf_bench.metrics.base import Metric
from mmdf_bench.resume import ResumeError
from mmdf_bench.runner import run
from mmdf_bench.tasks.fusion import FusionMethod, FusionSample
from mmdf_bench.training import TrainableMethod

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# every fusion metric but the pyiqa ones, whose import alone takes seconds in each worker
FUSION = dict(methods=["average", "wavelet", "laplacian-pyramid"], limit=6, progress=False,
              metrics=["psnr", "ssim", "qabf", "nmi", "qy", "spatial-frequency", "entropy", "std"])
TABLES = ("scores.csv", "failures.csv", "samples.csv")


# --- toy components: tiny stacks whose first pixel says which sample they are ------------------

class ToyScaleStacks(Dataset):
    """Six two-plane 16x16 stacks; test-5 cannot be loaded."""

    name = "toy-scale-stacks"
    task = "fusion"
    version = "1"

    def sample_ids(self, split):
        return [f"{split}-{index}" for index in range(6 if split == "test" else 2)]

    def load(self, sample_id):
        if sample_id == "test-5":
            raise InvalidInputError("toy-scale-stacks: test-5.tif is unreadable")
        index = int(sample_id.split("-")[1])
        reference = np.random.default_rng(index).random((16, 16)).astype(np.float32)
        reference[0, 0] = index / 8  # exact in float32: lets a method tell the samples apart
        flat = np.full_like(reference, reference.mean())
        left = np.concatenate([reference[:, :8], flat[:, 8:]], axis=1)
        right = np.concatenate([flat[:, :8], reference[:, 8:]], axis=1)
        return FusionSample(np.stack([left, right]), sample_id, reference=reference,
                            group=f"specimen-{index // 2}")


def sample_index(stack):
    return int(round(float(stack[0, 0, 0]) * 8))


class ToyAverage(FusionMethod):
    name = "toy-average"

    def fuse(self, stack):
        return stack.mean(axis=0)


class ToyBrokenOnThree(FusionMethod):
    name = "toy-broken-on-three"

    def fuse(self, stack):
        if sample_index(stack) == 3:
            raise RuntimeError("cannot fuse sample three")
        return stack.max(axis=0)


class ToyStall(FusionMethod):
    """Fuses like toy-average; hangs on the sample named by $MMDF_TEST_STALL (kill tests)."""

    name = "toy-stall"

    def fuse(self, stack):
        if os.environ.get("MMDF_TEST_STALL") == str(sample_index(stack)):
            time.sleep(600)
        return stack.mean(axis=0)


class ToyTrainable(TrainableMethod, FusionMethod):
    """Learns one gain from the train split; what it predicts depends on the learned state."""

    name = "toy-trainable"
    profiles = {"smoke": {"shrink": 0.5}, "cpu": {"shrink": 0.5}, "paper": {"shrink": 0.5}}
    fits = []

    def __init__(self, *, profile="cpu", **overrides):
        super().__init__(profile=profile, **overrides)
        self._gain = None

    def fit(self, train_samples, *, seed=0):
        ToyTrainable.fits.append(os.getpid())
        references = [sample.reference.mean() for sample in train_samples]
        self._gain = float(np.mean(references)) * self.hyperparameters["shrink"] + 0.5
        return self

    def state_dict(self):
        return {"gain": self._gain}

    def load_state_dict(self, state):
        self._gain = state["gain"]

    def fuse(self, stack):
        return np.clip(stack.max(axis=0) * self._gain, 0, 1)


class ToyMeanAbsoluteError(Metric):
    name = "toy-scale-mae"
    tasks = ("fusion",)
    higher_is_better = False
    requires_reference = True

    def compute(self, output, sample):
        return float(np.abs(output - sample.reference).mean())


class ToyWeightedMetric(Metric):
    """Available only when its (pretend) weights are there."""

    name = "toy-scale-weighted"
    tasks = ("fusion",)
    weights_present = True

    def check_available(self):
        if not ToyWeightedMetric.weights_present:
            raise MetricUnavailableError("toy-scale-weighted.pth missing")

    def compute(self, output, sample):
        return float(output.mean())


TOYS = [("datasets", ToyScaleStacks), ("methods", ToyAverage), ("methods", ToyBrokenOnThree),
        ("methods", ToyStall), ("methods", ToyTrainable), ("metrics", ToyMeanAbsoluteError),
        ("metrics", ToyWeightedMetric)]


def register_toys(register=None):
    """Register the toy components (with a test's `scratch_registrations`, or for good)."""
    from mmdf_bench import registry

    for kind, component in TOYS:
        if register is not None:
            register(kind, component)
        elif component.name not in registry.REGISTRIES[kind].names():
            registry.REGISTRIES[kind].register(component)


@pytest.fixture
def toys(scratch_registrations):
    register_toys(scratch_registrations)


TOY_RUN = dict(methods=["toy-average", "toy-broken-on-three"], datasets=["toy-scale-stacks"],
               metrics=["toy-scale-mae", "psnr"], progress=False)


def read_tables(folder):
    return {name: (folder / name).read_bytes() for name in TABLES}


def completed_units(folder):
    lines = (folder / "completed.csv").read_text().splitlines()
    return [line.rsplit(",", 1)[0] for line in lines]  # without the seconds column


@pytest.fixture(scope="module")
def serial_fusion(tmp_path_factory):
    """The uninterrupted serial run every other executor must reproduce byte for byte."""
    folder = tmp_path_factory.mktemp("serial")
    result = run("fusion", out_dir=folder, **FUSION)
    assert result.ok and len(result.scores) == 6 * 3 * 8  # 6 samples, 3 methods, 8 metrics
    return folder


# --- parallel and distributed runs equal the serial one -----------------------------------------

def test_two_jobs_write_the_serial_bytes(serial_fusion, tmp_path):
    result = run("fusion", out_dir=tmp_path, jobs=2, **FUSION)
    assert read_tables(tmp_path) == read_tables(serial_fusion)
    assert completed_units(tmp_path) == completed_units(serial_fusion)
    assert result.manifest["executor"]["jobs"] == 2
    # timings differ between runs but cover the same units, in the same order
    serial = json.loads((serial_fusion / "manifest.json").read_text())["timings"]
    assert [(t["method"], t["sample_id"]) for t in result.manifest["timings"]] == \
        [(t["method"], t["sample_id"]) for t in serial]


def test_dask_local_cluster_writes_the_serial_bytes(serial_fusion, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        result = run("fusion", out_dir=tmp_path, executor="dask",
                     scheduler=cluster.scheduler_address, chunk_size=2, **FUSION)
    assert read_tables(tmp_path) == read_tables(serial_fusion)
    assert result.manifest["executor"] == {"executor": "dask", "workers": 2, "chunk_size": 2,
                                           "scheduler": cluster.scheduler_address}


def test_a_failing_sample_under_two_jobs_is_a_failure_row(toys, tmp_path):
    serial = run("fusion", out_dir=tmp_path / "serial", **TOY_RUN)
    parallel = run("fusion", out_dir=tmp_path / "jobs2", jobs=2, chunk_size=2, **TOY_RUN)
    assert read_tables(tmp_path / "jobs2") == read_tables(tmp_path / "serial")
    failures = sorted(zip(parallel.failures.stage, parallel.failures.method.fillna("-"),
                          parallel.failures.sample_id))
    assert failures == [("load", "-", "test-5"), ("predict", "toy-broken-on-three", "test-3")]
    assert "cannot fuse sample three" in parallel.failures.error.str.cat()
    mae = parallel.scores[parallel.scores.metric == "toy-scale-mae"]
    assert mae.groupby("method").size().to_dict() == {"toy-average": 5, "toy-broken-on-three": 4}
    assert not serial.ok and not parallel.ok


def test_a_trained_method_is_fitted_once_in_the_parent_and_sent_as_its_state(
        toys, tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    options = dict(TOY_RUN, methods=["toy-trainable"])
    run("fusion", out_dir=tmp_path / "serial", **options)
    ToyTrainable.fits.clear()
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "fresh-cache"))  # train again
    parallel = run("fusion", out_dir=tmp_path / "jobs2", jobs=2, **options)
    assert ToyTrainable.fits == [os.getpid()]  # once, here; workers rebuild from the state
    assert read_tables(tmp_path / "jobs2") == read_tables(tmp_path / "serial")
    assert parallel.manifest["methods"]["toy-trainable"]["training"]["toy-scale-stacks"][
        "cached"] is False


def test_a_failing_sample_on_a_dask_process_cluster_is_a_failure_row(toys, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra")
    run("fusion", out_dir=tmp_path / "serial", **TOY_RUN)
    # worker processes receive the methods and metrics pickled, as on a real cluster
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        result = run("fusion", out_dir=tmp_path / "dask", executor="dask",
                     scheduler=cluster.scheduler_address, **TOY_RUN)
    assert read_tables(tmp_path / "dask") == read_tables(tmp_path / "serial")
    assert sorted(result.failures.stage) == ["load", "predict"]
    assert "cannot fuse sample three" in result.failures.error.str.cat()


# --- resume --------------------------------------------------------------------------------------

def test_resume_after_an_interruption_equals_the_uninterrupted_run(serial_fusion, tmp_path,
                                                                     monkeypatch):
    from mmdf_bench.baselines.fusion import WaveletFusion

    original = WaveletFusion.fuse
    calls = []

    def interrupted_fuse(self, stack):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does half-way through the run
        return original(self, stack)

    monkeypatch.setattr(WaveletFusion, "fuse", interrupted_fuse)
    first = run("fusion", out_dir=tmp_path, **FUSION)
    assert first.manifest["status"] == "interrupted"
    finished = len(completed_units(tmp_path)) - 1
    assert 0 < finished < 18
    # a unit cut off after some of its rows were written, and a half-written line
    with open(tmp_path / "scores.csv", "a", encoding="utf-8") as handle:
        handle.write("synthetic-brightfield-fusion,wavelet,test-005,x,psnr,99.0\r\n"
                     "synthetic-brightfield-fusion,wav")
    monkeypatch.setattr(WaveletFusion, "fuse", original)

    evaluated = []
    evaluate = evaluation._evaluate_sample
    monkeypatch.setattr(evaluation, "_evaluate_sample",
                        lambda task, method, name, sample, *rest: evaluated.append(
                            (name, sample.sample_id)) or evaluate(task, method, name, sample, *rest))
    resumed = run("fusion", out_dir=tmp_path, resume=True, **FUSION)
    # average had finished, wavelet had done two samples, laplacian-pyramid had not started
    assert finished == 6 + 2
    samples = [f"test-{index:03d}" for index in range(6)]
    assert evaluated == [("wavelet", sample) for sample in samples[2:]] + \
        [("laplacian-pyramid", sample) for sample in samples]
    assert resumed.manifest["status"] == "complete" and resumed.manifest["resumed"]
    assert read_tables(tmp_path) == read_tables(serial_fusion)
    assert completed_units(tmp_path) == completed_units(serial_fusion)


def test_a_killed_run_resumes_from_the_command_line(toys, tmp_path):
    folder = tmp_path / "killed"
    arguments = ["run", "--task", "fusion", "--methods", "toy-average,toy-stall",
                 "--datasets", "toy-scale-stacks", "--metrics", "toy-scale-mae,psnr",
                 "--out", str(folder), "--quiet"]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from tests.test_scale import register_toys
        from mmdf_bench.cli import main
        register_toys()
        sys.exit(main({arguments!r}))
    """)
    environment = {**os.environ, "MMDF_TEST_STALL": "2", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", script], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # toy-average finishes its 5 loadable samples, toy-stall samples 0 and 1, then hangs
        deadline = time.monotonic() + 120
        while len(_lines(folder / "completed.csv")) < 1 + 5 + 2:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert json.loads((folder / "manifest.json").read_text())["status"] == "running"

    assert main(["run", "--resume", str(folder), "--quiet"]) == 1  # test-5 fails to load
    reference = tmp_path / "reference"
    assert main([*arguments[:-3], "--out", str(reference), "--quiet"]) == 1
    assert read_tables(folder) == read_tables(reference)
    assert completed_units(folder) == completed_units(reference)


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("change, complaint", [
    (["--seed", "1"], "seed: recorded 0, now 1"),
    (["--methods", "toy-average"], "methods: recorded ['toy-average', 'toy-broken-on-three']"),
    (["--limit", "3"], "limit: recorded None, now 3"),
])
def test_resume_refuses_another_configuration(toys, tmp_path, capsys, change, complaint):
    run("fusion", out_dir=tmp_path, **TOY_RUN)
    before = read_tables(tmp_path)
    status = main(["run", "--resume", str(tmp_path), "--quiet", *change])
    assert status == 2
    error = capsys.readouterr().err
    assert "cannot resume" in error and complaint in error
    assert read_tables(tmp_path) == before  # nothing touched


def test_resume_refuses_another_dataset_version(toys, tmp_path, capsys, monkeypatch):
    run("fusion", out_dir=tmp_path, **TOY_RUN)
    monkeypatch.setattr(ToyScaleStacks, "version", "2")
    assert main(["run", "--resume", str(tmp_path), "--quiet"]) == 2
    assert "toy-scale-stacks: version recorded '1', now '2'" in capsys.readouterr().err
    with pytest.raises(ResumeError, match="version recorded '1', now '2'"):
        run("fusion", out_dir=tmp_path, resume=True, **TOY_RUN)


def test_resume_refuses_when_a_metric_became_available(toys, tmp_path, monkeypatch):
    options = dict(TOY_RUN, metrics=["toy-scale-mae", "toy-scale-weighted"])
    monkeypatch.setattr(ToyWeightedMetric, "weights_present", False)
    run("fusion", out_dir=tmp_path, **options)
    monkeypatch.setattr(ToyWeightedMetric, "weights_present", True)
    # its rows would be missing from the samples evaluated before
    with pytest.raises(ResumeError, match="metric toy-scale-weighted: available now, unavailable"):
        run("fusion", out_dir=tmp_path, resume=True, **options)


def test_resume_needs_a_run_folder(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_resuming_a_complete_run_computes_nothing(toys, tmp_path, monkeypatch):
    run("fusion", out_dir=tmp_path, **TOY_RUN)
    before = read_tables(tmp_path)
    monkeypatch.setattr(evaluation, "_evaluate_sample",
                        lambda *args: pytest.fail("a finished unit was evaluated again"))
    result = run("fusion", out_dir=tmp_path, resume=True, **TOY_RUN)
    assert read_tables(tmp_path) == before
    assert len(result.failures) == 2  # the load and predict failures are kept, not repeated


@pytest.mark.parametrize("options, complaint", [
    (["--jobs", "0"], "--jobs and --chunk-size must be at least 1"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
])
def test_bad_scale_options_are_usage_errors(tmp_path, capsys, options, complaint):
    assert main(["run", "--task", "fusion", "--methods", "average", "--limit", "1", "--quiet",
                 "--out", str(tmp_path), *options]) == 2
    assert complaint in capsys.readouterr().err


def test_the_dask_executor_without_dask_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what a missing package looks like
    assert main(["run", "--task", "fusion", "--methods", "average", "--limit", "1", "--quiet",
                 "--out", str(tmp_path), "--executor", "dask"]) == 2
    assert "pip install 'mmdf-bench[dask]'" in capsys.readouterr().err
