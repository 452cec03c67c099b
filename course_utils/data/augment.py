"""The label-safe training augmentation: one specification, two input pipelines.

The NumPy functions here are the specification, run as they are by
:class:`course_utils.data.pydataset.SegmentationPyDataset` (no TensorFlow needed).
The ``tf.data`` pipeline (:func:`course_utils.data.make_dataset`) runs
:func:`crop_tf`, a TensorFlow implementation of the same crops built from fast
kernels (``ResizeBilinear``, slicing, padding), and the same :func:`jitter_batch`.
Both draw the window from the same code (:func:`sample_window`, through an *ops
table*: :data:`NUMPY_OPS` or :func:`tf_ops`), so the same uniforms give the same
crop, label and jitter; ``tests/test_pydataset.py`` checks it. Only the random
numbers come from each pipeline's own generator.

A training sample is drawn from seven uniform numbers ``u`` in ``[0, 1)``:
random scale ``s`` in ``scale_range`` (``u[0]``), crop position (``u[1]``,
``u[2]``), horizontal flip (``u[3] < 0.5``), brightness, contrast and saturation
factors (``u[4:7]``). Two cases, both with align-corners bilinear sampling of
the image and nearest sampling of the label (labels keep their values
``{0..C-1, 255}``):

- *zoom in* (the crop size divided by ``s`` fits in the image): a window of
  ``round(crop / s)`` pixels of the original image is resized to the crop;
- *zoom out* (it does not fit): the whole image is scaled by ``s`` and the crop
  is cut from it; where the crop hangs over the border the image is mid grey
  (127.5, 0 after normalisation) and the label void (255).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from course_utils.data.format import IGNORE_INDEX

#: Fill value of padded image pixels on the 0..255 scale (0 after normalisation).
PAD_VALUE = 127.5
N_UNIFORMS = 7
#: Rounding slack (pixels) when deciding whether a sample position lies on the image.
EDGE_TOL = 1e-3

__all__ = [
    "EDGE_TOL",
    "NUMPY_OPS",
    "N_UNIFORMS",
    "PAD_VALUE",
    "crop_tf",
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
        take=lambda x, i, axis: _tf_take(tf, x, i, axis),
        stack=tf.stack,
        mean=lambda x, axis: tf.reduce_mean(x, axis=axis, keepdims=True),
        logical_and=tf.logical_and,
    )


def _tf_take(tf, x, indices, axis: int):
    """``tf.gather`` along ``axis``; along axis 1 through two transposes (gathering
    whole rows is a fast copy, gathering columns one element at a time is not)."""
    if axis == 0:
        return tf.gather(x, indices)
    perm = [axis] + [d for d in range(x.shape.rank) if d != axis]
    inverse = [perm.index(d) for d in range(len(perm))]
    return tf.transpose(tf.gather(tf.transpose(x, perm), indices), inverse)


def _plan(u, h, w, crop: Sequence[int], scale_range: Sequence[float], ops=NUMPY_OPS) -> SimpleNamespace:
    """Where a training crop comes from: the numbers both implementations cut it with.

    Returns float scalars: ``zoom_in`` (bool); for zoom in, the window's corner
    ``y0, x0`` and size ``lh, lw`` in the original image; for zoom out, the
    scaled image's size ``hs, ws`` and the crop's corner ``oy, ox`` in it (may be
    negative: padding); ``flip`` (bool) and ``jitter`` ``[brightness, contrast, saturation]``.
    """
    ch, cw = float(crop[0]), float(crop[1])
    hf, wf = ops.f32(h), ops.f32(w)
    u = ops.f32(u)
    lo, hi = float(scale_range[0]), float(scale_range[1])
    s = lo + u[0] * (hi - lo)
    # zoom in: a window of round(crop / s) original pixels becomes the crop
    lh = ops.maximum(ops.round(ch / s), 2.0)
    lw = ops.maximum(ops.round(cw / s), 2.0)
    zoom_in = ops.logical_and(lh <= hf, lw <= wf)
    y0 = ops.minimum(ops.floor(u[1] * (hf - lh + 1.0)), hf - lh)
    x0 = ops.minimum(ops.floor(u[2] * (wf - lw + 1.0)), wf - lw)
    # zoom out: the image scaled by s, the crop cut from it (hanging over the border is padding)
    hs = ops.maximum(ops.round(hf * s), 2.0)
    ws = ops.maximum(ops.round(wf * s), 2.0)

    def offset(size, out, v):
        first, last = ops.minimum(0.0, size - out), ops.maximum(0.0, size - out)
        return ops.minimum(first + ops.floor(v * (last - first + 1.0)), last)

    oy, ox = offset(hs, ch, u[1]), offset(ws, cw, u[2])
    jitter = ops.stack([-0.2 + 0.4 * u[4], 0.8 + 0.4 * u[5], 0.8 + 0.4 * u[6]])
    return SimpleNamespace(
        zoom_in=zoom_in, y0=y0, x0=x0, lh=lh, lw=lw, hs=hs, ws=ws, oy=oy, ox=ox, flip=u[3] < 0.5, jitter=jitter
    )


def _grid(n: int, start, length, ops):
    """Align-corners sample positions of ``n`` outputs over ``length`` pixels from ``start``
    (``ResizeBilinear(align_corners=True)``'s arithmetic: ``start + i * (length - 1) / (n - 1)``)."""
    step = (length - 1.0) / float(n - 1) if n > 1 else 0.0 * length
    return start + ops.arange(n) * step


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
    if not augment:
        return _grid(ch, 0.0, hf, ops), _grid(cw, 0.0, wf, ops), ops.f32([0.0, 1.0, 1.0])
    p = _plan(u, h, w, crop, scale_range, ops)
    return (*_plan_coordinates(p, hf, wf, ch, cw, ops), p.jitter)


def _plan_coordinates(p: SimpleNamespace, hf, wf, ch: int, cw: int, ops):
    """Source rows ``[ch]`` and columns ``[cw]`` that the crop of plan ``p`` samples."""
    ys = ops.where(p.zoom_in, _grid(ch, p.y0, p.lh, ops), (p.oy + ops.arange(ch)) * ((hf - 1.0) / (p.hs - 1.0)))
    xs = ops.where(p.zoom_in, _grid(cw, p.x0, p.lw, ops), (p.ox + ops.arange(cw)) * ((wf - 1.0) / (p.ws - 1.0)))
    xs = ops.where(p.flip, xs[::-1], xs)  # a flip reads the columns right to left
    return ys, xs


def _inside(coords, last, ops):
    """Coordinates on the image (``[0, last]``, give or take :data:`EDGE_TOL` of rounding)."""
    return ops.logical_and(coords >= -EDGE_TOL, coords <= last + EDGE_TOL)


def _nearest_label(label, ys, xs, h1, w1, ops):
    """``label`` sampled at rows ``ys`` x columns ``xs`` (nearest; void outside the image)."""
    inside = ops.logical_and(_inside(ys, h1, ops)[:, None], _inside(xs, w1, ops)[None, :])
    yi, xi = ops.i32(ops.round(ops.clip(ys, 0.0, h1))), ops.i32(ops.round(ops.clip(xs, 0.0, w1)))
    lbl = ops.take(ops.take(label, yi, 0), xi, 1)
    return ops.where(inside, ops.i32(lbl), ops.i32(IGNORE_INDEX))


def resample(image, label, ys, xs):
    """Sample ``image`` (bilinear) and ``label`` (nearest) at rows ``ys`` x columns ``xs`` (NumPy).

    ``image``: ``[H, W, 3]`` (any number type, 0..255), ``label``: ``[H, W]``
    ints. Coordinates outside the image give :data:`PAD_VALUE` and void (255).

    Returns:
        float32 image ``[len(ys), len(xs), 3]`` (0..255), int32 label ``[len(ys), len(xs)]``.
    """
    image = np.asarray(image, np.float32)
    h1, w1 = np.float32(image.shape[0] - 1), np.float32(image.shape[1] - 1)
    yc, xc = np.clip(ys, 0.0, h1), np.clip(xs, 0.0, w1)
    y0, x0 = np.floor(yc), np.floor(xc)
    y1, x1 = np.minimum(y0 + 1.0, h1), np.minimum(x0 + 1.0, w1)
    fy, fx = (yc - y0)[:, None, None], (xc - x0)[None, :, None]
    top, bottom = image[y0.astype(np.int32)], image[y1.astype(np.int32)]
    rows = top + (bottom - top) * fy
    left, right = rows[:, x0.astype(np.int32)], rows[:, x1.astype(np.int32)]
    img = left + (right - left) * fx
    inside = _inside(ys, h1, NUMPY_OPS)[:, None] & _inside(xs, w1, NUMPY_OPS)[None, :]
    img = np.where(inside[..., None], img, np.float32(PAD_VALUE)).astype(np.float32)
    return img, _nearest_label(label, ys, xs, h1, w1, NUMPY_OPS)


def crop_tf(image, label, u, crop: Sequence[int], scale_range: Sequence[float], augment: bool):
    """The TensorFlow implementation of :func:`sample_window` + :func:`resample` (for ``tf.data``).

    Same crops as the NumPy specification (up to float rounding in the bilinear
    weights; labels identical), computed with ``ResizeBilinear`` on the window
    (zoom in) or the whole image, then a slice and a pad (zoom out): a few fast
    kernels instead of per-pixel gathers.

    Args:
        image: ``uint8 [H, W, 3]``; label: ``uint8 [H, W]``; u: seven uniforms.

    Returns:
        float32 image ``[ch, cw, 3]`` (0..255), int32 label ``[ch, cw]``, float32 jitter ``[3]``.
    """
    import tensorflow as tf

    ops = tf_ops()
    ch, cw = int(crop[0]), int(crop[1])
    shape = tf.shape(label)
    h, w = shape[0], shape[1]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)

    def resize(img, size):
        return tf.raw_ops.ResizeBilinear(images=img[None], size=size, align_corners=True)[0]

    if not augment:
        ys, xs, jitter = sample_window(u, h, w, crop, scale_range, augment, ops)
        return resize(image, [ch, cw]), _nearest_label(label, ys, xs, hf - 1.0, wf - 1.0, ops), jitter
    p = _plan(u, h, w, crop, scale_range, ops)
    ys, xs = _plan_coordinates(p, hf, wf, ch, cw, ops)
    label, jitter = _nearest_label(label, ys, xs, hf - 1.0, wf - 1.0, ops), p.jitter
    i32 = lambda v: tf.cast(v, tf.int32)  # noqa: E731
    # a flip mirrors the (uint8) source and the crop's column offset: cheaper than flipping the float crop
    image = tf.cond(p.flip, lambda: tf.reverse(image, [1]), lambda: image)

    def zoom_in():
        y0, lw = i32(p.y0), i32(p.lw)
        x0 = tf.where(p.flip, w - lw - i32(p.x0), i32(p.x0))
        return resize(image[y0 : y0 + i32(p.lh), x0 : x0 + lw], [ch, cw])

    def zoom_out():
        hs, ws, oy = i32(p.hs), i32(p.ws), i32(p.oy)
        ox = tf.where(p.flip, ws - cw - i32(p.ox), i32(p.ox))
        r0, r1 = tf.maximum(oy, 0), tf.minimum(oy + ch, hs)
        c0, c1 = tf.maximum(ox, 0), tf.minimum(ox + cw, ws)
        scaled = resize(image, tf.stack([hs, ws]))[r0:r1, c0:c1]
        pads = [[r0 - oy, oy + ch - r1], [c0 - ox, ox + cw - c1], [0, 0]]
        return tf.pad(scaled, pads, constant_values=PAD_VALUE)

    img = tf.cond(p.zoom_in, zoom_in, zoom_out)
    return tf.ensure_shape(img, [ch, cw, 3]), tf.ensure_shape(label, [ch, cw]), tf.ensure_shape(jitter, [3])


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
    contrast (around the image mean) and saturation (mixing with grey) factors ``jitter[B, 3]``.

    With ``x' = x / 127.5 - 1``, mean ``m`` and per-pixel grey ``g'``, the three
    steps ``y = c x' + (1 - c) m + b`` and ``z = s y + (1 - s) grey(y)`` make one
    affine map, ``z = c s x' + c (1 - s) g' + (1 - c) m + b``, computed here
    in a single expression on the 0..255 values (clipped to [-1, 1]).
    """
    b, c, s = (jitter[:, k][:, None, None, None] for k in range(3))
    x = ops.f32(images)
    m = ops.mean(x, axis=(1, 2, 3)) * (1.0 / 127.5) - 1.0
    grey = (x[..., 0:1] + x[..., 1:2] + x[..., 2:3]) * (1.0 / 3.0)
    z = x * (c * s * (1.0 / 127.5)) + grey * (c * (1.0 - s) * (1.0 / 127.5)) + (m * (1.0 - c) + b - c)
    return ops.clip(z, -1.0, 1.0)
