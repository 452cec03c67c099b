"""Solutions of the exercises of notebook 08 (experiments)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

# Exercise 1: the pooling branch's 1x1 convolution (2048 x 256, no bias: ResNet-50's last stage has
# 4 x 512 output channels) and BatchNorm (4 x 256), plus 256 more input channels of the projection
# after the concatenation (256 x 256).
answer_1 = 2048 * 256 + 4 * 256 + 256 * 256

# Exercise 2: 'same' padding rounds up at every stride-2 step: ceil(513 / 8) per side.
answer_2 = (math.ceil(513 / 8), math.ceil(513 / 8))


def best_efficiency(rows) -> str:
    """Not in the notebook any more (kept for its checker's tests): the trained variant with the highest val mIoU per million parameters."""
    scored = [r for r in rows if r["val_miou"] is not None and r["params"]]
    return max(scored, key=lambda r: r["val_miou"] / (r["params"] / 1e6))["variant"]


def class_weight_experiment(base, root, run_dir, reference_result, train_counts, max_images=None):
    """Exercise 3: the reference with its class weighting switched, trained, scored like the reference.

    Returns ``(switched_config, switched_result, switched_iou, rare_classes, rare_gain)``.
    """
    from course_utils import evaluate, train

    switched_config = dataclasses.replace(base, class_weighting=not base.class_weighting)
    train.train(switched_config, root, run_dir, verbose=0, if_finished="overwrite")  # a re-run repeats it
    model = evaluate.load_checkpoint(Path(run_dir) / "best.keras")  # best against best, as the reference
    switched_result = evaluate.evaluate_split(
        model, root, "val", max_images=max_images, **evaluate.scoring_kwargs(switched_config)
    )
    switched_iou = dict(zip(switched_result.class_names, switched_result.per_class_iou.tolist()))
    rare = np.argsort(np.asarray(train_counts), kind="stable")[:2]
    rare_classes = [switched_result.class_names[i] for i in rare]
    deltas = switched_result.per_class_iou[rare] - reference_result.per_class_iou[rare]
    rare_gain = float(np.nanmean(deltas)) if np.any(~np.isnan(deltas)) else float("nan")
    return switched_config, switched_result, switched_iou, rare_classes, rare_gain
