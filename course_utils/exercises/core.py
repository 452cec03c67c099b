"""The exercise contract shared by every notebook's checkers, and the generic checkers.

Every checker has three outcomes:

* the exercise cell is untouched (the answer is still ``None`` or ``...``, or
  the function still raises ``NotImplementedError``): it prints
  ``Not attempted yet: ...`` and returns ``False``, so that a notebook runs top
  to bottom before the student has done anything;
* the answer is right: it prints ``Correct!`` and returns ``True``;
* the answer is wrong: it raises :class:`ExerciseError` (an ``AssertionError``)
  that says what is missing or wrong, with a hint.

Expected values are always computed from the course library or from Keras, never
typed in, so a checker stays right when the library changes. The checkers of one
notebook are in :mod:`course_utils.exercises.nbNN <course_utils.exercises>`.

Generic checkers: :func:`check_equal`, :func:`check_close`, :func:`check_function`,
:func:`check_param_count`, :func:`check_output_shape`, and the layer-by-layer
comparison of a student's Keras code with the library's (:func:`compare_with_reference`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

CORRECT = "Correct!"

NOT_ATTEMPTED = "Not attempted yet"


class ExerciseError(AssertionError):
    """An exercise answer is wrong; the message carries a hint."""


def fail(message: str, hint: str | None) -> None:
    raise ExerciseError(f"{message}" + (f"\nHint: {hint}" if hint else ""))


def correct(detail: str = "") -> bool:
    """Print the success message (with an optional detail); return True."""
    print(CORRECT + (f" {detail}" if detail else ""))
    return True


def not_attempted(what: str = "the answer is still a placeholder") -> bool:
    """Print that the exercise is untouched, without failing the run; return False."""
    print(f"{NOT_ATTEMPTED}: {what}.")
    return False


def is_empty(answer: Any) -> bool:
    """An answer still at its placeholder (``None`` or ``...``)."""
    return answer is None or answer is Ellipsis


class NotAttemptedYet(Exception):
    """Raised inside a checker when the student's function is still a stub."""


def call_student(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the student's ``fn``; a stub (``NotImplementedError`` or a ``None``/``...`` result) is not attempted."""
    try:
        result = fn(*args)
    except NotImplementedError:
        raise NotAttemptedYet from None
    except Exception as exc:  # the student's code raised: report it
        fail(f"Your function raised {type(exc).__name__}: {exc}.", None)
    if is_empty(result):
        raise NotAttemptedYet
    return result


def check_equal(answer: Any, expected: Any, hint: str | None = None, what: str = "answer") -> bool:
    """Exact comparison (numbers, strings, tuples)."""
    if is_empty(answer):
        return not_attempted(f"set the {what} (it is still None)")
    if isinstance(expected, tuple) and isinstance(answer, list):
        answer = tuple(answer)
    if answer != expected:
        fail(f"The {what} {answer!r} is not right.", hint)
    return correct()


def check_close(
    answer: Any, expected: Any, hint: str | None = None, rtol: float = 1e-5, atol: float = 1e-6, what: str = "answer"
) -> bool:
    """Numerical comparison of numbers or arrays (same shape, ``np.allclose``)."""
    if is_empty(answer):
        return not_attempted(f"set the {what} (it is still None)")
    a, e = np.asarray(answer, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        fail(f"The {what} has shape {a.shape}, expected {e.shape}.", hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e))) if a.size else 0.0
        fail(f"The {what} differs from the expected value (largest difference {worst:.3g}).", hint)
    return correct()


