"""Exercise checkers for the notebooks.

Every checker has three outcomes:

* the exercise cell is untouched (the answer is still ``None`` or ``...``, or
  the function still raises ``NotImplementedError``): it prints
  ``Not attempted yet: ...`` and returns ``False``, so that a notebook runs top
  to bottom before the student has done anything;
* the answer is right: it prints ``Correct!`` and returns ``True``;
* the answer is wrong: it raises :class:`ExerciseError` (an ``AssertionError``)
  that says what is missing or wrong, with a hint.

Expected values are always computed from the course library or from Keras, never
typed in, so a checker stays right when the library changes.

Generic checkers: :func:`check_equal`, :func:`check_close`, :func:`check_function`.
Checkers for particular exercises: :func:`check_atrous_conv1d`,
:func:`check_receptive_field`, :func:`check_no_gridding`,
:func:`check_param_count`, :func:`check_output_shape`, :func:`check_batches_per_epoch`,
:func:`check_batch_megabytes`, :func:`check_pooling_branch`, and the layer-by-layer
comparisons of a student's Keras code with the library's
(:func:`check_bottleneck_unit`, :func:`check_aspp_module`, :func:`check_deeplabv3_assembly`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from course_utils.atrous import atrous_conv1d, coverage_fraction, receptive_field, stack_footprint

CORRECT = "Correct!"
NOT_ATTEMPTED = "Not attempted yet"


class ExerciseError(AssertionError):
    """An exercise answer is wrong; the message carries a hint."""


def _fail(message: str, hint: str | None) -> None:
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


class _NotAttempted(Exception):
    """Raised inside a checker when the student's function is still a stub."""


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the student's ``fn``; a stub (``NotImplementedError`` or a ``None``/``...`` result) is not attempted."""
    try:
        result = fn(*args)
    except NotImplementedError:
        raise _NotAttempted from None
    except Exception as exc:  # the student's code raised: report it
        _fail(f"Your function raised {type(exc).__name__}: {exc}.", None)
    if is_empty(result):
        raise _NotAttempted
    return result


def check_equal(answer: Any, expected: Any, hint: str | None = None, what: str = "answer") -> bool:
    """Exact comparison (numbers, strings, tuples)."""
    if is_empty(answer):
        return not_attempted(f"set the {what} (it is still None)")
    if isinstance(expected, tuple) and isinstance(answer, list):
        answer = tuple(answer)
    if answer != expected:
        _fail(f"The {what} {answer!r} is not right.", hint)
    return correct()


def check_close(
    answer: Any, expected: Any, hint: str | None = None, rtol: float = 1e-5, atol: float = 1e-6, what: str = "answer"
) -> bool:
    """Numerical comparison of numbers or arrays (same shape, ``np.allclose``)."""
    if is_empty(answer):
        return not_attempted(f"set the {what} (it is still None)")
    a, e = np.asarray(answer, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        _fail(f"The {what} has shape {a.shape}, expected {e.shape}.", hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e))) if a.size else 0.0
        _fail(f"The {what} differs from the expected value (largest difference {worst:.3g}).", hint)
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
        _fail(f"Expected a function, got {type(fn).__name__}.", hint)
    for case in cases:
        try:
            got = fn(*case)
        except NotImplementedError:
            return not_attempted("replace `raise NotImplementedError` with your code")
        except Exception as exc:  # the student's code raised: report it with the case
            _fail(f"Your function raised {type(exc).__name__}: {exc} for arguments {_short(case)}.", hint)
        if is_empty(got):
            return not_attempted("your function returns None: finish it and return the result")
        want = reference(*case)
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if g.shape != w.shape or not np.allclose(g, w, rtol=rtol, atol=atol):
            _fail(f"Wrong result for arguments {_short(case)}: got {_short(got)}, expected {_short(want)}.", hint)
    return correct()


def _short(value: Any) -> str:
    text = (
        np.array2string(np.asarray(value), precision=3, threshold=12)
        if not isinstance(value, tuple)
        else ", ".join(_short(v) for v in value)
    )
    return text if len(text) < 200 else text[:197] + "..."


