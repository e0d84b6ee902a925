"""Where deep methods and learned metrics compute: one place that resolves and sets up a device.

``--device`` takes ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
``auto`` is the first CUDA device when torch sees one, else the CPU (never
MPS: its kernels round differently from the CPU's, so it must be asked for).
A device that is asked for but absent is an error naming what torch sees
(`DeviceUnavailableError`, exit status 2), never a silent fall-back.

On CUDA the run is made as reproducible as CUDA allows
(`configure_determinism`): deterministic cuDNN algorithms without
benchmarking, deterministic torch algorithms where they exist (a warning
where one does not), no TF32, and a fixed cuBLAS workspace. `describe`
records these settings with the device's name in the results manifest.

Methods opt in through `DeviceMethod`: `set_device` before training or
loading, `device` where tensors are made, `place` for the networks they
build. On the CPU every helper here is the identity, so the CPU path
computes exactly what it computed before devices existed.

torch is imported inside the functions: resolving names for ``--help`` or
``list`` stays cheap.
"""

import contextlib
import os
import queue
import re
import threading
from dataclasses import dataclass, field

from mmdf_bench.errors import MmdfBenchError

__all__ = ["AUTO", "Compute", "DeviceMethod", "DeviceUnavailableError", "autocast", "compute_setup",
           "configure_determinism", "describe", "fork_rng", "is_cpu", "module_device", "prefetch",
           "resolve_device"]

AUTO = "auto"
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(?::(\d+))?)$")


class DeviceUnavailableError(MmdfBenchError):
    """A compute device was asked for that this machine does not have, or amp without CUDA."""


def resolve_device(spec=AUTO):
    """Return the ``torch.device`` that `spec` names on this machine.

    Parameters
    ----------
    spec : str or torch.device
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Returns
    -------
    torch.device
        ``cuda`` is returned with its index (``cuda:0``).

    Raises
    ------
    DeviceUnavailableError
        For an unknown name, or a device torch cannot use here.
    """
    import torch

    text = str(spec).strip().lower()
    match = _PATTERN.match(text)
    if match is None:
        raise DeviceUnavailableError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    cuda = torch.cuda.is_available()
    count = torch.cuda.device_count() if cuda else 0
    if text == AUTO:
        return torch.device("cuda", 0) if cuda and count else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise DeviceUnavailableError("device mps requested but torch has no usable MPS backend here; "
                                         "use --device cpu")
        return torch.device("mps")
    index = int(match.group(2) or 0)
    if not cuda or count == 0:
        raise DeviceUnavailableError(f"device {text} requested but torch sees no CUDA device "
                                     f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                                     "use --device cpu or auto")
    if index >= count:
        raise DeviceUnavailableError(f"device {text} requested but torch sees {count} CUDA device(s) "
                                     f"(cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def is_cpu(device):
    """True for None (the default) and for any CPU device."""
    return device is None or getattr(device, "type", str(device)) == "cpu"


def check_amp(device, amp):
    """Refuse mixed precision anywhere but on CUDA (it would change nothing but the scores)."""
    if amp and getattr(device, "type", None) != "cuda":
        raise DeviceUnavailableError(f"--amp needs a CUDA device; this run computes on {device}")


def configure_determinism(device):
    """Make CUDA computations reproducible; return the settings (nothing to do on the CPU).

    Returns
    -------
    dict
        The settings applied, for the manifest.
    """
    import torch

    if getattr(device, "type", None) != "cuda":
        return {}
    # cuBLAS needs this before its first call to give reproducible results (CUDA >= 10.2)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    # TF32 rounds matrix products to 10 mantissa bits: keep float32 meaning float32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return {"cudnn_deterministic": True, "cudnn_benchmark": False, "tf32": False,
            "deterministic_algorithms": "warn_only",
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}


