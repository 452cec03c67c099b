"""Precision policy and distribution: which dtype policy a run uses, on how many replicas.

Only the TensorFlow backend has ``tf.distribute`` strategies; under JAX or
PyTorch :func:`get_strategy` returns :class:`NoStrategy` (one device, a no-op
``scope()``) and TensorFlow is never imported.

Synchronized BatchNorm across replicas (formerly ``course_utils.distribute``):
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

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from course_utils.devices import accelerator_available, tensorflow_backend

if TYPE_CHECKING:  # pragma: no cover
    from course_utils.training.config import TrainConfig

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "mirrored", "tpu", "default")

__all__ = [
    "POLICIES",
    "NoStrategy",
    "get_strategy",
    "resolve_precision_policy",
    "use_synchronized_batchnorm",
    "needs_synchronized_batchnorm",
    "MIN_SAMPLES_PER_REPLICA",
]

#: Below this many samples per replica the local BatchNorm statistics are too noisy to train with.
MIN_SAMPLES_PER_REPLICA = 16


def resolve_precision_policy(config: TrainConfig) -> str:
    """The Keras dtype policy for this run.

    ``mixed_precision`` may be ``True`` (``mixed_float16``), a policy name
    (``"mixed_bfloat16"`` for TPUs), or ``"auto"``: the policy that
    :func:`course_utils.devices.choose_precision` picks for the device (bf16 on
    GPUs of compute capability >= 8.0, TPUs and CPUs with AMX/AVX512-BF16,
    float16 with loss scaling on older GPUs, float32 elsewhere). A named mixed
    policy applies only when a GPU/TPU is present, unless
    ``force_mixed_precision`` is set (float16 on a CPU is slow); with ``"auto"``,
    ``force_mixed_precision`` means ``mixed_float16`` on any device, to rehearse
    a GPU run (the float16 + loss-scaling path of a T4) on a CPU.
    """
    mp = config.mixed_precision
    if not mp:
        return "float32"
    if mp == "auto":
        if config.force_mixed_precision:  # rehearse the GPU path anywhere: float16 with loss scaling (a T4's)
            return "mixed_float16"
        from course_utils.devices import choose_precision

        return choose_precision()[0]
    policy = "mixed_float16" if mp is True else str(mp)
    if policy not in POLICIES:
        raise ValueError(f"Unknown precision policy {policy!r}; use mixed_float16 or mixed_bfloat16.")
    return policy if (config.force_mixed_precision or accelerator_available()) else "float32"


class NoStrategy:
    """Stand-in for a ``tf.distribute`` strategy on one device (any backend)."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager:
        """A context manager that does nothing."""
        return contextlib.nullcontext()


def get_strategy(kind: str = "auto", devices: Sequence[str] | None = None):
    """Pick a ``tf.distribute`` strategy (TensorFlow backend) or :class:`NoStrategy`.

    Args:
        kind: ``"auto"`` (a Colab/Cloud TPU when the environment announces
            one and it answers, else ``MirroredStrategy`` over several GPUs,
            else the default strategy), ``"mirrored"`` (all GPUs; with no GPU,
            every logical CPU device), ``"tpu"`` or ``"default"`` (no
            distribution). Under JAX/PyTorch ``auto`` and ``default`` give
            :class:`NoStrategy`; ``mirrored`` and ``tpu`` need TensorFlow.
        devices: explicit device names for ``"mirrored"``.
    """
    kind = kind.lower()
    if kind not in STRATEGIES:
        raise ValueError(f"Unknown strategy {kind!r}; use auto, mirrored, tpu or default.")
    if not tensorflow_backend():
        if kind in ("auto", "default"):
            return NoStrategy()
        raise ValueError(
            f"--strategy {kind} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); "
            f"under {keras.backend.backend()} use --strategy auto."
        )
    import tensorflow as tf

    tpu_hint = any(os.environ.get(k) for k in ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE")) or any(
        Path("/dev").glob("accel*")
    )
    if kind == "tpu" or (kind == "auto" and tpu_hint):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:
            if kind == "tpu":
                raise RuntimeError(
                    f"No TPU found ({err}). On Colab choose Runtime > Change runtime type > TPU, "
                    "or use --strategy auto."
                ) from err
    if kind == "default":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if devices is None:
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=list(devices))


# ------------------------------------------------------------ synchronized BatchNorm


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
