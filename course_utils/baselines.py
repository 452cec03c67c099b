"""A per-pixel colour classifier: the baseline that shows why segmentation needs context.

Each pixel is classified from its own colour alone (RGB and HSV), with a
scikit-learn random forest trained on pixels sampled from the
training labels (void excluded). On MiniDrive, where grey cars drive on grey
roads and green terrain lies next to green trees, it scores far below a network
that sees shapes and context.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from .data import list_pairs, load_info, read_image, read_label

__all__ = ["colour_features", "fit_colour_baseline", "predict_colour_baseline"]


def colour_features(image_uint8: np.ndarray) -> np.ndarray:
    """Per-pixel features ``[N, 6]``: RGB and HSV scaled to [0, 1]."""
    image = np.asarray(image_uint8)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
    feats = np.concatenate([image, hsv], axis=-1).reshape(-1, 6)
    return feats.astype(np.float32) / 255.0


def fit_colour_baseline(
    root: str | os.PathLike,
    split: str = "train",
    max_pixels: int = 200_000,
    seed: int = 0,
    max_images: int | None = None,
) -> RandomForestClassifier:
    """Fit a per-pixel colour classifier on up to ``max_pixels`` sampled labelled pixels.

    Pixels are sampled evenly across the images of ``split`` (void pixels never).
    The fitted classifier carries ``num_classes_`` (the dataset's class count).
    """
    info = load_info(root)
    pairs = list_pairs(root, split)[:max_images]
    rng = np.random.default_rng(seed)
    per_image = max(1, int(np.ceil(max_pixels / len(pairs))))
    xs, ys = [], []
    for img_path, lbl_path in pairs:
        feats = colour_features(read_image(img_path))
        label = read_label(lbl_path).ravel()
        valid = np.flatnonzero(label != info.ignore_index)
        if valid.size == 0:
            continue
        pick = rng.choice(valid, size=min(per_image, valid.size), replace=False)
        xs.append(feats[pick])
        ys.append(label[pick])
    if not xs:
        raise ValueError(f"Split {split!r} of {root} has no labelled (non-void) pixels to learn from.")
    x, y = np.concatenate(xs)[:max_pixels], np.concatenate(ys)[:max_pixels]
    # single-threaded: predictable speed on a shared 2-core machine, same result everywhere
    clf = RandomForestClassifier(n_estimators=20, max_depth=14, min_samples_leaf=5, n_jobs=1, random_state=seed)
    clf.fit(x, y)
    clf.num_classes_ = info.num_classes
    return clf


def predict_colour_baseline(clf: RandomForestClassifier, image_uint8: np.ndarray) -> np.ndarray:
    """Predict a label map ``uint8 [H, W]`` for one RGB ``uint8`` image."""
    h, w = np.asarray(image_uint8).shape[:2]
    return clf.predict(colour_features(image_uint8)).reshape(h, w).astype(np.uint8)


def evaluate_colour_baseline(
    clf: RandomForestClassifier, root: str | os.PathLike, split: str = "test", max_images: int | None = None
) -> np.ndarray:
    """Confusion matrix of the baseline over a split, at the images' stored size (void ignored).

    Score it with :mod:`course_utils.metrics` (``mean_iou``, ``pixel_accuracy``), the same
    code that scores DeepLabV3.
    """
    from course_utils.metrics import confusion_matrix

    info = load_info(root)
    cm = np.zeros((info.num_classes, info.num_classes), dtype=np.int64)
    for img_path, lbl_path in list_pairs(root, split)[:max_images]:
        prediction = predict_colour_baseline(clf, read_image(img_path))
        cm += confusion_matrix(read_label(lbl_path), prediction, info.num_classes, info.ignore_index)
    return cm
