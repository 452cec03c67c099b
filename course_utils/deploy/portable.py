"""Inference and evaluation on any Keras backend, without TensorFlow.

:mod:`course_utils.evaluate` computes probabilities in a ``tf.function`` and
reads splits with ``tf.data``: fast under TensorFlow, but a JAX or PyTorch
model cannot run inside a TensorFlow graph (``evaluate`` under JAX used to
fail on the ``tf.nn.softmax`` around the model). Under any other backend
:mod:`course_utils.evaluate` hands its work to the functions here, which do
the same with ``model.predict_on_batch`` (the backend's compiled predict
step), ``keras.ops`` for resizing, NumPy for the softmax and the confusion
matrix, and :class:`~course_utils.data.pydataset.SegmentationPyDataset` for the
data; the results are the same up to float rounding (tested against the
TensorFlow path).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["uses_portable_path", "tile_windows", "predict_proba", "confusion_on_split"]


def uses_portable_path() -> bool:
    """Whether evaluation takes this module's path: any backend but TensorFlow."""
    return keras.backend.backend() != "tensorflow"


def tile_windows(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of windows of size ``tile`` covering ``[0, length)`` with the given overlap.

    The last window is aligned to the end; a dimension shorter than the tile
    gets a single window of the whole length.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}.")
    if length <= tile:
        return [0]
    stride = max(1, int(round(tile * (1.0 - overlap))))
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return sorted(set(starts))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _probs(model, x: np.ndarray) -> np.ndarray:
    """Softmax probabilities of one batch, float32 NumPy."""
    if isinstance(model, keras.Model):
        logits = model.predict_on_batch(x)
    else:
        logits = model(x)
    return _softmax(np.asarray(keras.ops.convert_to_numpy(logits), dtype=np.float32))


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.image.resize(x, size, interpolation="bilinear")))


def _probs_tiled(model, images: np.ndarray, tile_size: tuple[int, int], overlap: float) -> np.ndarray:
    h, w = images.shape[1:3]
    th, tw = min(tile_size[0], h), min(tile_size[1], w)
    total = None
    count = np.zeros((1, h, w, 1), np.float32)
    for y in tile_windows(h, th, overlap):
        for x in tile_windows(w, tw, overlap):
            p = _probs(model, images[:, y : y + th, x : x + tw, :])
            if total is None:
                total = np.zeros((images.shape[0], h, w, p.shape[-1]), np.float32)
            total[:, y : y + th, x : x + tw] += p
            count[:, y : y + th, x : x + tw] += 1.0
    return total / count


def predict_proba(
    model,
    images,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    tile_size: tuple[int, int] | None = None,
    overlap: float = 0.25,
) -> np.ndarray:
    """:func:`course_utils.evaluate.predict_proba` on any backend (same arguments, NumPy result)."""
    images = np.asarray(keras.ops.convert_to_numpy(images), dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"predict_proba expects images [B, H, W, 3], got shape {images.shape}.")
    if not scales:
        raise ValueError("predict_proba needs at least one scale (e.g. scales=(1.0,)).")
    h, w = images.shape[1:3]
    acc, n = None, 0
    for s in scales:
        size = (max(1, int(round(h * float(s)))), max(1, int(round(w * float(s)))))
        scaled = images if size == (h, w) else _resize(images, size)
        variants = [(scaled, False)] + ([(np.ascontiguousarray(scaled[:, :, ::-1]), True)] if flip else [])
        for x, flipped in variants:
            if tile_size is not None and (size[0] > tile_size[0] or size[1] > tile_size[1]):
                p = _probs_tiled(model, x, tile_size, overlap)
            else:
                p = _probs(model, x)
            if flipped:
                p = p[:, :, ::-1]
            if size != (h, w):
                p = _resize(p, (h, w))
            acc = p if acc is None else acc + p
            n += 1
    return (acc / float(n)).astype(np.float32)


def confusion_on_split(
    model,
    root: str | os.PathLike,
    split: str,
    batch_size: int,
    tta_scales: Sequence[float] = (1.0,),
    flip: bool = False,
    max_images: int | None = None,
    tile: tuple[int, int] | None = None,
    image_size: tuple[int, int] | None = None,
    overlap: float = 0.25,
) -> tuple[np.ndarray, int]:
    """The confusion matrix and image count of :func:`course_utils.evaluate.evaluate_split` on any backend.

    The split is read with ``PyDataset`` (no ``tf.data``); ``evaluate_split`` checks the
    model and the dataset first and wraps the counts in its ``EvaluationResult``.
    """
    from course_utils import data
    from course_utils import metrics as M
    from course_utils.data.pydataset import SegmentationPyDataset

    info = data.load_info(root)
    ds = SegmentationPyDataset(root, split, batch_size, training=False, image_size=image_size, max_images=max_images)
    cm = np.zeros((info.num_classes, info.num_classes), np.int64)
    n = 0
    for images, labels in ds:
        probs = predict_proba(model, images, tta_scales, flip, tile, overlap)
        cm += M.confusion_matrix(labels, probs.argmax(-1), info.num_classes, info.ignore_index)
        n += int(images.shape[0])
    return cm, n
