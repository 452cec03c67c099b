"""Class statistics of a prepared split: pixel frequencies and the loss weights derived from them."""

from __future__ import annotations

import os

import numpy as np

from course_utils.data.format import IGNORE_INDEX, list_pairs, load_info, read_label


def class_frequencies(root: str | os.PathLike, split: str = "train", num_classes: int | None = None) -> np.ndarray:
    """Pixel count per class over a split (void excluded), ``int64`` of length ``num_classes``.

    Raises:
        ValueError: a label holds a value outside ``{0..C-1, 255}`` (names the file).
    """
    if num_classes is None:
        num_classes = load_info(root).num_classes
    counts = np.zeros(256, np.int64)
    for _, lbl in list_pairs(root, split):
        counts += np.bincount(read_label(lbl).ravel(), minlength=256)
        bad = np.flatnonzero(counts[num_classes:IGNORE_INDEX])
        if bad.size:
            raise ValueError(
                f"Label {lbl} holds class id {int(bad[0]) + num_classes} >= num_classes="
                f"{num_classes}. Prepare the dataset again."
            )
    return counts[:num_classes].copy()


def class_weights(frequencies, method: str = "inverse_log", c: float = 1.02) -> np.ndarray:
    """Per-class loss weights from pixel counts (or frequencies).

    Methods:
        ``"inverse_log"``: ``1 / ln(c + p)`` with ``p`` the class's share of
            pixels (ENet; the talk's reference code), ``c = 1.02``.
        ``"median"``: median frequency balancing, ``median(p) / p`` over the
            classes that occur (a simplification of Eigen & Fergus, who use the
            frequency among images containing the class). Absent classes get 0.

    Returns:
        ``float32`` weights, one per class.
    """
    f = np.asarray(frequencies, np.float64)
    if f.ndim != 1 or f.size == 0 or np.any(f < 0) or f.sum() <= 0:
        raise ValueError("frequencies must be a non-empty 1-D array of non-negative counts with a positive sum")
    p = f / f.sum()
    if method == "inverse_log":
        return (1.0 / np.log(c + p)).astype(np.float32)
    if method == "median":
        present = p > 0
        w = np.zeros_like(p)
        w[present] = np.median(p[present]) / p[present]
        return w.astype(np.float32)
    raise ValueError(f"Unknown class weight method {method!r}: use 'inverse_log' or 'median'.")
