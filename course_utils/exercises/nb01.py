"""Checkers of notebook 01 (atrous convolution); the worked solutions are :mod:`course_utils.exercises.solutions.nb01`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course_utils.atrous import atrous_conv1d, coverage_fraction, receptive_field, stack_footprint
from course_utils.exercises.core import check_equal, check_function, correct, fail, is_empty, not_attempted

__all__ = ["check_atrous_conv1d", "check_receptive_field", "check_no_gridding"]


def check_atrous_conv1d(fn: Callable[[np.ndarray, np.ndarray, int], np.ndarray], seed: int = 0) -> bool:
    """Compare a 1-D atrous convolution ``fn(x, kernel, rate)`` with :func:`course_utils.atrous.atrous_conv1d`.

    Cases: random signals of several lengths, odd and even kernels, rates 1-4.
    """
    rng = np.random.default_rng(seed)
    cases = [
        (rng.normal(size=n), rng.normal(size=k), r)
        for n, k, r in [(8, 3, 1), (10, 3, 2), (11, 2, 3), (16, 4, 2), (9, 3, 4), (7, 5, 1)]
    ]
    return check_function(
        fn,
        atrous_conv1d,
        cases,
        hint="y[i] = sum_k kernel[k] * x_padded[i + k * rate], with (effective - 1) // 2 zeros padded "
        "before x and the rest after, where effective = k + (k - 1) * (rate - 1).",
    )


def check_receptive_field(answer: int, layers: Sequence[tuple[int, int, int]]) -> bool:
    """Check a receptive field computed by hand for a stack of ``(kernel, stride, rate)`` layers."""
    return check_equal(
        answer,
        receptive_field(layers),
        hint="Start from 1; each layer adds (effective kernel - 1) x (product of the strides before it).",
        what="receptive field",
    )


def check_no_gridding(rates: Sequence[int], min_layers: int = 3, min_field: int = 1, kernel: int = 3) -> bool:
    """Check rates for a stack of ``kernel x kernel`` convolutions that see every pixel of their field.

    Args:
        rates: the proposed rates, one per layer.
        min_layers: the stack must have at least this many layers.
        min_field: the receptive field must be at least this large.
    """
    if is_empty(rates):
        return not_attempted("set the rates (they are still None)")
    rates = [int(r) for r in rates]
    if len(rates) < min_layers:
        fail(f"Use at least {min_layers} layers (got {len(rates)}).", None)
    footprint = stack_footprint(rates, kernel)
    field = footprint.shape[0]
    if field < min_field:
        fail(
            f"The receptive field is {field}x{field}, it must be at least {min_field}x{min_field}.",
            "Larger rates grow the field.",
        )
    seen = coverage_fraction(footprint)
    if seen < 1.0:
        fail(
            f"Rates {rates} leave holes: the output sees only {100 * seen:.0f}% of its {field}x{field} field.",
            "If every rate shares a common factor g > 1, only every g-th pixel is ever touched; "
            "start with rate 1, then let each rate be at most the field built so far (e.g. 1, 2, 4).",
        )
    return correct(f"rates {rates}: {field}x{field} field, every pixel seen.")
