"""Checkers of notebook 07 (evaluation); the worked solutions are :mod:`course_utils.exercises.solutions.nb07`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_utils.exercises.core import check_close, check_equal, check_function, is_empty, not_attempted, stub_result

__all__ = [
    "check_miou_function",
    "check_worst_confusion",
    "check_flip_tta",
    "batch_cms_of",
    "check_batch_averaged_miou",
]


def check_miou_function(fn: Callable[[np.ndarray], float], seed: int = 0) -> bool:
    """Check ``fn(confusion_matrix) -> mIoU`` against :func:`course_utils.metrics.mean_iou`."""
    from course_utils import metrics

    rng = np.random.default_rng(seed)
    cases = []
    for n in (2, 4, 7):
        cm = rng.integers(0, 50, size=(n, n))
        cases.append((cm,))
    absent = rng.integers(0, 50, size=(5, 5))
    absent[3, :] = 0
    absent[:, 3] = 0  # class 3 never occurs and is never predicted: left out of the mean
    cases.append((absent,))
    return check_function(
        fn,
        metrics.mean_iou,
        cases,
        rtol=1e-6,
        hint="IoU_c = cm[c, c] / (row sum + column sum - cm[c, c]); skip classes whose union is 0.",
    )


def check_worst_confusion(answer: Sequence[str], cm: np.ndarray, class_names: Sequence[str]) -> bool:
    """Check ``(true class, predicted class)`` of the largest off-diagonal share of the row-normalised matrix."""
    cm = np.asarray(cm, np.float64)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(shares, -1)
    i, j = np.unravel_index(int(np.argmax(shares)), shares.shape)
    return check_equal(
        tuple(answer) if not is_empty(answer) else None,
        (class_names[i], class_names[j]),
        what="(true class, predicted class)",
        hint="normalise each row by its sum, ignore the diagonal, take the largest entry.",
    )


def check_flip_tta(fn: Callable[[Any, np.ndarray], np.ndarray], model, images: np.ndarray) -> bool:
    """Check ``fn(model, images) -> probabilities`` against ``evaluate.predict_proba(..., flip=True)``."""
    from course_utils.evaluate import predict_proba

    got = stub_result(fn, model, images)
    if got is None:
        return not_attempted("replace `raise NotImplementedError` with your code and return the probabilities")
    got = np.asarray(got, np.float64)
    want = predict_proba(model, images, scales=(1.0,), flip=True)
    return check_close(
        got,
        want,
        rtol=1e-4,
        atol=1e-5,
        what="flip-averaged probabilities",
        hint="softmax(model(x)) and the mirrored softmax(model(mirrored x)), averaged; mirror along axis 2 (width).",
    )


def batch_cms_of(model, dataset, num_classes: int) -> list[np.ndarray]:
    """One confusion matrix per batch of ``dataset`` (``(images, labels)`` batches), argmax of ``model``."""
    from course_utils import metrics

    cms = []
    for images, labels in dataset:
        pred = np.argmax(np.asarray(model(images, training=False)), axis=-1)
        cms.append(metrics.confusion_matrix(np.asarray(labels), pred, num_classes))
    return cms


def check_batch_averaged_miou(fn: Callable[[Sequence[np.ndarray]], float], batch_cms: Sequence[np.ndarray]) -> bool:
    """Check ``fn(batch_cms) -> float``: the mean over batches of each batch's mIoU (the seed's metric)."""
    from course_utils import metrics

    def reference(cms):
        return float(np.mean([metrics.mean_iou(cm) for cm in cms]))

    rng = np.random.default_rng(0)
    made_up = [rng.integers(0, 30, size=(4, 4)) for _ in range(3)]
    made_up[1][2, :] = 0
    made_up[1][:, 2] = 0  # class 2 absent from this batch
    ok = check_function(
        fn,
        reference,
        [(list(batch_cms),), (made_up,)],
        rtol=1e-6,
        hint="metrics.mean_iou(cm) of every batch's matrix, then their mean (do not add the matrices up).",
    )
    if ok:
        whole = metrics.mean_iou(np.sum(batch_cms, axis=0))
        print(
            f"on these {len(batch_cms)} batches: averaged per batch {reference(batch_cms):.4f}, "
            f"one accumulated matrix {whole:.4f}"
        )
    return ok
