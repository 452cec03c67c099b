"""New exercises for notebooks 00 and 02 (issue 25), with their checkers and solutions.

They follow the conventions of :mod:`course_utils.exercises.core` (an untouched cell prints
``Not attempted yet``, a right answer ``Correct!``, a wrong one raises
:class:`~course_utils.exercises.core.ExerciseError` with a hint), with one difference: the
checkers return ``None``, so a notebook cell that ends with one shows no stray
``True``/``False``. Expected values are computed from the library, never typed.

Exercises:

* notebook 00, :func:`check_optimizer_steps`: how many optimizer steps a whole
  training run takes with a profile's *effective* settings for a dataset
  (solution :func:`optimizer_steps`);
* notebook 02, :func:`check_output_stride_plan`: write the output-stride plan,
  the stride and the dilation rate of every unit of every stage, with
  multi-grid in the last stage (solution :func:`output_stride_plan`);
* notebook 01, :func:`check_erf_growth_prediction` and
  :func:`check_full_coverage_prediction`: the "predict before you run" answers,
  read by a checker; :func:`check_rate_after_removed_stride`: which rate keeps
  the receptive field when a stride is removed (solution
  :func:`rate_after_removed_stride`);
* notebook 03, exercise 1 now asks about the paper's 33x33 training map instead
  of the 65x65 map whose answer section 3 printed; its check in the notebook is
  unchanged (``checks.check_equal``), the new solution is :data:`NB03_ANSWER_1`
  (``solutions/nb03.py`` now holds the 33x33 answer too);
* notebook 03, exercise 4 asks students to write the run-time resize
  themselves instead of using ``ResizeLike``: a solution that does is
  :func:`pooling_branch_own_resize` (checked by ``checks.check_pooling_branch``).

These functions live here, not in ``checks.py`` / ``solutions/``, only because
those modules were being moved on another branch; the integrator may fold them
in (see the report of issue 25, notebooks 00-04).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from course_utils.exercises.core import correct, is_empty, not_attempted
from course_utils.exercises.core import fail as _fail

Plan = list[list[tuple[int, int]]]
"""Per stage, per unit: ``(stride, dilation rate)``."""


# --------------------------------------------------------------------------- notebook 00


def optimizer_steps(num_train: int, batch_size: int, epochs: int, steps_per_epoch: int | None = None) -> int:
    """Solution (notebook 00): optimizer steps of a whole run.

    An epoch is ``steps_per_epoch`` steps when the config sets it, else a whole
    number of batches, ``ceil(num_train / batch_size)`` (the training stream
    repeats, so the last batch is full); one optimizer step per batch.
    """
    per_epoch = steps_per_epoch or math.ceil(num_train / batch_size)
    return int(epochs) * int(per_epoch)


def check_optimizer_steps(answer: Any, config: Any, num_train: int) -> None:
    """Check the number of optimizer steps of a run with ``config`` (a ``TrainConfig``) on ``num_train`` images."""
    if is_empty(answer):
        not_attempted("set the number of optimizer steps (it is still None)")
        return
    expected = optimizer_steps(num_train, config.batch_size, config.epochs, config.steps_per_epoch)
    if answer != expected:
        per_epoch = config.steps_per_epoch or math.ceil(num_train / config.batch_size)
        if answer == config.epochs * (num_train // config.batch_size):
            hint = (
                "The last batch is topped up with images of the next pass (the stream repeats), so it is a "
                "full batch and still makes a step: round the batches per epoch up."
            )
        elif answer == per_epoch:
            hint = "That is one epoch; the run has several (the effective `epochs`, not the profile's)."
        else:
            hint = "epochs x ceil(training images / batch size), with the *effective* settings for this dataset."
        _fail(f"{answer!r} optimizer steps is not right.", hint)
    correct()


# --------------------------------------------------------------------------- notebook 03


def all_centre_rate(map_size: int) -> int:
    """Solution (notebook 03, exercise 1): smallest rate at which a 3x3 filter is a 1x1 everywhere.

    With 'same' padding the off-centre taps of position ``p`` sit at ``p - r``
    and ``p + r``. Both fall outside ``[0, map_size)`` for every ``p`` exactly
    when ``r > p`` for the last position ``p = map_size - 1`` and ``p + r >=
    map_size`` for the first, ``p = 0``: the smallest such rate is the map size.
    """
    return int(map_size)


NB03_ANSWER_1 = all_centre_rate(33)
"""The answer to notebook 03's exercise 1 (the paper's 33x33 training map)."""


# --------------------------------------------------------------------------- notebook 02


def output_stride_plan(output_stride: int, units: Sequence[int], multi_grid: Sequence[int] | None) -> Plan:
    """Solution (notebook 02): stride and rate of every unit of the four ResNet stages.

    The stem has stride 4. Stage 1 keeps it (stride 1); stages 2-4 would each
    halve the map (stride 2). Once the map has reached ``output_stride``, a
    stage keeps stride 1 instead and doubles the dilation rate, which then
    holds for every later unit. Only the first unit of a stage carries its
    stride. In the last stage, unit ``i`` uses ``rate * multi_grid[i]`` (the
    grid truncated, or repeated, to the number of units).
    """
    plan: Plan = []
    current, rate = 4, 1
    for stage, n_units in enumerate(units):
        stride = 1 if stage == 0 else 2
        if stride == 2 and current >= output_stride:
            stride, rate = 1, rate * 2
        current *= stride
        grid = list(multi_grid) if (multi_grid and stage == len(units) - 1) else [1]
        plan.append([(stride if u == 0 else 1, rate * grid[u % len(grid)]) for u in range(n_units)])
    return plan


def _library_plan(output_stride: int, units: Sequence[int], multi_grid: Sequence[int] | None) -> Plan:
    """The plan as the library builds it (``stage_strides_and_rates`` and ``multi_grid_rates``)."""
    from course_utils.model import multi_grid_rates, stage_strides_and_rates

    plan: Plan = []
    for stage, ((stride, rate), n_units) in enumerate(zip(stage_strides_and_rates(output_stride), units), start=1):
        rates = multi_grid_rates(rate, n_units, multi_grid if stage == 4 else None)
        plan.append([(stride if u == 0 else 1, rates[u]) for u in range(n_units)])
    return plan


PLAN_CASES: tuple[tuple[int, tuple[int, int, int, int], tuple[int, ...] | None], ...] = (
    (32, (2, 2, 2, 2), None),
    (16, (3, 4, 6, 3), (1, 2, 4)),
    (8, (3, 4, 6, 3), (1, 2, 4)),
    (16, (2, 2, 2, 2), (1, 2, 4)),
    (8, (2, 2, 2, 2), (1, 2, 4)),
    (8, (3, 4, 23, 3), None),
)
"""(output stride, units per stage, multi-grid): ResNet-18/50/101 at OS 32, 16 and 8."""


def _normalise(plan: Any) -> Plan:
    return [[(int(s), int(r)) for s, r in stage] for stage in plan]


def check_output_stride_plan(fn: Callable[..., Any]) -> None:
    """Compare the student's ``fn(output_stride, units, multi_grid)`` with the library on :data:`PLAN_CASES`."""
    if is_empty(fn):
        not_attempted("define the function")
        return
    for output_stride, units, multi_grid in PLAN_CASES:
        try:
            got = fn(output_stride, units, multi_grid)
        except NotImplementedError:
            not_attempted("replace `raise NotImplementedError` with your code")
            return
        except Exception as exc:  # the student's code raised: report it with the case
            _fail(f"Your function raised {type(exc).__name__}: {exc} for OS {output_stride}, units {units}.", None)
        if is_empty(got):
            not_attempted("your function returns None: return the list of stages")
            return
        want = _library_plan(output_stride, units, multi_grid)
        try:
            got = _normalise(got)
        except (TypeError, ValueError):
            _fail("Return one list per stage, each a list of (stride, rate) pairs, one per unit.", None)
        case = f"output stride {output_stride}, units {units}, multi-grid {multi_grid}"
        if len(got) != 4 or [len(stage) for stage in got] != list(units):
            _fail(f"For {case}: expected 4 stages with {list(units)} units, got {[len(s) for s in got]}.", None)
        for s, (g, w) in enumerate(zip(got, want), start=1):
            if [u[0] for u in g] != [u[0] for u in w]:
                _fail(
                    f"For {case}, stage {s}: strides {[u[0] for u in g]}, expected {[u[0] for u in w]}.",
                    "Only the first unit of a stage strides; a stage whose stride would pass the output stride keeps stride 1.",
                )
            if [u[1] for u in g] != [u[1] for u in w]:
                _fail(
                    f"For {case}, stage {s}: rates {[u[1] for u in g]}, expected {[u[1] for u in w]}.",
                    "The rate doubles for each removed stride and stays for later stages; multi-grid multiplies "
                    "the last stage's rate unit by unit (truncate or repeat the grid to the number of units).",
                )
    correct()


