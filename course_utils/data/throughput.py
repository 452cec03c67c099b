"""Input-pipeline throughput: the seed-style Python generator and an images-per-second timer.

Notebook 05 compares the course's ``tf.data`` pipeline with the way the seed
notebook fed its model (a plain Python generator: one thread, OpenCV reads,
one-hot labels), and ``benchmarks/input_pipeline.py`` measures the same at
length. Both use the two functions here, which live in the package (not in
``benchmarks/``) because the notebook runs in Colab without the repository.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["seed_one_hot", "naive_batches", "images_per_second", "epoch_rates"]


def seed_one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The seed notebook's label encoding: one-hot over ``num_classes`` channels, void an all-zero row.

    The seed built ``np.eye(C)``-style targets from label maps that still held void (255); any id
    ``>= num_classes`` indexes the extra last row of ``eye(C + 1)``, whose first ``C`` entries are 0.
    The network had ``C`` outputs: void was never a class of its own, it was a pixel with no target.

    >>> seed_one_hot(np.array([0, 2, 255]), 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    eye = np.eye(num_classes + 1, dtype=np.float32)[:, :num_classes]
    return eye[np.minimum(np.asarray(labels), num_classes)]


def naive_batches(
    root: str | os.PathLike, split: str, batch_size: int, size: tuple[int, int], seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless training batches made the plain way: one Python thread, OpenCV, one-hot labels.

    Each batch reads ``batch_size`` PNG pairs one after the other, converts BGR
    to RGB, resizes (bilinear image, nearest label), scales to [0, 1] and
    one-hot encodes the labels (void becomes an all-zero row). No augmentation.

    Yields:
        ``(images float32 [B, H, W, 3], one_hot float32 [B, H, W, C])``.
    """
    import cv2

    from course_utils.data.format import list_pairs, load_info

    num_classes = load_info(root).num_classes
    pairs = list_pairs(root, split)
    if len(pairs) < batch_size:
        raise ValueError(f"Split {split!r} of {root} has {len(pairs)} images, fewer than batch_size={batch_size}.")
    rng = np.random.default_rng(seed)
    h, w = int(size[0]), int(size[1])
    while True:
        order = rng.permutation(len(pairs))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            images, labels = [], []
            for k in order[start : start + batch_size]:
                img_path, lbl_path = pairs[k]
                img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
                lbl = cv2.imread(str(lbl_path), cv2.IMREAD_GRAYSCALE)
                if img is None or lbl is None:
                    raise ValueError(f"Cannot read {img_path if img is None else lbl_path}: prepare the dataset again.")
                img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (w, h)).astype(np.float32) / 255.0
                lbl = cv2.resize(lbl, (w, h), interpolation=cv2.INTER_NEAREST)
                images.append(img)
                labels.append(seed_one_hot(lbl, num_classes))
            yield np.stack(images), np.stack(labels)


def images_per_second(batches: Iterator | Any, num_batches: int, warmup: int = 1) -> float:
    """Images per second of a batch iterator (a generator or a ``tf.data.Dataset``).

    ``warmup`` batches are drawn first and not timed (start-up costs).
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    images = 0
    start = time.perf_counter()
    for _ in range(num_batches):
        x = next(it)[0]
        images += int(np.shape(x)[0])
    return images / (time.perf_counter() - start)


def epoch_rates(batches: Iterator | Any, batches_per_epoch: int, epochs: int = 2) -> list[float]:
    """Images per second of each of ``epochs`` consecutive full epochs of a batch iterator.

    Unlike :func:`images_per_second` (one warm-up batch, then the rest of the first epoch), each
    epoch is timed on its own, so a ``tf.data`` pipeline that caches decoded images shows both
    regimes: epoch 1 decodes every PNG and fills the cache (and pays the start-up), later epochs
    read from memory. ``batches`` must yield at least ``epochs * batches_per_epoch`` batches
    (``repeat=True`` for a ``tf.data.Dataset``; :func:`naive_batches` is endless).

    >>> rates = epoch_rates(iter([(np.zeros((2, 1)),)] * 6), 3)
    >>> len(rates), all(r > 0 for r in rates)
    (2, True)
    """
    if batches_per_epoch < 1 or epochs < 1:
        raise ValueError(f"batches_per_epoch and epochs must be >= 1, got {batches_per_epoch}, {epochs}.")
    it = iter(batches)
    rates = []
    for _ in range(epochs):
        images = 0
        start = time.perf_counter()
        for _ in range(batches_per_epoch):
            images += int(np.shape(next(it)[0])[0])
        rates.append(images / (time.perf_counter() - start))
    return rates
