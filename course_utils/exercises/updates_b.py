"""New exercises of notebooks 06, 07 and 09 (issue 25), with their checkers and solutions.

The checkers follow the contract of :mod:`course_utils.exercises.core`: ``Not attempted yet`` while the
answer is still ``None``, ``Correct!`` for a right answer, an
:class:`~course_utils.exercises.core.ExerciseError` with a hint otherwise. They return ``None``, so that a
notebook cell ending with a check prints nothing else. Expected values are computed from the library
(metrics, model reports), never typed in. Solutions are the ``solution_*`` functions at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from course_utils.exercises.core import ExerciseError, correct, is_empty, not_attempted

__all__ = [
    "CURVE_CAUSES",
    "LOSS_TITLE",
    "diagnosis_histories",
    "check_curve_diagnosis",
    "overprediction",
    "check_overpredicted_class",
    "seed_head_model",
    "check_seed_head_macs",
    "check_label_safe_augment",
    "solution_label_safe_augment",
    "solution_curve_diagnosis",
    "solution_overpredicted_class",
    "solution_seed_head_macs",
    "check_poly_lr_end",
    "warmup_peak_step",
    "check_warmup_peak",
    "solution_poly_lr_end",
    "solution_warmup_peak",
    "LR_OUTCOMES",
    "final_loss_outcome",
    "check_lr_experiment",
    "solution_lr_experiment",
]

# --------------------------------------------------------------------------- 06: diagnose from curves

CURVE_CAUSES = (
    "over-fitting",
    "learning rate too high",
    "stale BatchNorm statistics",
    "class-weighted training loss against an unweighted validation loss",
)

#: the loss panel's title for the synthetic runs: neutral, since run B's training loss is weighted
LOSS_TITLE = "Loss: train = the loss optimised, val = plain cross-entropy"

# which cause each run of diagnosis_histories shows (the checker's key; the notebook does not print it)
_CURVE_ANSWER = {
    "A": "stale BatchNorm statistics",
    "B": "class-weighted training loss against an unweighted validation loss",
    "C": "over-fitting",
    "D": "learning rate too high",
}

_CURVE_HINTS = {
    "over-fitting": "the training loss keeps falling while the validation loss turns up after a minimum",
    "learning rate too high": "the training loss itself does not settle: it spikes, recovers slowly and stays high",
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
    # learning rate too high: a short fall, then loss spikes (each decaying over a few epochs)
    # and a high plateau, with the mIoU knocked back at every spike
    spikes = sum(np.where(t >= s, 0.9 * np.exp(-(t - s) / 1.5), 0.0) for s in (5, 9, 14, 18))
    runs["D"] = dict(
        loss=1.15 + 0.5 * np.exp(-t / 2) + spikes + wiggle,
        val_loss=1.25 + 0.5 * np.exp(-t / 2) + 1.2 * spikes + wiggle,
        miou=0.3 - 0.12 * np.exp(-t / 2) - 0.15 * spikes,
        val_miou=0.27 - 0.12 * np.exp(-t / 2) - 0.15 * spikes + wiggle,
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


# --------------------------------------------------------------------------- 05: a label-safe augmentation


def _coloured_pair(rng: np.random.Generator, h: int = 48, w: int = 64, void_rows: int = 4):
    """A label of blocky regions of classes 0 and 3 (plus void rows), and an image painting each class its colour."""
    blocks = rng.choice(np.array([0, 3], np.uint8), size=(h // 8, w // 8))
    label = np.kron(blocks, np.ones((8, 8), np.uint8))
    label[:void_rows] = 255
    colours = np.zeros((256, 3), np.uint8)
    colours[0], colours[3], colours[255] = (200, 30, 30), (30, 30, 200), (30, 200, 30)
    return colours[label], label, colours


def check_label_safe_augment(fn, crop: tuple[int, int] = (40, 56), trials: int = 12, seed: int = 0) -> None:
    """Check a student's ``fn(image, label, crop, rng) -> (image, label)`` random scale-crop-flip.

    Property checks on blocky two-class labels whose image paints each class in its own colour:
    output sizes equal ``crop``; labels keep integer ids from the input or void (255) and never
    invent the ids between two classes (a bilinear resize would); image and label stay aligned
    (the colour under a labelled pixel is that class's colour, away from borders); in some trial a
    zoom-out pads the label with void.
    """
    rng = np.random.default_rng(seed)
    saw_void_pad = False
    for trial in range(trials):
        image, label, colours = _coloured_pair(rng)
        try:
            out = fn(image.copy(), label.copy(), crop, np.random.default_rng(seed + trial))
        except NotImplementedError:
            not_attempted("replace `raise NotImplementedError` with your code")
            return
        except Exception as exc:  # the student's exception, reported
            raise ExerciseError(f"Your function raised {type(exc).__name__}: {exc}") from None
        if is_empty(out):
            not_attempted("return (image, label)")
            return
        img, lbl = (np.asarray(a) for a in out)
        if img.shape[:2] != tuple(crop) or lbl.shape != tuple(crop):
            raise ExerciseError(f"Got image {img.shape} and label {lbl.shape}; both must be {crop} (H, W).")
        if not np.issubdtype(lbl.dtype, np.integer):
            raise ExerciseError(
                f"The label came back as {lbl.dtype}: class ids are integers.\n"
                "Hint: resize labels with nearest neighbour, which never computes new values."
            )
        invented = sorted(set(np.unique(lbl).tolist()) - {0, 3, 255})
        if invented:
            raise ExerciseError(
                f"The label holds values {invented[:4]} that the input never had (only 0, 3 and void 255).\n"
                "Hint: a bilinear (or area) resize averages ids; use nearest neighbour for the label."
            )
        interior = np.zeros(lbl.shape, bool)
        interior[2:-2, 2:-2] = True
        for dy in (-2, 0, 2):  # pixels whose neighbourhood has one label only: no border blending there
            for dx in (-2, 0, 2):
                interior &= np.roll(lbl, (dy, dx), axis=(0, 1)) == lbl
        scored = interior & (lbl != 255)
        if scored.sum() > 20:
            expected = colours[lbl][scored].astype(float)
            agree = np.mean(np.abs(img[scored].astype(float) - expected).max(-1) < 40)
            if agree < 0.9:
                raise ExerciseError(
                    f"Image and label are not aligned: only {100 * agree:.0f} % of the labelled pixels show "
                    "their class's colour.\nHint: use the same scale, the same crop window and the same flip "
                    "for both (draw each random number once)."
                )
        saw_void_pad |= bool((lbl == 255).mean() > 0.3)  # far more void than the input's rows: zoom-out padding
    if not saw_void_pad:
        raise ExerciseError(
            "In no trial did a zoom-out leave void padding around a smaller image.\n"
            "Hint: draw scales below 1 too (e.g. 0.5-2.0) and pad the label with 255 (the image with grey)."
        )
    correct("Labels keep their ids, stay aligned with the image, and padding is void.")


def solution_label_safe_augment(image, label, crop, rng):
    """Random scale 0.5-2.0 (image bilinear, label nearest), pad (grey / void) to the crop, random crop, random flip."""
    import cv2

    h, w = label.shape
    scale = rng.uniform(0.5, 2.0)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # OpenCV wants (width, height)
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    ph, pw = max(crop[0] - label.shape[0], 0), max(crop[1] - label.shape[1], 0)
    image = np.pad(image, ((0, ph), (0, pw), (0, 0)), constant_values=128)
    label = np.pad(label, ((0, ph), (0, pw)), constant_values=255)
    top = rng.integers(0, label.shape[0] - crop[0] + 1)
    left = rng.integers(0, label.shape[1] - crop[1] + 1)
    image, label = image[top : top + crop[0], left : left + crop[1]], label[top : top + crop[0], left : left + crop[1]]
    if rng.random() < 0.5:
        image, label = image[:, ::-1], label[:, ::-1]
    return image, label


# --------------------------------------------------------------------------- 06: poly after its end, warm-up peak


def check_poly_lr_end(fn, base: float = 0.01, total: int = 1000, power: float = 0.9) -> None:
    """Check that a student's ``poly_lr(step)`` stays exactly 0 (a real number) at and after ``total`` steps.

    Exercise 1's first check tests the schedule inside ``[0, total)``; this one tests the rule for
    what comes after, which a resumed run reaches (``(1 - step/total) ** 0.9`` is a *complex*
    number in Python once ``step > total``).
    """
    try:
        first = fn(0)
    except NotImplementedError:
        first = None
    if first is None:
        not_attempted("write `poly_lr` first (it still raises NotImplementedError)")
        return
    for step in (total, total + 1, total + total // 2):
        value = fn(step)
        if isinstance(value, complex) or np.iscomplexobj(value):
            raise ExerciseError(
                f"poly_lr({step}) is the complex number {value}.\nHint: in Python a negative float to the "
                "power 0.9 is complex; clamp the step to `total` before the power (min(step, total))."
            )
        if not np.isfinite(float(value)) or abs(float(value)) > 1e-12:
            raise ExerciseError(
                f"poly_lr({step}) = {float(value)!r}, not 0.\nHint: after the last step the rate stays 0: "
                "clamp the step to `total` (a resumed run that repeats part of an epoch runs past it)."
            )
    correct(f"after step {total} the rate stays 0, as Keras' `PolynomialDecay` (the course's poly schedule) clamps it.")


def warmup_peak_step(total_steps: int, warmup_steps: int, base: float = 1.0, power: float = 0.9) -> int:
    """The step at which the poly rate (:func:`course_utils.training.recipes.poly_schedule`) with a warm-up peaks."""
    from course_utils.training.recipes import poly_schedule

    schedule = poly_schedule(base, total_steps, power=power, warmup_steps=warmup_steps)
    rates = np.asarray([float(schedule(s)) for s in range(total_steps + 1)])
    return int(np.argmax(rates))


def check_warmup_peak(answer, total_steps: int, warmup_steps: int) -> None:
    """Check the step (counted from 0) at which the warmed-up poly rate peaks."""
    if is_empty(answer):
        not_attempted("set `answer_2b` to the step of the peak (it is still None)")
        return
    expected = warmup_peak_step(total_steps, warmup_steps)
    if not isinstance(answer, (int, np.integer)) or int(answer) != expected:
        raise ExerciseError(
            f"{answer!r} is not the step of the peak.\nHint: the warm-up multiplies the poly rate by "
            "min(1, (step + 1) / warmup_steps); the poly rate only falls, so the product is highest where the "
            "ramp reaches 1, unless the warm-up is so long against the run that the poly decay turns it down "
            "earlier. Steps count from 0."
        )
    correct(f"step {expected}: the ramp reaches 1 there, and from then on the poly decay only lowers the rate.")


def solution_poly_lr_end(step, base=0.01, total=1000, power=0.9):
    """Exercise 1 with the rule after the end: clamp the step, then the power."""
    return base * (1 - min(step, total) / total) ** power


def solution_warmup_peak(total_steps: int, warmup_steps: int, power: float = 0.9) -> int:
    """The peak of ``min(1, (s + 1) / W) * (1 - s / T) ** p``.

    After the ramp (``s >= W - 1``) the rate only falls, so the peak is at ``W - 1``, unless the
    product already turns down during the ramp: ``(s + 1) * (1 - s / T) ** p`` is highest at
    ``s* = (T - p) / (1 + p)``, which matters only when the warm-up is long against the run.
    """
    if warmup_steps <= 1:
        return 0
    s_star = (total_steps - power) / (1 + power)
    candidates = {warmup_steps - 1, int(np.floor(s_star)), int(np.ceil(s_star))}
    candidates = {min(max(c, 0), warmup_steps - 1) for c in candidates}

    def rate(s):
        return min(1.0, (s + 1) / warmup_steps) * (1 - min(s, total_steps) / total_steps) ** power

    return max(sorted(candidates), key=rate)


# --------------------------------------------------------------------------- 06: predict, train, read


LR_OUTCOMES = ("higher", "lower")


def final_loss_outcome(history: Mapping[str, Sequence[float]], baseline: Mapping[str, Sequence[float]]) -> str:
    """``"higher"`` when ``history``'s last training loss is above ``baseline``'s (or not finite), else ``"lower"``."""
    last, ref = float(history["loss"][-1]), float(baseline["loss"][-1])
    return "higher" if not np.isfinite(last) or last > ref else "lower"


def check_lr_experiment(prediction, history, baseline) -> None:
    """Exercise 7: compare a prediction, made before training, with what the run did.

    ``prediction`` is one of :data:`LR_OUTCOMES` (the final training loss of the run with the
    changed learning rate against ``baseline``, section 5's run); ``history`` is the new run's
    ``plotting.load_history`` dict.
    """
    if is_empty(prediction) or is_empty(history):
        not_attempted("write down `prediction_7` and train the run into `history_7` (both still None)")
        return
    if prediction not in LR_OUTCOMES:
        raise ExerciseError(f"{prediction!r}: predict one of {LR_OUTCOMES}.")
    if not isinstance(history, Mapping) or "loss" not in history or len(history["loss"]) == 0:
        raise ExerciseError("`history_7` must be the dict `plotting.load_history(folder / 'history.csv')` returns.")
    outcome = final_loss_outcome(history, baseline)
    last, ref = float(history["loss"][-1]), float(baseline["loss"][-1])
    if prediction != outcome:
        raise ExerciseError(
            f"You predicted {prediction}; the run ended {outcome} (final training loss {last:.4g} against "
            f"{ref:.4g}).\nHint: plot both histories and read the loss epoch by epoch: a step 100x larger "
            "overshoots the minimum it aims at; with Adam the step size is about the learning rate itself."
        )
    correct(f"final training loss {last:.4g} against {ref:.4g}, as you predicted. Now read the curve: where did it go?")


def solution_lr_experiment(config, dataset_root, folder, factor: float = 100.0):
    """Train ``config`` with its learning rate ``factor`` times larger in ``folder``; return ``("higher", history)``."""
    import dataclasses
    from pathlib import Path

    from course_utils import plotting, train

    changed = dataclasses.replace(config, learning_rate=config.base_learning_rate * factor, tensorboard=False)
    train.train(changed, dataset_root, folder, verbose=0)
    return "higher", plotting.load_history(Path(folder) / "history.csv")


# --------------------------------------------------------------------------- 05: the masked cross-entropy


def check_masked_ce(fn, num_classes: int = 4, seed: int = 0) -> None:
    """Check a student's ``fn(labels, logits, ignore_index=255) -> scalar`` masked cross-entropy.

    Written with ``keras.ops`` or TensorFlow (it is differentiated with ``tf.GradientTape``). On a
    batch with void pixels the value must equal ``losses.masked_sparse_ce()`` (mean over the
    labelled pixels), its gradient must be exactly zero on every void pixel, and a batch whose
    every pixel is void must give 0 (not ``nan``).
    """
    import tensorflow as tf

    from course_utils.losses import masked_sparse_ce

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=(2, 6, 8)).astype(np.int32)
    labels[:, :2] = 255
    void = labels == 255
    z = tf.Variable(rng.normal(size=(2, 6, 8, num_classes)).astype(np.float32))
    try:
        with tf.GradientTape() as tape:
            loss = fn(tf.constant(labels), z, 255)
    except NotImplementedError:
        not_attempted("replace `raise NotImplementedError` with your code")
        return
    except Exception as exc:
        raise ExerciseError(f"Your function raised {type(exc).__name__}: {exc}") from None
    if is_empty(loss):
        not_attempted("return the loss")
        return
    value = float(np.asarray(loss))
    expected = float(masked_sparse_ce()(labels, z))
    if not np.isclose(value, expected, rtol=1e-4, atol=1e-5):
        share = 1 - void.mean()
        hint = (
            "you averaged over every pixel, void included: divide by the number of labelled pixels"
            if np.isclose(value, expected * share, rtol=1e-3)
            else "per pixel: log-sum-exp of the logits minus the true class's logit; average over labelled pixels"
        )
        raise ExerciseError(f"Your loss is {value:.5f}, the masked loss is {expected:.5f}.\nHint: {hint}.")
    grad = tape.gradient(loss, z)
    if grad is None:
        raise ExerciseError(
            "No gradient reaches the logits: write the loss with keras.ops or tf (not NumPy) so it can be trained."
        )
    leak = float(np.abs(np.asarray(grad)[void]).max())
    if leak > 0:
        raise ExerciseError(
            f"The gradient on void pixels is not zero (largest {leak:.3g}).\n"
            "Hint: replace void labels by any valid id *and* multiply their loss by 0 (a mask); "
            "a target row of zeros still leaves softmax(z) as the gradient of the fused softmax cross-entropy."
        )
    try:
        all_void = float(np.asarray(fn(tf.constant(np.full((1, 2, 2), 255, np.int32)), z[:1, :2, :2], 255)))
    except Exception as exc:
        raise ExerciseError(f"On a batch of void only your function raised {type(exc).__name__}: {exc}") from None
    if not np.isfinite(all_void) or all_void != 0:
        raise ExerciseError(
            f"A batch of void only gives {all_void}; it must be 0.\nHint: divide with ops.divide_no_nan."
        )
    correct("Same value as masked_sparse_ce, and void pixels get no gradient at all.")


def solution_masked_ce(labels, logits, ignore_index=255):
    """Sparse cross-entropy from logits averaged over the labelled pixels (``keras.ops``)."""
    from keras import ops

    labels = ops.cast(labels, "int32")
    valid = ops.not_equal(labels, ignore_index)
    safe = ops.where(valid, labels, ops.zeros_like(labels))
    per_pixel = ops.sparse_categorical_crossentropy(safe, logits, from_logits=True)
    mask = ops.cast(valid, "float32")
    return ops.divide_no_nan(ops.sum(per_pixel * mask), ops.sum(mask))
