"""Hardware detection: CPU bf16 flags, accelerators, precision choice, unused GPUs."""

from __future__ import annotations

import sys
import types

import pytest

from course_utils import devices as H

CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile\nmodel name\t: Xeon\n"
CPUINFO_AVX512BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n"
CPUINFO_PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


@pytest.mark.parametrize(
    "text, machine, expected, words",
    [
        (CPUINFO_AMX, "x86_64", True, "amx_bf16 and avx512_bf16"),
        (CPUINFO_AVX512BF16, "x86_64", True, "avx512_bf16"),
        (CPUINFO_PLAIN, "x86_64", False, "without amx_bf16"),
        ("Features\t: fp asimd bf16\n", "arm64", False, "arm64"),
        ("Features\t: fp asimd bf16\n", "aarch64", False, "aarch64"),
    ],
)
def test_cpu_bf16_support_reads_the_flags(text, machine, expected, words):
    ok, reason = H.cpu_bf16_support(text, machine)
    assert ok is expected and words in reason


def test_cpu_bf16_support_without_cpuinfo(monkeypatch):
    monkeypatch.setattr(H, "_read_cpuinfo", lambda: None)
    ok, reason = H.cpu_bf16_support(machine="x86_64")
    assert not ok and "not readable" in reason


def test_cpu_bf16_support_on_this_machine_matches_proc_cpuinfo():
    text = H._read_cpuinfo() or ""
    ok, _ = H.cpu_bf16_support()
    import platform

    if platform.machine() == "x86_64":
        assert ok == (" amx_bf16" in text or " avx512_bf16" in text)


@pytest.mark.parametrize(
    "kind, cc, cpu_bf16, policy",
    [
        ("tpu", None, None, "mixed_bfloat16"),
        ("gpu", (9, 0), None, "mixed_bfloat16"),
        ("gpu", (8, 0), None, "mixed_bfloat16"),
        ("gpu", (7, 5), None, "mixed_float16"),
        ("gpu", None, None, "mixed_float16"),
        ("cpu", None, True, "mixed_bfloat16"),
        ("cpu", None, False, "float32"),
    ],
)
def test_choose_precision_every_branch(kind, cc, cpu_bf16, policy):
    got, reason = H.choose_precision(kind, cc, cpu_bf16)
    assert got == policy and got in H.PRECISION_POLICIES and reason and "\n" not in reason


def test_choose_precision_takes_an_accelerator_and_detects_the_cpu(monkeypatch):
    acc = H.Accelerator("gpu", "Tesla T4", (7, 5), 1, "tensorflow")
    policy, reason = H.choose_precision(acc)
    assert policy == "mixed_float16" and "Tesla T4" in reason and "7.5" in reason
    monkeypatch.setattr(H, "detect_accelerator", lambda backend=None: H.Accelerator("cpu"))
    monkeypatch.setattr(H, "cpu_bf16_support", lambda: (True, "x86 CPU with amx_bf16"))
    assert H.choose_precision() == ("mixed_bfloat16", "x86 CPU with amx_bf16")
    with pytest.raises(ValueError, match="Unknown device kind"):
        H.choose_precision("npu")


def _fake_tf(monkeypatch, gpus=(), tpus=(), details=None):
    tf = types.ModuleType("tensorflow")
    tf.config = types.SimpleNamespace(
        list_logical_devices=lambda kind: list(tpus) if kind == "TPU" else [],
        list_physical_devices=lambda kind: list(gpus) if kind == "GPU" else [],
        experimental=types.SimpleNamespace(get_device_details=lambda d: details or {}),
    )
    monkeypatch.setitem(sys.modules, "tensorflow", tf)


