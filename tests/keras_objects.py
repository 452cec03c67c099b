"""A keras-hub style harness for the course's custom Keras objects.

- :func:`run_layer_test`: a layer survives ``get_config``/``from_config`` and
  ``keras.saving`` serialisation, runs under every dtype policy of the course
  (float32, mixed_float16, mixed_bfloat16) with outputs in the policy's compute
  dtype and close to float32, and a model holding it round-trips through a
  ``.keras`` file with identical outputs.
- :func:`run_serialisation_test`: any object with ``get_config`` (loss, metric,
  schedule) comes back equal from ``keras.saving.serialize_keras_object``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
#: Relative tolerance of each policy against float32 (float16: 10 mantissa bits, bfloat16: 7).
TOLERANCE = {"float32": 1e-6, "mixed_float16": 2e-2, "mixed_bfloat16": 5e-2}


def _model(make_layer: Callable[[], keras.layers.Layer], input_shapes: Sequence[tuple]) -> keras.Model:
    inputs = [keras.Input(shape[1:]) for shape in input_shapes]
    layer = make_layer()
    out = layer(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, keras.layers.Activation("linear", dtype="float32")(out))


def run_layer_test(
    make_layer: Callable[[], keras.layers.Layer], inputs: Sequence[np.ndarray], tmp_path: Path
) -> dict[str, np.ndarray]:
    """Serialisation, every precision and a saved-model round trip; returns the outputs per policy."""
    layer = make_layer()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(again) is type(layer) and again.get_config() == config

    shapes = [x.shape for x in inputs]
    feed = list(inputs) if len(inputs) > 1 else inputs[0]
    outputs = {}
    previous = keras.mixed_precision.dtype_policy()
    try:
        for policy in POLICIES:
            keras.mixed_precision.set_dtype_policy(policy)
            raw = make_layer()
            got = raw(feed if len(inputs) > 1 else keras.ops.convert_to_tensor(inputs[0]))
            assert keras.backend.standardize_dtype(got.dtype) == keras.mixed_precision.dtype_policy().compute_dtype
            outputs[policy] = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(got, "float32")))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    scale = float(np.abs(outputs["float32"]).max()) or 1.0
    for policy in POLICIES:
        np.testing.assert_allclose(outputs[policy], outputs["float32"], atol=TOLERANCE[policy] * scale, err_msg=policy)

    model = _model(make_layer, shapes)
    path = tmp_path / f"{type(layer).__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(feed)), keras.ops.convert_to_numpy(model(feed)), rtol=1e-6, atol=1e-6
    )
    return outputs


def run_serialisation_test(obj, compare: Callable[[object, object], None] | None = None):
    """``obj`` comes back from Keras serialisation with the same config (and behaviour, via ``compare``)."""
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
    assert type(again) is type(obj)
    assert keras.saving.serialize_keras_object(again) == keras.saving.serialize_keras_object(obj)
    if compare is not None:
        compare(obj, again)
    return again
