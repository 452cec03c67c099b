"""Exercise checkers for the notebooks.

Every checker prints ``Correct!`` when the answer is right and raises
:class:`ExerciseError` (an ``AssertionError``) with a hint otherwise. Expected
values are always computed from the course library or from Keras, never typed
in, so a checker stays right when the library changes.

Generic checkers: :func:`check_equal`, :func:`check_close`, :func:`check_function`.
Checkers for particular exercises: :func:`check_atrous_conv1d`,
:func:`check_receptive_field`, :func:`check_no_gridding`,
:func:`check_param_count`, :func:`check_output_shape`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from course_utils.atrous import atrous_conv1d, coverage_fraction, receptive_field, stack_footprint

CORRECT = "Correct!"


class ExerciseError(AssertionError):
    """An exercise answer is wrong; the message carries a hint."""


def _fail(message: str, hint: str | None) -> None:
    raise ExerciseError(f"{message}" + (f"\nHint: {hint}" if hint else ""))


def correct(detail: str = "") -> None:
    """Print the success message (with an optional detail)."""
    print(CORRECT + (f" {detail}" if detail else ""))


def check_equal(answer: Any, expected: Any, hint: str | None = None, what: str = "answer") -> None:
    """Exact comparison (numbers, strings, tuples)."""
    if answer is None or answer is Ellipsis:
        _fail(f"The {what} is still empty: replace the placeholder with your value.", hint)
    if isinstance(expected, tuple) and isinstance(answer, list):
        answer = tuple(answer)
    if answer != expected:
        _fail(f"The {what} {answer!r} is not right.", hint)
    correct()


def check_close(
    answer: Any, expected: Any, hint: str | None = None, rtol: float = 1e-5, atol: float = 1e-6, what: str = "answer"
) -> None:
    """Numerical comparison of numbers or arrays (same shape, ``np.allclose``)."""
    if answer is None or answer is Ellipsis:
        _fail(f"The {what} is still empty: replace the placeholder with your value.", hint)
    a, e = np.asarray(answer, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        _fail(f"The {what} has shape {a.shape}, expected {e.shape}.", hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e))) if a.size else 0.0
        _fail(f"The {what} differs from the expected value (largest difference {worst:.3g}).", hint)
    correct()


def check_function(
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Iterable[Sequence[Any]],
    hint: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Call ``fn(*case)`` and ``reference(*case)`` for every case and compare the results."""
    if not callable(fn):
        _fail(f"Expected a function, got {type(fn).__name__}.", hint)
    for case in cases:
        try:
            got = fn(*case)
        except Exception as exc:  # the student's code raised: report it with the case
            _fail(f"Your function raised {type(exc).__name__}: {exc} for arguments {_short(case)}.", hint)
        want = reference(*case)
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if g.shape != w.shape or not np.allclose(g, w, rtol=rtol, atol=atol):
            _fail(f"Wrong result for arguments {_short(case)}: got {_short(got)}, expected {_short(want)}.", hint)
    correct()


def _short(value: Any) -> str:
    text = (
        np.array2string(np.asarray(value), precision=3, threshold=12)
        if not isinstance(value, tuple)
        else ", ".join(_short(v) for v in value)
    )
    return text if len(text) < 200 else text[:197] + "..."


# --------------------------------------------------------------------------- notebook 01


def check_atrous_conv1d(fn: Callable[[np.ndarray, np.ndarray, int], np.ndarray], seed: int = 0) -> None:
    """Compare a 1-D atrous convolution ``fn(x, kernel, rate)`` with :func:`course_utils.atrous.atrous_conv1d`.

    Cases: random signals of several lengths, odd and even kernels, rates 1-4.
    """
    rng = np.random.default_rng(seed)
    cases = [
        (rng.normal(size=n), rng.normal(size=k), r)
        for n, k, r in [(8, 3, 1), (10, 3, 2), (11, 2, 3), (16, 4, 2), (9, 3, 4), (7, 5, 1)]
    ]
    check_function(
        fn,
        atrous_conv1d,
        cases,
        hint="y[i] = sum_k kernel[k] * x_padded[i + k * rate], with (effective - 1) // 2 zeros padded "
        "before x and the rest after, where effective = k + (k - 1) * (rate - 1).",
    )


def check_receptive_field(answer: int, layers: Sequence[tuple[int, int, int]]) -> None:
    """Check a receptive field computed by hand for a stack of ``(kernel, stride, rate)`` layers."""
    check_equal(
        answer,
        receptive_field(layers),
        hint="Start from 1; each layer adds (effective kernel - 1) x (product of the strides before it).",
        what="receptive field",
    )


def check_no_gridding(rates: Sequence[int], min_layers: int = 3, min_field: int = 1, kernel: int = 3) -> None:
    """Check rates for a stack of ``kernel x kernel`` convolutions that see every pixel of their field.

    Args:
        rates: the proposed rates, one per layer.
        min_layers: the stack must have at least this many layers.
        min_field: the receptive field must be at least this large.
    """
    rates = [int(r) for r in rates]
    if len(rates) < min_layers:
        _fail(f"Use at least {min_layers} layers (got {len(rates)}).", None)
    footprint = stack_footprint(rates, kernel)
    field = footprint.shape[0]
    if field < min_field:
        _fail(
            f"The receptive field is {field}x{field}, it must be at least {min_field}x{min_field}.",
            "Larger rates grow the field.",
        )
    seen = coverage_fraction(footprint)
    if seen < 1.0:
        _fail(
            f"Rates {rates} leave holes: the output sees only {100 * seen:.0f}% of its {field}x{field} field.",
            "If every rate shares a common factor g > 1, only every g-th pixel is ever touched; "
            "start with rate 1, then let each rate be at most the field built so far (e.g. 1, 2, 4).",
        )
    correct(f"rates {rates}: {field}x{field} field, every pixel seen.")


# --------------------------------------------------------------------------- notebooks 02-04


def check_param_count(answer: int, model: Any, hint: str | None = None) -> None:
    """Check a parameter count computed by hand against ``model.count_params()`` (a Keras model or layer)."""
    check_equal(answer, int(model.count_params()), hint=hint, what="parameter count")


def check_output_shape(answer: Sequence[int | None], expected: Sequence[int | None], hint: str | None = None) -> None:
    """Check a shape (e.g. a feature-map size) predicted by hand."""
    check_equal(tuple(answer) if answer is not None else None, tuple(expected), hint=hint, what="shape")
