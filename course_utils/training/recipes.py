"""A recipe turned into an optimizer: Keras' ``PolynomialDecay`` (the paper's "poly"), a linear warm-up.

The recipes themselves (which optimizer, starting rate, poly or constant, L2
term, plateau, early stopping) are the table :data:`course_utils.config.RECIPES`.
The "poly" rate ``lr = base * (1 - min(step, total) / total) ** 0.9`` is Keras'
own ``keras.optimizers.schedules.PolynomialDecay`` with ``end_learning_rate=0``
(after ``total`` steps the rate stays 0, so a resumed run that repeats part of
an epoch never sees a negative rate); notebook 06 has the student write it.
:class:`LinearWarmUp` scales any schedule by ``min(1, (step + 1) / warmup_steps)``.
"""

from __future__ import annotations

import keras
from keras import ops

from course_utils.config import RECIPES
from course_utils.training.config import TrainConfig

__all__ = ["LinearWarmUp", "poly_schedule", "make_schedule", "make_optimizer"]


@keras.saving.register_keras_serializable(package="course_utils")
class LinearWarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * min(1, (step + 1) / warmup_steps)``: a linear ramp from 0 over the first steps."""

    def __init__(self, schedule: keras.optimizers.schedules.LearningRateSchedule, warmup_steps: int) -> None:
        if int(warmup_steps) < 1:
            raise ValueError(f"LinearWarmUp needs warmup_steps >= 1, got {warmup_steps}.")
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        ramp = ops.minimum(1.0, (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps))
        return self.schedule(step) * ramp

    def get_config(self) -> dict:
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config: dict) -> LinearWarmUp:
        config = dict(config)
        config["schedule"] = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(**config)


def poly_schedule(
    base_learning_rate: float, total_steps: int, power: float = 0.9, warmup_steps: int = 0
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The "poly" decay to 0 over ``total_steps`` (Keras' ``PolynomialDecay``), after an optional linear warm-up."""
    if int(total_steps) < 1:
        raise ValueError(f"The poly schedule needs total_steps >= 1, got {total_steps}.")
    poly = keras.optimizers.schedules.PolynomialDecay(
        float(base_learning_rate), int(total_steps), end_learning_rate=0.0, power=float(power)
    )
    return LinearWarmUp(poly, warmup_steps) if warmup_steps > 0 else poly


def make_schedule(config: TrainConfig, total_steps: int):
    """The recipe's learning rate: a float (constant) or the poly schedule with the config's warm-up."""
    if not RECIPES[config.recipe].poly:
        return config.base_learning_rate
    warmup = int(round(config.warmup_epochs * total_steps / max(1, config.epochs)))
    return poly_schedule(config.base_learning_rate, total_steps, power=config.poly_power, warmup_steps=warmup)


def make_optimizer(config: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer: Adam (seed, fast) or SGD + momentum (paper), with :func:`make_schedule`.

    The paper's weight decay is not an optimizer setting here:
    ``keras.optimizers.SGD(weight_decay=...)`` is *decoupled* decay, about 10x
    weaker than the paper's L2 loss term at momentum 0.9 for the same
    coefficient. :func:`course_utils.train.compile_for_training` adds the L2 term instead.
    """
    rate = make_schedule(config, total_steps)
    if RECIPES[config.recipe].optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum)
    return keras.optimizers.Adam(rate)
