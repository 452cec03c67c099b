"""Solutions of the exercises of notebook 06 (training)."""

from __future__ import annotations

import math
import tempfile

import numpy as np


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

    from course_utils.training.callbacks import make_callbacks

    with tempfile.TemporaryDirectory() as tmp:
        callbacks = make_callbacks(config, tmp, None)
    ckpt = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.ModelCheckpoint))
    return ckpt.monitor, ckpt.mode


def seed_gradient_ratio(model, images, labels) -> float:
    """Exercise 4: gradient norms on the classifier's kernel, the seed's loss (void an all-zero one-hot row,
    averaged over every pixel) over the course's (void left out)."""
    import keras
    import tensorflow as tf

    from course_utils.losses import masked_sparse_ce

    kernel = model.get_layer("classifier").kernel
    labels = np.asarray(labels)
    norms = []
    for seed_style in (True, False):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=False), tf.float32)
            if seed_style:
                num_classes = logits.shape[-1]
                one_hot = np.eye(num_classes + 1, dtype=np.float32)[:, :num_classes][np.minimum(labels, num_classes)]
                loss = keras.ops.mean(keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True))
            else:
                loss = masked_sparse_ce()(labels, logits)
        norms.append(float(tf.norm(tape.gradient(loss, kernel))))
    return norms[0] / norms[1]