# --------------------------------------------------------------------------- notebook 01


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
    return correct(f"rates {rates}: {field}x{field} field, every pixel seen.")


# --------------------------------------------------------------------------- notebooks 02-04


def check_param_count(answer: int, model: Any, hint: str | None = None) -> bool:
    """Check a parameter count computed by hand against ``model.count_params()`` (a Keras model or layer)."""
    return check_equal(answer, int(model.count_params()), hint=hint, what="parameter count")


def check_output_shape(answer: Sequence[int | None], expected: Sequence[int | None], hint: str | None = None) -> bool:
    """Check a shape (e.g. a feature-map size) predicted by hand."""
    return check_equal(tuple(answer) if answer is not None else None, tuple(expected), hint=hint, what="shape")


# --------------------------------------------------------------------------- notebook 00


def check_batches_per_epoch(answer: int, num_images: int, batch_size: int) -> bool:
    """Check the number of batches one pass over ``num_images`` gives (the last batch may be partial)."""
    return check_equal(
        answer,
        -(-int(num_images) // int(batch_size)),
        hint="Divide and round up: a last, smaller batch still counts (math.ceil).",
        what="number of batches",
    )


def check_batch_megabytes(answer: float, batch_size: int, image_size: Sequence[int], channels: int = 3) -> bool:
    """Check the size in MiB of one float32 image batch ``(batch, H, W, channels)``."""
    expected = int(batch_size) * int(image_size[0]) * int(image_size[1]) * int(channels) * 4 / 2**20
    return check_close(
        answer,
        expected,
        rtol=1e-3,
        atol=1e-6,
        hint="batch x height x width x channels values, 4 bytes each (float32), divided by 2**20 bytes per MiB.",
        what="batch size in MiB",
    )


# --------------------------------------------------------------------------- notebook 03


def check_pooling_branch(fn: Callable[[Any], Any], channels: int = 8, filters: int = 8) -> bool:
    """Check ``fn(features) -> tensor``: an image-pooling branch whose output has the size of any input."""
    import keras

    inputs = keras.Input((None, None, channels))
    try:
        outputs = _call(fn, inputs)
    except _NotAttempted:
        return not_attempted("replace `raise NotImplementedError` with your branch")
    model = keras.Model(inputs, outputs)
    for h, w in [(15, 30), (4, 8), (7, 5)]:
        try:
            out = model(np.zeros((1, h, w, channels), "float32"))
        except Exception as exc:  # a fixed-size upsampling typically fails here
            _fail(
                f"The branch fails on a {h}x{w} input: {type(exc).__name__}.",
                "Resize to the size of `features` read when the graph runs, e.g. ResizeLike()([pooled, features]).",
            )
        got = tuple(int(s) for s in out.shape[1:])
        if got != (h, w, filters):
            _fail(
                f"For a {h}x{w}x{channels} input the branch outputs {got}, expected {(h, w, filters)}.",
                f"Global average pooling with keepdims=True, a 1x1 convolution with {filters} filters, "
                "then a resize to the size of `features`.",
            )
    return correct("the branch fits every input size.")


# --------------------------------------------------------------------------- notebooks 02-04: your Keras code
# against the library's. The student's layers must carry the library's layer names; the checker compares
# their settings, copies the library's weights (random, BatchNorm statistics included) into them and
# compares the outputs layer by layer, so the message names the first layer that differs.

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
        _fail(
            f"{what}: no layer with weights named {', '.join(repr(n) for n in missing[:6])}"
            + (f" (and {len(missing) - 6} more)" if len(missing) > 6 else "")
            + ".",
            "Give each layer the name the exercise asks for (the `name=` argument), so that the checker can "
            "find it; a missing name can also mean a missing layer.",
        )
    extra = sorted(got_names - set(ref_names))
    if extra:
        _fail(f"{what}: layers with weights that the library's version does not have: {', '.join(extra[:6])}.", None)
    for name in ref_names:
        ref_cfg, got_cfg = reference.get_layer(name).get_config(), student.get_layer(name).get_config()
        if type(reference.get_layer(name)) is not type(student.get_layer(name)):
            _fail(
                f"{what}: layer {name!r} is a {type(student.get_layer(name)).__name__}, "
                f"expected a {type(reference.get_layer(name)).__name__}.",
                None,
            )
        for key in _CONFIG_KEYS:
            if key in ref_cfg and _norm(got_cfg.get(key)) != _norm(ref_cfg[key]):
                _fail(f"{what}: layer {name!r} has {key}={got_cfg.get(key)!r}, expected {ref_cfg[key]!r}.", None)
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
            _fail(f"{what}: {name} has shape {g.shape[1:]}, expected {r.shape[1:]}.", _shape_hint(name))
        if not _close(g, r):
            _fail(
                f"{what}: with the library's weights, {name!r} computes something else "
                f"(largest difference {float(np.max(np.abs(g - r))):.3g}, values up to {float(np.max(np.abs(r))):.3g}).",
                "Check what feeds this layer: the order Conv -> BN -> ReLU, which tensor goes where, and "
                "the stride, rate and padding of the layers before it.",
            )
    _fail(f"{what}: the output differs from the library's.", "Check the layers after the last one with weights.")
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
    return keras.Model(inputs, _call(fn, inputs, *args))


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
        except _NotAttempted:
            return not_attempted("replace `raise NotImplementedError` with your unit")
        inputs = keras.Input((9, 11, c_in))
        reference = keras.Model(inputs, bottleneck_unit(inputs, *args))
        x = rng.normal(size=(2, 9, 11, c_in)).astype("float32")
        what = f"unit(filters={filters}, strides={strides}, rate={rate}, project={project})"
        with _quiet():
            compare_with_reference(student, reference, x, what)
    return correct("your bottleneck unit computes exactly what the library's does.")


def check_aspp_module(fn: Callable[..., Any]) -> bool:
    """Check ``fn(features, rates, filters, name) -> tensor`` against the library's ASPP (with image pooling)."""
    import keras

    from course_utils.model.aspp import aspp

    rng = np.random.default_rng(1)
    for shape, rates in [((7, 9, 16), (1, 2, 3)), ((5, 6, 16), (2, 4, 6))]:
        try:
            student = _student_model(fn, shape, rates, 8, "aspp")
        except _NotAttempted:
            return not_attempted("replace `raise NotImplementedError` with your module")
        inputs = keras.Input(shape)
        reference = keras.Model(inputs, aspp(inputs, rates, 8, image_pooling=True, dropout=0.0, name="aspp"))
        x = rng.normal(size=(2, *shape)).astype("float32")
        with _quiet():
            compare_with_reference(student, reference, x, f"ASPP(rates={rates})")
    return correct("your ASPP computes exactly what the library's does.")


def check_deeplabv3_assembly(fn: Callable[..., Any], num_classes: int = 5) -> bool:
    """Check ``fn(num_classes, output_stride) -> keras.Model`` against ``build_deeplabv3`` (ResNet-18, multi-grid)."""
    from course_utils.model import build_deeplabv3

    rng = np.random.default_rng(2)
    for output_stride in (16, 8):
        try:
            student = _call(fn, num_classes, output_stride)
        except _NotAttempted:
            return not_attempted("replace `raise NotImplementedError` with your model")
        reference = build_deeplabv3(
            num_classes, backbone="resnet18", output_stride=output_stride, multi_grid=(1, 2, 4), input_adapter=None
        )
        x = rng.normal(size=(1, 50, 70, 3)).astype("float32")  # not a multiple of 16: the resize must follow
        with _quiet():
            compare_with_reference(student, reference, x, f"DeepLabV3 at output stride {output_stride}")
    return correct("your DeepLabV3 computes exactly what build_deeplabv3 does, at output strides 16 and 8.")


class _quiet:
    """Swallow the per-case ``Correct!`` lines of :func:`compare_with_reference` (only the summary is shown)."""

    def __enter__(self):
        import contextlib
        import io

        self._redirect = contextlib.redirect_stdout(io.StringIO())
        self._redirect.__enter__()

    def __exit__(self, *exc):
        self._redirect.__exit__(*exc)
        return False
