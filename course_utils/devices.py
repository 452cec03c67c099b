"""The one device probe: the CPU, the accelerator, its memory, and the precision to train in.

Everything here is cheap, imports its framework lazily (only the active Keras
backend's: ``tensorflow``, ``jax`` or ``torch``) and never raises for a
missing device: each answer comes with a one-line reason that a notebook or
the CLI can print.

- :func:`cpu_bf16_support`: does this CPU do bfloat16 matrix work fast
  (x86 AMX-BF16 or AVX512-BF16)?
- :func:`detect_accelerator`: the GPU (name, compute capability) or TPU the
  Keras backend sees, else the CPU.
- :func:`choose_precision`: the Keras dtype policy for a device kind, with
  the reason.
- :func:`gpu_visible_but_unused`: a message when the machine has an NVIDIA
  GPU that the framework does not use (a CPU-only TensorFlow wheel, say).
- :func:`tensorflow_backend`, :func:`accelerator_available`, :func:`replicas_in_sync`:
  the questions a training run asks;
- :func:`gpu_description`, :func:`memory_status`, :func:`system_status`,
  :func:`hardware_summary`: what notebooks and stored runs print about the machine.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Accelerator",
    "cpu_bf16_support",
    "cpu_name",
    "detect_accelerator",
    "choose_precision",
    "gpu_visible_but_unused",
    "PRECISION_POLICIES",
    "tensorflow_backend",
    "tensorflow_sees_gpu",
    "accelerator_available",
    "replicas_in_sync",
    "gpu_description",
    "memory_status",
    "system_status",
    "hardware_summary",
]

#: The dtype policies :func:`choose_precision` can return.
PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")

#: ``/proc/cpuinfo`` flags that mean fast bfloat16 matrix multiplication on x86.
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")

#: First compute capability whose tensor cores do bfloat16 (Ampere, e.g. A100).
BF16_MIN_COMPUTE_CAPABILITY = (8, 0)


def _read_cpuinfo() -> str | None:
    """Text of ``/proc/cpuinfo`` (``None`` where there is none, e.g. macOS)."""
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``model name`` in ``/proc/cpuinfo``), else ``platform.processor()`` or the machine."""
    text = cpuinfo if cpuinfo is not None else _read_cpuinfo()
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


def cpu_bf16_support(cpuinfo: str | None = None, machine: str | None = None) -> tuple[bool, str]:
    """Whether this CPU does bfloat16 matrix work fast, and why.

    On x86 the answer is yes when ``/proc/cpuinfo`` lists ``amx_bf16`` (Intel
    AMX, Sapphire Rapids and later) or ``avx512_bf16`` (Cooper Lake, Zen 4 and
    later): oneDNN (TensorFlow) and XLA (JAX) then run bf16 convolutions at
    least as fast as float32. Elsewhere (Apple silicon, other ARM, x86 without
    the flags, or no ``/proc/cpuinfo``) the answer is no: bf16 would be
    emulated and slower than float32.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (read when ``None``; for tests).
        machine: ``platform.machine()`` (read when ``None``; for tests).

    Returns:
        ``(supported, reason)``.
    """
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False, f"{machine} CPU: no bf16 matrix instructions known to the frameworks' CPU kernels"
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo()
    if cpuinfo is None:
        return False, "x86 CPU but /proc/cpuinfo is not readable: bf16 support unknown, assumed absent"
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    found = [f for f in _BF16_FLAGS if f in flags]
    if found:
        return True, f"x86 CPU with {' and '.join(found)}: bf16 matrix work is fast"
    return False, "x86 CPU without amx_bf16 or avx512_bf16: bf16 would be emulated (slower than float32)"


