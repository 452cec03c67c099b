"""New exercises of notebooks 06, 07 and 09 (issue 25), with their checkers and solutions.

The checkers follow the contract of :mod:`course_utils.checks`: ``Not attempted yet`` while the
answer is still ``None``, ``Correct!`` for a right answer, an
:class:`~course_utils.checks.ExerciseError` with a hint otherwise. They return ``None``, so that a
notebook cell ending with a check prints nothing else. Expected values are computed from the library
(metrics, model reports), never typed in. Solutions are the ``solution_*`` functions at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from course_utils.checks import ExerciseError, correct, is_empty, not_attempted

__all__ = [
    "CURVE_CAUSES",
    "diagnosis_histories",
    "check_curve_diagnosis",
    "overprediction",
    "check_overpredicted_class",
    "seed_head_model",
    "check_seed_head_macs",
    "solution_curve_diagnosis",
    "solution_overpredicted_class",
    "solution_seed_head_macs",
]

# --------------------------------------------------------------------------- 06: diagnose from curves

CURVE_CAUSES = (
    "over-fitting",
    "learning rate too high",
    "stale BatchNorm statistics",
    "class-weighted training loss against an unweighted validation loss",
)

# which cause each run of diagnosis_histories shows (the checker's key; the notebook does not print it)
_CURVE_ANSWER = {
    "A": "stale BatchNorm statistics",
    "B": "class-weighted training loss against an unweighted validation loss",
    "C": "over-fitting",
    "D": "learning rate too high",
}

_CURVE_HINTS = {
    "over-fitting": "the training loss keeps falling while the validation loss turns up after a minimum",
    "learning rate too high": "the training loss itself does not settle: it jumps up and down at a high level",
    "stale BatchNorm statistics": "training looks healthy, but validation is far worse than any training "
    "epoch (a loss many times larger, an mIoU near chance): inference uses different statistics",
    "class-weighted training loss against an unweighted validation loss": "both curves fall together, "
    "but the validation loss stays *below* the training loss at every epoch: they are different quantities",
}


def diagnosis_histories(epochs: int = 20) -> dict[str, dict[str, list[float]]]:
    """Four made-up training histories ``A``-``D``, each showing one cause of :data:`CURVE_CAUSES`.

    They are deterministic curves shaped like real ones (keys ``loss``, ``val_loss``, ``miou``,
    ``val_miou``), for a diagnosis exercise; draw them with :func:`course_utils.plotting.plot_history`.
    """
    t = np.arange(1, epochs + 1, dtype=np.float64)
    wiggle = 0.01 * np.sin(1.7 * t)
    healthy_loss = 0.35 + 1.2 * np.exp(-t / 4)
    healthy_miou = 0.62 - 0.45 * np.exp(-t / 4)
    runs: dict[str, dict[str, np.ndarray]] = {}
    runs["A"] = dict(  # stale BN: train fine, val catastrophic
        loss=healthy_loss,
        val_loss=40.0 + 25.0 * np.exp(-t / 8) + 3 * np.sin(t),
        miou=healthy_miou,
        val_miou=0.06 + 0.02 * np.abs(np.sin(t)),
    )
    runs["B"] = dict(  # weighted train loss, unweighted val loss
        loss=1.6 * healthy_loss + wiggle,
        val_loss=0.8 * healthy_loss + 0.02 + wiggle,
        miou=healthy_miou - 0.03 * np.exp(-t / 10),
        val_miou=healthy_miou + 0.01 * np.exp(-t / 10) + wiggle,
    )
    runs["C"] = dict(  # over-fitting
        loss=0.05 + 1.5 * np.exp(-t / 4),
        val_loss=0.55 + 0.9 * np.exp(-t / 3) + 0.02 * np.maximum(t - 7, 0) ** 1.3,
        miou=0.9 - 0.7 * np.exp(-t / 4),
        val_miou=0.55 - 0.4 * np.exp(-t / 3) - 0.003 * np.maximum(t - 9, 0),
    )
    runs["D"] = dict(  # learning rate too high
        loss=1.3 + 0.35 * np.abs(np.sin(2.3 * t)) + 0.25 * (t % 3 == 0),
        val_loss=1.4 + 0.45 * np.abs(np.cos(1.9 * t)),
        miou=0.18 + 0.08 * np.abs(np.cos(2.3 * t)),
        val_miou=0.16 + 0.1 * np.abs(np.sin(1.3 * t)),
    )
    return {name: {k: [float(v) for v in vals] for k, vals in run.items()} for name, run in runs.items()}


def check_curve_diagnosis(answer: Mapping[str, str] | None) -> None:
    """Check a ``{"A": cause, ...}`` diagnosis of :func:`diagnosis_histories` (causes from :data:`CURVE_CAUSES`)."""
    if is_empty(answer):
        not_attempted("set `answer_5` to a dict {run letter: cause} (it is still None)")
        return
    if not isinstance(answer, Mapping) or set(answer) != set(_CURVE_ANSWER):
        raise ExerciseError(f"Give one cause for each of the runs {sorted(_CURVE_ANSWER)} as a dict.")
    unknown = [v for v in answer.values() if v not in CURVE_CAUSES]
    if unknown:
        raise ExerciseError(f"{unknown[0]!r} is not one of the causes; copy one of CURVE_CAUSES: {CURVE_CAUSES}.")
    wrong = sorted(k for k in _CURVE_ANSWER if answer[k] != _CURVE_ANSWER[k])
    if wrong:
        k = wrong[0]
        raise ExerciseError(
            f"{len(wrong)} of {len(_CURVE_ANSWER)} diagnoses are wrong, among them run {k}.\n"
            f"Hint: you said {answer[k]!r} for run {k}; that cause looks like this: {_CURVE_HINTS[answer[k]]}. "
            f"Does run {k} look like that?"
        )
    correct("Each cause leaves its own mark; read the losses and the mIoU together.")


def solution_curve_diagnosis() -> dict[str, str]:
    """The diagnosis of the four runs: read which curve misbehaves, and how."""
    return dict(_CURVE_ANSWER)


# --------------------------------------------------------------------------- 07: over-prediction


def overprediction(cm: np.ndarray) -> np.ndarray:
    """Per class, the area predicted as the class over its true area (``cm[:, c].sum() / cm[c].sum()``).

    Above 1 the class is over-predicted: with equal recall, its precision falls as the ratio grows
    (``precision = recall / ratio``). ``nan`` for a class absent from the truth.
    """
    cm = np.asarray(cm, dtype=np.float64)
    true = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(true > 0, cm.sum(axis=0) / np.maximum(true, 1), np.nan)


def check_overpredicted_class(answer, cm: np.ndarray, class_names: Sequence[str]) -> None:
    """Check ``(class name, predicted area / true area)`` of the most over-predicted class of ``cm``."""
    if is_empty(answer):
        not_attempted("set `answer_5` to (class name, ratio) (it is still None)")
        return
    try:
        name, ratio = answer
        ratio = float(ratio)
    except (TypeError, ValueError):
        raise ExerciseError("Give a pair: (class name, predicted area / true area).") from None
    ratios = overprediction(cm)
    best = int(np.nanargmax(ratios))
    if name != class_names[best]:
        raise ExerciseError(
            f"{name!r} is not the most over-predicted class.\n"
            "Hint: for each class c, divide the pixels predicted as c (column sum) by its true pixels (row sum)."
        )
    if not np.isclose(ratio, ratios[best], rtol=1e-3):
        raise ExerciseError(f"The class is right, but its ratio {ratio:.3f} is not: column sum over row sum.")
    correct(f"{name} is predicted on {ratios[best]:.2f} times its true area: its precision pays for its recall.")


def solution_overpredicted_class(cm: np.ndarray, class_names: Sequence[str]) -> tuple[str, float]:
    """Column sums over row sums, then the largest."""
    cm = np.asarray(cm, dtype=np.float64)
    ratios = cm.sum(0) / cm.sum(1)
    c = int(np.nanargmax(ratios))
    return class_names[c], float(ratios[c])


# --------------------------------------------------------------------------- 09: the seed's real head


def seed_head_model(
    feature_hw: Sequence[int], num_classes: int, channels: int = 256, hidden: int = 64, factor: int = 16
):
    """The seed's head as it was: ``UpSampling2D(factor)`` -> ``Conv2D(hidden, 1, relu)`` -> ``Conv2D(C, 1, relu)``.

    Returns a ``keras.Model`` from a ``channels``-deep feature map of ``feature_hw``.
    """
    import keras

    inputs = keras.Input((int(feature_hw[0]), int(feature_hw[1]), channels))
    x = keras.layers.UpSampling2D(factor, interpolation="bilinear", name="upsample")(inputs)
    x = keras.layers.Conv2D(hidden, 1, activation="relu", name="hidden_1x1")(x)
    outputs = keras.layers.Conv2D(num_classes, 1, activation="relu", name="classes_1x1")(x)
    return keras.Model(inputs, outputs, name="seed_head")


def check_seed_head_macs(answer, feature_hw: Sequence[int], num_classes: int, channels: int = 256, hidden: int = 64):
    """Check the multiply-accumulates of :func:`seed_head_model` (measured with ``model_report``)."""
    if is_empty(answer):
        not_attempted("set `answer_5` (it is still None)")
        return
    from course_utils.model import model_report

    model = seed_head_model(feature_hw, num_classes, channels, hidden)
    expected = model_report(model, (int(feature_hw[0]), int(feature_hw[1]), channels)).macs
    if int(answer) == 16 * feature_hw[0] * 16 * feature_hw[1] * channels * num_classes:
        raise ExerciseError(
            "That is a single 1x1 classifier from 256 channels; the seed's head had two 1x1 convolutions.\n"
            f"Hint: 256 -> {hidden} channels, then {hidden} -> {num_classes}, at every pixel of the output."
        )
    if int(answer) != expected:
        raise ExerciseError(
            f"{int(answer):,} is not right.\nHint: (16 H) x (16 W) positions, each doing "
            f"{channels} x {hidden} + {hidden} x {num_classes} multiply-accumulates (biases are not counted)."
        )
    correct(f"{expected:,} multiply-accumulates per image, most of them in the 256 -> {hidden} layer.")


def solution_seed_head_macs(feature_hw: Sequence[int], num_classes: int, channels: int = 256, hidden: int = 64) -> int:
    """Positions after the 16x upsampling times the two 1x1 layers' products."""
    positions = 16 * feature_hw[0] * 16 * feature_hw[1]
    return positions * (channels * hidden + hidden * num_classes)
