"""The recipe table turned into optimizers (course_utils.training.recipes): Keras' PolynomialDecay + warm-up."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils.config import RECIPES
from course_utils.training import recipes
from course_utils.training.config import TrainConfig


def old_poly(step: int, base: float, total: int, power: float = 0.9, warmup: int = 0) -> float:
    """The course's former PolyDecay, written out: the schedule Keras' PolynomialDecay must reproduce."""
    frac = min(step, total) / total
    lr = base * (1.0 - frac) ** power
    return lr * min(1.0, (step + 1) / warmup) if warmup > 0 else lr


def test_poly_schedule_is_keras_polynomial_decay_clamped_at_zero():
    sched = recipes.poly_schedule(0.01, total_steps=100, power=0.9)
    assert isinstance(sched, keras.optimizers.schedules.PolynomialDecay)
    assert float(sched(0)) == pytest.approx(0.01)
    assert float(sched(50)) == pytest.approx(0.01 * 0.5**0.9, rel=1e-5)
    assert float(sched(100)) == pytest.approx(0.0, abs=1e-9)
    assert float(sched(150)) == pytest.approx(0.0, abs=1e-9)  # clamped, never negative
    values = [float(sched(s)) for s in range(0, 101, 10)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="total_steps"):
        recipes.poly_schedule(0.01, 0)


@pytest.mark.parametrize("warmup", [0, 1, 10, 37])
def test_poly_with_warm_up_reproduces_the_former_schedule(warmup):
    sched = recipes.poly_schedule(0.02, 120, power=0.9, warmup_steps=warmup)
    got = np.array([float(sched(s)) for s in range(0, 130)])
    want = np.array([old_poly(s, 0.02, 120, 0.9, warmup) for s in range(0, 130)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


def test_warm_up_survives_serialisation():
    sched = recipes.poly_schedule(0.01, 100, warmup_steps=10)
    assert isinstance(sched, recipes.LinearWarmUp)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(sched))
    assert [float(again(s)) for s in (0, 5, 50)] == pytest.approx([float(sched(s)) for s in (0, 5, 50)])
    with pytest.raises(ValueError, match="warmup_steps"):
        recipes.LinearWarmUp(sched, 0)


def test_optimizers_of_the_recipes():
    adam = recipes.make_optimizer(TrainConfig(recipe="seed"), total_steps=10)
    assert isinstance(adam, keras.optimizers.Adam)
    assert float(adam.learning_rate) == pytest.approx(1e-3)
    sgd = recipes.make_optimizer(TrainConfig(recipe="paper", weight_decay=1e-4), total_steps=10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == pytest.approx(0.9)
    assert isinstance(sgd._learning_rate, keras.optimizers.schedules.PolynomialDecay)
    assert sgd.weight_decay is None  # decoupled decay is not the paper's: L2 is a loss term instead
    fast = recipes.make_optimizer(TrainConfig(recipe="fast", epochs=4, warmup_epochs=1.0), total_steps=40)
    assert isinstance(fast, keras.optimizers.Adam) and isinstance(fast._learning_rate, recipes.LinearWarmUp)
    assert fast._learning_rate.warmup_steps == 10


def test_every_recipe_is_in_the_one_table():
    assert set(RECIPES) == {"seed", "paper", "fast"}
    for name, recipe in RECIPES.items():
        config = TrainConfig(recipe=name)
        assert config.base_learning_rate == recipe.learning_rate
        assert isinstance(recipes.make_schedule(config, 10), float) != recipe.poly
