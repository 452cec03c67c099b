"""Checkers of notebook 05 (the data pipeline); the worked solutions are :mod:`course_utils.exercises.solutions.nb05`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course_utils.exercises.core import ExerciseError, check_close, correct, is_empty, not_attempted, stub_result

__all__ = ["majority_class_scores", "check_majority_baseline", "check_class_weights", "check_label_validator"]


def majority_class_scores(counts: Sequence[int]) -> tuple[float, float]:
    """``(pixel accuracy, mIoU)`` of a model that predicts the most frequent class everywhere.

    Computed through :func:`course_utils.metrics.confusion_matrix` semantics:
    all pixels land in the majority column, so the majority class has IoU
    ``count / total`` and every other class that occurs has IoU 0 (classes that
    never occur are left out of the mean).
    """
    from course_utils import metrics

    counts = np.asarray(counts, np.int64)
    if counts.ndim != 1 or counts.sum() <= 0:
        raise ValueError("counts must be a 1-D array of pixel counts with a positive sum.")
    cm = np.zeros((counts.size, counts.size), np.int64)
    cm[:, int(np.argmax(counts))] = counts
    return metrics.pixel_accuracy(cm), metrics.mean_iou(cm)


def check_majority_baseline(accuracy: float, miou: float, counts: Sequence[int]) -> bool:
    """Check the pixel accuracy and mIoU of the "always predict the majority class" model."""
    if is_empty(accuracy) and is_empty(miou):
        return not_attempted("set the accuracy and the mIoU (they are still None)")
    if is_empty(accuracy) or is_empty(miou):
        raise ExerciseError("Fill in both the accuracy and the mIoU: one of them is still None.")
    acc, mi = majority_class_scores(counts)
    if not np.isclose(float(accuracy), acc, atol=1e-4):
        raise ExerciseError(
            f"The pixel accuracy {float(accuracy):.4f} is not right.\n"
            "Hint: every pixel of the majority class is right, every other pixel is wrong."
        )
    if not np.isclose(float(miou), mi, atol=1e-4):
        raise ExerciseError(
            f"The mIoU {float(miou):.4f} is not right.\nHint: the majority class's union is "
            "every pixel; each other class that occurs has intersection 0."
        )
    return correct(f"accuracy {acc:.3f} but mIoU only {mi:.3f}.")


def check_class_weights(weights: Sequence[float], counts: Sequence[int]) -> bool:
    """Check inverse-log-frequency weights ``1 / ln(1.02 + p)`` against :func:`course_utils.data.class_weights`."""
    from course_utils.data import class_weights

    return check_close(
        weights,
        class_weights(counts, method="inverse_log"),
        rtol=1e-4,
        atol=1e-5,
        hint="p is each class's share of the labelled pixels: counts / counts.sum().",
        what="weights",
    )


def _is_label_safe_reference(label: np.ndarray, num_classes: int, ignore_index: int = 255) -> bool:
    values = np.unique(np.asarray(label))
    integral = values == np.round(values)
    return bool(np.all(integral & ((values == ignore_index) | ((values >= 0) & (values < num_classes)))))


def check_label_validator(fn: Callable[[np.ndarray, int], bool], seed: int = 0) -> bool:
    """Check ``fn(label, num_classes) -> bool``: True iff every value is a class id or 255."""
    rng = np.random.default_rng(seed)
    good = rng.integers(0, 7, size=(6, 9))
    with_void = good.copy()
    with_void[0, :3] = 255
    bad_high = good.copy()
    bad_high[2, 2] = 7
    blurred = good.astype(np.float32)
    blurred[1, 1] = 2.5  # what a bilinear resize makes of a label
    negative = good.copy()
    negative[0, 0] = -1
    cases = [(good, 7), (with_void, 7), (bad_high, 7), (blurred, 7), (negative, 7), (np.full((3, 3), 255), 3)]
    if is_empty(fn):
        return not_attempted("define the function")
    for label, n in cases:
        got = stub_result(fn, label, n)
        if got is None:
            return not_attempted("replace `raise NotImplementedError` with your code and return True or False")
        got = bool(got)
        want = _is_label_safe_reference(label, n)
        if got != want:
            raise ExerciseError(
                f"Wrong answer for a label with values {sorted(np.unique(label).tolist())} and {n} classes: "
                f"got {got}, expected {want}.\nHint: compare np.unique(label) with range(num_classes) and 255; "
                "a value like 2.5 is not a class id."
            )
    return correct()
