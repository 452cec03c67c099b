"""Small helpers behind the evidence shown in notebooks 06 and 07.

* :func:`batchnorm_layers` and :func:`reset_batchnorm_statistics`: the BatchNorm demonstration
  of notebook 06 without reaching into Keras' private API;
* :func:`steps_at_rate_zero`: how many steps a resumed poly run spends past its schedule;
* :func:`paired_bootstrap_miou`: the paired comparison of two ways of scoring the same model on
  the same images (test-time augmentation or not), from per-image confusion matrices;
* :data:`SEED_PER_BATCH_VS_ACCUMULATED` and :data:`STALE_BN_HISTORY`: figures quoted from the
  course's documents, kept here with their source so that a notebook prints them instead of
  typing them.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from course_utils import metrics

__all__ = [
    "SEED_PER_BATCH_VS_ACCUMULATED",
    "STALE_BN_HISTORY",
    "BF16_SPEEDUPS",
    "batchnorm_layers",
    "reset_batchnorm_statistics",
    "steps_at_rate_zero",
    "paired_bootstrap_miou",
    "per_image_confusions",
]

#: The seed notebook's IDD run, same model and validation split, scored two ways. Source: the seed
#: notebook's training log (best Keras ``val_miou``, a mean of per-batch mIoUs, epoch 15) and its
#: ``predict_for`` score of the validation split, which accumulates a confusion matrix (``cf_matrix``)
#: over the split. The seed does not show the helper that turns the matrix into its score, so other
#: differences (the checkpoint loaded, image pairs) cannot be ruled out.
SEED_PER_BATCH_VS_ACCUMULATED = {
    "keras_per_batch_best_val_miou": 0.6229,
    "best_epoch": 15,
    "accumulated_val_miou": 0.5655,
    "source": "the seed notebook (not shipped): its training log, epoch 15, against its predict_for('Val_data')",
}

#: A real stale-BatchNorm history: the first CamVid `cpu` run before precise BN (momentum 0.99),
#: first epochs. Source: docs/results.md, "Validation numbers you can trust".
STALE_BN_HISTORY = {
    "val_loss": (678.0, 13.1, 7.8),
    "val_miou": (0.015, 0.078, 0.041),
    "source": "docs/results.md, section 'Validation numbers you can trust'",
}

#: Training-step times (s) with float32 and bf16 on the course's AMX CPU, batch 8, loaded machine.
#: Source: docs/results.md, "Speed levers" table.
BF16_SPEEDUPS = {
    "OS 16, 120x240": (2.81, 1.45),
    "OS 16, 240x320": (4.71, 1.65),
    "OS 8, 180x240": (17.3, 18.2),
    "ResNet-34, OS 16, 180x240": (19.3, 11.0),
}


def batchnorm_layers(model: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """Every ``BatchNormalization`` layer of ``model``, nested models included (public API only).

    Walks ``layer.layers`` recursively (Keras models and functional sub-models expose it); a layer
    is listed once even if it is shared.
    """
    found: list[keras.layers.BatchNormalization] = []
    seen: set[int] = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        stack.extend(reversed(list(getattr(layer, "layers", []) or [])))
    return found


def reset_batchnorm_statistics(model: keras.layers.Layer) -> int:
    """Put every BatchNorm's moving mean to 0 and moving variance to 1 (their initial values).

    Returns the number of layers reset. Used to show, on a trained model, what validation looks
    like when the moving averages have not caught up with the weights.
    """
    layers = batchnorm_layers(model)
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))
    return len(layers)


def steps_at_rate_zero(done_steps: int, total_steps: int) -> int:
    """Optimizer steps a poly schedule of ``total_steps`` ran past its end (where the rate is clamped to 0).

    >>> steps_at_rate_zero(12, 10), steps_at_rate_zero(8, 10)
    (2, 0)
    """
    return max(0, int(done_steps) - int(total_steps))


def paired_bootstrap_miou(
    cms_a: Sequence[np.ndarray], cms_b: Sequence[np.ndarray], samples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Paired bootstrap of ``mIoU(b) - mIoU(a)`` over images.

    ``cms_a[i]`` and ``cms_b[i]`` are the confusion matrices of image ``i`` scored two ways (for
    example without and with test-time augmentation, same weights). Each resample draws the images
    with replacement, the *same* draw for both, sums their matrices and takes the difference of the
    two mIoUs. Returns ``(difference on all images, 2.5th percentile, 97.5th percentile)``: when the
    interval excludes 0, the difference is larger than what the choice of images explains.
    """
    a = np.asarray([np.asarray(cm, dtype=np.float64) for cm in cms_a])
    b = np.asarray([np.asarray(cm, dtype=np.float64) for cm in cms_b])
    if a.shape != b.shape or a.ndim != 3 or len(a) < 2:
        raise ValueError(f"need two equal stacks of >= 2 per-image matrices, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    diffs = np.empty(samples)
    for k in range(samples):
        idx = rng.integers(0, len(a), len(a))
        diffs[k] = metrics.mean_iou(b[idx].sum(0)) - metrics.mean_iou(a[idx].sum(0))
    point = metrics.mean_iou(b.sum(0)) - metrics.mean_iou(a.sum(0))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(point), float(low), float(high)


def per_image_confusions(
    model,
    root,
    split: str = "val",
    max_images: int | None = None,
    tta_scales: Sequence[float] = (1.0,),
    flip: bool = False,
    image_size: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """One confusion matrix per image of ``split``, scored as :func:`course_utils.evaluate.evaluate_split` scores.

    Their sum is ``evaluate_split(...).confusion_matrix`` with the same arguments; kept apart, they
    are what :func:`paired_bootstrap_miou` resamples.
    """
    from course_utils import data, evaluate

    info = data.load_info(root)
    ds = data.make_dataset(root, split, 1, training=False, image_size=image_size, max_images=max_images)
    cms = []
    for images, labels in ds:
        probs = evaluate.predict_proba(model, images, tta_scales, flip)
        preds = np.argmax(probs, axis=-1)
        cms.append(metrics.confusion_matrix(np.asarray(labels), preds, info.num_classes))
    return cms
