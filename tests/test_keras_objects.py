"""Every custom layer, loss, metric and schedule of the course through the keras-hub style harness."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils.losses import MaskedSparseCategoricalCrossentropy
from course_utils.metrics import StreamingMeanIoU
from course_utils.model.layers import CaffeInputAdapter, ResizeLike
from course_utils.training.recipes import poly_schedule
from tests.keras_objects import POLICIES, run_layer_test, run_serialisation_test

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resize_like(interpolation, tmp_path):
    x = RNG.standard_normal((2, 5, 7, 3)).astype(np.float32)
    ref = np.zeros((2, 10, 14, 1), np.float32)
    out = run_layer_test(lambda: ResizeLike(interpolation), [x, ref], tmp_path)
    assert out["float32"].shape == (2, 10, 14, 3)


def test_caffe_input_adapter(tmp_path):
    x = RNG.uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32)
    out = run_layer_test(CaffeInputAdapter, [x], tmp_path)
    np.testing.assert_allclose(out["float32"][..., 0], (x[..., 2] + 1) * 127.5 - 103.939, rtol=1e-5)


def _loss_equal(a, b):
    y = RNG.integers(0, 3, (2, 4, 4)).astype(np.int32)
    y[0, 0, 0] = 255
    logits = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)
    assert float(a(y, logits)) == pytest.approx(float(b(y, logits)))


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_masked_loss_serialises_and_runs_in_every_precision(weights):
    loss = MaskedSparseCategoricalCrossentropy(class_weights=weights)
    run_serialisation_test(loss, _loss_equal)
    y = RNG.integers(0, 3, (2, 4, 4)).astype(np.int32)
    logits = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)
    want = float(loss(y, logits))
    for policy in POLICIES:  # mixed precision models hand the loss float16/bfloat16 logits
        dtype = keras.mixed_precision.DTypePolicy(policy).compute_dtype
        assert float(loss(y, keras.ops.cast(logits, dtype))) == pytest.approx(want, rel=2e-2), policy


def _metric_equal(a, b):
    y = RNG.integers(0, 3, (2, 4, 4)).astype(np.int32)
    logits = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)
    a.reset_state()
    a.update_state(y, logits)
    b.update_state(y, logits)
    assert float(a.result()) == pytest.approx(float(b.result()))


def test_streaming_miou_serialises_and_runs_in_every_precision():
    metric = StreamingMeanIoU(3)
    run_serialisation_test(metric, _metric_equal)
    y = RNG.integers(0, 3, (2, 4, 4)).astype(np.int32)
    logits = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)
    results = []
    for policy in POLICIES:
        m = StreamingMeanIoU(3)
        m.update_state(y, keras.ops.cast(logits, keras.mixed_precision.DTypePolicy(policy).compute_dtype))
        results.append(float(m.result()))
    assert results[0] == pytest.approx(results[1], abs=0.05) and results[0] == pytest.approx(results[2], abs=0.1)


@pytest.mark.parametrize("warmup", [0, 5])
def test_poly_schedule_serialises(warmup):
    def same(a, b):
        assert [float(a(s)) for s in (0, 3, 50, 120)] == pytest.approx([float(b(s)) for s in (0, 3, 50, 120)])

    run_serialisation_test(poly_schedule(0.01, 100, warmup_steps=warmup), same)


def test_a_model_compiled_with_the_course_objects_round_trips(tmp_path):
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(3, 1)(CaffeInputAdapter()(inp))
    model = keras.Model(inp, ResizeLike()([x, inp]))
    model.compile(
        optimizer=keras.optimizers.SGD(poly_schedule(0.01, 10, warmup_steps=2)),
        loss=MaskedSparseCategoricalCrossentropy(),
        metrics=[StreamingMeanIoU(3)],
    )
    images = RNG.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    labels = RNG.integers(0, 3, (2, 8, 8)).astype(np.int32)
    model.fit(images, labels, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-5
    )
    assert loaded.evaluate(images, labels, verbose=0, return_dict=True)["loss"] == pytest.approx(
        model.evaluate(images, labels, verbose=0, return_dict=True)["loss"], rel=1e-5
    )
