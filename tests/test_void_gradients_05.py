"""The seed's void gradient, the per-epoch throughput timer and the masked-CE exercise of notebook 05."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import losses
from course_utils.data import throughput
from course_utils.exercises import updates_b as ex
from course_utils.exercises.core import ExerciseError


def _batch(seed=0, c=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=(2, 5, 6))
    y[:, :2] = 255
    return y, rng.normal(size=(2, 5, 6, c)).astype("float32")


def test_seed_void_gradient_is_softmax_over_n_and_masked_is_zero():
    y, z = _batch()
    g = losses.void_gradients(y, z, 4)
    void = y == 255
    n = y.size
    assert np.all(g["masked"][1][void] == 0)
    softmax = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(g["seed"][1][void], softmax[void] / n, rtol=1e-4, atol=1e-7)
    # the loss is the masked loss times the labelled share
    assert g["seed"][0] == pytest.approx(g["masked"][0] * (1 - void.mean()), rel=1e-5)


def test_seed_void_loss_matches_seed_one_hot():
    import keras

    y, z = _batch(1)
    targets = throughput.seed_one_hot(y, 4)
    ref = float(keras.ops.mean(keras.losses.categorical_crossentropy(targets, z, from_logits=True)))
    assert float(losses.seed_void_loss(y, z, 4)) == pytest.approx(ref, rel=1e-6)


def test_epoch_rates_times_each_epoch():
    rates = throughput.epoch_rates(iter([(np.zeros((3, 1)),)] * 4), 2, epochs=2)
    assert len(rates) == 2 and all(r > 0 for r in rates)
    with pytest.raises(ValueError):
        throughput.epoch_rates(iter([]), 0)


def test_masked_ce_check(capsys):
    def todo(labels, logits, ignore_index=255):
        raise NotImplementedError

    ex.check_masked_ce(todo)
    assert "Not attempted" in capsys.readouterr().out
    ex.check_masked_ce(ex.solution_masked_ce)
    assert "Correct" in capsys.readouterr().out

    from keras import ops

    def over_all_pixels(labels, logits, ignore_index=255):
        safe = ops.where(labels == ignore_index, 0, labels)
        per = ops.sparse_categorical_crossentropy(safe, logits, from_logits=True)
        return ops.sum(per * ops.cast(labels != ignore_index, "float32")) / float(np.prod(labels.shape))

    with pytest.raises(ExerciseError, match="every pixel"):
        ex.check_masked_ce(over_all_pixels)

    def leaking(labels, logits, ignore_index=255):
        valid = ops.cast(labels != ignore_index, "float32")
        safe = ops.where(labels == ignore_index, 0, labels)
        per = ops.sparse_categorical_crossentropy(safe, logits, from_logits=True)
        extra = ops.sum(ops.logsumexp(logits, -1) * (1 - valid)) * 0.0 + ops.sum(logits * (1 - valid)[..., None]) * 1e-3
        return ops.sum(per * valid) / ops.sum(valid) + extra - ops.stop_gradient(extra)

    with pytest.raises(ExerciseError, match="void pixels is not zero"):
        ex.check_masked_ce(leaking)
