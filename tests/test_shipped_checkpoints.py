"""Checkpoints shipped with the package: used when the key matches, checked, shrunk, written by one command.

Every checkpoint here is a smoke-profile model trained by the test itself.
"""

import json

import numpy as np
import pytest

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from mmdf_bench import shipped
from mmdf_bench.checkpoints import load_checkpoint
from mmdf_bench.errors import CheckpointError
from mmdf_bench.methods.deblur_cnn import DenoisingAutoencoderDeblur, SRCNNDeblur
from mmdf_bench.settings import CACHE_VARIABLE
from mmdf_bench.ship import COMMAND, TOLERANCE, default_trainable_methods, output_difference, raw_output
from mmdf_bench.tasks import get_task
from mmdf_bench.tasks.deblur import DeblurSample
from mmdf_bench.training import checkpoint_path, fit_or_load
from mmdf_bench.weights import file_sha256


class ToyDataset:
    name = "toy-pairs"
    version = 3


def pairs(count=4, size=40):
    rng = np.random.default_rng(0)
    samples = []
    for index in range(count):
        sharp = rng.random((size, size, 3)).astype(np.float32)
        samples.append(DeblurSample(((sharp + np.roll(sharp, 2, axis=1)) / 2).astype(np.float32), sharp,
                                    f"p{index}"))
    return samples


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A fresh checkpoint cache and a fresh shipped folder; returns a function to switch caches."""
    root = tmp_path / "shipped"
    monkeypatch.setattr(shipped, "SHIPPED_DIR", root)

    def use_cache(name):
        monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / name))
        return tmp_path / name

    use_cache("cache-a")
    return root, use_cache


def ship_trained(method_class, root, *, precision="float32", **overrides):
    """Train a smoke model through the cache and write it as a shipped checkpoint; return it and its path."""
    method = method_class(profile="smoke", **overrides)
    record = fit_or_load(method, method.name, ToyDataset(), pairs(), seed=0)
    state, _ = load_checkpoint(record.checkpoint)
    if precision == "float16":
        state = shipped.half_precision(state)
    path = shipped.write_shipped(state, checkpoint_path(method, method.name, ToyDataset(), seed=0),
                                 {"method": method.name, "precision": precision}, root=root)
    return method, path


def restore(method, sample):
    return get_task("deblur").predict(method, sample)


def test_a_shipped_checkpoint_is_used_when_the_cache_has_none(places):
    root, use_cache = places
    trained, path = ship_trained(SRCNNDeblur, root)
    assert path.parent == root / "srcnn" / "smoke"
    record = json.loads(shipped.record_path(path).read_text())
    assert record["sha256"] == file_sha256(path) and record["file"] == path.name

    use_cache("cache-b")  # a first run: nothing cached
    method = SRCNNDeblur(profile="smoke")
    loaded = fit_or_load(method, "srcnn", ToyDataset(), pairs(), seed=0)
    assert loaded.cached and loaded.checkpoint == str(path) and loaded.seconds == 0.0
    assert loaded.as_dict()["shipped"]["precision"] == "float32"
    sample = pairs()[0]
    np.testing.assert_array_equal(restore(method, sample), restore(trained, sample))


def test_retrain_and_other_configurations_do_not_use_it(places):
    root, use_cache = places
    ship_trained(SRCNNDeblur, root)
    use_cache("cache-b")
    again = fit_or_load(SRCNNDeblur(profile="smoke"), "srcnn", ToyDataset(), pairs(), seed=0, retrain=True)
    assert not again.cached and str(root) not in again.checkpoint
    use_cache("cache-c")
    other = fit_or_load(SRCNNDeblur(profile="smoke", learning_rate=5e-4), "srcnn", ToyDataset(), pairs(), seed=0)
    assert not other.cached
    other_seed = fit_or_load(SRCNNDeblur(profile="smoke"), "srcnn", ToyDataset(), pairs(), seed=1)
    assert not other_seed.cached

    class NewerData(ToyDataset):
        version = 4

    assert not fit_or_load(SRCNNDeblur(profile="smoke"), "srcnn", NewerData(), pairs(), seed=0).cached


def test_a_damaged_shipped_checkpoint_is_refused(places):
    root, use_cache = places
    _, path = ship_trained(SRCNNDeblur, root)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    use_cache("cache-b")
    with pytest.raises(CheckpointError, match="corrupt.*--retrain") as caught:
        fit_or_load(SRCNNDeblur(profile="smoke"), "srcnn", ToyDataset(), pairs(), seed=0)
    assert str(path) in str(caught.value)


def test_half_precision_halves_the_file_and_stays_within_tolerance(places):
    root, use_cache = places
    method = DenoisingAutoencoderDeblur(profile="smoke")
    record = fit_or_load(method, method.name, ToyDataset(), pairs(), seed=0)
    state, _ = load_checkpoint(record.checkpoint)
    halved = shipped.half_precision(state)
    tensors = [value for value in halved["network"].values()]
    assert all(value.dtype == torch.float16 for value in tensors if value.is_floating_point())
    assert any(not value.is_floating_point() for value in tensors)  # batch-norm counters kept as integers
    from mmdf_bench.ship import state_bytes

    assert state_bytes(halved) < 0.6 * state_bytes(state)
    difference = output_difference(DenoisingAutoencoderDeblur, {"profile": "smoke"}, state, halved, pairs(2),
                                   get_task("deblur"))
    assert 0 < difference <= TOLERANCE

    path = shipped.write_shipped(halved, checkpoint_path(method, method.name, ToyDataset(), seed=0),
                                 {"precision": "float16"}, root=root)
    use_cache("cache-b")
    loaded = DenoisingAutoencoderDeblur(profile="smoke")
    assert fit_or_load(loaded, loaded.name, ToyDataset(), pairs(), seed=0).checkpoint == str(path)
    assert all(parameter.dtype == torch.float32 for parameter in loaded.network.parameters())
    sample = pairs()[0]
    assert np.abs(raw_output(loaded, sample) - raw_output(method, sample)).max() <= TOLERANCE


def test_ship_command_writes_what_the_default_run_then_loads(places, tmp_path, monkeypatch):
    from mmdf_bench.runner import run
    from mmdf_bench.ship import main

    root, use_cache = places
    stale = root / "fusegan-u" / "smoke" / "synthetic-brightfield-fusion-v0-000000000000.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"older data")
    shipped.record_path(stale).write_text("{}")
    assert main(["--profile", "smoke", "--methods", "fusegan-u", "--out", str(root)]) == 0
    [path] = sorted(root.glob("fusegan-u/smoke/*.pt"))  # the stale model is gone
    assert not shipped.record_path(stale).exists()
    record = json.loads(shipped.record_path(path).read_text())
    assert record["precision"] == "float32" and record["dataset"] == "synthetic-brightfield-fusion"
    assert record["command"] == "python -m mmdf_bench.ship" and record["config"]["hyperparameters"]

    use_cache("cache-first-run")
    result = run("fusion", methods=["fusegan-u"], metrics=["std"], limit=1, profile="smoke",
                 out_dir=tmp_path / "run", progress=False)
    training = result.manifest["methods"]["fusegan-u"]["training"]["synthetic-brightfield-fusion"]
    assert training["checkpoint"] == str(path) and training["shipped"]["sha256"] == record["sha256"]
    assert not (tmp_path / "cache-first-run" / "checkpoints").exists()  # nothing was trained


def test_ship_refuses_what_exceeds_the_budget(places):
    from mmdf_bench.ship import ship_one

    root, _ = places
    entry = ship_one("fusion", "fusegan-u", profile="smoke", seed=0, retrain=False, root=root,
                     tolerance=0.0, max_file_bytes=1000)
    assert entry["max_abs_difference"] > 0 and entry["checked_on"] == "first 8 train samples"
    assert "leave it out of the default run" in entry["error"]
    assert "mmdf-bench train --method fusegan-u" in entry["error"]
    assert not list(root.glob("**/*.pt"))


def test_default_run_models_exclude_the_unshippable_yang_networks():
    from mmdf_bench.ship import default_trainable_methods

    names = {name for _, name in default_trainable_methods()}
    assert {"fusegan-u", "mmdf-focus", "srcnn", "deblurgan-upgraded"} <= names
    assert not names & {"yang", "yang-synthetic", "fusegan", "fusegan-s", "fusegan-u-focusmask"}


@pytest.mark.parametrize("task_name, name", default_trainable_methods())
def test_every_default_run_model_ships_under_the_key_the_code_computes_now(task_name, name, tmp_path, monkeypatch):
    """A change to a profile, a network or a dataset version must come with newly shipped checkpoints
    (``python -m mmdf_bench.ship``); otherwise the first run silently trains again."""
    from mmdf_bench import registry
    from mmdf_bench.components import build_method
    from mmdf_bench.data.base import split_ids
    from mmdf_bench.tasks import get_task
    from mmdf_bench.training import checkpoint_path
    from mmdf_bench.tuning import SplitSamples, accepts_validation

    monkeypatch.setenv("MMDF_BENCH_CACHE", str(tmp_path))  # nothing cached: only shipped files can match
    method = build_method(name, profile="cpu")
    dataset = registry.datasets.create(get_task(task_name).default_datasets[0])
    validation = SplitSamples(dataset, split_ids(dataset, "validation"), split="validation",
                              forbidden=split_ids(dataset, "test"))
    key_validation = validation if len(validation) and accepts_validation(method) else None
    found = shipped.find_shipped(checkpoint_path(method, name, dataset, seed=0, validation_samples=key_validation))
    assert found is not None, f"{name}: no shipped checkpoint for the current configuration; run {COMMAND}"
    state, record = shipped.load_shipped(found, method_name=name, profile="cpu")  # verifies its sha256
    assert record["config"] == json.loads(json.dumps(method.config(), default=str))
    method.load_state_dict(state)
