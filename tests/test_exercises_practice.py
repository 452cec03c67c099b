"""Tests of the exercise checkers of notebooks 05-09: right answers pass, wrong ones fail with a hint."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from course_utils import metrics
from course_utils.exercises import nb05 as ex05
from course_utils.exercises import nb06 as ex06
from course_utils.exercises import nb07 as ex07
from course_utils.exercises import nb08 as ex08
from course_utils.exercises import nb09 as ex09
from course_utils.exercises.core import ExerciseError


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset):
    return tiny_dataset(5, 2, 0, 32, 64, seed=1)


def tiny_model(classes: int = 3) -> keras.Model:
    """A per-pixel linear model: cheap, and not flip-symmetric (the position matters via a conv)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(classes, 3, padding="same")(inputs)
    return keras.Model(inputs, outputs)


# --------------------------------------------------------------------------- 05


def test_majority_class_scores_by_hand():
    acc, miou = ex05.majority_class_scores([10, 30, 60, 0])
    assert acc == pytest.approx(0.6)
    assert miou == pytest.approx(0.6 / 3)  # class 3 never occurs: left out


def test_check_majority_baseline(capsys):
    counts = [10, 30, 60, 0]
    ex05.check_majority_baseline(0.6, 0.2, counts)
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="pixel accuracy"):
        ex05.check_majority_baseline(0.3, 0.2, counts)
    with pytest.raises(ExerciseError, match="mIoU"):
        ex05.check_majority_baseline(0.6, 0.15, counts)  # averaged over all 4 classes
    capsys.readouterr()
    assert ex05.check_majority_baseline(None, ..., counts) is False  # untouched: reported, not failed
    assert "Not attempted yet" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="one of them"):
        ex05.check_majority_baseline(0.6, None, counts)


def test_check_class_weights():
    counts = np.array([100, 10, 1])
    p = counts / counts.sum()
    ex05.check_class_weights(1 / np.log(1.02 + p), counts)
    with pytest.raises(ExerciseError):
        ex05.check_class_weights(1 / p, counts)


def test_check_label_validator():
    def good(label, n):
        v = np.unique(np.asarray(label))
        return bool(np.all(np.isin(v, np.r_[np.arange(n), 255])))

    def forgets_fractions(label, n):
        v = np.unique(np.asarray(label))
        return bool(np.all((v == 255) | ((v >= 0) & (v < n))))

    def forgets_void(label, n):
        v = np.unique(np.asarray(label))
        return bool(np.all((v >= 0) & (v < n)))

    ex05.check_label_validator(good)
    for wrong in (forgets_fractions, forgets_void, lambda label, n: True):
        with pytest.raises(ExerciseError, match="Wrong answer"):
            ex05.check_label_validator(wrong)
    with pytest.raises(ExerciseError, match="raised"):
        ex05.check_label_validator(lambda label, n: 1 / 0)


# --------------------------------------------------------------------------- 06


def test_check_poly_lr():
    ex06.check_poly_lr(lambda s: 0.01 * (1 - s / 1000) ** 0.9, 0.01, 1000)
    with pytest.raises(ExerciseError):
        ex06.check_poly_lr(lambda s: 0.01 * (1 - s / 1000), 0.01, 1000)  # power 1


