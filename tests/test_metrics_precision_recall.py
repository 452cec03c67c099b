"""Tests of the precision/recall, effective-stride and run-noise helpers of ``course_utils.metrics``."""

import doctest

import numpy as np
import pytest

from course_utils import metrics


def test_precision_recall_by_hand():
    cm = np.array([[8, 2, 0], [6, 4, 0], [0, 0, 0]])
    precision, recall = metrics.precision_recall(cm)
    np.testing.assert_allclose(precision[:2], [8 / 14, 4 / 6])
    np.testing.assert_allclose(recall[:2], [8 / 10, 4 / 10])
    assert np.isnan(precision[2]) and np.isnan(recall[2])  # class 2 never true, never predicted


def test_iou_is_at_most_min_of_precision_and_recall():
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 50, size=(6, 6)) + np.diag(rng.integers(50, 200, size=6))
    precision, recall = metrics.precision_recall(cm)
    iou = metrics.iou_per_class(cm)
    assert np.all(iou <= np.minimum(precision, recall) + 1e-12)
    # IoU = 1 / (1/P + 1/R - 1)
    np.testing.assert_allclose(iou, 1 / (1 / precision + 1 / recall - 1))


def test_over_predicted_class_has_precision_below_recall():
    # class 1 predicted on three times its true area: recall high, precision low
    cm = np.array([[90, 20], [2, 8]])
    precision, recall = metrics.precision_recall(cm)
    assert precision[1] < recall[1]
    assert cm[:, 1].sum() / cm[1].sum() > 2.5


def test_effective_label_stride():
    assert metrics.effective_label_stride(16, 0.5) == 32.0
    assert metrics.effective_label_stride(8) == 8.0
    with pytest.raises(ValueError):
        metrics.effective_label_stride(16, 0.0)


def test_epoch_to_epoch_noise():
    assert metrics.epoch_to_epoch_noise([0.5, 0.52, 0.50, 0.53], last=3) == pytest.approx(0.02)
    assert metrics.epoch_to_epoch_noise([0.1, 0.1, 0.1]) == 0.0
    with pytest.raises(ValueError):
        metrics.epoch_to_epoch_noise([0.5])


def test_docstrings_run():
    for fn in (metrics.precision_recall, metrics.effective_label_stride, metrics.epoch_to_epoch_noise):
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner()
        for test in finder.find(fn, globs={"np": np, **vars(metrics)}):
            runner.run(test)
        assert runner.failures == 0, fn.__name__
