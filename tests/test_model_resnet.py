"""Tests of the course ResNet backbones (course_utils.model.resnet)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils.model import (
    build_resnet,
    keras_applications_name,
    load_keras_applications_weights,
    multi_grid_rates,
    resnet_endpoints,
    stage_strides_and_rates,
)
from course_utils.model.resnet import dilate_keras_applications_resnet


def _randomize_batchnorm(model: keras.Model, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial gamma/beta/mean/variance."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0, 0.1, mean.shape).astype("float32"),
                    rng.uniform(0.5, 2.0, var.shape).astype("float32"),
                ]
            )


def _caffe_input(shape, seed=1):
    return np.random.default_rng(seed).uniform(-120, 140, shape).astype("float32")


@pytest.fixture(scope="module")
def keras_r50():
    model = keras.applications.ResNet50(include_top=False, weights=None)
    _randomize_batchnorm(model)
    return model


def _expected_stage_sizes(size: int, output_stride: int) -> list[int]:
    """Spatial size after stem and each stage (ceil division by each stride)."""
    sizes, current = [], size
    for stride in (2, 2):  # stem conv, stem pool
        current = math.ceil(current / stride)
    sizes.append(current)  # stem
    for stride, _ in stage_strides_and_rates(output_stride):
        current = math.ceil(current / stride)
        sizes.append(current)
    return sizes


@pytest.mark.parametrize("depth", [18, 34, 50, pytest.param(101, marks=pytest.mark.slow)])
def test_shapes_every_depth_and_output_stride(depth):
    channels = {18: 512, 34: 512, 50: 2048, 101: 2048}[depth]
    x = np.random.default_rng(depth).normal(size=(1, 64, 48, 3)).astype("float32")
    for output_stride in (32, 16, 8):
        model = build_resnet(depth, output_stride=output_stride, multi_grid=(1, 2, 4), return_endpoints=True)
        out = model(x)
        h = _expected_stage_sizes(64, output_stride)
        w = _expected_stage_sizes(48, output_stride)
        assert tuple(out["stage4"].shape) == (1, h[-1], w[-1], channels)
        assert out["stage4"].shape[1] == 64 // output_stride
        assert tuple(out["stage1"].shape[1:3]) == (16, 12)  # stride 4 for the V3+ decoder
        for key, hh, ww in zip(["stem", "stage1", "stage2", "stage3", "stage4"], h, w):
            assert tuple(out[key].shape[1:3]) == (hh, ww), (depth, output_stride, key)


def test_odd_and_unknown_input_sizes():
    model = build_resnet(18, output_stride=8)
    assert model.input_shape == (None, None, None, 3)
    for hw in [(250, 371), (33, 65)]:
        out = model(np.zeros((1, *hw, 3), "float32"))
        assert tuple(out.shape[1:3]) == (_expected_stage_sizes(hw[0], 8)[-1], _expected_stage_sizes(hw[1], 8)[-1])
    fixed = build_resnet(18, output_stride=16, input_shape=(250, 371, 3))
    assert fixed.output_shape == (None, 16, 24, 512)


def test_layer_names_and_endpoints():
    model = build_resnet(50, output_stride=16)
    names = {layer.name for layer in model.layers}
    for expected in [
        "stem_conv",
        "stage3_unit2_conv2",
        "stage4_unit1_shortcut_conv",
        "stage4_unit3_out",
        "stage1_unit1_shortcut_bn",
    ]:
        assert expected in names
    ends = resnet_endpoints(model)
    assert list(ends) == ["stem", "stage1", "stage2", "stage3", "stage4"]
    assert ends["stage4"] is model.output
    assert ends["stage3"] is model.get_layer("stage3_unit6_out").output
    with pytest.raises(ValueError, match="no complete course ResNet"):
        resnet_endpoints(keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3)))


def test_parameter_parity_resnet50(keras_r50):
    for output_stride, grid in [(32, None), (16, (1, 2, 4))]:
        assert build_resnet(50, output_stride, grid).count_params() == keras_r50.count_params()
    assert keras_r50.count_params() == 23_587_712


def test_numerical_parity_resnet50(keras_r50):
    ours = build_resnet(50)
    copied = load_keras_applications_weights(ours, keras_r50)
    assert copied == sum(1 for layer in keras_r50.layers if layer.weights)
    x = _caffe_input((2, 64, 64, 3))
    diff = np.abs(ours(x).numpy() - keras_r50(x).numpy()).max()
    assert diff < 1e-4


@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_backbone_loads_same_weights(keras_r50, output_stride):
    """Our dilated ResNet-50 == keras ResNet50 rebuilt with the same dilation."""
    ours = build_resnet(50, output_stride=output_stride, multi_grid=(1, 2, 4))
    load_keras_applications_weights(ours, keras_r50)
    reference = dilate_keras_applications_resnet(keras_r50, output_stride, (1, 2, 4))
    x = _caffe_input((1, 64, 64, 3), seed=2)
    a, b = ours(x).numpy(), reference(x).numpy()
    assert a.shape == b.shape == (1, 64 // output_stride, 64 // output_stride, 2048)
    assert np.abs(a - b).max() < 1e-4


@pytest.mark.slow
def test_parity_resnet101():
    source = keras.applications.ResNet101(include_top=False, weights=None)
    _randomize_batchnorm(source, seed=3)
    ours = build_resnet(101)
    assert ours.count_params() == source.count_params() == 42_658_176
    load_keras_applications_weights(ours, source)
    x = _caffe_input((1, 64, 64, 3), seed=4)
    assert np.abs(ours(x).numpy() - source(x).numpy()).max() < 1e-4


def test_load_rejects_wrong_source(keras_r50):
    with pytest.raises(ValueError, match="ResNet50 and ResNet101 only"):
        load_keras_applications_weights(build_resnet(18), keras_r50)
    with pytest.raises(ValueError, match="no counterpart|not copied|shapes differ"):
        load_keras_applications_weights(build_resnet(101), keras_r50)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_keras_applications_weights(build_resnet(50), "no_such_weights.h5")


def test_imagenet_offline_gives_clear_error(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/x.h5: None -- "
            "[Errno -3] Temporary failure in name resolution"
        )

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(RuntimeError) as info:
        load_keras_applications_weights(build_resnet(50, input_shape=(32, 32, 3)), "imagenet")
    message = str(info.value)
    assert "network access" in message and "weights=None" in message
    assert info.value.__suppress_context__  # one clear error, no chained urllib stack


def test_keras_applications_name_mapping():
    assert keras_applications_name("stem_conv") == "conv1_conv"
    assert keras_applications_name("stage3_unit2_conv2") == "conv4_block2_2_conv"
    assert keras_applications_name("stage4_unit1_shortcut_bn") == "conv5_block1_0_bn"
    assert keras_applications_name("stage1_unit1_relu1") is None


def test_strides_and_rates_plan():
    assert stage_strides_and_rates(32) == [(1, 1), (2, 1), (2, 1), (2, 1)]
    assert stage_strides_and_rates(16) == [(1, 1), (2, 1), (2, 1), (1, 2)]
    assert stage_strides_and_rates(8) == [(1, 1), (2, 1), (1, 2), (1, 4)]
    assert multi_grid_rates(2, 3, (1, 2, 4)) == [2, 4, 8]
    assert multi_grid_rates(2, 2, (1, 2, 4)) == [2, 4]
    assert multi_grid_rates(4, 3, None) == [4, 4, 4]
    with pytest.raises(ValueError, match="output_stride"):
        stage_strides_and_rates(4)
    with pytest.raises(ValueError, match="depth"):
        build_resnet(42)


def test_rate_doubling_at_output_stride_8():
    def rates(model, stage):
        return [
            layer.dilation_rate[0]
            for layer in model.layers
            if layer.name.startswith(f"stage{stage}_") and layer.name.endswith("_conv2")
        ]

    os16 = build_resnet(50, output_stride=16, multi_grid=(1, 2, 4))
    os8 = build_resnet(50, output_stride=8, multi_grid=(1, 2, 4))
    assert rates(os16, 3) == [1] * 6 and rates(os16, 4) == [2, 4, 8]
    assert rates(os8, 3) == [2] * 6 and rates(os8, 4) == [4, 8, 16]
    assert os8.get_layer("stage3_unit1_conv1").strides == (1, 1)
    assert os16.get_layer("stage3_unit1_conv1").strides == (2, 2)
    assert os8.get_layer("stage4_unit1_shortcut_conv").strides == (1, 1)


def test_dilated_layer_matches_tf_atrous_conv2d():
    model = build_resnet(18, output_stride=16, multi_grid=(1, 2, 4))
    layer = model.get_layer("stage4_unit2_conv2")
    assert layer.dilation_rate == (4, 4)
    kernel = layer.kernel.numpy()
    x = tf.constant(np.random.default_rng(5).normal(size=(1, 11, 13, kernel.shape[2])), dtype=tf.float32)
    ours = layer(x).numpy()
    reference = tf.nn.atrous_conv2d(x, kernel, rate=4, padding="SAME").numpy()
    assert not layer.use_bias
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=1e-4)


def test_conv_bn_relu_order_in_backbone():
    for depth in (18, 50):
        model = build_resnet(depth, output_stride=8)
        for layer in model.layers:
            inbound = layer._inbound_nodes[0].parent_nodes if layer._inbound_nodes else []
            parents = [node.operation for node in inbound]
            if isinstance(layer, keras.layers.BatchNormalization):
                assert all(isinstance(p, keras.layers.Conv2D) for p in parents), layer.name
            if isinstance(layer, keras.layers.ReLU):
                assert all(isinstance(p, (keras.layers.BatchNormalization, keras.layers.Add)) for p in parents), (
                    layer.name
                )
            if isinstance(layer, keras.layers.Conv2D):
                assert layer.activation is keras.activations.linear, layer.name


def test_randomize_batchnorm_and_biases_makes_a_forgotten_tensor_visible():
    from course_utils.model.resnet import randomize_batchnorm_and_biases

    inputs = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", name="c")(inputs)
    y = keras.layers.BatchNormalization(name="b")(y)
    model = keras.Model(inputs, y)
    fresh = keras.models.clone_model(model)
    fresh.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype("float32")
    assert np.allclose(model(x), fresh(x))
    assert randomize_batchnorm_and_biases(model, seed=1) == {"batchnorm": 1, "bias": 1}
    assert not np.allclose(model(x), fresh(x))  # a copy that skipped BN or bias is now caught
    fresh.get_layer("c").set_weights(model.get_layer("c").get_weights())
    fresh.get_layer("b").set_weights(model.get_layer("b").get_weights())
    assert np.allclose(model(x), fresh(x), atol=1e-5)