def test_check_total_steps(tiny_root):
    from course_utils.training.config import TrainConfig

    config = TrainConfig.from_profile("smoke", recipe="paper", batch_size=2, epochs=3, steps_per_epoch=None)
    ex06.check_total_steps(3 * math.ceil(5 / 2), config, tiny_root)
    with pytest.raises(ExerciseError, match="steps"):
        ex06.check_total_steps(3 * (5 // 2), config, tiny_root)


def test_check_checkpoint_monitor(tmp_path):
    from course_utils.training.config import TrainConfig

    config = TrainConfig.from_profile("smoke", recipe="paper", tensorboard=False)
    ex06.check_checkpoint_monitor(("val_miou", "max"), config, tmp_path)
    with pytest.raises(ExerciseError):
        ex06.check_checkpoint_monitor(("val_loss", "min"), config, tmp_path)


def segmenter(classes: int = 3) -> keras.Model:
    """A tiny logits model whose last convolution is named "classifier", like the course's DeepLabV3."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(classes, 1, name="classifier")(x))


def test_check_seed_gradient_ratio(capsys):
    model = segmenter()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 8, 10, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(2, 8, 10))
    labels[:, :4] = 255  # half of the pixels void
    ratio, share = ex06.seed_gradient_ratio(model, images, labels)
    assert share == pytest.approx(0.5)
    assert ratio != pytest.approx(share, rel=1e-2)  # TensorFlow's gradient of an all-zero one-hot row is softmax(z)
    ex06.check_seed_gradient_ratio(ratio, model, images, labels)
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="upside down"):
        ex06.check_seed_gradient_ratio(1 / ratio, model, images, labels)
    with pytest.raises(ExerciseError, match="non-void share"):
        ex06.check_seed_gradient_ratio(share, model, images, labels)
    with pytest.raises(ExerciseError):
        ex06.check_seed_gradient_ratio(1.0, model, images, labels)


# --------------------------------------------------------------------------- 07


def test_check_miou_function():
    def right(cm):
        cm = np.asarray(cm, float)
        tp = np.diag(cm)
        union = cm.sum(0) + cm.sum(1) - tp
        return float(np.mean(tp[union > 0] / union[union > 0]))

    def counts_absent_classes(cm):
        cm = np.asarray(cm, float)
        tp = np.diag(cm)
        union = cm.sum(0) + cm.sum(1) - tp
        return float(np.mean(np.where(union > 0, tp / np.maximum(union, 1), 0)))

    ex07.check_miou_function(right)
    ex07.check_miou_function(metrics.mean_iou)
    with pytest.raises(ExerciseError):
        ex07.check_miou_function(counts_absent_classes)


def test_check_worst_confusion():
    cm = np.array([[90, 10, 0], [30, 70, 0], [0, 1, 1]])
    names = ["road", "car", "person"]
    ex07.check_worst_confusion(("person", "car"), cm, names)  # 50 % of its row
    with pytest.raises(ExerciseError):
        ex07.check_worst_confusion(("car", "road"), cm, names)  # the largest count, not the largest share


def test_check_flip_tta():
    model = tiny_model()
    images = np.random.default_rng(0).normal(size=(2, 8, 10, 3)).astype("float32")

    def right(m, x):
        p = keras.ops.softmax(m(x), axis=-1)
        q = keras.ops.flip(keras.ops.softmax(m(keras.ops.flip(x, axis=2)), axis=-1), axis=2)
        return keras.ops.convert_to_numpy((p + q) / 2)

    def flips_height(m, x):
        p = keras.ops.softmax(m(x), axis=-1)
        q = keras.ops.flip(keras.ops.softmax(m(keras.ops.flip(x, axis=1)), axis=-1), axis=1)
        return keras.ops.convert_to_numpy((p + q) / 2)

    ex07.check_flip_tta(right, model, images)
    with pytest.raises(ExerciseError):
        ex07.check_flip_tta(flips_height, model, images)
    with pytest.raises(ExerciseError):
        ex07.check_flip_tta(lambda m, x: keras.ops.convert_to_numpy(keras.ops.softmax(m(x), axis=-1)), model, images)


def test_check_batch_averaged_miou(capsys):
    rng = np.random.default_rng(2)
    cms = [rng.integers(0, 20, size=(4, 4)) for _ in range(3)]
    cms[0][3, :] = 0
    cms[0][:, 3] = 0
    ex07.check_batch_averaged_miou(lambda c: float(np.mean([metrics.mean_iou(m) for m in c])), cms)
    assert "one accumulated matrix" in capsys.readouterr().out
    with pytest.raises(ExerciseError):
        ex07.check_batch_averaged_miou(lambda c: metrics.mean_iou(np.sum(c, axis=0)), cms)  # the accumulated one


def test_batch_cms_of_adds_up_to_the_whole():
    model = tiny_model()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 6, 8, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(4, 6, 8))
    batches = [(images[:2], labels[:2]), (images[2:], labels[2:])]
    cms = ex07.batch_cms_of(model, batches, 3)
    whole = metrics.confusion_matrix(labels, np.argmax(model(images).numpy(), -1), 3)
    assert len(cms) == 2 and np.array_equal(sum(cms), whole)


# --------------------------------------------------------------------------- 08


def test_check_pooling_params():
    ex08.check_pooling_params(512 * 256 + 4 * 256 + 256 * 256, 7, "resnet18")
    with pytest.raises(ExerciseError):
        ex08.check_pooling_params(512 * 256 + 4 * 256, 7, "resnet18")


def test_check_stage4_size():
    ex08.check_stage4_size((65, 65), (513, 513), 8)
    ex08.check_stage4_size((33, 33), (513, 513), 16)
    with pytest.raises(ExerciseError):
        ex08.check_stage4_size((64, 64), (513, 513), 8)


def test_check_best_efficiency():
    rows = [
        {"variant": "big", "params": 40_000_000, "val_miou": 0.70},
        {"variant": "small", "params": 10_000_000, "val_miou": 0.60},
        {"variant": "not run", "params": None, "val_miou": None},
    ]
    ex08.check_best_efficiency("small", rows)
    with pytest.raises(ExerciseError):
        ex08.check_best_efficiency("big", rows)
    with pytest.raises(ExerciseError, match="No trained rows"):
        ex08.check_best_efficiency("x", rows[2:])


def _class_weight_case():
    import dataclasses

    from course_utils.evaluate import EvaluationResult
    from course_utils.training.config import TrainConfig

    names = ["road", "car", "person", "pole"]
    base = TrainConfig.from_profile("smoke", tensorboard=False)
    switched = dataclasses.replace(base, class_weighting=True, backup_every=3)  # bookkeeping may differ
    ref_cm = np.array([[50, 5, 0, 0], [5, 30, 1, 0], [2, 2, 3, 0], [1, 0, 0, 1]])
    new_cm = np.array([[48, 5, 2, 0], [5, 30, 1, 0], [1, 1, 5, 0], [1, 0, 0, 1]])
    reference = EvaluationResult("val", ref_cm, names, 4)
    result = EvaluationResult("val", new_cm, names, 4)
    iou = dict(zip(names, result.per_class_iou.tolist()))
    counts = np.array([1000, 400, 30, 10])
    rare = ["person", "pole"]
    gain = float(np.nanmean(result.per_class_iou[2:] - reference.per_class_iou[2:]))
    return [switched, result, iou, rare, gain], base, reference, counts


def test_check_class_weight_experiment(capsys):
    import dataclasses

    answers, base, reference, counts = _class_weight_case()
    ex08.check_class_weight_experiment(*answers, base, reference, counts)
    assert "Correct!" in capsys.readouterr().out

    def fails(index, value, match):
        wrong = list(answers)
        wrong[index] = value
        with pytest.raises(ExerciseError, match=match):
            ex08.check_class_weight_experiment(*wrong, base, reference, counts)

    fails(0, base, "switch it")
    fails(0, dataclasses.replace(answers[0], epochs=5), "one thing only")
    fails(1, answers[2], "evaluate_split")
    fails(1, dataclasses.replace(answers[1], num_images=3), "same split")
    fails(2, dict(list(answers[2].items())[:3]), "every class name")
    fails(2, {k: 0.5 for k in answers[2]}, "per_class_iou")
    fails(3, ["car", "pole"], "rarest")
    fails(4, answers[4] + 0.1, "rare_gain")
    fails(4, None, "Still None: rare_gain")
    assert ex08.check_class_weight_experiment(None, None, None, None, None, base, reference, counts) is False
    assert "Not attempted yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- 09


def test_check_decoder_stride():
    from course_utils.model import build_deeplabv3

    plus = build_deeplabv3(3, backbone="resnet18", decoder=True, input_shape=(64, 128, 3))
    ex09.check_decoder_stride(4, plus)
    with pytest.raises(ExerciseError):
        ex09.check_decoder_stride(16, plus)
    free = build_deeplabv3(3, backbone="resnet18", decoder=True)
    with pytest.raises(ExerciseError, match="fixed input_shape"):
        ex09.check_decoder_stride(4, free)


def test_check_colorize():
    palette = [(10, 20, 30), (200, 100, 0), (0, 0, 255)]

    def right(ids, pal):
        table = np.zeros((256, 3), np.uint8)
        table[: len(pal)] = pal
        return table[np.asarray(ids)]

    def void_white(ids, pal):
        out = right(ids, pal)
        out[np.asarray(ids) == 255] = 255
        return out

    ex09.check_colorize(right, palette)
    with pytest.raises(ExerciseError):
        ex09.check_colorize(void_white, palette)
    with pytest.raises(ExerciseError, match="raised"):
        ex09.check_colorize(lambda ids, pal: np.asarray(pal)[ids], palette)  # 255 is out of range


def test_check_export_difference(tmp_path):
    model = tiny_model()
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    image = np.random.default_rng(1).normal(size=(6, 8, 3)).astype("float32")
    import tensorflow as tf

    reloaded = tf.saved_model.load(str(tmp_path / "sm"))
    diff = float(np.max(np.abs(reloaded.serve(image[None]).numpy() - model(image[None]).numpy())))
    ex09.check_export_difference(diff, model, tmp_path / "sm", image)
    with pytest.raises(ExerciseError):
        ex09.check_export_difference(diff + 0.5, model, tmp_path / "sm", image)
    assert ex09.check_export_difference(None, model, tmp_path / "sm", image) is False


def test_check_head_macs(capsys):
    seed = ex09.head_report((4, 6), 5).macs
    assert seed == 64 * 96 * 256 * 5
    assert ex09.head_report((4, 6), 5, seed_order=False).macs * 256 == seed
    ex09.check_head_macs(seed, (4, 6), 5)
    assert "256x fewer" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="course's head"):
        ex09.check_head_macs(4 * 6 * 256 * 5, (4, 6), 5)
    with pytest.raises(ExerciseError):
        ex09.check_head_macs(seed + 64 * 96 * 5, (4, 6), 5)  # the bias counted


def _stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "call",
    [
        lambda: ex05.check_label_validator(_stub),
        lambda: ex06.check_poly_lr(_stub, 0.01, 10),
        lambda: ex06.check_poly_lr(lambda step: None, 0.01, 10),
        lambda: ex07.check_miou_function(_stub),
        lambda: ex09.check_colorize(_stub, [(0, 0, 0), (255, 0, 0)]),
        lambda: ex05.check_class_weights(None, [1, 2]),
        lambda: ex07.check_worst_confusion(None, np.eye(2), ["a", "b"]),
        lambda: ex08.check_best_efficiency(None, []),
        lambda: ex07.check_batch_averaged_miou(_stub, [np.eye(2)]),
        lambda: ex09.check_head_macs(None, (2, 2), 3),
        lambda: ex06.check_seed_gradient_ratio(None, None, None, None),
    ],
)
def test_untouched_exercises_are_reported_not_failed(call, capsys):
    assert call() is False
    assert "Not attempted yet" in capsys.readouterr().out
