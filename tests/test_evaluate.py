"""Evaluation: TTA, tiled inference, split evaluation, checkpoint loading."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import data
from course_utils import evaluate as E
from course_utils import metrics as M


def conv_model(num_classes: int = 4, kernel: int = 1, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, kernel, padding="same", activation="tanh")(inp)
    return keras.Model(inp, keras.layers.Conv2D(num_classes, 1)(x))


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    return tiny_dataset(4, 3, 3, 32, 64, seed=5)


def _image(h=40, w=56, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(h, w, 3)).astype("float32")


def test_tile_windows_cover_every_pixel():
    for length, tile, ov in [(100, 32, 0.25), (64, 32, 0.0), (20, 32, 0.5), (33, 32, 0.9)]:
        starts = E.tile_windows(length, tile, ov)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s : s + tile] = True
            assert 0 <= s and s + min(tile, length) <= length
        assert covered.all()
    with pytest.raises(ValueError):
        E.tile_windows(10, 4, 1.0)


def test_tiled_equals_untiled_for_pointwise_model_and_is_memory_bounded():
    model = conv_model(kernel=1)
    seen = []

    def recording(x):
        seen.append(tuple(x.shape[1:3]))
        return model(x)

    img = _image(70, 90)
    full = E.predict_image(model, img, return_probs=True)
    tiled = E.predict_image(recording, img, tile_size=(32, 40), overlap=0.25, return_probs=True)
    np.testing.assert_allclose(tiled, full, atol=1e-5)
    assert len(seen) > 4 and max(h for h, _ in seen) <= 32 and max(w for _, w in seen) <= 40


def test_tiled_is_close_for_model_with_small_receptive_field():
    model = conv_model(kernel=3)
    img = _image(64, 96, seed=1)
    full = E.predict_image(model, img)
    tiled = E.predict_image(model, img, tile_size=(32, 32), overlap=0.5)
    assert (full == tiled).mean() > 0.97


def test_multiscale_and_flip_average_softmax_probabilities():
    model = conv_model(kernel=3, seed=2)
    img = _image(32, 48, seed=3)
    x = img[None]
    p1 = tf.nn.softmax(model(x)).numpy()
    np.testing.assert_allclose(E.predict_proba(model, x), p1, atol=1e-6)
    pf = tf.reverse(tf.nn.softmax(model(tf.reverse(x, [2]))), [2]).numpy()
    np.testing.assert_allclose(E.predict_proba(model, x, flip=True), (p1 + pf) / 2, atol=1e-6)
    half = tf.image.resize(tf.nn.softmax(model(tf.image.resize(x, (16, 24)))), (32, 48)).numpy()
    np.testing.assert_allclose(E.predict_proba(model, x, scales=(0.5, 1.0)), (half + p1) / 2, atol=1e-5)
    probs = E.predict_image(model, img, scales=(0.75, 1.0, 1.25), flip=True, return_probs=True)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    ids = E.predict_image(model, (img * 127.5 + 127.5).astype(np.uint8))  # uint8 is normalised
    assert ids.shape == (32, 48) and ids.dtype == np.int32
    with pytest.raises(ValueError):
        E.predict_image(model, img[..., :2])


def test_evaluate_split_matches_a_manual_confusion_matrix(tiny_root):
    info = data.load_info(tiny_root)
    model = conv_model(info.num_classes, kernel=3)
    result = E.evaluate_split(model, tiny_root, "val", batch_size=2)
    cm = np.zeros((info.num_classes,) * 2, np.int64)
    for img_path, lbl_path in data.list_pairs(tiny_root, "val"):
        x = data.normalize_image(data.read_image(img_path))
        pred = model(x[None]).numpy()[0].argmax(-1)
        cm += M.confusion_matrix(data.read_label(lbl_path), pred, info.num_classes)
    np.testing.assert_array_equal(result.confusion_matrix, cm)
    assert result.num_images == 3 and result.split == "val"
    assert result.miou == pytest.approx(M.mean_iou(cm)) and result.pixel_accuracy == pytest.approx(M.pixel_accuracy(cm))
    d = json.loads(json.dumps(result.to_dict()))
    assert set(d["per_class_iou"]) == set(info.classes) and d["num_images"] == 3
    # TTA runs through the same path
    tta = E.evaluate_split(model, tiny_root, "val", batch_size=2, tta_scales=(0.5, 1.0), flip=True, max_images=2)
    assert tta.num_images == 2 and tta.confusion_matrix.sum() > 0 and tta.tta_scales == (0.5, 1.0)


def test_evaluate_splits_skips_missing_split(tiny_root, tmp_path, capsys):
    info = data.load_info(tiny_root)
    model = conv_model(info.num_classes)
    results = E.evaluate_splits(model, tiny_root, ["val", "nosuch"], batch_size=3)
    assert list(results) == ["val"] and "nosuch" in capsys.readouterr().out
    path = E.save_results(results, tmp_path / "r.json", dataset="minidrive")
    assert json.loads(path.read_text())["splits"]["val"]["num_images"] == 3


def test_sample_predictions(tiny_root):
    info = data.load_info(tiny_root)
    images, labels, preds = E.sample_predictions(conv_model(info.num_classes), tiny_root, "val", n=2)
    assert len(images) == len(labels) == len(preds) == 2
    assert images[0].shape == (32, 64, 3) and preds[0].shape == labels[0].shape == (32, 64)


def test_wrong_number_of_classes_is_a_clear_error(tiny_root):
    with pytest.raises(ValueError, match=r"predicts 3 classes.*dataset.json has 7"):
        E.evaluate_split(conv_model(3), tiny_root, "val")


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Train first"):
        E.load_checkpoint(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="could not be loaded"):
        E.load_checkpoint(bad)
    model = conv_model(5)
    model.save(tmp_path / "ok.keras")
    assert E.load_checkpoint(tmp_path / "ok.keras").output_shape[-1] == 5


def test_with_output_stride_copies_weights_of_the_real_model(tmp_path):
    from course_utils.model import build_deeplabv3

    keras.utils.set_random_seed(0)
    model = build_deeplabv3(3, backbone="resnet18", output_stride=16, aspp_filters=16)
    cfg = {
        "config": {"backbone": "resnet18", "multi_grid": [1, 2, 4], "decoder": False, "weights": None},
        "num_classes": 3,
    }
    with pytest.raises(ValueError, match="does not match"):  # aspp_filters differ from the default 256
        E.with_output_stride(model, cfg, 8)
    model = build_deeplabv3(3, backbone="resnet18", output_stride=16)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    os8 = E.with_output_stride(model, tmp_path / "config.json", 8)
    for a, b in zip(model.get_weights(), os8.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 48, 3)).astype("float32")
    out = os8(x, training=False).numpy()
    assert out.shape == (1, 32, 48, 3) and np.isfinite(out).all()
    with pytest.raises(FileNotFoundError, match="config.json"):
        E.with_output_stride(model, tmp_path / "missing.json", 8)


def test_device_confusion_equals_the_numpy_confusion_matrix():
    rng = np.random.default_rng(7)
    c = 5
    labels = rng.integers(0, c, size=(3, 17, 23)).astype(np.int32)
    labels[rng.random(labels.shape) < 0.2] = M.IGNORE_INDEX
    probs = rng.random((3, 17, 23, c)).astype(np.float32)
    got = E._batch_confusion(tf.constant(labels), tf.constant(probs), c, M.IGNORE_INDEX)
    np.testing.assert_array_equal(got, M.confusion_matrix(labels, probs.argmax(-1), c))
    assert got.dtype == np.int64 and got.sum() == (labels != M.IGNORE_INDEX).sum()
    counts, bad, _ = M.confusion_counts(labels, probs, c, None)  # no void: 255 is then a bad label
    assert int(bad) == (labels == M.IGNORE_INDEX).sum()
    labels[0, 0, 0] = 9
    with pytest.raises(ValueError, match="label value 9 is outside"):
        E._batch_confusion(tf.constant(labels), tf.constant(probs), c, M.IGNORE_INDEX)


def test_evaluate_split_device_path_equals_the_numpy_path(tiny_root):
    """The on-device argmax + bincount gives exactly the matrix of host probabilities + NumPy."""
    info = data.load_info(tiny_root)
    model = conv_model(info.num_classes, kernel=3, seed=4)
    for kwargs in ({}, {"tta_scales": (0.5, 1.0), "flip": True}):
        result = E.evaluate_split(model, tiny_root, "test", batch_size=2, **kwargs)
        cm = np.zeros((info.num_classes,) * 2, np.int64)
        for images, labels in data.make_dataset(tiny_root, "test", 2, training=False):
            probs = E.predict_proba(model, images, kwargs.get("tta_scales", (1.0,)), kwargs.get("flip", False))
            cm += M.confusion_matrix(labels.numpy(), probs.argmax(-1), info.num_classes, info.ignore_index)
        np.testing.assert_array_equal(result.confusion_matrix, cm)
        assert cm.sum() > 0
