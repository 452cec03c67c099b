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
    "seed_gradient_ratio",
    "check_seed_gradient_ratio",
    "check_miou_function",
    "check_worst_confusion",
    "check_flip_tta",
    "batch_cms_of",
    "check_batch_averaged_miou",
    "check_pooling_params",
    "check_stage4_size",
    "check_best_efficiency",
    "check_class_weight_experiment",
    "check_decoder_stride",
    "check_colorize",
    "check_export_difference",
    "head_report",
    "check_head_macs",
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
    """Check ``fn(step) -> lr`` against Keras' ``PolynomialDecay`` (the course's poly schedule) at several steps."""
    from course_utils.training.recipes import poly_schedule

    schedule = poly_schedule(base_learning_rate, total_steps, power=power)
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

    from course_utils.training.callbacks import make_callbacks

    cbs = make_callbacks(config, run_dir, None)
    ckpt = next(c for c in cbs if isinstance(c, keras.callbacks.ModelCheckpoint))
    return check_equal(
        tuple(answer) if not _empty(answer) else None,
        (ckpt.monitor, ckpt.mode),
        what="(monitor, mode)",
        hint="the best model is the one with the highest validation mean IoU",
    )


def _seed_and_course_losses(logits, labels):
    """The seed's loss and the course's, as tensors, for logits ``[B, H, W, C]`` and int labels ``[B, H, W]``."""
    import keras

    from course_utils.losses import masked_sparse_ce

    num_classes = logits.shape[-1]
    one_hot = np.eye(num_classes + 1, dtype=np.float32)[:, :num_classes][np.minimum(np.asarray(labels), num_classes)]
    seed = keras.ops.mean(keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True))
    return seed, masked_sparse_ce()(np.asarray(labels), logits)


def seed_gradient_ratio(model, images, labels, layer: str = "classifier") -> tuple[float, float]:
    """``(|grad seed loss| / |grad course loss|, non-void share)`` on the kernel of ``model``'s ``layer``.

    The seed notebook one-hot encoded its labels with void (255) as an all-zero row
    (:func:`course_utils.throughput.naive_batches`) and averaged Keras' categorical
    cross-entropy over **every** pixel: a void pixel adds 0 to the sum but 1 to the
    count, so the loss is the course's times the non-void share. The gradient is not
    scaled the same way: TensorFlow's fused softmax cross-entropy assumes every label
    row sums to 1 and returns ``softmax(z) - y`` for the logits, which for an all-zero
    row is ``softmax(z)``, not 0. The course's :func:`course_utils.losses.masked_sparse_ce`
    leaves void out of the loss and the gradient. Needs the TensorFlow backend.
    """
    import tensorflow as tf

    kernel = model.get_layer(layer).kernel
    norms = []
    for which in (0, 1):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=False), tf.float32)
            loss = _seed_and_course_losses(logits, labels)[which]
        norms.append(float(tf.norm(tape.gradient(loss, kernel))))
    return norms[0] / norms[1], float(np.mean(np.asarray(labels) != 255))


def check_seed_gradient_ratio(answer: float, model, images, labels) -> bool:
    """Check the ratio of the classifier's gradient norms, the seed's loss over the course's, on one batch."""
    if _empty(answer):
        return not_attempted("set `answer_4` (it is still None)")
    ratio, share = seed_gradient_ratio(model, images, labels)
    if np.isclose(float(answer), 1 / ratio, rtol=1e-3) and not np.isclose(ratio, 1.0, rtol=1e-3):
        raise ExerciseError(f"{float(answer):.4f} is the ratio upside down: the seed's over the course's.")
    if np.isclose(float(answer), share, rtol=1e-3) and not np.isclose(ratio, share, rtol=1e-3):
        raise ExerciseError(
            f"{float(answer):.4f} is the non-void share: what the loss values predict, not what TensorFlow "
            "computes.\nHint: measure it, with keras.losses.categorical_crossentropy(one_hot, logits, "
            "from_logits=True) as the seed's Keras did, and tf.GradientTape."
        )
    ok = check_close(
        float(answer),
        ratio,
        rtol=1e-3,
        atol=1e-6,
        what="ratio of gradient norms",
        hint="two tf.GradientTape passes, one per loss, gradients with respect to "
        "model.get_layer('classifier').kernel; tf.norm of each, seed over course.",
    )
    print(
        f"measured {ratio:.4f}, while the losses differ by the non-void share {share:.4f}: the void pixels "
        "add 0 to the seed's loss but not to its gradient. TensorFlow's fused softmax cross-entropy returns "
        "softmax(z) - y, which for an all-zero row is softmax(z): every void pixel pushes the prediction "
        "there towards uniform."
    )
    return ok


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


