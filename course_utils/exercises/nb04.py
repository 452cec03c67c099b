"""Checkers of notebook 04 (the DeepLabV3 model); the worked solutions are :mod:`course_utils.exercises.solutions.nb04`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import (
    NotAttemptedYet,
    call_student,
    compare_with_reference,
    correct,
    not_attempted,
    quiet,
)

__all__ = ["check_deeplabv3_assembly"]


def check_deeplabv3_assembly(fn: Callable[..., Any], num_classes: int = 5) -> bool:
    """Check ``fn(num_classes, output_stride) -> keras.Model`` against ``build_deeplabv3`` (ResNet-18, multi-grid)."""
    from course_utils.model import build_deeplabv3

    rng = np.random.default_rng(2)
    for output_stride in (16, 8):
        try:
            student = call_student(fn, num_classes, output_stride)
        except NotAttemptedYet:
            return not_attempted("replace `raise NotImplementedError` with your model")
        reference = build_deeplabv3(
            num_classes, backbone="resnet18", output_stride=output_stride, multi_grid=(1, 2, 4), input_adapter=None
        )
        x = rng.normal(size=(1, 50, 70, 3)).astype("float32")  # not a multiple of 16: the resize must follow
        with quiet():
            compare_with_reference(student, reference, x, f"DeepLabV3 at output stride {output_stride}")
    return correct("your DeepLabV3 computes exactly what build_deeplabv3 does, at output strides 16 and 8.")
