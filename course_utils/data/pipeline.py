"""The tf.data input pipeline: a prepared split as batches of normalised images and labels.

A prepared dataset is a folder::

    <root>/dataset.json                 name, classes, palette, ignore_index, image_size, counts
    <root>/<split>/images/<id>.png      RGB
    <root>/<split>/labels/<id>.png      uint8 class ids in [0, num_classes) or 255 (void)

written by ``data_scripts/*.py`` (see :mod:`course_utils.datasets`).
:func:`make_dataset` turns a split into a ``tf.data.Dataset`` of
``(image float32 [B, H, W, 3] in [-1, 1], label int32 [B, H, W])``; the void
label 255 is kept (losses and metrics ignore it). Labels are never
interpolated: they are resized with nearest neighbour, cropped, padded with 255
and flipped, so their values always stay in ``{0..C-1, 255}``.
"""

from __future__ import annotations

import os

import numpy as np

from course_utils.data import augment as aug
from course_utils.data.format import list_pairs, load_info

#: Largest decoded split (bytes) that make_dataset keeps in memory by default.
CACHE_BUDGET_BYTES = 1 << 30


def normalize_image(x):
    """Map RGB values in 0..255 (uint8 or float, NumPy or tensor) to float32 in [-1, 1]."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np.asarray(x, np.float32) / 127.5 - 1.0
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 127.5 - 1.0


def denormalize_image(x) -> np.ndarray:
    """Inverse of :func:`normalize_image`: float in [-1, 1] to ``uint8`` 0..255 (for plotting)."""
    x = np.asarray(x, np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- tf.data


def decode_label_png(raw):
    """A label PNG's bytes as its ``uint8`` ids ``[H, W]``, whether stored in 8 or 16 bits.

    ``tf.io.decode_png`` rescales a 16-bit PNG to 8 bits (id 3 would become 0);
    a 16-bit file is decoded as such and its ids kept (ids above 255 are caught
    by :func:`course_utils.datasets.writer.check_prepared`, naming the file).
    """
    import tensorflow as tf

    sixteen_bits = tf.equal(tf.strings.substr(raw, 24, 1), b"\x10")  # the IHDR bit depth
    return tf.cond(
        sixteen_bits,
        lambda: tf.cast(tf.minimum(tf.io.decode_png(raw, channels=1, dtype=tf.uint16), 255), tf.uint8),
        lambda: tf.io.decode_png(raw, channels=1),
    )[..., 0]


def _augment_train(image, label, seed, crop, scale_range, augment):
    """Random scale + crop with void padding + flip, jitter drawn (:func:`course_utils.data.augment.crop_tf`).

    The seven uniforms come from ``tf.random.stateless_uniform`` with ``seed``.
    """
    import tensorflow as tf

    u = tf.random.stateless_uniform([aug.N_UNIFORMS], seed)
    return aug.crop_tf(image, label, u, crop, scale_range, augment)


def _jitter_batch(images, labels, jitter):
    """Normalise a batch to [-1, 1] and apply its jitter (:func:`course_utils.data.augment.jitter_batch`)."""
    return aug.jitter_batch(images, jitter, aug.tf_ops()), labels


def make_dataset(
    root: str | os.PathLike,
    split: str,
    batch_size: int,
    training: bool,
    image_size: tuple[int, int] | None = None,
    shuffle: bool | None = None,
    augment: bool | None = None,
    seed: int | None = None,
    max_images: int | None = None,
    repeat: bool = False,
    scale_range: tuple[float, float] = (0.5, 2.0),
    *,
    num_parallel_calls: int | None = None,
    cache: bool | None = None,
):
    """A ``tf.data.Dataset`` of ``(image, label)`` batches from a prepared split.

    Args:
        root: prepared dataset folder.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size: images per batch.
        training: ``True``: shuffle, augment (random scale in ``scale_range`` +
            random crop to ``image_size`` with void padding, horizontal flip,
            light brightness/contrast/saturation jitter) and drop the last
            incomplete batch. ``False``: no augmentation; resize to
            ``image_size`` when given (bilinear image, nearest label), else the
            native size.
        image_size: ``(H, W)`` of crops (training; default the dataset's size)
            or of resized evaluation images.
        shuffle: override the shuffling (default: ``training``).
        augment: training only: ``False`` turns the augmentation off, so
            images are just resized to ``image_size`` (default: on).
        seed: makes shuffling and augmentation reproducible.
        max_images: use only the first ``max_images`` pairs (sorted by id).
        repeat: repeat forever (each pass reshuffles and re-augments).
        scale_range: range of the random scale factor.
        num_parallel_calls: decode/augment parallelism (default AUTOTUNE).
        cache: keep decoded images in memory after the first pass. Default:
            in training, when the split's decoded size is at most
            ``CACHE_BUDGET_BYTES`` (1 GiB).

    Returns:
        Batches of ``image float32 [B, H, W, 3]`` in [-1, 1] and
        ``label int32 [B, H, W]`` with values in ``{0..C-1, 255}``.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if image_size is not None and (len(image_size) != 2 or min(int(v) for v in image_size) < 1):
        raise ValueError(f"image_size must be (height, width) of at least 1 pixel each, got {tuple(image_size)}.")
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
    info = load_info(root)
    pairs = list_pairs(root, split)
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images}")
        pairs = pairs[:max_images]
    shuffle = training if shuffle is None else shuffle
    augment = training if augment is None else augment
    if training and image_size is None:
        if info.image_size is None:
            raise ValueError(f"{root}/dataset.json has no image_size: pass image_size=(H, W).")
        image_size = info.image_size
    if training and len(pairs) < batch_size:
        raise ValueError(
            f"Split {split!r} of {root} has {len(pairs)} images, fewer than batch_size="
            f"{batch_size}: training drops incomplete batches, so nothing would be yielded."
        )
    par = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls

    ds = tf.data.Dataset.from_tensor_slices(([str(a) for a, _ in pairs], [str(b) for _, b in pairs]))

    def decode(img_path, lbl_path):
        image = tf.io.decode_png(tf.io.read_file(img_path), channels=3)
        label = decode_label_png(tf.io.read_file(lbl_path))
        return image, label

    if cache is None:  # keep decoded training images in memory when they fit in the budget
        h, w = info.image_size or (0, 0)
        cache = training and len(pairs) * h * w * 4 <= CACHE_BUDGET_BYTES
    if cache:
        ds = ds.map(decode, num_parallel_calls=par).cache()
        if shuffle:
            ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    else:
        # shuffle the file names, not decoded images: a buffer of paths costs bytes, not gigabytes
        if shuffle:
            ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(decode, num_parallel_calls=par)
    if repeat:
        ds = ds.repeat()

    if training:
        crop = (int(image_size[0]), int(image_size[1]))
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))
        ds = ds.map(
            lambda pair, s: _augment_train(pair[0], pair[1], s, crop, (lo, hi), augment), num_parallel_calls=par
        )
        ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=par)
        # one XLA-compiled loop for the jitter (several full-size passes without it)
        ds = ds.map(tf.function(_jitter_batch, jit_compile=True), num_parallel_calls=par)
    else:
        size = None if image_size is None else (int(image_size[0]), int(image_size[1]))

        def prepare(image, label):
            if size is not None:
                image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
                label = tf.image.resize(label[..., None], size, method="nearest")[..., 0]
            return normalize_image(image), tf.cast(label, tf.int32)

        ds = ds.map(prepare, num_parallel_calls=par)
        ds = ds.batch(batch_size, num_parallel_calls=par)
    return ds.prefetch(tf.data.AUTOTUNE)
