"""Every worked solution in course_utils.exercises.solutions passes the checker its notebook calls.

The notebooks run their exercises untouched (the checkers print "Not attempted yet"), so these
tests are what proves the solutions, and the checkers' notion of right, agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import atrous
from course_utils.exercises import core
from course_utils.exercises import nb00 as ex00
from course_utils.exercises import nb01 as ex01
from course_utils.exercises import nb02 as ex02
from course_utils.exercises import nb03 as ex03
from course_utils.exercises import nb04 as ex04
from course_utils.exercises import nb05 as ex05
from course_utils.exercises import nb06 as ex06
from course_utils.exercises import nb07 as ex07
from course_utils.exercises import nb08 as ex08
from course_utils.exercises import nb09 as ex09
from course_utils.exercises.solutions import nb00, nb01, nb02, nb03, nb04, nb05, show


@pytest.fixture(autouse=True)
def _expect_correct(capsys):
    yield
    out = capsys.readouterr().out
    assert "Not attempted yet" not in out
    assert "Correct!" in out


def test_nb00():
    assert ex00.check_batches_per_epoch(nb00.batches_per_epoch(10, 4), 10, 4)
    assert ex00.check_batch_megabytes(nb00.batch_megabytes(8, (96, 160)), 8, (96, 160))


def test_nb01():
    assert core.check_equal(nb01.answer_1, atrous.effective_kernel_size(3, 6))
    assert ex01.check_receptive_field(nb01.answer_2, [(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 2)])
    assert ex01.check_atrous_conv1d(nb01.my_atrous_conv1d)
    assert ex01.check_no_gridding(nb01.answer_4, min_layers=3, min_field=27)


def test_nb02_answers():
    import keras

    from course_utils.model import build_resnet, model_report, multi_grid_rates, stage_strides_and_rates
    from course_utils.model.resnet import bottleneck_unit

    inputs = keras.Input((56, 56, 256))  # the notebook's unit_model("bottleneck", 256, 64)
    unit = keras.Model(inputs, bottleneck_unit(inputs, 64, strides=1, rate=1, name="bottleneck", project=False))
    assert core.check_param_count(nb02.answer_1, unit)
    expected = model_report(build_resnet(18, output_stride=8), (480, 640, 3)).stages["stage4"][:2]
    assert core.check_output_shape(nb02.answer_2, expected)
    rate = stage_strides_and_rates(8)[3][1]
    assert core.check_equal(nb02.answer_3, tuple(multi_grid_rates(rate, 3, (1, 2, 4))))


def test_nb02_bottleneck_unit():
    assert ex02.check_bottleneck_unit(nb02.my_bottleneck_unit)


def test_nb03():
    from course_utils.model import build_aspp, default_aspp_rates

    smallest = min(r for r in range(1, 200) if atrous.valid_weight_counts(33, r) == {1: 1.0})
    assert core.check_equal(nb03.answer_1, smallest)
    assert core.check_equal(nb03.answer_2, default_aspp_rates(8))
    assert core.check_param_count(nb03.answer_3, build_aspp((None, None, 512), rates=(6, 12, 18), filters=256))
    assert ex03.check_pooling_branch(nb03.pooling_branch)
    assert ex03.check_aspp_module(nb03.my_aspp)


def test_nb04_answers():
    import tensorflow as tf

    from course_utils.model import build_deeplabv3, model_report

    model = build_deeplabv3(7, backbone="resnet18")
    plus = build_deeplabv3(7, backbone="resnet18", decoder=True)
    model8 = build_deeplabv3(7, backbone="resnet18", output_stride=8)
    shape = model(np.zeros((2, 100, 72, 3), "float32"), training=False).shape
    assert core.check_output_shape(nb04.answer_1(7), shape)
    seed_probs = tf.nn.softmax(tf.nn.relu(-np.arange(1, 8, dtype="float32")[None])).numpy()[0]
    assert core.check_close(nb04.answer_2, seed_probs[0])
    c_low = model_report(model, (64, 64, 3)).stages["stage1"][-1]
    assert core.check_equal(nb04.answer_3(c_low), plus.count_params() - model.count_params())
    rates8 = tuple(
        lyr.dilation_rate[0] for lyr in model8.layers if lyr.name.startswith("aspp_rate") and lyr.name.endswith("_conv")
    )
    assert core.check_equal(nb04.answer_4, rates8)


@pytest.mark.slow
def test_nb04_assembly():
    assert ex04.check_deeplabv3_assembly(nb04.my_deeplabv3)


def test_nb05():
    counts = np.array([500, 300, 150, 50, 0])
    assert ex05.check_majority_baseline(*nb05.majority_baseline(counts), counts)
    assert ex05.check_class_weights(nb05.class_weights(counts), counts)
    assert ex05.check_label_validator(nb05.is_valid_label)


def test_show_prints_a_solution(capsys):
    show("01", "my_atrous_conv1d")
    assert "def my_atrous_conv1d" in capsys.readouterr().out
    print("Correct!")  # for the fixture


# --------------------------------------------------------------------------- 06-09


def tiny_segmenter(classes: int = 3, seed: int = 0):
    """A small logits model whose last convolution is named "classifier", like the course's DeepLabV3."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(classes, 1, name="classifier")(x))


