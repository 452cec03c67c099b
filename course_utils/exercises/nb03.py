"""Checkers of notebook 03 (ASPP); the worked solutions are :mod:`course_utils.exercises.solutions.nb03`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.exercises.core import (
    NotAttemptedYet,
    _student_model,
    call_student,
    compare_with_reference,
    correct,
    fail,
    not_attempted,
    quiet,
)

__all__ = ["check_pooling_branch", "check_aspp_module"]


def check_pooling_branch(fn: Callable[[Any], Any], channels: int = 8, filters: int = 8) -> bool:
    """Check ``fn(features) -> tensor``: an image-pooling branch whose output has the size of any input."""
    import keras

    inputs = keras.Input((None, None, channels))
    try:
        outputs = call_student(fn, inputs)
    except NotAttemptedYet:
        return not_attempted("replace `raise NotImplementedError` with your branch")
    model = keras.Model(inputs, outputs)
    for h, w in [(15, 30), (4, 8), (7, 5)]:
        try:
            out = model(np.zeros((1, h, w, channels), "float32"))
        except Exception as exc:  # a fixed-size upsampling typically fails here
            fail(
                f"The branch fails on a {h}x{w} input: {type(exc).__name__}.",
                "Resize to the size of `features` read when the graph runs, e.g. ResizeLike()([pooled, features]).",
            )
        got = tuple(int(s) for s in out.shape[1:])
        if got != (h, w, filters):
            fail(
                f"For a {h}x{w}x{channels} input the branch outputs {got}, expected {(h, w, filters)}.",
                f"Global average pooling with keepdims=True, a 1x1 convolution with {filters} filters, "
                "then a resize to the size of `features`.",
            )
    return correct("the branch fits every input size.")


def check_aspp_module(fn: Callable[..., Any]) -> bool:
    """Check ``fn(features, rates, filters, name) -> tensor`` against the library's ASPP (with image pooling)."""
    import keras

    from course_utils.model.aspp import aspp

    rng = np.random.default_rng(1)
    for shape, rates in [((7, 9, 16), (1, 2, 3)), ((5, 6, 16), (2, 4, 6))]:
        try:
            student = _student_model(fn, shape, rates, 8, "aspp")
        except NotAttemptedYet:
            return not_attempted("replace `raise NotImplementedError` with your module")
        inputs = keras.Input(shape)
        reference = keras.Model(inputs, aspp(inputs, rates, 8, image_pooling=True, dropout=0.0, name="aspp"))
        x = rng.normal(size=(2, *shape)).astype("float32")
        with quiet():
            compare_with_reference(student, reference, x, f"ASPP(rates={rates})")
    return correct("your ASPP computes exactly what the library's does.")
