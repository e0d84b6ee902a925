"""The Python API: lazy names on `mmdf_bench`, the README's examples, logging, --quiet, typed contracts."""

import inspect
import logging
import os
import re
import subprocess
import sys
import typing

import numpy as np
import pytest

import mmdf_bench
from mmdf_bench import registry
from mmdf_bench.cli import main
from mmdf_bench.data.base import Dataset
from mmdf_bench.progress import PROGRESS_VARIABLE, progress_bar
from mmdf_bench.tasks.fusion import FusionMethod, FusionSample
from mmdf_bench.training import TrainableMethod
from tests.conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
PLUGIN = PROJECT_ROOT / "tests" / "plugin_example"


def section(title):
    """The README text under the heading ``## title``, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def code_blocks(text, language):
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


# --- the names ---------------------------------------------------------------------------------

def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, mmdf_bench; print(sorted(m for m in ('numpy', 'torch', 'pandas', "
            "'mmdf_bench.runner', 'mmdf_bench.registry') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    assert completed.stdout.strip() == "[]"


def test_the_api_names_are_the_functions_they_stand_for():
    from mmdf_bench.compare import compare_runs
    from mmdf_bench.run_folder import load_run
    from mmdf_bench.runner import run

    assert (mmdf_bench.run, mmdf_bench.load_run, mmdf_bench.compare_runs) == (
        run, load_run, compare_runs)
    for verb in ("list", "create", "register"):
        for kind in ("method", "dataset", "metric"):
            name = f"{verb}_{kind}s" if verb == "list" else f"{verb}_{kind}"
            assert getattr(mmdf_bench, name) is getattr(registry, name)
            assert name in dir(mmdf_bench) and name in mmdf_bench.__all__
    with pytest.raises(AttributeError, match="has no attribute 'runn'"):
        mmdf_bench.runn  # noqa: B018


def test_a_created_method_fuses_a_numpy_stack():
    rng = np.random.default_rng(0)
    stack = rng.random((3, 24, 20, 3)).astype(np.float32)
    np.testing.assert_allclose(mmdf_bench.create_method("average").fuse(stack),
                               stack.mean(axis=0), rtol=1e-6)
    assert mmdf_bench.create_method("wavelet").fuse(stack).shape == (24, 20, 3)


# --- the README --------------------------------------------------------------------------------

@pytest.fixture
def in_tmp(tmp_path, monkeypatch, shared_weights):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMDF_BENCH_WEIGHTS", str(shared_weights))
    yield tmp_path
    registry.methods.unregister("sharpest-plane")


def test_the_use_it_from_python_examples_run(in_tmp, capsys):
    blocks = code_blocks(section("Use it from Python"), "python")
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["fused"].shape == namespace["stack"].shape[1:]
    assert namespace["fused"].dtype == np.float32
    assert namespace["comparison"].ok
    rows = namespace["result"].leaderboard.rows
    assert set(rows["method"]) == {"average", "sharpest-plane"}
    assert (in_tmp / "runs" / "python-example" / "leaderboard.md").is_file()
    assert "ifcnn-max" in capsys.readouterr().out


def test_the_plugin_section_is_the_example_plugin():
    text = section("Write a plugin")
    [toml] = code_blocks(text, "toml")
    [python] = code_blocks(text, "python")
    pyproject = (PLUGIN / "pyproject.toml").read_text(encoding="utf-8")
    assert toml in pyproject
    module = PLUGIN / "src" / "mmdf_bench_example_plugin" / "__init__.py"
    assert python == module.read_text(encoding="utf-8")
    namespace = {}
    exec(compile(python, "README.md", "exec"), namespace)  # noqa: S102
    method = namespace["MedianFusion"]()
    stack = np.stack([np.full((4, 4), value, np.float32) for value in (0.1, 0.5, 0.2)])
    np.testing.assert_allclose(method.fuse(stack), 0.2)
    from mmdf_bench.contracts import check_method

    assert check_method("example-median", namespace["MedianFusion"]) == []


# --- logging and --quiet ------------------------------------------------------------------------

class TwoStacks(Dataset):
    name = "toy-two-stacks"
    task = "fusion"

    def sample_ids(self, split):
        return [f"{split}-0", f"{split}-1"]

    def load(self, sample_id):
        if sample_id == "test-1":
            raise ValueError("test-1.tif is unreadable")
        return FusionSample(np.zeros((2, 8, 8), np.float32), sample_id,
                            reference=np.zeros((8, 8), np.float32))


class ToyTrained(TrainableMethod, FusionMethod):
    name = "toy-trained"
    profiles = {"smoke": {}, "cpu": {}, "paper": {}}

    def fit(self, train_samples, *, seed=0):
        with progress_bar(3, "toy-trained training") as bar:
            for _ in range(3):
                bar.update(1)
        return self

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def fuse(self, stack):
        return stack[0]


@pytest.fixture
def toys(scratch_registrations, tmp_path, monkeypatch):
    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path / "cache"))
    scratch_registrations("datasets", TwoStacks)
    scratch_registrations("methods", ToyTrained)


def test_messages_go_to_the_mmdf_bench_logger(toys, tmp_path, caplog, capsys, monkeypatch):
    logger = logging.getLogger("mmdf_bench")
    # as in a program that never ran the command line: no handler of ours
    monkeypatch.setattr(logger, "handlers", [h for h in logger.handlers
                                             if isinstance(h, logging.NullHandler)])
    caplog.set_level(logging.INFO, logger="mmdf_bench")
    mmdf_bench.run("fusion", methods=["average"], datasets=["toy-two-stacks"], metrics=["std"],
                   out_dir=tmp_path / "run", progress=False)
    [record] = [record for record in caplog.records if "test-1.tif" in record.getMessage()]
    assert record.name.startswith("mmdf_bench.") and record.levelno == logging.WARNING
    assert "test-1.tif" not in capsys.readouterr().err  # the program decides where it goes


def test_quiet_silences_training_progress_bars(toys, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(PROGRESS_VARIABLE, raising=False)
    options = ["train", "--method", "toy-trained", "--dataset", "toy-two-stacks", "--profile",
               "smoke", "--retrain"]
    assert main(options) == 0
    assert "toy-trained training" in capsys.readouterr().err
    assert main([*options, "--quiet"]) == 0
    assert "toy-trained training" not in capsys.readouterr().err
    assert PROGRESS_VARIABLE not in os.environ  # main() leaves the process as it found it


# --- typed contracts -----------------------------------------------------------------------------

def test_the_plugin_contracts_carry_type_hints():
    from mmdf_bench.data.base import Dataset as DatasetBase
    from mmdf_bench.metrics.base import Metric
    from mmdf_bench.registry import Registry
    from mmdf_bench.tasks.base import Method, Task
    from mmdf_bench.tasks.deblur import DeblurMethod, DeblurSample
    from mmdf_bench.tasks.focus import FocusMethod, FocusPrediction, FocusSample

    contracts = {Method: "fit", FusionMethod: "fuse", DeblurMethod: "restore",
                 FocusMethod: "predict", TrainableMethod: "state_dict", Metric: "compute",
                 DatasetBase: "load", Registry: "select"}
    for cls, method in contracts.items():
        function = getattr(cls, method)
        hints = typing.get_type_hints(function)
        parameters = [name for name in inspect.signature(function).parameters
                      if name not in ("self", "cls")]
        assert set(parameters) | {"return"} <= set(hints), (cls.__name__, method, hints)
    for dataclass in (Task, FusionSample, DeblurSample, FocusSample, FocusPrediction):
        assert typing.get_type_hints(dataclass), dataclass
    assert (PROJECT_ROOT / "mmdf_bench" / "py.typed").is_file()
    assert '"py.typed"' in (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