def batch_cms_of(model, dataset, num_classes: int) -> list[np.ndarray]:
    """One confusion matrix per batch of ``dataset`` (``(images, labels)`` batches), argmax of ``model``."""
    from course_utils import metrics

    cms = []
    for images, labels in dataset:
        pred = np.argmax(np.asarray(model(images, training=False)), axis=-1)
        cms.append(metrics.confusion_matrix(np.asarray(labels), pred, num_classes))
    return cms


def check_batch_averaged_miou(fn: Callable[[Sequence[np.ndarray]], float], batch_cms: Sequence[np.ndarray]) -> bool:
    """Check ``fn(batch_cms) -> float``: the mean over batches of each batch's mIoU (the seed's metric)."""
    from course_utils import metrics

    def reference(cms):
        return float(np.mean([metrics.mean_iou(cm) for cm in cms]))

    rng = np.random.default_rng(0)
    made_up = [rng.integers(0, 30, size=(4, 4)) for _ in range(3)]
    made_up[1][2, :] = 0
    made_up[1][:, 2] = 0  # class 2 absent from this batch
    ok = check_function(
        fn,
        reference,
        [(list(batch_cms),), (made_up,)],
        rtol=1e-6,
        hint="metrics.mean_iou(cm) of every batch's matrix, then their mean (do not add the matrices up).",
    )
    if ok:
        whole = metrics.mean_iou(np.sum(batch_cms, axis=0))
        print(
            f"on these {len(batch_cms)} batches: averaged per batch {reference(batch_cms):.4f}, "
            f"one accumulated matrix {whole:.4f}"
        )
    return ok


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


_RUN_ONLY_FIELDS = ("tensorboard", "backup_every", "extra")


def check_class_weight_experiment(
    switched_config,
    switched_result,
    switched_iou: Mapping[str, float],
    rare_classes: Sequence[str],
    rare_gain: float,
    base_config,
    reference_result,
    train_counts: Sequence[int],
) -> bool:
    """Check the class-weighting experiment: one change, scored by ``evaluate_split``, read on the rare classes.

    The mechanics are checked, not a value: the config differs from ``base_config``
    in ``class_weighting`` only; ``switched_result`` is an
    :class:`course_utils.evaluate.EvaluationResult` on the same validation images as
    ``reference_result``; ``switched_iou`` maps every class name to its IoU in that
    result; ``rare_classes`` are the two classes with the fewest training pixels; and
    ``rare_gain`` is their mean IoU change (switched minus reference).
    """
    import dataclasses

    from course_utils.evaluate import EvaluationResult

    given = (switched_config, switched_result, switched_iou, rare_classes, rare_gain)
    if all(_empty(v) for v in given):
        return not_attempted("train the switched model and set the five answers (they are still None)")
    names = ("switched_config", "switched_result", "switched_iou", "rare_classes", "rare_gain")
    missing = [n for n, v in zip(names, given) if _empty(v)]
    if missing:
        raise ExerciseError(f"Still None: {', '.join(missing)}. Fill in all five.")
    if not dataclasses.is_dataclass(switched_config) or not hasattr(switched_config, "class_weighting"):
        raise ExerciseError(
            "`switched_config` should be a TrainConfig: dataclasses.replace(base, class_weighting=...)."
        )
    if bool(switched_config.class_weighting) == bool(base_config.class_weighting):
        raise ExerciseError(
            f"`switched_config.class_weighting` is {switched_config.class_weighting}, as in the reference: "
            "switch it (not base.class_weighting)."
        )
    other = [
        f.name
        for f in dataclasses.fields(base_config)
        if f.name not in (*_RUN_ONLY_FIELDS, "class_weighting")
        and getattr(base_config, f.name) != getattr(switched_config, f.name)
    ]
    if other:
        raise ExerciseError(
            f"The config also changes {', '.join(other)}: a controlled comparison changes one thing only.\n"
            "Hint: dataclasses.replace(base, class_weighting=not base.class_weighting)."
        )
    if not isinstance(switched_result, EvaluationResult):
        raise ExerciseError(
            f"`switched_result` is a {type(switched_result).__name__}: score the model with "
            "evaluate.evaluate_split(...), which returns an EvaluationResult."
        )
    if switched_result.split != reference_result.split or switched_result.num_images != reference_result.num_images:
        raise ExerciseError(
            f"The reference was scored on {reference_result.num_images} {reference_result.split} images, your "
            f"model on {switched_result.num_images} {switched_result.split} images: use the same split, "
            "max_images and scoring_kwargs."
        )
    classes = list(reference_result.class_names)
    if not isinstance(switched_iou, Mapping) or list(switched_iou) != classes:
        keys = list(switched_iou) if isinstance(switched_iou, Mapping) else type(switched_iou).__name__
        raise ExerciseError(
            f"`switched_iou` should map every class name, in order, to its IoU: expected keys {classes}, got {keys}."
            "\nHint: dict(zip(switched_result.class_names, switched_result.per_class_iou))"
        )
    want = switched_result.per_class_iou
    got = np.array([np.nan if v is None else float(v) for v in switched_iou.values()])
    if not np.allclose(got, want, equal_nan=True, atol=1e-6):
        raise ExerciseError("`switched_iou` does not hold the IoUs of `switched_result.per_class_iou`.")
    counts = np.asarray(train_counts, np.int64)
    rarest = [classes[i] for i in np.argsort(counts, kind="stable")[:2]]
    if set(rare_classes) != set(rarest) or len(list(rare_classes)) != 2:
        raise ExerciseError(
            f"The two rarest classes in the training pixels are not {list(rare_classes)}.\n"
            "Hint: data.class_frequencies(root, 'train') counts the pixels of each class; take the two smallest."
        )
    idx = [classes.index(c) for c in rarest]
    ref_iou = reference_result.per_class_iou
    deltas = want[idx] - ref_iou[idx]
    gain = float(np.nanmean(deltas)) if np.any(~np.isnan(deltas)) else float("nan")
    if np.isnan(gain):
        if not np.isnan(float(rare_gain)):
            raise ExerciseError("Neither rare class occurs in the scored images: their gain is nan.")
    elif not np.isclose(float(rare_gain), gain, atol=1e-4):
        raise ExerciseError(
            f"`rare_gain` {float(rare_gain):+.4f} is not the mean IoU change of {rarest} "
            "(switched minus reference).\nHint: np.nanmean([switched_iou[c] - reference IoU of c for c in rare_classes])."
        )
    share = counts / max(int(counts.sum()), 1)
    label = "with" if switched_config.class_weighting else "without"
    print(f"{'class':<20}{'train pixels':>13}{'reference':>11}{label + ' weights':>17}")
    for i, name in enumerate(classes):
        mark = " <- rare" if name in rarest else ""
        print(f"{name:<20}{100 * share[i]:12.2f}%{ref_iou[i]:11.3f}{want[i]:17.3f}{mark}")
    return correct(f"mean IoU change on the two rarest classes: {gain:+.4f}.")


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


