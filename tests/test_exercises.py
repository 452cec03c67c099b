"""Exercise checkers accept right answers and reject wrong ones with a hint."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import atrous
from course_utils.exercises import core
from course_utils.exercises import nb00 as ex00
from course_utils.exercises import nb01 as ex01
from course_utils.exercises import nb02 as ex02
from course_utils.exercises import nb03 as ex03
from course_utils.exercises import nb04 as ex04


def test_check_equal_and_close(capsys):
    core.check_equal(5, 5)
    assert capsys.readouterr().out.strip() == "Correct!"
    with pytest.raises(core.ExerciseError, match="Hint: think"):
        core.check_equal(4, 5, hint="think")
    assert core.check_equal(None, 5) is False  # untouched: reported, the run goes on
    assert "Not attempted yet" in capsys.readouterr().out
    assert core.check_close(None, [1.0]) is False
    core.check_close([0.1, 0.2], np.array([0.1, 0.2 + 1e-9]))
    with pytest.raises(core.ExerciseError, match="shape"):
        core.check_close([1, 2], [1, 2, 3])
    with pytest.raises(core.ExerciseError, match="differs"):
        core.check_close([1, 2], [1, 2.5])


def test_check_atrous_conv1d(capsys):
    ex01.check_atrous_conv1d(atrous.atrous_conv1d)
    assert "Correct!" in capsys.readouterr().out

    def no_padding_offset(x, kernel, rate):  # a typical mistake: centring ignored
        padded = np.pad(np.asarray(x, float), (0, (len(kernel) - 1) * rate))
        return np.array([sum(kernel[k] * padded[i + k * rate] for k in range(len(kernel))) for i in range(len(x))])

    with pytest.raises(core.ExerciseError, match="Wrong result"):
        ex01.check_atrous_conv1d(no_padding_offset)
    with pytest.raises(core.ExerciseError, match="raised"):
        ex01.check_atrous_conv1d(lambda x, k, r: 1 / 0)


def test_check_receptive_field_and_gridding(capsys):
    layers = [(3, 1, 1), (3, 2, 1), (3, 1, 2)]
    ex01.check_receptive_field(atrous.receptive_field(layers), layers)
    with pytest.raises(core.ExerciseError):
        ex01.check_receptive_field(atrous.receptive_field(layers) + 1, layers)
    ex01.check_no_gridding([1, 2, 4])
    assert "every pixel seen" in capsys.readouterr().out
    with pytest.raises(core.ExerciseError, match="holes"):
        ex01.check_no_gridding([2, 4, 8])
    with pytest.raises(core.ExerciseError, match="at least 3 layers"):
        ex01.check_no_gridding([1, 2])
    with pytest.raises(core.ExerciseError, match="at least 31x31"):
        ex01.check_no_gridding([1, 2, 4], min_field=31)


def test_check_param_count_and_shape():
    layer = keras.layers.Conv2D(8, 3)
    layer.build((None, 5, 5, 4))
    core.check_param_count(3 * 3 * 4 * 8 + 8, layer)
    with pytest.raises(core.ExerciseError, match="parameter count"):
        core.check_param_count(3 * 3 * 4 * 8, layer, hint="bias")
    core.check_output_shape([4, 8], (4, 8))
    with pytest.raises(core.ExerciseError):
        core.check_output_shape((8, 4), (4, 8))


def _stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "call",
    [
        lambda: ex01.check_atrous_conv1d(_stub),
        lambda: ex01.check_atrous_conv1d(lambda x, k, r: None),
        lambda: ex01.check_no_gridding(None),
        lambda: ex01.check_receptive_field(None, [(3, 1, 1)]),
        lambda: ex00.check_batches_per_epoch(None, 10, 4),
        lambda: ex00.check_batch_megabytes(None, 8, (64, 64)),
        lambda: ex03.check_pooling_branch(_stub),
        lambda: ex02.check_bottleneck_unit(_stub),
        lambda: ex03.check_aspp_module(_stub),
        lambda: ex04.check_deeplabv3_assembly(_stub),
    ],
)
def test_untouched_exercises_are_reported_not_failed(call, capsys):
    assert call() is False
    assert "Not attempted yet" in capsys.readouterr().out


def test_check_batches_and_megabytes():
    assert ex00.check_batches_per_epoch(3, 10, 4)
    with pytest.raises(core.ExerciseError, match="round up"):
        ex00.check_batches_per_epoch(2, 10, 4)
    assert ex00.check_batch_megabytes(8 * 64 * 64 * 3 * 4 / 2**20, 8, (64, 64))
    with pytest.raises(core.ExerciseError):
        ex00.check_batch_megabytes(8 * 64 * 64 * 3 / 2**20, 8, (64, 64))  # bytes per value forgotten


def test_check_pooling_branch_rejects_a_fixed_size():
    def fixed(features):
        pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(features)
        pooled = keras.layers.Conv2D(8, 1)(pooled)
        return keras.layers.UpSampling2D((15, 30))(pooled)  # the seed's mistake

    with pytest.raises(core.ExerciseError, match="4x8"):
        ex03.check_pooling_branch(fixed)


def _unit(relu_first: bool = False, rate_in_first: bool = False, name_suffix: str = "1"):
    """A bottleneck unit with an optional mistake, for the layer-by-layer checker."""
    from keras import layers

    def unit(x, filters, strides, rate, name, project):
        def conv_bn(y, channels, kernel, suffix, strides=1, rate=1, relu=True):
            y = layers.Conv2D(
                channels, kernel, strides=strides, dilation_rate=rate, padding="same", name=f"{name}_conv{suffix}"
            )(y)
            if relu and relu_first:
                y = layers.ReLU()(y)
            y = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn{suffix}")(y)
            return layers.ReLU()(y) if relu and not relu_first else y

        shortcut = x
        if project:
            shortcut = layers.Conv2D(4 * filters, 1, strides=strides, name=f"{name}_shortcut_conv")(x)
            shortcut = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_shortcut_bn")(shortcut)
        y = conv_bn(x, filters, 1, name_suffix, strides=strides)
        y = conv_bn(y, filters, 3, "2", rate=rate)
        y = conv_bn(y, 4 * filters, 1, "3", relu=False)
        return layers.ReLU()(layers.Add()([shortcut, y]))

    return unit


def test_check_bottleneck_unit_names_the_mistake():
    from course_utils.exercises.solutions import nb02

    assert ex02.check_bottleneck_unit(nb02.my_bottleneck_unit)
    with pytest.raises(core.ExerciseError, match="unit_bn1.*computes something else"):
        ex02.check_bottleneck_unit(_unit(relu_first=True))
    with pytest.raises(core.ExerciseError, match="no layer with weights named 'unit_conv1'"):
        ex02.check_bottleneck_unit(_unit(name_suffix="a"))