def check_function(
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Iterable[Sequence[Any]],
    hint: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> bool:
    """Call ``fn(*case)`` and ``reference(*case)`` for every case and compare the results.

    A function that raises ``NotImplementedError`` or returns ``None`` is not attempted yet.
    """
    if is_empty(fn):
        return not_attempted("define the function")
    if not callable(fn):
        fail(f"Expected a function, got {type(fn).__name__}.", hint)
    for case in cases:
        try:
            got = fn(*case)
        except NotImplementedError:
            return not_attempted("replace `raise NotImplementedError` with your code")
        except Exception as exc:  # the student's code raised: report it with the case
            fail(f"Your function raised {type(exc).__name__}: {exc} for arguments {_short(case)}.", hint)
        if is_empty(got):
            return not_attempted("your function returns None: finish it and return the result")
        want = reference(*case)
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if g.shape != w.shape or not np.allclose(g, w, rtol=rtol, atol=atol):
            fail(f"Wrong result for arguments {_short(case)}: got {_short(got)}, expected {_short(want)}.", hint)
    return correct()


def _short(value: Any) -> str:
    text = (
        np.array2string(np.asarray(value), precision=3, threshold=12)
        if not isinstance(value, tuple)
        else ", ".join(_short(v) for v in value)
    )
    return text if len(text) < 200 else text[:197] + "..."


def check_param_count(answer: int, model: Any, hint: str | None = None) -> bool:
    """Check a parameter count computed by hand against ``model.count_params()`` (a Keras model or layer)."""
    return check_equal(answer, int(model.count_params()), hint=hint, what="parameter count")


def check_output_shape(answer: Sequence[int | None], expected: Sequence[int | None], hint: str | None = None) -> bool:
    """Check a shape (e.g. a feature-map size) predicted by hand."""
    return check_equal(tuple(answer) if answer is not None else None, tuple(expected), hint=hint, what="shape")


_CONFIG_KEYS = ("filters", "kernel_size", "strides", "dilation_rate", "use_bias", "epsilon", "axis")


def _weighted_names(model) -> list[str]:
    return [layer.name for layer in model.layers if layer.weights]


def _randomise(model, seed: int) -> None:
    """Random weights everywhere, and BatchNorm statistics far from (0, 1) so that every BatchNorm matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if "variance" in w.path:
                values.append(rng.uniform(0.5, 2.0, shape))
            elif "gamma" in w.path:
                values.append(rng.uniform(0.5, 1.5, shape))
            else:
                values.append(rng.normal(0.0, 0.2 if len(shape) == 1 else 1.0 / np.sqrt(np.prod(shape[:-1])), shape))
        layer.set_weights([v.astype("float32") for v in values])


def compare_with_reference(student, reference, inputs: np.ndarray, what: str, seed: int = 0) -> bool:
    """Compare a student's functional model with the library's reference model of the same graph.

    Raises :class:`ExerciseError` naming what is missing, misconfigured or numerically different;
    prints ``Correct!`` and returns True when the outputs agree to float32 precision.
    """
    import keras

    ref_names = _weighted_names(reference)
    got_names = set(_weighted_names(student))
    missing = [n for n in ref_names if n not in got_names]
    if missing:
        fail(
            f"{what}: no layer with weights named {', '.join(repr(n) for n in missing[:6])}"
            + (f" (and {len(missing) - 6} more)" if len(missing) > 6 else "")
            + ".",
            "Give each layer the name the exercise asks for (the `name=` argument), so that the checker can "
            "find it; a missing name can also mean a missing layer.",
        )
    extra = sorted(got_names - set(ref_names))
    if extra:
        fail(f"{what}: layers with weights that the library's version does not have: {', '.join(extra[:6])}.", None)
    for name in ref_names:
        ref_cfg, got_cfg = reference.get_layer(name).get_config(), student.get_layer(name).get_config()
        if type(reference.get_layer(name)) is not type(student.get_layer(name)):
            fail(
                f"{what}: layer {name!r} is a {type(student.get_layer(name)).__name__}, "
                f"expected a {type(reference.get_layer(name)).__name__}.",
                None,
            )
        for key in _CONFIG_KEYS:
            if key in ref_cfg and _norm(got_cfg.get(key)) != _norm(ref_cfg[key]):
                fail(f"{what}: layer {name!r} has {key}={got_cfg.get(key)!r}, expected {ref_cfg[key]!r}.", None)
    _randomise(reference, seed)
    for name in ref_names:
        student.get_layer(name).set_weights(reference.get_layer(name).get_weights())
    ref_final = np.asarray(reference(inputs, training=False))
    got_final = np.asarray(student(inputs, training=False))
    if ref_final.shape == got_final.shape and _close(got_final, ref_final):
        return correct(f"{what} matches the library's ({len(ref_names)} layers with weights).")
    # Something differs: find the first layer (in the library's order) whose output differs.
    ref_probe = keras.Model(reference.input, [reference.get_layer(n).output for n in ref_names])
    got_probe = keras.Model(student.input, [student.get_layer(n).output for n in ref_names])
    ref_out = [np.asarray(o) for o in ref_probe(inputs, training=False)] + [ref_final]
    got_out = [np.asarray(o) for o in got_probe(inputs, training=False)] + [got_final]
    for name, r, g in zip(ref_names + ["the output"], ref_out, got_out):
        if r.shape != g.shape:
            fail(f"{what}: {name} has shape {g.shape[1:]}, expected {r.shape[1:]}.", _shape_hint(name))
        if not _close(g, r):
            fail(
                f"{what}: with the library's weights, {name!r} computes something else "
                f"(largest difference {float(np.max(np.abs(g - r))):.3g}, values up to {float(np.max(np.abs(r))):.3g}).",
                "Check what feeds this layer: the order Conv -> BN -> ReLU, which tensor goes where, and "
                "the stride, rate and padding of the layers before it.",
            )
    fail(f"{what}: the output differs from the library's.", "Check the layers after the last one with weights.")
    return False


def _close(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal up to float32 round-off (relative to the largest value)."""
    scale = float(np.max(np.abs(want))) if want.size else 1.0
    return bool(np.allclose(got, want, rtol=1e-4, atol=1e-4 * (scale or 1.0)))


def _norm(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _shape_hint(name: str) -> str:
    return "Check the strides, the number of filters and 'same' padding of the layers up to " + repr(name) + "."


def _student_model(fn: Callable[..., Any], input_shape: Sequence[int | None], *args: Any):
    import keras

    inputs = keras.Input(tuple(input_shape))
    return keras.Model(inputs, call_student(fn, inputs, *args))


class quiet:
    """Swallow the per-case ``Correct!`` lines of :func:`compare_with_reference` (only the summary is shown)."""

    def __enter__(self):
        import contextlib
        import io

        self._redirect = contextlib.redirect_stdout(io.StringIO())
        self._redirect.__enter__()

    def __exit__(self, *exc):
        self._redirect.__exit__(*exc)
        return False


def stub_result(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the student's function; ``None`` when it is still a stub (raises NotImplementedError or returns None)."""
    try:
        result = fn(*args)
    except NotImplementedError:
        return None
    except Exception as exc:  # report the student's exception
        raise ExerciseError(f"Your function raised {type(exc).__name__}: {exc}") from None
    return None if is_empty(result) else result