def test_detect_accelerator_tensorflow(monkeypatch):
    _fake_tf(monkeypatch, gpus=["gpu0", "gpu1"], details={"device_name": "NVIDIA A100", "compute_capability": (8, 0)})
    acc = H.detect_accelerator("tensorflow")
    assert (acc.kind, acc.name, acc.compute_capability, acc.count) == ("gpu", "NVIDIA A100", (8, 0), 2)
    assert "compute capability 8.0" in acc.describe()
    _fake_tf(monkeypatch, tpus=["t"] * 8)
    assert H.detect_accelerator("tensorflow").kind == "tpu"
    _fake_tf(monkeypatch)
    assert H.detect_accelerator("tensorflow").kind == "cpu"


def test_detect_accelerator_jax_and_torch(monkeypatch):
    dev = types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H100 80GB HBM3", compute_capability="9.0")
    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(devices=lambda: [dev]))
    acc = H.detect_accelerator("jax")
    assert (acc.kind, acc.compute_capability) == ("gpu", (9, 0))
    monkeypatch.setitem(
        sys.modules,
        "jax",
        types.SimpleNamespace(devices=lambda: [types.SimpleNamespace(platform="tpu", device_kind="TPU v4")]),
    )
    assert H.detect_accelerator("jax").kind == "tpu"
    monkeypatch.setitem(
        sys.modules, "jax", types.SimpleNamespace(devices=lambda: [types.SimpleNamespace(platform="cpu")])
    )
    assert H.detect_accelerator("jax").kind == "cpu"

    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        get_device_name=lambda i: "Tesla V100",
        get_device_capability=lambda i: (7, 0),
        device_count=lambda: 4,
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    acc = H.detect_accelerator("torch")
    assert (acc.kind, acc.compute_capability, acc.count) == ("gpu", (7, 0), 4)
    assert H.choose_precision(acc)[0] == "mixed_float16"
    cuda.is_available = lambda: False
    assert H.detect_accelerator("torch").kind == "cpu"
    assert H.detect_accelerator("numpy").kind == "cpu"


def test_gpu_visible_but_unused_every_branch(monkeypatch):
    cpu = H.Accelerator("cpu")
    gpu = H.Accelerator("gpu", "NVIDIA L4", (8, 9))
    evidence = (True, "`nvidia-smi -L` lists GPU 0: NVIDIA L4")
    assert H.gpu_visible_but_unused("tensorflow", (False, ""), cpu) is None
    assert H.gpu_visible_but_unused("tensorflow", evidence, gpu) is None
    monkeypatch.setattr(sys, "platform", "linux")
    msg = H.gpu_visible_but_unused("tensorflow", evidence, cpu)
    assert "tensorflow[and-cuda]" in msg and "NVIDIA L4" in msg and "\n" not in msg
    assert "jax[cuda12]" in H.gpu_visible_but_unused("jax", evidence, cpu)
    assert "CUDA build of PyTorch" in H.gpu_visible_but_unused("torch", evidence, cpu)
    monkeypatch.setattr(sys, "platform", "win32")
    assert "Linux only" in H.gpu_visible_but_unused("tensorflow", evidence, cpu)


def test_nvidia_gpu_present_uses_nvidia_smi(monkeypatch, tmp_path):
    monkeypatch.setattr(H, "Path", lambda p: tmp_path / "no-such-dir")
    monkeypatch.setattr(H.shutil, "which", lambda name: None)
    assert H._nvidia_gpu_present() == (False, "")
    monkeypatch.setattr(H.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    done = types.SimpleNamespace(returncode=0, stdout="GPU 0: NVIDIA H100 (UUID: GPU-1)\n")
    monkeypatch.setattr(H.subprocess, "run", lambda *a, **k: done)
    present, evidence = H._nvidia_gpu_present()
    assert present and "NVIDIA H100" in evidence
    failed = types.SimpleNamespace(returncode=9, stdout="")
    monkeypatch.setattr(H.subprocess, "run", lambda *a, **k: failed)
    assert H._nvidia_gpu_present() == (False, "")


def test_cpu_name():
    assert H.cpu_name(CPUINFO_AMX) == "Xeon"
    assert H.cpu_name("processor : 0\n") and isinstance(H.cpu_name(), str)