def head_report(feature_hw: Sequence[int], num_classes: int, channels: int = 256, factor: int = 16, seed_order=True):
    """:func:`course_utils.model.model_report` of a classifier head on a ``channels``-deep feature map.

    ``seed_order=True``: the seed's head, bilinear upsampling by ``factor`` first, then the 1x1
    classifier at full resolution; ``False``: the course's, the 1x1 classifier on the feature map, then
    the upsampling of ``num_classes`` channels.
    """
    import keras

    from course_utils.model import model_report

    inputs = keras.Input((int(feature_hw[0]), int(feature_hw[1]), channels))
    up = keras.layers.UpSampling2D(factor, interpolation="bilinear", name="upsample")
    conv = keras.layers.Conv2D(num_classes, 1, name="classifier")
    outputs = conv(up(inputs)) if seed_order else up(conv(inputs))
    name = "seed_head" if seed_order else "course_head"
    return model_report(keras.Model(inputs, outputs, name=name), (int(feature_hw[0]), int(feature_hw[1]), channels))


def check_head_macs(answer: int, feature_hw: Sequence[int], num_classes: int, channels: int = 256, factor: int = 16):
    """Check the multiply-accumulates of the seed's head (upsample, then the 1x1 classifier at full resolution)."""
    if _empty(answer):
        return not_attempted("set `answer_4` (it is still None)")
    seed = head_report(feature_hw, num_classes, channels, factor, seed_order=True).macs
    course = head_report(feature_hw, num_classes, channels, factor, seed_order=False).macs
    if int(answer) == course:
        raise ExerciseError(
            "That is the course's head, whose classifier runs on the small feature map.\n"
            "Hint: after the upsampling the 1x1 convolution runs at every pixel of the image."
        )
    ok = check_equal(
        int(answer),
        seed,
        what="number of multiply-accumulates",
        hint="(factor x H) x (factor x W) positions, each a 1x1 convolution of `channels` inputs to "
        "`num_classes` outputs (the bias is not a multiply-accumulate).",
    )
    print(
        f"the course's order needs {course:,}: {seed // max(course, 1)}x fewer, for the same logits (bilinear upsampling and a 1x1 convolution are both linear, so they commute)."
    )
    return ok
