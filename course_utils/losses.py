"""The course's segmentation loss and the paper's L2 weight penalty (``keras.ops`` only).

- :class:`MaskedSparseCategoricalCrossentropy` (:func:`masked_sparse_ce`): the
  cross-entropy from logits averaged over the non-void pixels, optionally
  class-weighted. Runs on every Keras backend.
- :func:`add_l2_regularization`: the L2 penalty of the paper's "weight decay"
  on the convolution kernels of any model.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from course_utils.data.format import IGNORE_INDEX
from course_utils.devices import replicas_in_sync

__all__ = [
    "MaskedSparseCategoricalCrossentropy",
    "masked_sparse_ce",
    "add_l2_regularization",
    "seed_void_loss",
    "void_gradients",
]


@keras.saving.register_keras_serializable(package="course_utils")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits, averaged over the non-void pixels of the batch.

    ``y_true``: int labels ``[B, H, W]`` (or ``[B, H, W, 1]``), ``ignore_index``
    marks void. ``y_pred``: logits ``[B, H, W, C]``. With ``class_weights`` each
    pixel's loss is multiplied by the weight of its true class and the result
    is the weighted mean (sum of weighted losses / sum of weights), the
    convention of ``torch.nn.CrossEntropyLoss``. A batch with no valid pixel
    has loss 0 (not ``nan``). The computation is float32 whatever the model's
    dtype policy.
    """

    def __init__(
        self,
        class_weights: Sequence[float] | None = None,
        ignore_index: int = IGNORE_INDEX,
        name: str = "masked_sparse_ce",
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.ignore_index = int(ignore_index)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(logits.shape):
            labels = ops.squeeze(labels, -1)
        valid = ops.not_equal(labels, self.ignore_index)
        safe = ops.where(valid, labels, ops.zeros_like(labels))
        per_pixel = ops.sparse_categorical_crossentropy(safe, logits, from_logits=True)
        weights = ops.cast(valid, "float32")
        if self.class_weights is not None:
            weights = weights * ops.take(ops.convert_to_tensor(self.class_weights, "float32"), safe)
        loss = ops.divide_no_nan(ops.sum(per_pixel * weights), ops.sum(weights))
        # Keras sums gradients over tf.distribute replicas and leaves a scalar loss
        # unscaled: divide here so that N replicas average (the logged loss is rescaled back).
        replicas = replicas_in_sync()
        return loss / float(replicas) if replicas > 1 else loss

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(class_weights=self.class_weights, ignore_index=self.ignore_index)
        return config


def masked_sparse_ce(
    class_weights: Sequence[float] | None = None, ignore_index: int = IGNORE_INDEX
) -> MaskedSparseCategoricalCrossentropy:
    """The course's segmentation loss (see :class:`MaskedSparseCategoricalCrossentropy`)."""
    return MaskedSparseCategoricalCrossentropy(class_weights=class_weights, ignore_index=ignore_index)


KERNEL_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def add_l2_regularization(model: keras.Model, weight_decay: float, replicas: int = 1) -> int:
    """Add the paper's weight decay as an L2 loss term on every convolution / dense kernel.

    The DeepLab papers (Caffe, TF-slim) add ``weight_decay * w`` to the gradient
    of each kernel ``w`` ("L2 weight decay"), i.e. the loss term
    ``weight_decay / 2 * sum(w ** 2)``, which is ``keras.regularizers.L2(weight_decay / 2)``.
    With SGD momentum 0.9 that term is accumulated by the momentum, so it
    shrinks weights about ``1 / (1 - 0.9) = 10`` times more per step than
    ``keras.optimizers.SGD(weight_decay=...)`` (decoupled decay, applied once
    per step outside the momentum) with the same coefficient. BatchNorm scales
    and offsets and the biases are not penalised. Under a ``tf.distribute``
    strategy with ``replicas`` replicas Keras sums the per-replica penalties,
    so the coefficient is divided by ``replicas``.

    The regulariser is set on the variables (not saved with the model): call
    this after building or loading a model for training. Returns the number of
    kernels penalised.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}.")
    reg = keras.regularizers.L2(weight_decay / 2.0 / max(1, int(replicas))) if weight_decay else None
    count = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, KERNEL_LAYERS) and getattr(layer, "kernel", None) is not None:
            layer.kernel.regularizer = reg
            count += 1
    return count


def seed_void_loss(labels, logits, num_classes: int):
    """The seed notebook's loss: ``categorical_crossentropy`` on all-zero-void one-hot targets, mean over all pixels.

    Targets are :func:`course_utils.throughput.seed_one_hot` (void an all-zero row); the mean runs
    over every pixel, void included, so void adds 0 to the sum and 1 to the count.
    """
    targets = ops.one_hot(ops.minimum(ops.cast(labels, "int32"), num_classes), num_classes + 1)[..., :num_classes]
    return ops.mean(keras.losses.categorical_crossentropy(targets, ops.cast(logits, "float32"), from_logits=True))


def void_gradients(labels, logits, num_classes: int, ignore_index: int = IGNORE_INDEX) -> dict:
    """Loss and gradient with respect to the logits of the course's masked loss and of the seed's loss.

    Returns a dict with ``"masked"`` and ``"seed"``, each ``(loss: float, grad: np.ndarray [B, H, W, C])``.
    TensorFlow backend (``tf.GradientTape``). The seed's fused softmax cross-entropy has gradient
    ``(softmax(z) - y) / N`` per pixel: on a void pixel ``y`` is all zero, so the gradient is
    ``softmax(z) / N``, a push that lowers every logit the pixel predicts, not zero.
    """
    import numpy as np
    import tensorflow as tf

    z = tf.Variable(tf.cast(logits, tf.float32))
    y = tf.convert_to_tensor(labels)
    out = {}
    for name, fn in (
        ("masked", lambda: masked_sparse_ce(ignore_index=ignore_index)(y, z)),
        ("seed", lambda: seed_void_loss(y, z, num_classes)),
    ):
        with tf.GradientTape() as tape:
            loss = fn()
        out[name] = (float(loss), np.asarray(tape.gradient(loss, z)))
    return out
