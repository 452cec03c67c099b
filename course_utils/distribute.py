"""Multi-device training helpers: synchronized BatchNorm across replicas.

Under data parallelism each replica normalises with the statistics of its own
share of the batch. DeepLabV3 trains with small batches (8 crops), so over 4
GPUs every BatchNorm sees 2 samples, and the image-pooling branch of ASPP
(one 1x1 feature per image) normalises over just 2 numbers per channel: its
statistics are noise. *Synchronized* BatchNorm all-reduces the moments over
the replicas, so every replica normalises with the statistics of the global
batch and the update is the one a single device would compute.

- :func:`use_synchronized_batchnorm` switches every ``BatchNormalization``
  layer of a built model (nested models included) to ``synchronized=True``,
  which Keras 3 honours under a TensorFlow ``tf.distribute`` strategy
  (``MirroredStrategy``, ``TPUStrategy``).
- :func:`needs_synchronized_batchnorm` says whether a run should.

Under the JAX backend with ``keras.distribution.DataParallel`` the step is one
SPMD program over the globally sharded batch, so BatchNorm moments already
span all devices and nothing needs switching.
"""

from __future__ import annotations

import keras

__all__ = ["use_synchronized_batchnorm", "needs_synchronized_batchnorm", "MIN_SAMPLES_PER_REPLICA"]

#: Below this many samples per replica the local BatchNorm statistics are too noisy to train with.
MIN_SAMPLES_PER_REPLICA = 16


def _batchnorm_layers(model: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """Every ``BatchNormalization`` layer inside ``model``, nested models and layers included."""
    if hasattr(model, "_flatten_layers"):
        layers = model._flatten_layers(include_self=True, recursive=True)
    else:  # pragma: no cover - every Keras 3 layer has _flatten_layers
        layers, stack = [], [model]
        while stack:
            layer = stack.pop()
            layers.append(layer)
            stack.extend(getattr(layer, "layers", []))
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def use_synchronized_batchnorm(model: keras.Model, synchronized: bool = True) -> int:
    """Make every BatchNorm of ``model`` all-reduce its batch statistics over the replicas.

    Sets ``synchronized`` on each ``BatchNormalization`` layer in place (weights
    and moving statistics are kept; the flag is read when the training step is
    traced, and saved in the layer's config). Call it before ``compile``/``fit``;
    traced train/test/predict functions of an already compiled model are
    dropped so that the next ``fit`` retraces with the new setting.

    Outside a strategy (one device) synchronized BatchNorm computes exactly
    what the ordinary one does.

    Args:
        model: a built Keras model.
        synchronized: ``False`` switches back to per-replica statistics.

    Returns:
        The number of BatchNormalization layers set; ``0`` under a backend
        other than TensorFlow, where Keras does not support the flag (under
        JAX data parallelism the statistics are global already).
    """
    if keras.backend.backend() != "tensorflow":
        return 0
    layers = _batchnorm_layers(model)
    for layer in layers:
        layer.synchronized = bool(synchronized)
    for name in ("train_function", "test_function", "predict_function"):
        if getattr(model, name, None) is not None:
            setattr(model, name, None)
    return len(layers)


def needs_synchronized_batchnorm(
    global_batch_size: int, num_replicas: int, min_per_replica: int = MIN_SAMPLES_PER_REPLICA
) -> tuple[bool, str]:
    """Whether a data-parallel run should synchronize BatchNorm, with a one-line reason.

    Args:
        global_batch_size: images per step over all replicas.
        num_replicas: devices the batch is split over.
        min_per_replica: samples per replica from which local statistics are
            good enough (the DeepLabV3 paper trains its BatchNorm with 16).
    """
    if num_replicas < 1 or global_batch_size < 1:
        raise ValueError(f"Need at least 1 replica and 1 image per step, got {num_replicas} and {global_batch_size}.")
    if num_replicas == 1:
        return False, "one replica: BatchNorm already sees the whole batch"
    per = global_batch_size / num_replicas
    if per < min_per_replica:
        return True, (
            f"{global_batch_size} images over {num_replicas} replicas is {per:g} per replica "
            f"(< {min_per_replica}): synchronize BatchNorm so its statistics use the whole batch"
        )
    return False, f"{per:g} images per replica (>= {min_per_replica}): local BatchNorm statistics are good enough"