@dataclass(frozen=True)
class Accelerator:
    """What the Keras backend computes on.

    Attributes:
        kind: ``"gpu"``, ``"tpu"`` or ``"cpu"``.
        name: device name (e.g. ``"NVIDIA H100 80GB HBM3"``), ``""`` if unknown.
        compute_capability: ``(major, minor)`` of an NVIDIA GPU, else ``None``.
        count: number of such devices.
        backend: the Keras backend that was asked.
    """

    kind: str
    name: str = ""
    compute_capability: tuple[int, int] | None = None
    count: int = 1
    backend: str = ""

    def describe(self) -> str:
        """One line, e.g. ``"1 x gpu NVIDIA H100 (compute capability 9.0) via tensorflow"``."""
        text = f"{self.count} x {self.kind}" + (f" {self.name}" if self.name else "")
        if self.compute_capability:
            text += f" (compute capability {self.compute_capability[0]}.{self.compute_capability[1]})"
        return text + (f" via {self.backend}" if self.backend else "")


def _keras_backend() -> str:
    try:
        import keras

        return keras.backend.backend()
    except ImportError:  # pragma: no cover - keras is a hard dependency
        return os.environ.get("KERAS_BACKEND", "tensorflow")


def _parse_cc(value) -> tuple[int, int] | None:
    """``(8, 0)`` from ``(8, 0)``, ``"8.0"`` or ``8.0``; ``None`` when unknown."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) >= 2:
        return int(value[0]), int(value[1])
    try:
        major, _, minor = str(value).partition(".")
        return int(major), int(minor or 0)
    except ValueError:
        return None


def _tensorflow_accelerator() -> Accelerator:
    import tensorflow as tf

    tpus = tf.config.list_logical_devices("TPU")
    if tpus:
        return Accelerator("tpu", "TPU", None, len(tpus), "tensorflow")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return Accelerator(
            "gpu",
            details.get("device_name", ""),
            _parse_cc(details.get("compute_capability")),
            len(gpus),
            "tensorflow",
        )
    return Accelerator("cpu", cpu_name(), None, 1, "tensorflow")


def _jax_accelerator() -> Accelerator:
    import jax

    devices = jax.devices()
    platform_ = devices[0].platform if devices else "cpu"
    if platform_ == "tpu":
        return Accelerator("tpu", getattr(devices[0], "device_kind", "TPU"), None, len(devices), "jax")
    if platform_ in ("gpu", "cuda", "rocm"):
        d = devices[0]
        return Accelerator(
            "gpu", getattr(d, "device_kind", ""), _parse_cc(getattr(d, "compute_capability", None)), len(devices), "jax"
        )
    return Accelerator("cpu", cpu_name(), None, 1, "jax")


def _torch_accelerator() -> Accelerator:
    import torch

    if torch.cuda.is_available():
        return Accelerator(
            "gpu",
            torch.cuda.get_device_name(0),
            tuple(torch.cuda.get_device_capability(0)),
            torch.cuda.device_count(),
            "torch",
        )
    return Accelerator("cpu", cpu_name(), None, 1, "torch")


_PROBES = {"tensorflow": _tensorflow_accelerator, "jax": _jax_accelerator, "torch": _torch_accelerator}


def detect_accelerator(backend: str | None = None) -> Accelerator:
    """The device the Keras backend computes on: a TPU, else a GPU, else the CPU.

    Only the backend's own framework is imported (``tensorflow``, ``jax`` or
    ``torch``), lazily. A backend without a probe (``numpy``, ``openvino``)
    reports the CPU.

    Args:
        backend: ``"tensorflow"``, ``"jax"`` or ``"torch"`` (default: Keras'
            active backend).
    """
    backend = backend or _keras_backend()
    probe = _PROBES.get(backend)
    if probe is None:
        return Accelerator("cpu", cpu_name(), None, 1, backend)
    return probe()


def choose_precision(
    kind: str | Accelerator | None = None,
    compute_capability: tuple[int, int] | None = None,
    cpu_bf16: bool | None = None,
) -> tuple[str, str]:
    """The Keras dtype policy to train in on a device, with a one-line reason.

    - TPU: ``mixed_bfloat16`` (bf16 is the TPU's native matrix type).
    - GPU of compute capability >= 8.0 (A100, L4, H100, ...): ``mixed_bfloat16``
      (tensor cores do bf16 as fast as float16 and it needs no loss scaling).
    - older GPU (V100, T4, ...): ``mixed_float16``; Keras wraps the optimizer in
      a ``LossScaleOptimizer`` under that policy, so loss scaling is automatic.
    - CPU: ``mixed_bfloat16`` when it has AMX-BF16 or AVX512-BF16
      (:func:`cpu_bf16_support`), else ``float32``.

    Args:
        kind: ``"gpu"``, ``"tpu"``, ``"cpu"``, an :class:`Accelerator`, or
            ``None`` to detect it (:func:`detect_accelerator`).
        compute_capability: the GPU's ``(major, minor)`` (taken from the
            accelerator when ``kind`` is one; unknown counts as old).
        cpu_bf16: whether the CPU does fast bf16 (detected when ``None``).

    Returns:
        ``(policy, reason)`` with ``policy`` in :data:`PRECISION_POLICIES`.
    """
    if kind is None:
        kind = detect_accelerator()
    if isinstance(kind, Accelerator):
        compute_capability = compute_capability or kind.compute_capability
        name = kind.name
        kind = kind.kind
    else:
        name = ""
    kind = str(kind).lower()
    if kind == "tpu":
        return "mixed_bfloat16", "TPU: bfloat16 is its native matrix type"
    if kind == "gpu":
        label = name or "GPU"
        if compute_capability is None:
            return (
                "mixed_float16",
                f"{label} of unknown compute capability: float16 with loss scaling (safe everywhere)",
            )
        cc = f"{compute_capability[0]}.{compute_capability[1]}"
        if tuple(compute_capability) >= BF16_MIN_COMPUTE_CAPABILITY:
            return "mixed_bfloat16", f"{label} with compute capability {cc} >= 8.0: bf16 tensor cores, no loss scaling"
        if tuple(compute_capability) >= (7, 0):
            return (
                "mixed_float16",
                f"{label} with compute capability {cc} < 8.0: float16 tensor cores with loss scaling",
            )
        return (
            "mixed_float16",
            f"{label} with compute capability {cc} < 7.0: no tensor cores, so float16 (with loss scaling) "
            "mainly halves activation memory and may not be faster",
        )
    if kind == "cpu":
        if cpu_bf16 is None:
            cpu_bf16, why = cpu_bf16_support()
        else:
            why = "CPU with fast bf16" if cpu_bf16 else "CPU without fast bf16"
        return ("mixed_bfloat16" if cpu_bf16 else "float32"), why
    raise ValueError(f"Unknown device kind {kind!r}; use 'gpu', 'tpu' or 'cpu'.")


def _nvidia_gpu_present() -> tuple[bool, str]:
    """Whether the machine has an NVIDIA GPU, whatever the frameworks see, and the evidence."""
    if Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir()):
        return True, "/proc/driver/nvidia/gpus lists a GPU"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return False, ""
        if out.returncode == 0 and "GPU" in out.stdout:
            return True, f"`nvidia-smi -L` lists {out.stdout.strip().splitlines()[0]}"
    return False, ""


def gpu_visible_but_unused(
    backend: str | None = None,
    gpu_present: tuple[bool, str] | None = None,
    accelerator: Accelerator | None = None,
) -> str | None:
    """A message when the machine has an NVIDIA GPU that the Keras backend does not use, else ``None``.

    The usual cause is a CPU-only framework build (``pip install tensorflow``
    without the ``[and-cuda]`` extra); the course then silently picks the
    ``cpu`` profile. The message says how to fix it for the active backend.

    Args:
        backend: the Keras backend (default: the active one).
        gpu_present: ``(present, evidence)`` (detected when ``None``; for tests).
        accelerator: what the backend sees (detected when ``None``; for tests).
    """
    backend = backend or _keras_backend()
    present, evidence = gpu_present if gpu_present is not None else _nvidia_gpu_present()
    if not present:
        return None
    accelerator = accelerator or detect_accelerator(backend)
    if accelerator.kind != "cpu":
        return None
    linux = sys.platform.startswith("linux")
    fixes = {
        "tensorflow": 'pip install "tensorflow[and-cuda]>=2.16,<2.22" (or this course\'s extra: pip install -e ".[gpu]")'
        if linux
        else "TensorFlow has GPU wheels for Linux only; use WSL2 or Linux",
        "jax": 'pip install "jax[cuda12]"',
        "torch": "install a CUDA build of PyTorch (see pytorch.org, 'Get started')",
    }
    fix = fixes.get(backend, "install a GPU build of the backend's framework")
    return (
        f"An NVIDIA GPU is present ({evidence}) but {backend} does not see it, so training would run on the CPU: "
        f"{fix}, then restart the kernel. (Also check CUDA_VISIBLE_DEVICES and `nvidia-smi`.)"
    )


# ------------------------------------------------------------- what a run asks


def tensorflow_backend() -> bool:
    """Whether Keras runs on TensorFlow (the only backend with ``tf.data``/``tf.distribute`` here)."""
    return _keras_backend() == "tensorflow"


def tensorflow_sees_gpu() -> bool:
    """Whether TensorFlow lists a GPU (what the default run profile is chosen by)."""
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a hard dependency
        return False
    return bool(tf.config.list_physical_devices("GPU"))


def accelerator_available() -> bool:
    """Whether the Keras backend sees a GPU or TPU (:func:`detect_accelerator`)."""
    return detect_accelerator().kind != "cpu"


def replicas_in_sync() -> int:
    """Replicas of the current ``tf.distribute`` strategy (1 outside one, and on other backends)."""
    if not tensorflow_backend():
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


# ------------------------------------------------------- what a notebook prints


def gpu_description() -> str:
    """Name and compute capability of each GPU TensorFlow sees, or a note that there is none."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "no GPU visible to TensorFlow: the cpu profile will be used"
    lines = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        cc = _parse_cc(details.get("compute_capability"))
        lines.append(details.get("device_name", gpu.name) + (f" (compute capability {cc[0]}.{cc[1]})" if cc else ""))
    return "; ".join(lines)


