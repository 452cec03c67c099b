"""The course's text tables (PrettyTable), one style: scores per split, per class, per ablation.

:func:`performance_table` prints per-split mIoU and pixel accuracy like the
original notebook's table; :func:`per_class_table` the IoU of each class (of
an evaluation or of a stored reference run); :func:`ablation_table` the rows of
:func:`course_utils.experiments.run_ablations`. (The machine's status is
:func:`course_utils.devices.system_status`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from prettytable import PrettyTable

__all__ = ["SPLIT_TITLES", "performance_table", "per_class_table", "ablation_table"]

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


def per_class_table(
    iou: Mapping[str, float | None] | Sequence[float] | np.ndarray,
    class_names: Sequence[str] | None = None,
    digits: int = 3,
) -> PrettyTable:
    """Per-class IoU, one row per class (``n/a`` for a class absent from truth and prediction).

    ``iou`` is a sequence aligned with ``class_names``, or a mapping ``{class: IoU or None}``
    (a reference run's ``splits[split]["per_class_iou"]``).
    """
    if isinstance(iou, Mapping):
        class_names, iou = list(iou), list(iou.values())
    if class_names is None:
        raise ValueError("per_class_table needs class_names with a sequence of IoU values (or pass a mapping).")
    table = PrettyTable()
    table.field_names = ["Class", "IoU"]
    table.align["Class"] = "l"
    for name, value in zip(class_names, iou):
        v = float("nan") if value is None else float(value)
        table.add_row([name, "n/a" if np.isnan(v) else f"{v:.{digits}f}"])
    return table


def ablation_table(rows: Sequence[dict], show_status: bool = True):
    """A PrettyTable of :func:`course_utils.experiments.run_ablations` rows (params in millions, s/epoch, val mIoU)."""
    table = PrettyTable()
    table.field_names = ["variant", "model", "params (M)", "s / epoch", "val mIoU"] + (
        ["status"] if show_status else []
    )
    for r in rows:
        row = [
            r["variant"],
            r["model"],
            "-" if r.get("params") is None else f"{r['params'] / 1e6:.2f}",
            "-" if r.get("seconds_per_epoch") is None else f"{r['seconds_per_epoch']:.1f}",
            "-" if r.get("val_miou") is None else f"{r['val_miou']:.3f}",
        ]
        if show_status:
            status = r.get("status", "")
            row.append(status if len(status) <= 60 else status[:57] + "...")
        table.add_row(row)
    table.align["variant"] = "l"
    table.align["model"] = "l"
    if show_status:
        table.align["status"] = "l"
    return table
