"""Validation during training: precise BatchNorm and native-resolution scores (course_utils.training.validation)."""

from __future__ import annotations

import csv
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import data, evaluate
from course_utils import train as T
from course_utils.training import validation as V

NUM_CLASSES = 7


@pytest.fixture(scope="module")
def root(tiny_dataset) -> Path:
    return tiny_dataset(8, 4, 4, 48, 64, seed=5)


def bn_model() -> keras.Model:
    """A small fully convolutional logits model with BatchNorm, a stride and a bilinear upsampling."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(NUM_CLASSES, 1)(x)
    return keras.Model(inp, keras.layers.UpSampling2D(2, interpolation="bilinear")(x))


def test_native_scores_equal_evaluate_split_at_the_same_scale(root):
    model = bn_model()
    val = data.make_dataset(root, "val", 2, training=False)
    loss, cm = V.native_scores(model, val, NUM_CLASSES, input_scale=0.5)
    ref = evaluate.evaluate_split(model, root, "val", batch_size=2, tta_scales=(0.5,))
    np.testing.assert_array_equal(cm, ref.confusion_matrix)
    assert cm.sum() == sum(int((lab != 255).sum()) for _, lab in val.unbatch().as_numpy_iterator())
    # the loss is the mean negative log-probability of the true class at native resolution
    nll, n = 0.0, 0
    for x, y in val.as_numpy_iterator():
        probs = evaluate.predict_proba(model, x, scales=(0.5,))
        valid = y != 255
        p = np.take_along_axis(probs, np.where(valid, y, 0)[..., None], -1)[..., 0]
        nll += float(-(np.log(p) * valid).sum())
        n += int(valid.sum())
    assert loss == pytest.approx(nll / n, rel=1e-4)


def test_native_scores_score_at_label_resolution_not_input_resolution(root):
    """A fixed input size changes what the model sees, never the number of scored pixels."""
    model = bn_model()
    val = data.make_dataset(root, "val", 2, training=False)
    _, cm_native = V.native_scores(model, val, NUM_CLASSES)
    _, cm_small = V.native_scores(model, val, NUM_CLASSES, input_size=(24, 32))
    assert cm_small.sum() == cm_native.sum() > 0
    assert not np.array_equal(cm_small, cm_native)


def test_recalibrate_batchnorm_accepts_plain_lists_of_batches():
    model = bn_model()
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=2.0, size=(2, 8, 8, 3)).astype("float32") for _ in range(4)]
    assert V.recalibrate_batchnorm(model, batches, steps=3) == 3
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    conv = model.layers[1]
    means = [keras.ops.convert_to_numpy(conv(b)).mean(axis=(0, 1, 2)) for b in batches[:3]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), np.mean(means, 0), rtol=1e-4, atol=1e-5)
    assert bn.momentum == pytest.approx(0.99)


def test_best_checkpoint_scores_what_the_history_says(root, tmp_path):
    """best.keras is picked on the callback's numbers, and they are the numbers evaluation gives."""
    cfg = T.TrainConfig.from_profile(
        "smoke",
        recipe="fast",
        image_size=(32, 32),
        eval_size=None,
        input_scale=0.5,
        batch_size=4,
        epochs=2,
        steps_per_epoch=2,
        recalibrate_bn=2,
        tensorboard=False,
    )
    model, history = T.train(cfg, root, tmp_path / "run", model=lambda n: bn_model(), verbose=0)
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [k in rows[0] for k in ("val_loss", "val_miou", "val_pixel_accuracy")] == [True] * 3
    best_logged = max(float(r["val_miou"]) for r in rows)
    best = evaluate.load_checkpoint(tmp_path / "run" / "best.keras")
    res = evaluate.evaluate_split(best, root, "val", batch_size=4, tta_scales=(0.5,))
    assert res.miou == pytest.approx(best_logged, abs=1e-6)
    assert np.isfinite(history.history["val_loss"]).all()


def test_input_scale_scales_the_training_crops_source(root):
    cfg = T.TrainConfig.from_profile(
        "smoke", image_size=(16, 16), eval_size=None, input_scale=0.5, scale_range=(1.0, 1.0)
    )
    info = data.load_info(root)
    batches = T.make_recalibration_batches(cfg, root, info)
    x, _ = next(iter(batches))
    assert tuple(x.shape[1:3]) == (24, 32)  # the 48x64 scenes at half size


def test_profile_dataset_recipes_apply_by_dataset_name():
    from course_utils.config import get_profile

    profile = get_profile("cpu").replace(dataset_recipes={"camvid": {"recipe": "fast", "input_scale": 0.5}})
    cfg = T.TrainConfig.from_profile(profile, dataset="camvid")
    assert (cfg.recipe, cfg.input_scale, cfg.early_stopping_patience) == ("fast", 0.5, None)
    other = T.TrainConfig.from_profile(profile, dataset="minidrive")
    assert (other.recipe, other.input_scale) == ("seed", 1.0)
    explicit = T.TrainConfig.from_profile(profile, recipe="paper", dataset="camvid", input_scale=0.75)
    assert (explicit.recipe, explicit.input_scale) == ("paper", 0.75)
    with pytest.raises(ValueError, match="input_scale"):
        T.TrainConfig(input_scale=0)