# --------------------------------------------------------------------------- notebook 01


def erf_growth_ratio(shallow: int = 4, deep: int = 16) -> float:
    """Effective receptive field of ``deep`` rate-1 3x3 layers over that of ``shallow`` ones (all-ones kernels)."""
    from course_utils import atrous

    def erf(n: int) -> int:
        return atrous.effective_receptive_field(atrous.gradient_footprint([1] * n))

    return erf(deep) / erf(shallow)


def check_erf_growth_prediction(answer: Any, shallow: int = 4, deep: int = 16) -> None:
    """Check the prediction "the effective field of ``deep`` layers is about ``answer`` times that of ``shallow``".

    ``answer`` is 2 (square-root growth) or 4 (linear growth, like the
    theoretical field); the right one is the nearer to the measured ratio.
    """
    if is_empty(answer):
        not_attempted("set your prediction, 2 or 4 (it is still None)")
        return
    ratio = erf_growth_ratio(shallow, deep)
    expected = min((2, 4), key=lambda guess: abs(ratio - guess))
    if answer not in (2, 4):
        _fail(f"{answer!r} is neither 2 nor 4.", "Predict one of the two: about 2 times or about 4 times.")
    if answer != expected:
        _fail(
            f"The effective field grew by a factor {ratio:.2f}, nearer {expected} than {answer}.",
            "The gradient is a sum of many small independent steps: its width grows like the square root of the depth.",
        )
    print(f"Measured factor {ratio:.2f}.")
    correct()


