"""Exercise checkers for the practice notebooks (05-09).

Same contract as :mod:`course_utils.checks`: a checker prints ``Not attempted
yet`` (and returns False) while the exercise cell is untouched, ``Correct!`` (and
returns True) for a right answer, and raises
:class:`~course_utils.checks.ExerciseError` with a hint otherwise. Expected values are computed from the course library (metrics,
data, train, evaluate, plotting, model), never typed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from course_utils.checks import (
    ExerciseError,
    check_close,
    check_equal,
    check_function,
    correct,
    is_empty,
    not_attempted,
)

__all__ = [
    "majority_class_scores",
    "check_majority_baseline",
    "check_class_weights",
    "check_label_validator",
    "check_poly_lr",
    "check_total_steps",
    "check_checkpoint_monitor",
    "check_miou_function",
    "check_worst_confusion",
    "check_flip_tta",
    "check_pooling_params",
    "check_stage4_size",
    "check_best_efficiency",
    "check_decoder_stride",
    "check_colorize",
    "check_export_difference",
]


_empty = is_empty


def _stub_result(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the student's function; ``None`` when it is still a stub (raises NotImplementedError or returns None)."""
    try:
        result = fn(*args)
    except NotImplementedError:
        return None
    except Exception as exc:  # report the student's exception
        raise ExerciseError(f"Your function raised {type(exc).__name__}: {exc}") from None
    return None if is_empty(result) else result


# --------------------------------------------------------------------------- 05


def majority_class_scores(counts: Sequence[int]) -> tuple[float, float]:
    """``(pixel accuracy, mIoU)`` of a model that predicts the most frequent class everywhere.

    Computed through :func:`course_utils.metrics.confusion_matrix` semantics:
    all pixels land in the majority column, so the majority class has IoU
    ``count / total`` and every other class that occurs has IoU 0 (classes that
    never occur are left out of the mean).
    """
    from course_utils import metrics

    counts = np.asarray(counts, np.int64)
    if counts.ndim != 1 or counts.sum() <= 0:
        raise ValueError("counts must be a 1-D array of pixel counts with a positive sum.")
    cm = np.zeros((counts.size, counts.size), np.int64)
    cm[:, int(np.argmax(counts))] = counts
    return metrics.pixel_accuracy(cm), metrics.mean_iou(cm)


def check_majority_baseline(accuracy: float, miou: float, counts: Sequence[int]) -> bool:
    """Check the pixel accuracy and mIoU of the "always predict the majority class" model."""
    if _empty(accuracy) and _empty(miou):
        return not_attempted("set the accuracy and the mIoU (they are still None)")
    if _empty(accuracy) or _empty(miou):
        raise ExerciseError("Fill in both the accuracy and the mIoU: one of them is still None.")
    acc, mi = majority_class_scores(counts)
    if not np.isclose(float(accuracy), acc, atol=1e-4):
        raise ExerciseError(
            f"The pixel accuracy {float(accuracy):.4f} is not right.\n"
            "Hint: every pixel of the majority class is right, every other pixel is wrong."
        )
    if not np.isclose(float(miou), mi, atol=1e-4):
        raise ExerciseError(
            f"The mIoU {float(miou):.4f} is not right.\nHint: the majority class's union is "
            "every pixel; each other class that occurs has intersection 0."
        )
    return correct(f"accuracy {acc:.3f} but mIoU only {mi:.3f}.")


def check_class_weights(weights: Sequence[float], counts: Sequence[int]) -> bool:
    """Check inverse-log-frequency weights ``1 / ln(1.02 + p)`` against :func:`course_utils.data.class_weights`."""
    from course_utils.data import class_weights

    return check_close(
        weights,
        class_weights(counts, method="inverse_log"),
        rtol=1e-4,
        atol=1e-5,
        hint="p is each class's share of the labelled pixels: counts / counts.sum().",
        what="weights",
    )


def _is_label_safe_reference(label: np.ndarray, num_classes: int, ignore_index: int = 255) -> bool:
    values = np.unique(np.asarray(label))
    integral = values == np.round(values)
    return bool(np.all(integral & ((values == ignore_index) | ((values >= 0) & (values < num_classes)))))