def describe(device, *, requested=AUTO, amp=False, settings=None):
    """The manifest's record of where the run computed.

    Parameters
    ----------
    device : torch.device
    requested : str
        What the user asked for (``auto``, ...).
    amp : bool
    settings : dict, optional
        What `configure_determinism` returned.
    """
    import torch

    record = {"requested": str(requested), "device": str(device), "amp": bool(amp),
              "torch": torch.__version__, "deterministic": dict(settings or {})}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        record.update(name=properties.name, capability=f"{properties.major}.{properties.minor}",
                      memory_gib=round(properties.total_memory / 2**30, 1), cuda=torch.version.cuda,
                      cudnn=torch.backends.cudnn.version())
    elif device.type == "mps":
        record["name"] = "Apple MPS"
    else:
        import platform

        record.update(name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return record


@dataclass(frozen=True)
class Compute:
    """Where a run computes: the device (None: the CPU), mixed precision, and the manifest record."""

    device: object = None
    amp: bool = False
    record: dict = field(default_factory=dict)

    def apply(self, component):
        """Send a method or metric that computes with torch to this device; others are left alone."""
        if self.device is not None and hasattr(component, "set_device"):
            if isinstance(component, DeviceMethod):
                component.set_device(self.device, amp=self.amp)
            else:
                component.set_device(self.device)
        return component


def compute_setup(spec="cpu", *, amp=False):
    """Resolve `spec`, make CUDA deterministic, and describe the result for the manifest.

    ``cpu`` is settled without importing torch (a run of classical methods
    never needs it) and leaves every method exactly as it computes by default.

    Returns
    -------
    Compute

    Raises
    ------
    DeviceUnavailableError
    """
    if str(spec).strip().lower() == "cpu":
        if amp:
            raise DeviceUnavailableError("--amp needs a CUDA device; this run computes on cpu")
        import platform

        return Compute(None, False, {"requested": "cpu", "device": "cpu", "amp": False,
                                     "name": platform.processor() or platform.machine()})
    device = resolve_device(spec)
    check_amp(device, amp)
    if device.type == "cpu":
        return Compute(None, False, describe(device, requested=spec))
    settings = configure_determinism(device)
    return Compute(device, bool(amp), describe(device, requested=spec, amp=amp, settings=settings))


def fork_rng(device):
    """`torch.random.fork_rng` over the CPU generator and, on CUDA, that device's generator."""
    import torch

    devices = [device.index or 0] if getattr(device, "type", None) == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def autocast(device, enabled):
    """bfloat16 autocast on CUDA when `enabled`; otherwise a context that does nothing."""
    if not enabled or getattr(device, "type", None) != "cuda":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16)


def module_device(module):
    """Device of a module's first parameter (or buffer); the CPU for a module with neither."""
    import torch

    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def prefetch(batches, device, *, depth=2):
    """Yield the numpy-array tuples of `batches` as tensors on `device`.

    On the CPU this is ``torch.from_numpy`` of each array, in this thread.
    On an accelerator a background thread draws the next batches (crops and
    augmentations are NumPy / OpenCV work) and pins them while the device
    computes; the copies are asynchronous. The batches come in their
    original order from the one generator, so a seeded sampler yields the
    same batches either way.
    """
    import torch

    if is_cpu(device):
        for arrays in batches:
            yield tuple(torch.from_numpy(array) for array in arrays)
        return
    slots = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()
    finished = object()
    pin = device.type == "cuda"  # page-locked host memory makes the copy asynchronous

    def produce():
        try:
            for arrays in batches:
                tensors = tuple(torch.from_numpy(array).pin_memory() if pin else torch.from_numpy(array)
                                for array in arrays)
                while not stop.is_set():
                    try:
                        slots.put(tensors, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as error:  # handed to the consumer, raised there
            slots.put(error)
            return
        slots.put(finished)

    worker = threading.Thread(target=produce, name="mmdf-bench-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is finished:
                return
            if isinstance(item, BaseException):
                raise item
            yield tuple(tensor.to(device, non_blocking=True) for tensor in item)
    finally:
        stop.set()


class DeviceMethod:
    """Mixin of methods that compute with torch: where, and whether with mixed precision.

    The device is not a hyper-parameter: it is not in `config` (attributes
    starting with ``_`` are left out) and a CPU checkpoint's cache key does
    not change. `mmdf_bench.training.config_hash` adds the device type for
    other devices, whose trained weights differ.
    """

    _device = None
    _amp = False

    def set_device(self, device, *, amp=False):
        """Compute on `device` (a ``torch.device`` from `resolve_device`); `amp`: bfloat16 inference on CUDA."""
        check_amp(device, amp)
        self._device, self._amp = device, bool(amp)
        network = getattr(self, "_network", None)
        if network is not None:
            network.to(device)
        return self

    @property
    def device(self):
        """The ``torch.device`` this method computes on (the CPU unless `set_device` said otherwise)."""
        import torch

        return torch.device("cpu") if self._device is None else self._device

    @property
    def amp(self):
        return self._amp

    def place(self, module):
        """Move `module` to this method's device (a no-op on the CPU) and return it."""
        return module if is_cpu(self._device) else module.to(self._device)

    def inference_autocast(self):
        """Mixed-precision context for inference (`autocast`)."""
        return autocast(self._device, self._amp)