def check_full_coverage_prediction(answer: Any, candidates: Sequence[Sequence[int]]) -> None:
    """Check the set of rate stacks (among ``candidates``) the student predicts to see every pixel of their field."""
    from course_utils import atrous

    if is_empty(answer):
        not_attempted("list the stacks you predict to see every pixel (it is still None)")
        return
    try:
        got = {tuple(int(r) for r in rates) for rates in answer}
    except (TypeError, ValueError):
        _fail("Give a list of rate tuples, e.g. [(2, 2, 2)].", None)
    want = {tuple(rates) for rates in candidates if atrous.coverage_fraction(atrous.stack_footprint(rates)) == 1.0}
    if got != want:
        _fail(
            f"{sorted(got)} is not the set of stacks that see every pixel.",
            "A sum of taps at multiples of a common factor > 1 only reaches multiples of it: the first rate must be 1.",
        )
    correct()


STEM_AND_CONV = [(7, 2, 1), (3, 2, 1), (3, 1, 1)]
"""Notebook 01: a ResNet stem (7x7/2 conv, 3x3/2 pool) and a 3x3 convolution, as (kernel, stride, rate)."""


def rate_after_removed_stride(layers: Sequence[tuple[int, int, int]] = tuple(STEM_AND_CONV), removed: int = 1) -> int:
    """Solution (notebook 01): the rate of the layers after ``layers[removed]`` once its stride becomes 1.

    The smallest rate ``r`` for which the stack, with that stride removed and
    every later layer dilated by ``r``, has the receptive field of the
    original stack (it is the removed stride, the DeepLab conversion rule).
    """
    from course_utils import atrous

    target = atrous.receptive_field(list(layers))
    for rate in range(1, 65):
        changed = [(k, s, r) for k, s, r in layers[:removed]]
        k, s, r = layers[removed]
        changed.append((k, 1, r))
        changed += [(k, s, r * rate) for k, s, r in layers[removed + 1 :]]
        if atrous.receptive_field(changed) == target:
            return rate
    raise ValueError("no rate up to 64 keeps the receptive field")


def check_rate_after_removed_stride(answer: Any) -> None:
    """Check the rate the 3x3 convolution of :data:`STEM_AND_CONV` needs once the pool's stride is removed."""
    if is_empty(answer):
        not_attempted("set the rate (it is still None)")
        return
    expected = rate_after_removed_stride()
    if answer != expected:
        _fail(
            f"With rate {answer!r} the receptive field is not the original one.",
            "After the pool, one step of the feature map was `jump` input pixels; without the stride it is half "
            "that, so each tap must move twice as many positions.",
        )
    correct()