def check_label_validator(fn: Callable[[np.ndarray, int], bool], seed: int = 0) -> bool:
    """Check ``fn(label, num_classes) -> bool``: True iff every value is a class id or 255."""
    rng = np.random.default_rng(seed)
    good = rng.integers(0, 7, size=(6, 9))
    with_void = good.copy()
    with_void[0, :3] = 255
    bad_high = good.copy()
    bad_high[2, 2] = 7
    blurred = good.astype(np.float32)
    blurred[1, 1] = 2.5  # what a bilinear resize makes of a label
    negative = good.copy()
    negative[0, 0] = -1
    cases = [(good, 7), (with_void, 7), (bad_high, 7), (blurred, 7), (negative, 7), (np.full((3, 3), 255), 3)]
    if _empty(fn):
        return not_attempted("define the function")
    for label, n in cases:
        got = _stub_result(fn, label, n)
        if got is None:
            return not_attempted("replace `raise NotImplementedError` with your code and return True or False")
        got = bool(got)
        want = _is_label_safe_reference(label, n)
        if got != want:
            raise ExerciseError(
                f"Wrong answer for a label with values {sorted(np.unique(label).tolist())} and {n} classes: "
                f"got {got}, expected {want}.\nHint: compare np.unique(label) with range(num_classes) and 255; "
                "a value like 2.5 is not a class id."
            )
    return correct()


# --------------------------------------------------------------------------- 06


