"""Unit tests of course_utils.training.evidence (the helpers behind notebooks 06 and 07's evidence)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import metrics
from course_utils.training import evidence as training_evidence
from course_utils.training.recipes import poly_schedule


def _nested_model():
    inner = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1), keras.layers.BatchNormalization()], name="inner"
    )
    inputs = keras.Input((4, 4, 3))
    x = inner(inputs)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, x)


def test_batchnorm_layers_finds_nested_ones_with_public_api():
    model = _nested_model()
    assert len(training_evidence.batchnorm_layers(model)) == 2


def test_reset_batchnorm_statistics():
    model = _nested_model()
    for layer in training_evidence.batchnorm_layers(model):
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 3.0, "float32"))
        layer.moving_variance.assign(np.full(layer.moving_variance.shape, 5.0, "float32"))
    assert training_evidence.reset_batchnorm_statistics(model) == 2
    for layer in training_evidence.batchnorm_layers(model):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), 0.0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_variance), 1.0)


def test_steps_at_rate_zero_matches_poly_decay():
    total = 10
    schedule = poly_schedule(0.1, total)
    for done in (8, 10, 13):
        past = training_evidence.steps_at_rate_zero(done, total)
        rates = [float(schedule(s)) for s in range(done)]
        assert sum(r == 0.0 for r in rates) == past


def _cms(rng, n, shift=0):
    out = []
    for _ in range(n):
        cm = rng.integers(0, 5, size=(3, 3)) + np.diag([40, 30, 20]) + shift * np.eye(3, dtype=int)
        out.append(cm)
    return out


def test_paired_bootstrap_point_and_interval():
    rng = np.random.default_rng(1)
    a = _cms(rng, 20)
    b = [cm + np.diag([10, 10, 10]) for cm in a]  # scoring b is better on every image
    point, low, high = training_evidence.paired_bootstrap_miou(a, b, samples=200)
    assert point == pytest.approx(metrics.mean_iou(sum(b)) - metrics.mean_iou(sum(a)))
    assert 0 < low <= point <= high
    same, lo0, hi0 = training_evidence.paired_bootstrap_miou(a, a, samples=50)
    assert same == lo0 == hi0 == 0.0


def test_paired_bootstrap_rejects_unpaired_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        training_evidence.paired_bootstrap_miou(_cms(rng, 3), _cms(rng, 4))


def test_quoted_figures_have_sources():
    for quoted in (training_evidence.SEED_PER_BATCH_VS_ACCUMULATED, training_evidence.STALE_BN_HISTORY):
        assert quoted["source"]
    seed = training_evidence.SEED_PER_BATCH_VS_ACCUMULATED
    assert seed["keras_per_batch_best_val_miou"] > seed["accumulated_val_miou"]
