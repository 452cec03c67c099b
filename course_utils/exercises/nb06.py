"""Checkers of notebook 06 (training); the worked solutions are :mod:`course_utils.exercises.solutions.nb06`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course_utils.exercises.core import ExerciseError, check_close, check_equal, check_function, is_empty, not_attempted

__all__ = [
    "check_poly_lr",
    "check_total_steps",
    "check_checkpoint_monitor",
    "seed_gradient_ratio",
    "check_seed_gradient_ratio",
]


def check_poly_lr(fn: Callable[[int], float], base_learning_rate: float, total_steps: int, power: float = 0.9) -> bool:
    """Check ``fn(step) -> lr`` against Keras' ``PolynomialDecay`` (the course's poly schedule) at several steps."""
    from course_utils.training.recipes import poly_schedule

    schedule = poly_schedule(base_learning_rate, total_steps, power=power)
    steps = sorted({0, 1, total_steps // 3, total_steps // 2, max(total_steps - 1, 0), total_steps})

    def student(step):
        value = fn(step)
        return None if is_empty(value) else float(value)

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
    from course_utils.training.inputs import make_datasets

    if is_empty(answer):
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
        tuple(answer) if not is_empty(answer) else None,
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
    if is_empty(answer):
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