def hardware_summary() -> str:
    """``"<cores> cores of <CPU>, <GPU or no GPU>"``: the hardware line of a stored run."""
    gpu = gpu_description()
    return f"{os.cpu_count()} cores of {cpu_name()}, {'no GPU' if gpu.startswith('no GPU') else gpu}"


def memory_status() -> dict:
    """RAM and GPU memory figures in GB (GPU entries only when TensorFlow sees a GPU)."""
    import psutil
    import tensorflow as tf

    vm = psutil.virtual_memory()
    gb = 1024**3
    status: dict = {
        "ram_free_gb": vm.available / gb,
        "ram_used_gb": (vm.total - vm.available) / gb,
        "ram_total_gb": vm.total / gb,
        "ram_util_percent": float(vm.percent),
        "gpus": [],
    }
    for i, _ in enumerate(tf.config.list_physical_devices("GPU")):
        try:
            info = tf.config.experimental.get_memory_info(f"GPU:{i}")
        except (ValueError, RuntimeError):  # not initialised yet / unsupported
            continue
        status["gpus"].append({"device": f"GPU:{i}", "used_gb": info["current"] / gb, "peak_gb": info["peak"] / gb})
    return status


def system_status() -> str:
    """Two lines like the seed notebook: general RAM, then GPU memory (or "no GPU")."""
    s = memory_status()
    lines = [
        f"Gen RAM Free: {s['ram_free_gb']:.2f} GB - Used: {s['ram_used_gb']:.2f} GB - "
        f"Total: {s['ram_total_gb']:.2f} GB - Util {s['ram_util_percent']:.1f} %"
    ]
    for g in s["gpus"]:
        lines.append(
            f"GPU RAM ({g['device']}): Used by TensorFlow: {g['used_gb']:.2f} GB - Peak: {g['peak_gb']:.2f} GB"
        )
    if not s["gpus"]:
        lines.append("GPU: none visible to TensorFlow (training runs on the CPU)")
    return "\n".join(lines)
