"""Device resolution (--device), and the device-agnostic path of every deep method, on the CPU.

The CUDA path itself is exercised by ``benchmarks/gpu_check.py`` on a
machine with a GPU; here the resolution rules, the command-line errors and
the device plumbing (which must leave CPU results bit for bit unchanged)
are tested.
"""

import numpy as np
import pytest

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from mmdf_bench import devices, registry
from mmdf_bench.cli import main
from mmdf_bench.devices import DeviceUnavailableError, compute_setup, prefetch, resolve_device
from mmdf_bench.training import TrainableMethod


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_the_cpu_without_cuda(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    setup = compute_setup("auto")
    assert setup.device is None and setup.record["device"] == "cpu" and setup.record["requested"] == "auto"


def test_auto_is_the_first_gpu_when_there_is_one(two_gpus):
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)


def test_absent_devices_are_refused_with_what_torch_sees(no_cuda, two_gpus):
    with pytest.raises(DeviceUnavailableError, match=r"cuda:2 requested but torch sees 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_refused(no_cuda, spec):
    with pytest.raises(DeviceUnavailableError, match="torch sees no CUDA device"):
        resolve_device(spec)


def test_unknown_names_and_missing_mps_are_refused(monkeypatch):
    for spec in ("gpu", "cuda:x", "tpu", ""):
        with pytest.raises(DeviceUnavailableError, match="unknown device"):
            resolve_device(spec)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="mps requested"):
        resolve_device("mps")


def test_amp_needs_cuda(no_cuda):
    for spec in ("cpu", "auto"):
        with pytest.raises(DeviceUnavailableError, match="--amp needs a CUDA device"):
            compute_setup(spec, amp=True)


@pytest.mark.parametrize("argv", [
    ["run", "--task", "fusion", "--methods", "average", "--device", "cuda"],
    ["run", "--task", "fusion", "--methods", "average", "--amp"],
    ["train", "--method", "srcnn", "--profile", "smoke", "--device", "cuda:0"],
    ["focus-map", "image.png", "--method", "mmdf-focus", "-o", "map.png", "--device", "cuda"],
])
def test_command_line_refuses_an_absent_device_in_one_line(no_cuda, argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mmdf-bench: error: ") and "\n" not in error
    assert "CUDA" in error
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_manifest_records_the_device(no_cuda, tmp_path):
    from mmdf_bench.runner import run

    result = run("fusion", methods=["average"], metrics=["std"], limit=1, out_dir=tmp_path / "run",
                 progress=False, device="auto")
    record = result.manifest["device"]
    assert record["requested"] == "auto" and record["device"] == "cpu" and record["amp"] is False


def test_determinism_settings_are_only_for_cuda():
    assert devices.configure_determinism(torch.device("cpu")) == {}


# -- the accelerator-only code paths, exercised on the CPU --------------------------------------------
def test_prefetch_keeps_order_and_moves_batches():
    arrays = [(np.full((2, 2), index, np.float32), np.arange(index + 1)) for index in range(7)]
    on_cpu = list(prefetch(iter(arrays), torch.device("cpu")))
    assert [int(batch[0][0, 0]) for batch in on_cpu] == list(range(7))
    # "meta" stands in for an accelerator: the background thread and the copies run, values do not exist
    elsewhere = list(prefetch(iter(arrays), torch.device("meta"), depth=2))
    assert len(elsewhere) == 7 and all(tensor.is_meta for batch in elsewhere for tensor in batch)
    assert [batch[1].shape[0] for batch in elsewhere] == list(range(1, 8))


def test_prefetch_raises_the_producers_error():
    def failing():
        yield (np.zeros(1, np.float32),)
        raise ValueError("bad batch")

    batches = prefetch(failing(), torch.device("meta"))
    next(batches)
    with pytest.raises(ValueError, match="bad batch"):
        next(batches)


def test_batched_tiles_agree_with_one_tile_at_a_time(monkeypatch):
    from mmdf_bench.methods import tiling

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(8, 3, 3, padding=1)).eval()
    image = np.random.default_rng(0).random((150, 170, 3)).astype(np.float32)
    one_at_a_time = tiling.restore_tiled(network, image, tile=64, overlap=16)
    monkeypatch.setattr(tiling, "is_cpu", lambda device: False)  # take the accelerator's batched branch
    batched = tiling.restore_tiled(network, image, tile=64, overlap=16, tile_batch=5)
    np.testing.assert_allclose(batched, one_at_a_time, atol=1e-5)


# -- every deep method through the device path ----------------------------------------------------------
def deep_method_names():
    names = []
    for name in registry.methods.names():
        component = registry.methods.load(name)
        if issubclass(component, devices.DeviceMethod):
            names.append(name)
    return names


