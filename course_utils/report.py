"""Text reports: the performance table and per-class IoU.

:func:`performance_table` prints per-split mIoU and pixel accuracy like the
original notebook's table. (The machine's status is :func:`course_utils.devices.system_status`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from prettytable import PrettyTable

__all__ = ["SPLIT_TITLES", "performance_table", "per_class_table"]

SPLIT_TITLES = {"train": "Train", "val": "Validation", "validation": "Validation", "test": "Test"}


def _score(result, key: str) -> float:
    if isinstance(result, Mapping):
        return float(result[key])
    return float(getattr(result, key))


def performance_table(
    results_by_split: Mapping[str, object],
    model_name: str = "DeepLabV3",
    digits: int = 4,
) -> PrettyTable:
    """A PrettyTable with one row per split (Train, Validation, Test) and columns mIoU, Pixel accuracy.

    Args:
        results_by_split: ``{"train": result, "val": result, "test": result}``
            where a result is an :class:`course_utils.evaluate.EvaluationResult`
            or a dict with ``miou`` and ``pixel_accuracy``. Splits appear in the
            order train, val, test, then any other.
        model_name: header of the first column.
        digits: decimals shown.
    """
    table = PrettyTable()
    table.field_names = [model_name, "mIoU", "Pixel accuracy"]
    table.align[model_name] = "l"
    order = {"train": 0, "val": 1, "validation": 1, "test": 2}
    for split in sorted(results_by_split, key=lambda s: (order.get(s, 3), s)):
        result = results_by_split[split]
        table.add_row(
            [
                SPLIT_TITLES.get(split, split.capitalize()),
                f"{_score(result, 'miou'):.{digits}f}",
                f"{_score(result, 'pixel_accuracy'):.{digits}f}",
            ]
        )
    return table


def per_class_table(iou: Sequence[float] | np.ndarray, class_names: Sequence[str], digits: int = 3) -> PrettyTable:
    """Per-class IoU, one row per class (``n/a`` for a class absent from truth and prediction)."""
    table = PrettyTable()
    table.field_names = ["Class", "IoU"]
    table.align["Class"] = "l"
    for name, value in zip(class_names, iou):
        v = float("nan") if value is None else float(value)
        table.add_row([name, "n/a" if np.isnan(v) else f"{v:.{digits}f}"])
    return table