def check_poly_lr(fn: Callable[[int], float], base_learning_rate: float, total_steps: int, power: float = 0.9) -> bool:
    """Check ``fn(step) -> lr`` against :class:`course_utils.train.PolyDecay` at several steps."""
    from course_utils.train import PolyDecay

    schedule = PolyDecay(base_learning_rate, total_steps, power=power)
    steps = sorted({0, 1, total_steps // 3, total_steps // 2, max(total_steps - 1, 0), total_steps})

    def student(step):
        value = fn(step)
        return None if _empty(value) else float(value)

    return check_function(
        student,
        lambda s: float(schedule(s)),
        [(s,) for s in steps],
        rtol=1e-4,
        atol=1e-8,
        hint="lr = base * (1 - step / total_steps) ** power",
    )


def check_total_steps(answer: int, config, dataset_root) -> bool:
    """Check the number of optimizer steps of a run (what the poly schedule decays over)."""
    from course_utils.train import make_datasets

    if _empty(answer):
        return not_attempted("set the number of steps (it is still None)")
    _, _, steps, _, _ = make_datasets(config, dataset_root)
    return check_equal(
        answer,
        int(steps) * int(config.epochs),
        what="number of steps",
        hint="steps per epoch (steps_per_epoch, or ceil(train images / batch size)) x epochs",
    )


def check_checkpoint_monitor(answer: Sequence[str], config, run_dir) -> bool:
    """Check ``(monitor, mode)`` of the callback that keeps the best model."""
    import keras

    from course_utils.train import make_callbacks

    cbs = make_callbacks(config, run_dir, None)
    ckpt = next(c for c in cbs if isinstance(c, keras.callbacks.ModelCheckpoint))
    return check_equal(
        tuple(answer) if not _empty(answer) else None,
        (ckpt.monitor, ckpt.mode),
        what="(monitor, mode)",
        hint="the best model is the one with the highest validation mean IoU",
    )


# --------------------------------------------------------------------------- 07


def check_miou_function(fn: Callable[[np.ndarray], float], seed: int = 0) -> bool:
    """Check ``fn(confusion_matrix) -> mIoU`` against :func:`course_utils.metrics.mean_iou`."""
    from course_utils import metrics

    rng = np.random.default_rng(seed)
    cases = []
    for n in (2, 4, 7):
        cm = rng.integers(0, 50, size=(n, n))
        cases.append((cm,))
    absent = rng.integers(0, 50, size=(5, 5))
    absent[3, :] = 0
    absent[:, 3] = 0  # class 3 never occurs and is never predicted: left out of the mean
    cases.append((absent,))
    return check_function(
        fn,
        metrics.mean_iou,
        cases,
        rtol=1e-6,
        hint="IoU_c = cm[c, c] / (row sum + column sum - cm[c, c]); skip classes whose union is 0.",
    )


def check_worst_confusion(answer: Sequence[str], cm: np.ndarray, class_names: Sequence[str]) -> bool:
    """Check ``(true class, predicted class)`` of the largest off-diagonal share of the row-normalised matrix."""
    cm = np.asarray(cm, np.float64)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(shares, -1)
    i, j = np.unravel_index(int(np.argmax(shares)), shares.shape)
    return check_equal(
        tuple(answer) if not _empty(answer) else None,
        (class_names[i], class_names[j]),
        what="(true class, predicted class)",
        hint="normalise each row by its sum, ignore the diagonal, take the largest entry.",
    )


def check_flip_tta(fn: Callable[[Any, np.ndarray], np.ndarray], model, images: np.ndarray) -> bool:
    """Check ``fn(model, images) -> probabilities`` against ``evaluate.predict_proba(..., flip=True)``."""
    from course_utils.evaluate import predict_proba

    got = _stub_result(fn, model, images)
    if got is None:
        return not_attempted("replace `raise NotImplementedError` with your code and return the probabilities")
    got = np.asarray(got, np.float64)
    want = predict_proba(model, images, scales=(1.0,), flip=True)
    return check_close(
        got,
        want,
        rtol=1e-4,
        atol=1e-5,
        what="flip-averaged probabilities",
        hint="softmax(model(x)) and the mirrored softmax(model(mirrored x)), averaged; mirror along axis 2 (width).",
    )


# --------------------------------------------------------------------------- 08


def check_pooling_params(answer: int, num_classes: int, backbone: str = "resnet18") -> bool:
    """Check the parameters the ASPP image-pooling branch adds (model with minus model without)."""
    from course_utils.model import build_deeplabv3

    with_pool = build_deeplabv3(num_classes, backbone=backbone, image_pooling=True).count_params()
    without = build_deeplabv3(num_classes, backbone=backbone, image_pooling=False).count_params()
    return check_equal(
        answer,
        int(with_pool - without),
        what="parameter difference",
        hint="the branch's 1x1 convolution (C_in x 256, no bias) and BatchNorm (4 x 256), plus 256 more "
        "input channels of the 1x1 projection after the concatenation (256 x 256).",
    )


def check_stage4_size(
    answer: Sequence[int], input_size: Sequence[int], output_stride: int, backbone: str = "resnet18"
) -> bool:
    """Check ``(H, W)`` of the backbone's last feature map for an input size and output stride."""
    from course_utils.model import BACKBONES, build_resnet

    h, w = int(input_size[0]), int(input_size[1])
    model = build_resnet(BACKBONES[backbone], output_stride=output_stride, input_shape=(h, w, 3))
    expected = tuple(int(v) for v in model.output_shape[1:3])
    return check_equal(
        tuple(answer) if not _empty(answer) else None,
        expected,
        what="feature-map size",
        hint="'same' padding rounds up at every stride-2 step: ceil(H / output_stride).",
    )


def check_best_efficiency(answer: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Check the variant with the highest validation mIoU per million parameters among trained rows."""
    if _empty(answer):
        return not_attempted("set the variant's name (it is still None)")
    trained = [r for r in rows if r.get("val_miou") is not None and r.get("params")]
    if not trained:
        raise ExerciseError("No trained rows to compare: run the live ablations first.")
    best = max(trained, key=lambda r: r["val_miou"] / (r["params"] / 1e6))
    return check_equal(
        answer,
        best["variant"],
        what="variant",
        hint="for each trained row compute val_miou / (params / 1e6) and take the largest.",
    )


# --------------------------------------------------------------------------- 09


def check_decoder_stride(answer: int, model) -> bool:
    """Check the output stride of the low-level features a DeepLabV3+ decoder uses."""
    layer = model.get_layer("decoder_low_conv")
    in_h = model.input_shape[1]
    feat_h = layer.input.shape[1]
    if in_h is None or feat_h is None:
        raise ExerciseError("Build the model with a fixed input_shape (e.g. (64, 128, 3)) for this check.")
    return check_equal(
        answer,
        int(round(in_h / feat_h)),
        what="output stride",
        hint="compare the input height with the height of the decoder's low-level input (stage 1).",
    )


def check_colorize(fn: Callable[[np.ndarray, Sequence[Sequence[int]]], np.ndarray], palette, seed: int = 0) -> bool:
    """Check ``fn(ids, palette) -> RGB uint8`` against :func:`course_utils.plotting.colorize` (void is black)."""
    from course_utils.plotting import colorize

    rng = np.random.default_rng(seed)
    n = len(palette)
    ids = rng.integers(0, n, size=(5, 7))
    ids_void = ids.copy()
    ids_void[0, :] = 255
    for case in (ids, ids_void):
        got = _stub_result(fn, case, palette)
        if got is None:
            return not_attempted("replace `raise NotImplementedError` with your code and return the RGB image")
        got = np.asarray(got)
        want = colorize(case, palette)
        if got.shape != want.shape or not np.array_equal(got.astype(np.int64), want.astype(np.int64)):
            raise ExerciseError(
                "The colours differ from the palette lookup (or the shape is wrong: expected "
                f"{want.shape}).\nHint: np.asarray(palette, np.uint8)[ids]; paint 255 black."
            )
    return correct()


def check_export_difference(answer: float, model, exported_dir, image: np.ndarray) -> bool:
    """Check the largest absolute logit difference between a Keras model and its exported SavedModel."""
    import tensorflow as tf

    if _empty(answer):
        return not_attempted("set `max_difference` (it is still None)")
    reloaded = tf.saved_model.load(str(exported_dir))
    x = np.asarray(image, np.float32)[None]
    diff = float(np.max(np.abs(np.asarray(reloaded.serve(x)) - np.asarray(model(x, training=False)))))
    ok = check_close(
        float(answer),
        diff,
        rtol=1e-3,
        atol=1e-6,
        what="largest difference",
        hint="np.max(np.abs(reloaded.serve(x) - model(x))) for one image batch x",
    )
    if diff > 1e-3:
        raise ExerciseError(f"The exported model differs from the Keras model by {diff:.3g}: export it again.")
    return ok