def test_every_deep_method_is_a_device_method():
    names = set(deep_method_names())
    trainable = {name for name in registry.methods.names()
                 if issubclass(registry.methods.load(name), TrainableMethod)}
    assert trainable <= names
    assert {"ifcnn-max", "fusegan-u", "mmdf-focus", "srcnn", "deblurgan-upgraded"} <= names


def _focus_samples():
    from mmdf_bench.tasks.focus import FocusSample

    rng = np.random.default_rng(0)
    samples = []
    for index in range(12):
        level = (0, 5, 10)[index % 3]
        texture = rng.random((84, 84)).astype(np.float32)
        patch = texture if level == 0 else np.full_like(texture, texture.mean())
        samples.append(FocusSample(patch, int(level > 0), f"f{index}", level=level))
    samples.append(FocusSample(rng.random((84, 84)).astype(np.float32) * 0.2, 1, "dust", subset="dust"))
    return samples


def _deblur_samples():
    from mmdf_bench.tasks.deblur import DeblurSample

    rng = np.random.default_rng(1)
    samples = []
    for index in range(4):
        sharp = rng.random((48, 48, 3)).astype(np.float32)
        samples.append(DeblurSample(((sharp + np.roll(sharp, 2, axis=1)) / 2).astype(np.float32), sharp,
                                    f"d{index}"))
    return samples


def _fusion_samples():
    from mmdf_bench.tasks.fusion import FusionSample

    rng = np.random.default_rng(2)
    samples = []
    for index in range(3):
        sharp = rng.random((96, 96, 3)).astype(np.float32)
        flat = np.full_like(sharp, sharp.mean())
        left = (np.arange(96) < 48)[None, :, None]
        stack = np.stack([np.where(left, sharp, flat), np.where(left, flat, sharp)])
        samples.append(FusionSample(stack, f"u{index}", reference=sharp))
    return samples


SAMPLES = {"focus": _focus_samples, "deblur": _deblur_samples, "fusion": _fusion_samples}


def _predict(method, sample):
    from mmdf_bench.tasks import get_task

    output = get_task(method.task).predict(method, sample)
    if hasattr(output, "probability"):  # a focus prediction: P(out of focus) and the level distribution
        return np.r_[output.probability, np.ravel(output.levels)]
    return np.asarray(output, dtype=np.float64)


def _build(name, tmp_path):
    component = registry.methods.load(name)
    options = {}
    if issubclass(component, TrainableMethod):
        options["profile"] = "smoke"
    if name == "fusegan-u-focusmask":  # its focus CNN from a file, not from the embedded data
        from mmdf_bench.methods.focus_cnn import MMDFFocusCNN

        path = tmp_path / "focus.pt"
        if not path.exists():
            torch.save(MMDFFocusCNN(profile="smoke").fit(_focus_samples(), seed=0).state_dict(), path)
        options["focus_checkpoint"] = str(path)
    return component(**options)


@pytest.mark.parametrize("name", deep_method_names())
def test_deep_method_trains_and_predicts_through_the_device_path(name, tmp_path, shared_weights):
    """On the CPU the device path changes nothing: same weights, same outputs, every tensor on the device."""
    method = _build(name, tmp_path)
    samples = SAMPLES[method.task]()
    plain = _build(name, tmp_path)
    method.set_device(resolve_device("cpu"))
    seen = set()

    def record(module, inputs):
        seen.update(tensor.device for tensor in inputs if isinstance(tensor, torch.Tensor))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        if method.needs_training():
            method.fit(samples, seed=0)
        outputs = [_predict(method, sample) for sample in samples[:2]]
    finally:
        handle.remove()
    assert seen == {method.device}
    network = method.network if isinstance(method, TrainableMethod) else method._network
    assert {parameter.device for parameter in network.parameters()} == {method.device}
    if plain.needs_training():
        plain.fit(samples, seed=0)
    for output, sample in zip(outputs, samples[:2]):
        np.testing.assert_array_equal(output, _predict(plain, sample))
    if isinstance(method, TrainableMethod):  # a checkpoint written on one device loads onto another
        again = _build(name, tmp_path).set_device(resolve_device("cpu"))
        again.load_state_dict(method.state_dict())
        np.testing.assert_array_equal(_predict(again, samples[0]), outputs[0])


def test_checkpoint_key_names_only_non_cpu_devices():
    from mmdf_bench.methods.deblur_cnn import SRCNNDeblur
    from mmdf_bench.training import config_hash

    default = config_hash(SRCNNDeblur(profile="smoke"), seed=0)
    assert config_hash(SRCNNDeblur(profile="smoke").set_device(torch.device("cpu")), seed=0) == default
    elsewhere = SRCNNDeblur(profile="smoke")
    elsewhere._device = torch.device("meta")  # any other device type gets its own checkpoint
    assert config_hash(elsewhere, seed=0) != default