def test_nb06(tmp_path):
    from course_utils.datasets.minidrive import build_minidrive
    from course_utils.exercises.solutions import nb06
    from course_utils.training.config import TrainConfig

    assert ex06.check_poly_lr(lambda s: nb06.poly_lr(s, 0.01, 100), 0.01, 100)
    root = build_minidrive(tmp_path / "minidrive", 5, 2, 0, 32, 64, seed=1)
    config = TrainConfig.from_profile("smoke", recipe="paper", batch_size=2, epochs=3, steps_per_epoch=None)
    assert ex06.check_total_steps(nb06.total_steps(config, 5), config, root)
    config = TrainConfig.from_profile("smoke", recipe="paper", tensorboard=False)
    assert ex06.check_checkpoint_monitor(nb06.checkpoint_monitor(config), config, tmp_path)


def test_nb06_seed_gradient_ratio():
    from course_utils.exercises.solutions import nb06

    model = tiny_segmenter()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 8, 10, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(2, 8, 10))
    labels[0, :3] = 255  # some void
    assert ex06.check_seed_gradient_ratio(nb06.seed_gradient_ratio(model, images, labels), model, images, labels)


def test_nb07():
    import keras

    from course_utils.exercises.solutions import nb07

    assert ex07.check_miou_function(nb07.my_mean_iou)
    cm = np.array([[50, 3, 1], [20, 30, 0], [2, 2, 40]])
    assert ex07.check_worst_confusion(nb07.worst_confusion(cm, ["a", "b", "c"]), cm, ["a", "b", "c"])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    images = np.random.default_rng(0).normal(size=(2, 6, 8, 3)).astype("float32")
    assert ex07.check_flip_tta(nb07.flip_tta, model, images)
    rng = np.random.default_rng(1)
    batch_cms = [rng.integers(0, 20, size=(3, 3)) for _ in range(4)]
    assert ex07.check_batch_averaged_miou(nb07.batch_averaged_miou, batch_cms)


def test_nb08():
    from course_utils.exercises.solutions import nb08

    assert ex08.check_pooling_params(nb08.answer_1, 3, backbone="resnet50")
    assert ex08.check_stage4_size(nb08.answer_2, (513, 513), 8)
    rows = [
        {"variant": "a", "val_miou": 0.5, "params": 10e6},
        {"variant": "b", "val_miou": 0.4, "params": 4e6},
        {"variant": "c", "val_miou": None, "params": 1e6},
    ]
    assert ex08.check_best_efficiency(nb08.best_efficiency(rows), rows)


@pytest.mark.slow
def test_nb08_class_weight_experiment(tmp_path):
    from course_utils import data, evaluate, train
    from course_utils.datasets.minidrive import build_minidrive
    from course_utils.exercises.solutions import nb08

    root = build_minidrive(tmp_path / "minidrive", 4, 2, 0, 32, 64, seed=1)
    base = train.TrainConfig.from_profile(
        "smoke", image_size=(32, 64), eval_size=(32, 64), batch_size=2, steps_per_epoch=1, tensorboard=False
    )
    reference, _ = train.train(base, root, tmp_path / "reference", verbose=0)
    reference_result = evaluate.evaluate_split(reference, root, "val", **evaluate.scoring_kwargs(base))
    counts = data.class_frequencies(root, "train")
    answers = nb08.class_weight_experiment(base, root, tmp_path / "switched", reference_result, counts)
    assert ex08.check_class_weight_experiment(*answers, base, reference_result, counts)


def test_nb09(tmp_path):
    import keras
    import tensorflow as tf

    from course_utils.exercises.solutions import nb09
    from course_utils.model import build_deeplabv3

    plus = build_deeplabv3(3, backbone="resnet18", decoder=True, input_shape=(64, 128, 3))
    assert ex09.check_decoder_stride(nb09.decoder_stride(plus), plus)
    assert ex09.check_colorize(nb09.my_colorize, [(10, 20, 30), (200, 100, 0), (0, 0, 255)])
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    image = np.random.default_rng(1).normal(size=(6, 8, 3)).astype("float32")
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert ex09.check_export_difference(
        nb09.export_difference(model, reloaded, image[None]), model, tmp_path / "sm", image
    )
    assert ex09.check_head_macs(nb09.seed_head_macs((32, 64), 19), (32, 64), num_classes=19)