# --------------------------------------------------------------------------- notebook 03, exercise 4


def pooling_branch_own_resize(features: Any) -> Any:
    """Exercise 4 of notebook 03 with the run-time resize written by hand (no ``ResizeLike``).

    Global average pooling (``keepdims=True``), a 1x1 convolution with 8
    filters, then a resize back to the height and width of ``features`` read
    when the graph runs: a functional-API tensor has no concrete size, so the
    size is taken with ``keras.ops.shape`` inside a layer's ``call``.
    """
    import keras

    class ResizeToReference(keras.layers.Layer):
        """Bilinear resize of ``inputs[0]`` to the spatial size of ``inputs[1]``."""

        def call(self, inputs):
            image, reference = inputs
            return keras.ops.image.resize(image, keras.ops.shape(reference)[1:3], interpolation="bilinear")

        def compute_output_shape(self, input_shapes):
            image, reference = input_shapes
            return (image[0], reference[1], reference[2], image[3])

    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(features)
    pooled = keras.layers.Conv2D(8, 1)(pooled)
    return ResizeToReference()([pooled, features])


# --------------------------------------------------------------------------- notebook 04: a shape trace

TRACE_KEYS = ("stem", "stage1", "stage2", "stage3", "stage4", "logits")


def solution_shape_trace(model: Any, input_hw: tuple[int, int]) -> dict[str, tuple]:
    """Solution (notebook 04): the stage trace of ``model`` on an ``input_hw`` image, as the check expects it."""
    from course_utils.model.report import stage_trace

    trace = stage_trace(model, (int(input_hw[0]), int(input_hw[1]), 3))
    return {key: trace[key] for key in TRACE_KEYS}


def check_shape_trace(answer: Any, model: Any, input_hw: tuple[int, int]) -> None:
    """Check a hand-made trace of a DeepLabV3 on one input size against :func:`model.report.stage_trace`.

    ``answer``: ``{"stem": (stride, dilation, (H, W)), ..., "stage4": (...), "logits": (H, W)}``,
    ``stride`` the stage output's output stride, ``dilation`` the rate of the stage's first 3x3
    convolution (1 for the stem), ``(H, W)`` the stage output's size.
    """
    if is_empty(answer) or not isinstance(answer, dict):
        not_attempted("fill the dict trace_1 (it is still None)")
        return
    if any(is_empty(answer.get(k)) or (k != "logits" and None in tuple(answer[k])[:2]) for k in TRACE_KEYS):
        not_attempted(f"fill every entry of {list(TRACE_KEYS)} (some are still None)")
        return
    want = solution_shape_trace(model, input_hw)
    for key in TRACE_KEYS[:-1]:
        try:
            stride, dilation, hw = answer[key]
            got = (int(stride), int(dilation), tuple(int(d) for d in hw))
        except (TypeError, ValueError):
            _fail(f"{key}: give (stride, dilation, (H, W)), got {answer[key]!r}.", None)
        ws, wd, whw = want[key]
        if got[0] != ws:
            _fail(
                f"{key}: output stride {got[0]} is wrong.",
                "Count the stride-2 layers up to this stage; at output stride 8 the last two stages do not stride.",
            )
        if got[1] != wd:
            _fail(
                f"{key}: dilation {got[1]} is wrong.",
                "Each stride a stage gives up doubles the rate, and later stages keep it (multi-grid multiplies "
                "only from the second unit on when its first entry is 1).",
            )
        if got[2] != whw:
            _fail(
                f"{key}: size {got[2]} is wrong.",
                "A 'same' convolution or pooling with stride 2 gives ceil(n / 2), not n // 2; dilated layers keep the size.",
            )
    try:
        logits = tuple(int(d) for d in answer["logits"])
    except (TypeError, ValueError):
        _fail(f"logits: give (H, W), got {answer['logits']!r}.", None)
    if logits != want["logits"]:
        _fail(f"logits: size {logits} is wrong.", "ResizeLike resizes the logits to the size of the input tensor.")
    correct("Every stride, rate and size matches the model.")
