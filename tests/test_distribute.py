"""Synchronized BatchNorm: 1 and 2 replicas give the same update only when BatchNorm is synchronized."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from course_utils.training import precision as D

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: logical CPU devices must be configured before TensorFlow initialises them.
SCRIPT = r"""
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from course_utils.training.precision import use_synchronized_batchnorm


def build():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization(momentum=0.5)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3)(x))


rng = np.random.default_rng(1)
x = rng.normal(size=(8, 6, 6, 3)).astype("float32")
x[4:] = 3.0 * x[4:] + 2.0  # the two replicas' halves differ, as two GPUs' crops do
y = rng.integers(0, 3, size=(8,))
init = build().get_weights()


def one_step(strategy, synchronized):
    with strategy.scope():
        model = build()
        model.set_weights(init)
        n = use_synchronized_batchnorm(model, synchronized)
        model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert n == 1, n
    return model.get_weights()


def gap(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))


single = tf.distribute.OneDeviceStrategy("/cpu:0")
two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one strategy for both runs: its collectives keep apart
one = one_step(single, False)
print(json.dumps({
    "moved": gap(one, init),
    "sync": gap(one_step(two, True), one),
    "local": gap(one_step(two, False), one),
}))
"""


@pytest.mark.slow  # starts Python + TensorFlow in a subprocess (about 18 s on a lightly loaded 2-core CPU)
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="synchronized BatchNorm needs TensorFlow")
def test_synchronized_batchnorm_makes_two_replicas_match_one():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    gaps = json.loads(out.stdout.strip().splitlines()[-1])
    assert gaps["moved"] > 1e-2  # the step changed the weights
    assert gaps["sync"] < 1e-5  # 2 replicas, synchronized: the single-device update
    assert gaps["local"] > 100 * max(gaps["sync"], 1e-6)  # per-replica statistics: a different update


def test_use_synchronized_batchnorm_flags_nested_layers_and_is_saved(tmp_path):
    inner_in = keras.Input((4, 4, 2))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="inner_bn")(inner_in))
    inp = keras.Input((4, 4, 2))
    out = keras.layers.BatchNormalization(name="outer_bn")(inner(inp))
    model = keras.Model(inp, out)
    assert D.use_synchronized_batchnorm(model) == 2
    assert all(layer.synchronized for layer in D._batchnorm_layers(model))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert all(layer.synchronized for layer in D._batchnorm_layers(loaded))
    assert D.use_synchronized_batchnorm(model, False) == 2
    assert not any(layer.synchronized for layer in D._batchnorm_layers(model))


def test_needs_synchronized_batchnorm():
    assert D.needs_synchronized_batchnorm(8, 4) == (
        True,
        "8 images over 4 replicas is 2 per replica (< 16): synchronize BatchNorm so its statistics use the whole batch",
    )
    assert D.needs_synchronized_batchnorm(8, 1)[0] is False
    assert D.needs_synchronized_batchnorm(64, 2)[0] is False
    with pytest.raises(ValueError, match="at least 1 replica"):
        D.needs_synchronized_batchnorm(8, 0)
