"""The label-safe training augmentation, written once for both input pipelines.

One implementation of the geometry and the photometric jitter, run by the
``tf.data`` pipeline (:func:`course_utils.data.make_dataset`, on TensorFlow
tensors inside the graph) and by :class:`course_utils.pydataset.SegmentationPyDataset`
(on NumPy arrays, no TensorFlow needed). The code below only calls the handful
of array operations in an *ops table* (:data:`NUMPY_OPS` or :func:`tf_ops`), so
both pipelines compute the same crops, flips and jitter from the same uniform
draws; only the random numbers come from each pipeline's own generator.

A training sample is drawn from seven uniform numbers ``u`` in ``[0, 1)``:
random scale in ``scale_range`` (``u[0]``), crop offset in the scaled image
(``u[1]``, ``u[2]``; the crop may hang over the border, which is padding),
horizontal flip (``u[3] < 0.5``), brightness, contrast and saturation factors
(``u[4:7]``). The scaled, padded, cropped window is sampled directly from the
original image (:func:`sample_window`, :func:`resample`): bilinear for the
image, nearest for the label, so labels keep their values ``{0..C-1, 255}``;
outside the image the image is mid grey (127.5, 0 after normalisation) and the
label void (255).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from course_utils.datasets.common import IGNORE_INDEX

#: Fill value of padded image pixels on the 0..255 scale (0 after normalisation).
PAD_VALUE = 127.5
N_UNIFORMS = 7

__all__ = [
    "NUMPY_OPS",
    "N_UNIFORMS",
    "PAD_VALUE",
    "jitter_batch",
    "resample",
    "resize_pair",
    "sample_window",
    "tf_ops",
]

NUMPY_OPS = SimpleNamespace(
    f32=lambda x: np.asarray(x, np.float32),
    i32=lambda x: np.asarray(x, np.int32),
    arange=lambda n: np.arange(n, dtype=np.float32),
    floor=np.floor,
    round=np.round,
    clip=np.clip,
    minimum=np.minimum,
    maximum=np.maximum,
    where=np.where,
    take=lambda x, i, axis: np.take(x, i, axis=axis),
    stack=lambda xs: np.stack(xs),
    mean=lambda x, axis: np.mean(x, axis=axis, keepdims=True),
    logical_and=np.logical_and,
)


def tf_ops() -> SimpleNamespace:
    """The ops table on TensorFlow tensors (graph-friendly, for ``tf.data``)."""
    import tensorflow as tf

    return SimpleNamespace(
        f32=lambda x: tf.cast(x, tf.float32),
        i32=lambda x: tf.cast(x, tf.int32),
        arange=lambda n: tf.range(tf.cast(n, tf.float32)),
        floor=tf.floor,
        round=tf.round,
        clip=tf.clip_by_value,
        minimum=tf.minimum,
        maximum=tf.maximum,
        where=tf.where,
        take=lambda x, i, axis: tf.gather(x, i, axis=axis),
        stack=tf.stack,
        mean=lambda x, axis: tf.reduce_mean(x, axis=axis, keepdims=True),
        logical_and=tf.logical_and,
    )


def sample_window(u, h, w, crop: Sequence[int], scale_range: Sequence[float], augment: bool, ops=NUMPY_OPS):
    """Source coordinates of a training crop and its jitter factors, from uniforms ``u``.

    Args:
        u: seven uniforms in ``[0, 1)`` (ignored when ``augment`` is false).
        h, w: size of the original image.
        crop: ``(ch, cw)`` output size.
        scale_range: ``(low, high)`` of the random scale factor.
        augment: false: plain resize of the whole image to ``crop`` (no flip, no jitter).
        ops: :data:`NUMPY_OPS` or :func:`tf_ops`.

    Returns:
        ``(ys, xs, jitter)``: float32 source row coordinates ``[ch]``, column
        coordinates ``[cw]`` (pixel units of the original image; outside
        ``[0, h-1]`` / ``[0, w-1]`` is padding) and ``[brightness, contrast, saturation]``.
    """
    ch, cw = int(crop[0]), int(crop[1])
    hf, wf = ops.f32(h), ops.f32(w)
    rows, cols = ops.arange(ch), ops.arange(cw)
    if not augment:
        # align-corners mapping of the whole image onto the output grid
        ys = rows * ((hf - 1.0) / max(ch - 1, 1)) if ch > 1 else rows + (hf - 1.0) / 2.0
        xs = cols * ((wf - 1.0) / max(cw - 1, 1)) if cw > 1 else cols + (wf - 1.0) / 2.0
        return ys, xs, ops.f32([0.0, 1.0, 1.0])
    u = ops.f32(u)
    lo, hi = float(scale_range[0]), float(scale_range[1])
    s = lo + u[0] * (hi - lo)
    hs = ops.maximum(ops.round(hf * s), 2.0)
    ws = ops.maximum(ops.round(wf * s), 2.0)

    def offset(size, out, v):
        first, last = ops.minimum(0.0, size - out), ops.maximum(0.0, size - out)
        return ops.minimum(first + ops.floor(v * (last - first + 1.0)), last)

    oy, ox = offset(hs, float(ch), u[1]), offset(ws, float(cw), u[2])
    # align-corners mapping from the scaled grid (hs x ws) to the original one
    ys = (oy + rows) * ((hf - 1.0) / (hs - 1.0))
    xs = (ox + cols) * ((wf - 1.0) / (ws - 1.0))
    xs = ops.where(u[3] < 0.5, xs[::-1], xs)  # a flip reads the columns right to left
    jitter = ops.stack([-0.2 + 0.4 * u[4], 0.8 + 0.4 * u[5], 0.8 + 0.4 * u[6]])
    return ys, xs, jitter


def resample(image, label, ys, xs, ops=NUMPY_OPS):
    """Sample ``image`` (bilinear) and ``label`` (nearest) at rows ``ys`` x columns ``xs``.

    ``image``: ``[H, W, 3]`` (any number type, 0..255), ``label``: ``[H, W]``
    ints. Coordinates outside the image give :data:`PAD_VALUE` and void (255).

    Returns:
        float32 image ``[len(ys), len(xs), 3]`` (0..255), int32 label ``[len(ys), len(xs)]``.
    """
    image = ops.f32(image)
    h1 = ops.f32(image.shape[0] if ops is NUMPY_OPS else _dim(image, 0)) - 1.0
    w1 = ops.f32(image.shape[1] if ops is NUMPY_OPS else _dim(image, 1)) - 1.0
    in_y = ops.logical_and(ys >= 0.0, ys <= h1)
    in_x = ops.logical_and(xs >= 0.0, xs <= w1)
    yc, xc = ops.clip(ys, 0.0, h1), ops.clip(xs, 0.0, w1)
    y0, x0 = ops.floor(yc), ops.floor(xc)
    y1, x1 = ops.minimum(y0 + 1.0, h1), ops.minimum(x0 + 1.0, w1)
    fy, fx = (yc - y0)[:, None, None], (xc - x0)[None, :, None]
    top, bottom = ops.take(image, ops.i32(y0), 0), ops.take(image, ops.i32(y1), 0)
    rows = top * (1.0 - fy) + bottom * fy
    left, right = ops.take(rows, ops.i32(x0), 1), ops.take(rows, ops.i32(x1), 1)
    img = left * (1.0 - fx) + right * fx
    inside = ops.logical_and(in_y[:, None], in_x[None, :])
    img = ops.where(inside[..., None], img, ops.f32(PAD_VALUE))
    lbl = ops.take(ops.take(label, ops.i32(ops.round(yc)), 0), ops.i32(ops.round(xc)), 1)
    lbl = ops.where(inside, ops.i32(lbl), ops.i32(IGNORE_INDEX))
    return img, lbl


def _dim(x, axis: int):
    import tensorflow as tf

    return tf.shape(x)[axis]


def resize_pair(image, label, size: Sequence[int]):
    """Evaluation resize (NumPy): bilinear image, nearest label, half-pixel centres like ``tf.image.resize``."""
    h, w = image.shape[:2]
    oh, ow = int(size[0]), int(size[1])
    ys = np.clip((np.arange(oh, dtype=np.float32) + 0.5) * (h / oh) - 0.5, 0, h - 1)
    xs = np.clip((np.arange(ow, dtype=np.float32) + 0.5) * (w / ow) - 0.5, 0, w - 1)
    img, _ = resample(image, label, ys, xs)
    ny = np.minimum(np.floor((np.arange(oh) + 0.5) * (h / oh)), h - 1).astype(np.int32)
    nx = np.minimum(np.floor((np.arange(ow) + 0.5) * (w / ow)), w - 1).astype(np.int32)
    return img, np.asarray(label)[ny][:, nx].astype(np.int32)


def jitter_batch(images, jitter, ops=NUMPY_OPS):
    """Normalise a batch of 0..255 crops to [-1, 1] and apply each image's brightness,
    contrast (around the image mean) and saturation (mixing with grey) factors ``jitter[B, 3]``."""
    b, c, s = (jitter[:, k, None, None, None] for k in range(3))
    x = ops.f32(images) * (1.0 / 127.5) - 1.0
    mean = ops.mean(x, axis=(1, 2, 3))
    x = x * c + (mean * (1.0 - c) + b)
    grey = ops.mean(x, axis=-1)
    return ops.clip(x * s + grey * (1.0 - s), -1.0, 1.0)
