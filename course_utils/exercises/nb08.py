"""Checkers of notebook 08 (experiments); the worked solutions are :mod:`course_utils.exercises.solutions.nb08`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from course_utils.exercises.core import ExerciseError, check_equal, correct, is_empty, not_attempted

__all__ = ["check_pooling_params", "check_stage4_size", "check_best_efficiency", "check_class_weight_experiment"]


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
        tuple(answer) if not is_empty(answer) else None,
        expected,
        what="feature-map size",
        hint="'same' padding rounds up at every stride-2 step: ceil(H / output_stride).",
    )


def check_best_efficiency(answer: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Check the variant with the highest validation mIoU per million parameters among trained rows."""
    if is_empty(answer):
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
    if all(is_empty(v) for v in given):
        return not_attempted("train the switched model and set the five answers (they are still None)")
    names = ("switched_config", "switched_result", "switched_iou", "rare_classes", "rare_gain")
    missing = [n for n, v in zip(names, given) if is_empty(v)]
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
