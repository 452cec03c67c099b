"""The PyDataset input pipeline and the augmentation it shares with tf.data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from test_data import make_prepared

from course_utils import augment as aug
from course_utils.pydataset import SegmentationPyDataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = make_prepared(tmp_path_factory.mktemp("toy"))
    make_prepared(root, n=3, split="val")
    return root


@pytest.mark.parametrize("augment", [True, False])
def test_numpy_and_tensorflow_run_the_same_augmentation(augment):
    """One implementation: the same uniforms give the same crop, label and jitter on both ops tables."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    label = rng.integers(0, 7, (20, 30)).astype(np.uint8)
    label[:3] = 255
    for _ in range(4):
        u = rng.random(aug.N_UNIFORMS).astype(np.float32)
        np_out = aug.sample_window(u, 20, 30, (16, 24), (0.5, 2.0), augment)
        np_img, np_lbl = aug.resample(image, label, np_out[0], np_out[1])
        ops = aug.tf_ops()
        tf_out = aug.sample_window(tf.constant(u), tf.constant(20), tf.constant(30), (16, 24), (0.5, 2.0), augment, ops)
        tf_img, tf_lbl = aug.resample(tf.constant(image), tf.constant(label), tf_out[0], tf_out[1], ops)
        np.testing.assert_allclose(np_img, tf_img.numpy(), atol=1e-3)
        np.testing.assert_array_equal(np_lbl, tf_lbl.numpy())
        np.testing.assert_allclose(np_out[2], tf_out[2].numpy(), atol=1e-6)
        jit_np = aug.jitter_batch(np_img[None], np.asarray(np_out[2])[None])
        jit_tf = aug.jitter_batch(tf_img[None], tf_out[2][None], ops)
        np.testing.assert_allclose(jit_np, jit_tf.numpy(), atol=1e-5)
        assert set(np.unique(np_lbl)) <= set(np.unique(label)) | {255}


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
