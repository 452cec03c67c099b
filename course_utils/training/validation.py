"""Validation you can trust during training: precise BatchNorm, then native-resolution scores.

Two things make Keras' built-in validation mislead a short segmentation run:

1. **Stale BatchNorm statistics.** Inference uses moving averages of the batch
   statistics (momentum 0.99 in Keras: a memory of about 100 steps). After a few
   hundred steps from scratch they still remember the random initialisation, so
   ``val_loss`` can read hundreds while the training loss reads 1, and
   ``val_miou`` swings from epoch to epoch. :func:`recalibrate_batchnorm`
   replaces the moving statistics by the plain average over a number of
   training batches ("precise BN"), without changing any weight.
2. **Scoring at the wrong resolution.** A model that runs on half-size images
   must still be judged against the labels at their native resolution: thin
   classes (poles, signs) lose most pixels when the *labels* are shrunk.
   :func:`native_scores` resizes the images for the model, resizes the logits
   back to the label size, and accumulates one confusion matrix over the split.

:class:`NativeValidation` does both at the end of every epoch and writes
``val_loss``, ``val_miou`` and ``val_pixel_accuracy`` into the epoch's logs, so
that the best-model checkpoint, the CSV history, early stopping and the
learning-rate schedule all see numbers that reflect the model.

Everything here uses ``keras.ops`` and NumPy, so it runs under every Keras backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
from keras import ops

from course_utils import metrics as M

__all__ = ["recalibrate_batchnorm", "native_scores", "scaled_size", "NativeValidation"]


def _batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate_batchnorm(model: keras.Model, batches: Iterable, steps: int = 20) -> int:
    """Re-estimate every BatchNorm layer's moving statistics from ``steps`` batches ("precise BN").

    Each batch is run through the model in training mode, so every BatchNorm
    layer computes that batch's mean and variance; the layer's momentum is set
    to ``i / (i + 1)`` for the ``i``-th batch, which turns the moving average
    into the plain running mean of the batch statistics. No weight changes and
    the original momenta are restored afterwards.

    Args:
        model: a Keras model with BatchNormalization layers.
        batches: an iterable of ``(images, labels)`` or of image batches
            (a ``tf.data.Dataset``, a ``keras.utils.PyDataset``, a list...).
        steps: the number of batches to average over.

    Returns:
        The number of batches used (0 when the model has no BatchNorm).
    """
    bns = _batchnorm_layers(model)
    if not bns or steps < 1:
        return 0
    saved = [layer.momentum for layer in bns]
    used = 0
    try:
        for i, batch in enumerate(batches):
            if i >= steps:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in bns:
                layer.momentum = i / (i + 1.0)  # moving <- running mean of the batch statistics
            model(x, training=True)
            used += 1
    finally:
        for layer, m in zip(bns, saved):
            layer.momentum = m
    return used


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(round(scale * height), round(scale * width))``, at least 1 pixel each."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def native_scores(
    model: keras.Model,
    batches: Iterable,
    num_classes: int,
    input_scale: float = 1.0,
    input_size: tuple[int, int] | None = None,
    ignore_index: int = M.IGNORE_INDEX,
    max_batches: int | None = None,
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and confusion matrix of ``model`` at the labels' native resolution.

    Args:
        model: a logits model.
        batches: ``(images, labels)`` batches at native resolution: images
            ``[B, H, W, 3]`` in ``[-1, 1]``, labels ``[B, H, W]`` (void =
            ``ignore_index``).
        num_classes: number of classes.
        input_scale: the model sees the images resized by this factor.
        input_size: the model sees the images resized to this ``(h, w)``
            (overrides ``input_scale``).
        ignore_index: the void label.
        max_batches: stop after this many batches.

    Returns:
        ``(loss, confusion_matrix)``: the cross-entropy of the resized
        probabilities averaged over all valid pixels of the split, and the
        ``[C, C]`` confusion matrix (rows = truth), exactly what
        :func:`course_utils.evaluate.evaluate_split` computes with
        ``tta_scales=(input_scale,)``.
    """
    cm = np.zeros((num_classes, num_classes), np.int64)
    total_loss, total_pixels = 0.0, 0
    for i, (images, labels) in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        images = ops.convert_to_tensor(images, "float32")
        labels = np.asarray(ops.convert_to_numpy(labels)).astype(np.int64)
        h, w = labels.shape[1], labels.shape[2]
        size = tuple(input_size) if input_size is not None else scaled_size(h, w, input_scale)
        x = images if size == (h, w) else ops.image.resize(images, size, interpolation="bilinear")
        # softmax at the model's resolution, probabilities resized to the labels' size: the same
        # computation as course_utils.evaluate, so validation and evaluation give the same matrix
        probs = ops.softmax(ops.cast(model(x, training=False), "float32"), axis=-1)
        if tuple(probs.shape[1:3]) != (h, w):
            probs = ops.image.resize(probs, (h, w), interpolation="bilinear")
        probs = np.asarray(ops.convert_to_numpy(probs), np.float32)
        valid = labels != ignore_index
        safe = np.where(valid, labels, 0)
        p_true = np.take_along_axis(probs, safe[..., None], axis=-1)[..., 0]
        total_loss += float(-(np.log(np.maximum(p_true, 1e-12)) * valid).sum())
        total_pixels += int(valid.sum())
        cm += M.confusion_matrix(labels, probs.argmax(-1), num_classes, ignore_index)
    loss = total_loss / total_pixels if total_pixels else float("nan")
    return loss, cm


