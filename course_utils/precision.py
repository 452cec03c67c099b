"""Precision policy and distribution: which dtype policy a run uses, on how many replicas.

Only the TensorFlow backend has ``tf.distribute`` strategies; under JAX or
PyTorch :func:`get_strategy` returns :class:`NoStrategy` (one device, a no-op
``scope()``) and TensorFlow is never imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:  # pragma: no cover
    from course_utils.config import TrainConfig

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "mirrored", "tpu", "default")

__all__ = [
    "POLICIES",
    "NoStrategy",
    "accelerator_available",
    "get_strategy",
    "replicas_in_sync",
    "resolve_precision_policy",
    "tensorflow_backend",
]


def tensorflow_backend() -> bool:
    """Whether Keras runs on TensorFlow (the only backend with ``tf.data``/``tf.distribute`` here)."""
    return keras.backend.backend() == "tensorflow"


def accelerator_available() -> bool:
    """Whether the Keras backend sees a GPU or TPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    if backend == "jax":
        import jax

        return any(d.platform != "cpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def replicas_in_sync() -> int:
    """Replicas of the current ``tf.distribute`` strategy (1 outside one, and on other backends)."""
    if not tensorflow_backend():
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def resolve_precision_policy(config: TrainConfig) -> str:
    """The Keras dtype policy for this run.

    ``mixed_precision`` may be ``True`` (``mixed_float16``), a policy name
    (``"mixed_bfloat16"`` for TPUs), or ``"auto"``: the policy that
    :func:`course_utils.hardware.choose_precision` picks for the device (bf16 on
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
        from course_utils.hardware import choose_precision

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
