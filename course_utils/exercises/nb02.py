"""Checkers of notebook 02 (the ResNet backbone); the worked solutions are :mod:`course_utils.exercises.solutions.nb02`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import (
    NotAttemptedYet,
    _student_model,
    compare_with_reference,
    correct,
    not_attempted,
    quiet,
)

__all__ = ["check_bottleneck_unit"]


def check_bottleneck_unit(fn: Callable[..., Any]) -> bool:
    """Check ``fn(x, filters, strides, rate, name, project) -> tensor`` against the library's bottleneck unit.

    Cases: a projecting unit with stride 2, a dilated projecting unit, and a dilated identity unit.
    """
    import keras

    from course_utils.model.resnet import bottleneck_unit

    cases = [(32, 8, 2, 1, True), (32, 8, 1, 2, True), (32, 8, 1, 4, False)]
    rng = np.random.default_rng(0)
    for c_in, filters, strides, rate, project in cases:
        args = (filters, strides, rate, "unit", project)
        try:
            student = _student_model(fn, (9, 11, c_in), *args)
        except NotAttemptedYet:
            return not_attempted("replace `raise NotImplementedError` with your unit")
        inputs = keras.Input((9, 11, c_in))
        reference = keras.Model(inputs, bottleneck_unit(inputs, *args))
        x = rng.normal(size=(2, 9, 11, c_in)).astype("float32")
        what = f"unit(filters={filters}, strides={strides}, rate={rate}, project={project})"
        with quiet():
            compare_with_reference(student, reference, x, what)
    return correct("your bottleneck unit computes exactly what the library's does.")