class NativeValidation(keras.callbacks.Callback):
    """End-of-epoch validation with precise BatchNorm and native-resolution scoring.

    Put it before any callback that reads ``val_*`` (checkpoints, CSV logger,
    schedules, early stopping) and train with ``validation_data=None``: it adds
    ``val_loss``, ``val_miou``, ``val_pixel_accuracy`` and
    ``val_seconds`` (time spent here) to the epoch's logs.

    Args:
        val_batches: native-resolution ``(images, labels)`` batches; iterated
            once per epoch (a ``tf.data.Dataset`` or a list; it must be
            re-iterable).
        num_classes: number of classes.
        input_scale: the model sees validation images resized by this factor.
        input_size: or resized to this fixed ``(h, w)``.
        recalibration_batches: training-distribution batches for precise BN
            (re-iterable; e.g. the training images without augmentation at
            the model's input size), or ``None`` to keep the moving averages.
        recalibration_steps: how many of them to average over each epoch.
    """

    def __init__(
        self,
        val_batches: Any,
        num_classes: int,
        input_scale: float = 1.0,
        input_size: tuple[int, int] | None = None,
        recalibration_batches: Any = None,
        recalibration_steps: int = 0,
        max_batches: int | None = None,
    ) -> None:
        super().__init__()
        self.val_batches = val_batches
        self.num_classes = int(num_classes)
        self.input_scale = float(input_scale)
        self.input_size = None if input_size is None else tuple(int(v) for v in input_size)
        self.recalibration_batches = recalibration_batches
        self.recalibration_steps = int(recalibration_steps) if recalibration_batches is not None else 0
        self.max_batches = max_batches
        self.last_confusion_matrix: np.ndarray | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        t0 = time.perf_counter()
        if self.recalibration_steps:
            recalibrate_batchnorm(self.model, self.recalibration_batches, self.recalibration_steps)
        loss, cm = native_scores(
            self.model,
            self.val_batches,
            self.num_classes,
            input_scale=self.input_scale,
            input_size=self.input_size,
            max_batches=self.max_batches,
        )
        self.last_confusion_matrix = cm
        if logs is not None:
            logs["val_loss"] = loss
            logs["val_miou"] = M.mean_iou(cm)
            logs["val_pixel_accuracy"] = M.pixel_accuracy(cm)
            logs["val_seconds"] = time.perf_counter() - t0
