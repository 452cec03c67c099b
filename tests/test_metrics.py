"""Metrics: cross-checked against scikit-learn and keras.metrics.MeanIoU."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import sklearn.metrics

from course_utils import metrics as M

C = 5


def _random_pair(rng, shape=(3, 16, 24), void_frac=0.2, absent=()):
    y = rng.integers(0, C, size=shape)
    p = rng.integers(0, C, size=shape)
    for a in absent:
        y[y == a] = (a + 1) % C
        p[p == a] = (a + 2) % C
    y[rng.random(shape) < void_frac] = 255
    return y.astype(np.int32), p.astype(np.int32)


def _keras_miou(y, p, num_classes=C):
    m = keras.metrics.MeanIoU(num_classes=num_classes, ignore_class=255)
    m.update_state(y, p)
    return float(m.result())


@pytest.mark.parametrize("absent", [(), (2,), (0, 3)])
def test_confusion_matrix_matches_sklearn(absent):
    rng = np.random.default_rng(len(absent))
    y, p = _random_pair(rng, absent=absent)
    cm = M.confusion_matrix(y, p, C)
    keep = y != 255
    ref = sklearn.metrics.confusion_matrix(y[keep], p[keep], labels=list(range(C)))
    np.testing.assert_array_equal(cm, ref)
    assert cm.dtype == np.int64
    assert cm.sum() == keep.sum()


def test_scores_match_sklearn_and_keras():
    rng = np.random.default_rng(7)
    y, p = _random_pair(rng)
    cm = M.confusion_matrix(y, p, C)
    keep = y != 255
    ref_iou = sklearn.metrics.jaccard_score(y[keep], p[keep], labels=list(range(C)), average=None)
    np.testing.assert_allclose(M.iou_per_class(cm), ref_iou)
    assert M.pixel_accuracy(cm) == pytest.approx(sklearn.metrics.accuracy_score(y[keep], p[keep]))
    assert M.mean_iou(cm) == pytest.approx(_keras_miou(y, p), abs=1e-6)
    freq = np.bincount(y[keep], minlength=C) / keep.sum()
    assert M.frequency_weighted_iou(cm) == pytest.approx(float((freq * ref_iou).sum()))


def test_absent_class_is_excluded_like_keras():
    # class 4 occurs neither in the truth nor in the prediction
    rng = np.random.default_rng(3)
    y, p = _random_pair(rng, absent=(4,))
    cm = M.confusion_matrix(y, p, C)
    iou = M.iou_per_class(cm)
    assert np.isnan(iou[4]) and np.isfinite(iou[:4]).all()
    assert M.mean_iou(cm) == pytest.approx(np.mean(iou[:4]))
    assert M.mean_iou(cm) == pytest.approx(_keras_miou(y, p), abs=1e-6)


def test_class_only_in_prediction_counts_as_zero():
    y = np.array([[0, 0, 1, 1]])
    p = np.array([[0, 0, 1, 2]])
    iou = M.iou_per_class(M.confusion_matrix(y, p, 3))
    np.testing.assert_allclose(iou, [1.0, 0.5, 0.0])
    assert M.mean_iou(M.confusion_matrix(y, p, 3)) == pytest.approx(0.5)


def test_all_void_image():
    y = np.full((2, 8, 8), 255)
    p = np.zeros((2, 8, 8), dtype=int)
    cm = M.confusion_matrix(y, p, C)
    assert cm.sum() == 0
    assert np.isnan(M.mean_iou(cm)) and np.isnan(M.pixel_accuracy(cm))
    # an all-void image adds nothing to a real one
    rng = np.random.default_rng(0)
    y2, p2 = _random_pair(rng)
    void = np.full_like(y2, 255)
    both = M.confusion_matrix(np.concatenate([y2, void]), np.concatenate([p2, np.zeros_like(p2)]), C)
    np.testing.assert_array_equal(both, M.confusion_matrix(y2, p2, C))


def test_bad_labels_raise_clear_errors():
    with pytest.raises(ValueError, match="outside"):
        M.confusion_matrix(np.array([0, 7]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="predicted class"):
        M.confusion_matrix(np.array([0, 1]), np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="same shape"):
        M.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)


def test_summarize_names_classes():
    cm = np.array([[3, 1], [0, 4]])
    s = M.summarize(cm, ["road", "car"])
    assert set(s["per_class_iou"]) == {"road", "car"}
    assert s["per_class_iou"]["road"] == pytest.approx(3 / 4)
    assert s["miou"] == pytest.approx((3 / 4 + 4 / 5) / 2)


@pytest.mark.parametrize("absent", [(), (1,)])
def test_streaming_metric_matches_numpy_and_keras_over_batches(absent):
    rng = np.random.default_rng(11)
    metric = M.StreamingMeanIoU(C)
    kmetric = keras.metrics.MeanIoU(num_classes=C, ignore_class=255, sparse_y_pred=False)
    ys, ps = [], []
    for i in range(3):
        y, _ = _random_pair(rng, shape=(2, 8, 12), absent=absent)
        logits = rng.normal(size=(2, 8, 12, C)).astype("float32")
        if absent:
            logits[..., absent[0]] = -10.0
        if i == 1:
            y[:] = 255  # an all-void batch changes nothing
        metric.update_state(y, logits)
        kmetric.update_state(y, logits)
        ys.append(y)
        ps.append(logits.argmax(-1))
    cm = M.confusion_matrix(np.concatenate(ys), np.concatenate(ps), C)
    np.testing.assert_array_equal(metric.confusion(), cm)
    assert float(metric.result()) == pytest.approx(M.mean_iou(cm), abs=1e-6)
    assert float(metric.result()) == pytest.approx(float(kmetric.result()), abs=1e-5)
    metric.reset_state()
    assert metric.confusion().sum() == 0 and float(metric.result()) == 0.0


def test_streaming_metric_accepts_probabilities_ids_and_channel_axis():
    rng = np.random.default_rng(5)
    y, _ = _random_pair(rng, shape=(2, 6, 6))
    logits = rng.normal(size=(2, 6, 6, C)).astype("float32")
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    a = M.StreamingMeanIoU(C)
    a.update_state(y, logits)
    b = M.StreamingMeanIoU(C, from_logits=False)
    b.update_state(y[..., None], probs)
    c = M.StreamingMeanIoU(C)
    c.update_state(y, logits.argmax(-1))
    np.testing.assert_array_equal(a.confusion(), b.confusion())
    np.testing.assert_array_equal(a.confusion(), c.confusion())


def test_streaming_metric_in_fit_gives_val_miou_and_serializes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    y = (x[..., 0] > 0).astype("int32")
    y[:, 0, :] = 255
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(2, 1)(inp))
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255),
        metrics=[M.StreamingMeanIoU(2)],
    )
    hist = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=4, verbose=0)
    assert "val_miou" in hist.history and len(hist.history["val_miou"]) == 2
    assert 0.0 <= hist.history["val_miou"][-1] <= 1.0
    clone = M.StreamingMeanIoU.from_config(M.StreamingMeanIoU(4, name="m2").get_config())
    assert clone.num_classes == 4 and clone.name == "m2"


# ------------------------------------------------- the one confusion core and where Keras' MeanIoU differs


def test_confusion_counts_is_the_numpy_confusion_matrix_on_the_device():
    rng = np.random.default_rng(3)
    c = 4
    labels = rng.integers(0, c, size=(2, 9, 11)).astype(np.int32)
    labels[rng.random(labels.shape) < 0.25] = M.IGNORE_INDEX
    scores = rng.random((2, 9, 11, c)).astype(np.float32)
    counts, bad, bad_value = M.confusion_counts(labels, scores, c)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(counts), M.confusion_matrix(labels, scores.argmax(-1), c))
    assert int(bad) == 0 and int(bad_value) == -1
    weights = rng.random(labels.shape).astype(np.float32)
    weighted, _, _ = M.confusion_counts(labels, scores, c, weights=weights)
    keep = labels != M.IGNORE_INDEX
    assert float(keras.ops.sum(weighted)) == pytest.approx(float(weights[keep].sum()), rel=1e-5)
    labels[0, 0, 0] = 7
    _, bad, bad_value = M.confusion_counts(labels, scores, c)
    assert int(bad) == 1 and int(bad_value) == 7
    with pytest.raises(ValueError, match="label value 7 is outside") as err:
        M.confusion_matrix(labels, scores.argmax(-1), c)
    assert str(err.value) == str(M.label_range_error(7, c, M.IGNORE_INDEX))


def test_where_keras_mean_iou_and_the_course_metric_differ():
    """Same mIoU on a batch; they differ on an empty matrix (course 0 like Keras, NumPy mean_iou nan)
    and on classes absent from truth and prediction (left out of the mean by both, unlike a plain mean)."""
    c = 3
    labels = np.array([[[0, 0, 1, 255]]], np.int32)
    logits = np.eye(c, dtype=np.float32)[np.array([[[0, 1, 1, 2]]])]
    ours = M.StreamingMeanIoU(c)
    theirs = keras.metrics.MeanIoU(num_classes=c, ignore_class=255, sparse_y_pred=False)
    ours.update_state(labels, logits)
    theirs.update_state(labels, logits)
    assert float(ours.result()) == pytest.approx(float(theirs.result()))  # (1/2 + 1/2) / 2: class 2 absent
    assert float(ours.result()) == pytest.approx(M.mean_iou(ours.confusion()))
    empty = M.StreamingMeanIoU(c)
    assert float(empty.result()) == 0.0 and np.isnan(M.mean_iou(np.zeros((c, c))))
    # a label outside [0, C) that is not void: the NumPy core raises with the fix
    with pytest.raises(ValueError):
        M.confusion_matrix(np.array([5]), np.array([0]), c)
