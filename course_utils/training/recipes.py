"""Learning-rate schedules (``keras.ops`` only, so every backend runs them)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PolyDecay"]


@keras.saving.register_keras_serializable(package="course_utils")
class PolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The "poly" schedule: ``lr = (base - end) * (1 - min(step, total) / total) ** power + end``.

    After ``total_steps`` the rate stays at ``end_learning_rate`` (a resumed run
    that repeats part of an epoch never sees a negative rate). An optional
    linear warm-up ramps from 0 over the first ``warmup_steps``.
    """

    def __init__(
        self,
        base_learning_rate: float,
        total_steps: int,
        power: float = 0.9,
        end_learning_rate: float = 0.0,
        warmup_steps: int = 0,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"PolyDecay needs total_steps >= 1, got {total_steps}.")
        self.base_learning_rate = float(base_learning_rate)
        self.total_steps = int(total_steps)
        self.power = float(power)
        self.end_learning_rate = float(end_learning_rate)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        frac = ops.minimum(step, float(self.total_steps)) / float(self.total_steps)
        lr = (self.base_learning_rate - self.end_learning_rate) * ops.power(1.0 - frac, self.power)
        lr = lr + self.end_learning_rate
        if self.warmup_steps > 0:
            lr = lr * ops.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        return lr

    def get_config(self) -> dict:
        return {
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
            "power": self.power,
            "end_learning_rate": self.end_learning_rate,
            "warmup_steps": self.warmup_steps,
        }
