"""Solutions of the exercises of notebook 06 (training).

Notebook 06 still shows these in collapsed cells below its exercises; the module is the form the
notebook will use once its exercises become cells the student fills in (like 00-05).
"""

from __future__ import annotations

import math
import tempfile


def poly_lr(step, base=0.01, total=1000, power=0.9):
    """Exercise 1: the poly schedule, constant 0 after the last step."""
    return base * (1 - min(step, total) / total) ** power


def total_steps(config, num_train_images: int) -> int:
    """Exercise 2: steps per epoch (set, or one pass in batches, rounded up) times epochs."""
    steps_per_epoch = config.steps_per_epoch or math.ceil(num_train_images / config.batch_size)
    return steps_per_epoch * config.epochs


def checkpoint_monitor(config) -> tuple[str, str]:
    """Exercise 3: what the ModelCheckpoint of the training callbacks watches, and in which direction."""
    import keras

    from course_utils import train

    with tempfile.TemporaryDirectory() as tmp:
        callbacks = train.make_callbacks(config, tmp, None)
    ckpt = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.ModelCheckpoint))
    return ckpt.monitor, ckpt.mode
