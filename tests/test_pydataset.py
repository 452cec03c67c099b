"""The PyDataset input pipeline and the augmentation it shares with tf.data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from test_data import make_prepared

from course_utils.data import augment as aug
from course_utils.data.pydataset import SegmentationPyDataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = make_prepared(tmp_path_factory.mktemp("toy"))
    make_prepared(root, n=3, split="val")
    return root


@pytest.mark.parametrize(
    ("image_hw", "crop", "scale_range"),
    [((20, 30), (16, 24), (0.5, 2.0)), ((36, 48), (36, 48), (0.5, 2.0)), ((24, 40), (40, 64), (0.25, 2.5))],
)
def test_tensorflow_crops_match_the_numpy_specification(image_hw, crop, scale_range):
    """``crop_tf`` (tf.data's fast kernels) cuts the crops that ``sample_window`` + ``resample`` specify."""
    rng = np.random.default_rng(0)
    h, w = image_hw
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    label = rng.integers(0, 7, (h, w)).astype(np.uint8)
    label[:3] = 255
    crop_tf = tf.function(lambda img, lbl, u, a: aug.crop_tf(img, lbl, u, crop, scale_range, a), reduce_retracing=True)
    seen = set()
    for k in range(40):
        augment = k % 8 != 7
        u = rng.random(aug.N_UNIFORMS).astype(np.float32)
        ys, xs, jitter = aug.sample_window(u, h, w, crop, scale_range, augment)
        np_img, np_lbl = aug.resample(image, label, ys, xs)
        tf_img, tf_lbl, tf_jitter = crop_tf(tf.constant(image), tf.constant(label), tf.constant(u), augment)
        np.testing.assert_array_equal(np_lbl, tf_lbl.numpy())
        # the same bilinear samples, up to float rounding of the weights (0..255 scale)
        np.testing.assert_allclose(np_img, tf_img.numpy(), atol=0.02)
        np.testing.assert_allclose(jitter, tf_jitter.numpy(), atol=1e-6)
        assert set(np.unique(np_lbl)) <= set(np.unique(label)) | {255}
        if augment:
            plan = aug._plan(u, h, w, crop, scale_range)
            seen.add((bool(plan.zoom_in), bool(plan.flip), bool((np_lbl == 255).all(axis=0).any())))
    # both cases, both flips and padded columns were exercised
    assert {z for z, _, _ in seen} == {True, False} and {f for _, f, _ in seen} == {True, False}
    assert any(padded for _, _, padded in seen)


def test_jitter_is_brightness_contrast_saturation_in_one_affine_map():
    """``jitter_batch`` (NumPy and XLA-compiled TensorFlow) equals the three steps written out."""
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (3, 8, 10, 3)).astype(np.float32)
    jitter = np.stack([rng.uniform(-0.2, 0.2, 3), rng.uniform(0.8, 1.2, 3), rng.uniform(0.8, 1.2, 3)], 1)
    jitter = jitter.astype(np.float32)
    expected = []
    for x, (b, c, s) in zip(images, jitter):
        x = x / 127.5 - 1.0
        y = (x - x.mean()) * c + x.mean() + b  # contrast around the mean, then brightness
        grey = y.mean(-1, keepdims=True)
        expected.append(np.clip(grey + (y - grey) * s, -1.0, 1.0))  # saturation: away from grey
    np.testing.assert_allclose(aug.jitter_batch(images, jitter), np.stack(expected), atol=1e-5)
    jitter_tf = tf.function(lambda x, j: aug.jitter_batch(x, j, aug.tf_ops()), jit_compile=True)
    np.testing.assert_allclose(jitter_tf(images, jitter).numpy(), np.stack(expected), atol=1e-5)
    # no jitter is plain normalisation
    plain = aug.jitter_batch(images, np.tile(np.float32([0.0, 1.0, 1.0]), (3, 1)))
    np.testing.assert_allclose(plain, images / 127.5 - 1.0, atol=1e-6)


def test_pydataset_training_batches_are_label_safe_and_aligned(toy):
    ds = SegmentationPyDataset(toy, "train", 2, training=True, image_size=(24, 40), seed=3, steps=6)
    assert len(ds) == 6
    checked = 0
    for image, label in ds:
        assert image.shape == (2, 24, 40, 3) and image.dtype == np.float32
        assert label.shape == (2, 24, 40) and label.dtype == np.int32
        assert image.min() >= -1.0 and image.max() <= 1.0
        assert set(np.unique(label)) <= {0, 6, 255}
        grey = image.mean(-1)
        assert (label[grey > 0.6] == 6).all()
        assert np.isin(label[grey < -0.6], [0, 255]).all()
        checked += int((grey > 0.6).sum() + (grey < -0.6).sum())
    assert checked > 1000


def test_pydataset_pads_with_void_is_deterministic_and_reshuffles(toy):
    small = SegmentationPyDataset(toy, "train", 3, True, image_size=(64, 96), scale_range=(0.5, 0.5), seed=0)
    _, lbl = small[0]
    assert ((lbl == 255).sum(axis=(1, 2)) >= 64 * 96 - 16 * 24).all()
    a = SegmentationPyDataset(toy, "train", 3, True, image_size=(24, 40), seed=11)
    b = SegmentationPyDataset(toy, "train", 3, True, image_size=(24, 40), seed=11)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    first = a[0][0]
    a.on_epoch_end()
    assert not np.array_equal(first, a[0][0])  # a new epoch draws new crops


def test_pydataset_evaluation_matches_tf_data(toy):
    from course_utils import data

    ours = SegmentationPyDataset(toy, "val", 2, training=False, image_size=(16, 20))
    ref = list(data.make_dataset(toy, "val", 2, training=False, image_size=(16, 20)))
    assert len(ours) == len(ref) == 2
    for (x, y), (xr, yr) in zip(ours, ref):
        np.testing.assert_allclose(x, xr.numpy(), atol=1e-5)
        np.testing.assert_array_equal(y, yr.numpy())
