"""benchmarks/train_throughput.py: peak table, input helpers, and a run under JAX without TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "train_throughput.py"


def _load():
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_table_and_mfu_inputs():
    tt = _load()
    assert tt.peak_tflops("NVIDIA H100 80GB HBM3", "mixed_bfloat16", None) == (989.4, "table: H100 bf16")
    assert tt.peak_tflops("NVIDIA H100 PCIe", "float32", None)[0] == 378.0
    assert tt.peak_tflops("Tesla T4", "mixed_bfloat16", None) == (None, "table: T4 has no bf16 peak")
    assert tt.peak_tflops("Intel Xeon", "float32", None)[0] is None
    assert tt.peak_tflops("Intel Xeon", "float32", 3.5) == (3.5, "--peak-tflops")
    batches = tt.synthetic_batches(2, 3, (8, 16), 5)
    x, y = batches[0]
    assert x.shape == (3, 8, 16, 3) and y.shape == (3, 8, 16) and x.dtype == np.float32
    assert set(np.unique(y)) <= set(range(5)) | {255}


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax")
def test_runs_under_jax_without_tensorflow(tmp_path):
    """Under KERAS_BACKEND=jax the benchmark runs with `import tensorflow` made impossible."""
    code = (
        "import sys, runpy; sys.modules['tensorflow'] = None; "
        f"sys.argv = ['train_throughput.py', '--crop', '32', '32', '--batch', '1', '--steps', '1', "
        f"'--warmup', '1', '--num-classes', '3', '--json', {str(tmp_path / 'r.json')!r}]; "
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert row["backend"] == "jax" and row["images_per_s"] > 0 and row["mfu"] is None
    assert row["train_gflops_per_image"] > 0
