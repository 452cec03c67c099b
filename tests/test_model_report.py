"""Tests of model_report / format_report (course_utils.model.report)."""

from __future__ import annotations

import math

import keras
import pytest
from keras import layers

from course_utils.model import build_deeplabv3, build_resnet, format_report, model_report


@pytest.fixture(scope="module")
def keras_r50():
    return keras.applications.ResNet50(include_top=False, weights=None)


def test_keras_resnet50_macs_match_published(keras_r50):
    """The ResNet table lists 3.8e9 "FLOPs" (multiply-adds) for ResNet-50 at 224x224."""
    report = model_report(keras_r50, (224, 224, 3))
    assert 3.8 <= report.gmacs <= 4.1
    assert report.total_params == keras_r50.count_params() == 23_587_712
    assert report.stages["stage1"] == (56, 56, 256)
    assert report.stages["stage4"] == (7, 7, 2048)
    assert report.stage_receptive_fields["stage4"] == 483  # published theoretical RF
    # our Caffe-style ResNet-50 does exactly the same work
    ours = model_report(build_resnet(50), (224, 224, 3))
    assert ours.macs == report.macs
    assert ours.stages == report.stages
    assert ours.stage_receptive_fields == report.stage_receptive_fields


def test_mac_formulas_on_small_layers():
    inputs = keras.Input((16, 16, 6))
    a = layers.Conv2D(8, 3, strides=2, padding="same", name="c")(inputs)  # 8x8x8
    b = layers.Conv2D(4, 3, dilation_rate=2, padding="same", groups=2, name="g")(a)
    c = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(b)  # 8x8x8
    d = layers.Conv2DTranspose(2, 2, strides=2, name="t")(c)  # 16x16x2
    e = layers.BatchNormalization()(d)
    f = layers.Dense(5, name="fc")(layers.ReLU()(e))
    model = keras.Model(inputs, f)
    report = model_report(model, (16, 16, 6))
    per_layer = {r.name: r.macs for r in report.layers}
    assert per_layer["c"] == 8 * 8 * 3 * 3 * 6 * 8
    assert per_layer["g"] == 8 * 8 * 3 * 3 * 8 * 4 // 2
    assert per_layer["dw"] == 8 * 8 * 3 * 3 * 4 * 2
    assert per_layer["t"] == 8 * 8 * 2 * 2 * 8 * 2
    assert per_layer["fc"] == 16 * 16 * 2 * 5
    assert report.macs == sum(per_layer.values())
    assert report.output_shape == (16, 16, 5)
    assert report.total_params == model.count_params()
    assert report.non_trainable_params == 2 * 2  # BN moving mean / variance


def test_receptive_field_with_dilation_and_pooling():
    inputs = keras.Input((None, None, 1))
    x = layers.Conv2D(1, 3, padding="same", name="c1")(inputs)  # 3
    x = layers.Conv2D(1, 3, strides=2, padding="same", name="c2")(x)  # 5, jump 2
    x = layers.Conv2D(1, 3, dilation_rate=2, padding="same", name="c3")(x)  # 5 + 4*2 = 13
    y = layers.MaxPooling2D(2, name="p")(x)  # 13 + 1*2 = 15, jump 4
    model = keras.Model(inputs, y)
    report = model_report(model, (32, 32, 1))
    rf = {r.name: r.receptive_field for r in report.layers}
    assert (rf["c1"], rf["c2"], rf["c3"], rf["p"]) == (3, 5, 13, 15)
    assert report.receptive_field == 15
    pooled = keras.Model(inputs, layers.GlobalAveragePooling2D()(y))
    assert math.isinf(model_report(pooled, (32, 32, 1)).receptive_field)


def test_receptive_field_and_stride_through_upsampling():
    inputs = keras.Input((None, None, 1))
    x = layers.Conv2D(1, 3, strides=4, padding="same", name="down")(inputs)  # 3, jump 4
    t = layers.Conv2DTranspose(1, 3, strides=2, padding="same", name="t")(x)  # ceil(3/2) = 2 taps: 3 + 4 = 7, jump 2
    n = layers.UpSampling2D(2, name="n")(t)  # nearest: 7, jump 1
    b = layers.UpSampling2D(2, interpolation="bilinear", name="b")(x)  # bilinear: 3 + 4 = 7, jump 2
    c = layers.Conv2D(1, 3, padding="same", name="c")(b)  # 7 + 2 * 2 = 11
    report = model_report(keras.Model(inputs, [n, c]), (32, 32, 1))
    info = {r.name: (r.receptive_field, r.jump) for r in report.layers}
    assert info["t"] == (7, 2) and info["n"] == (7, 1) and info["b"] == (7, 2) and info["c"] == (11, 2)
    assert report.output_stride == 4


def test_deeplab_report_and_table():
    r16 = model_report(build_deeplabv3(7, backbone="resnet18", output_stride=16), (64, 96, 3))
    r8 = model_report(build_deeplabv3(7, backbone="resnet18", output_stride=8), (64, 96, 3))
    assert r16.output_shape == (64, 96, 7)
    assert r16.stages["stage1"] == (16, 24, 64)
    assert r16.stages["stage4"] == (4, 6, 512) and r8.stages["stage4"] == (8, 12, 512)
    assert math.isinf(r16.receptive_field)  # ASPP image pooling sees the whole image
    # dilation keeps the backbone's field of view while computing 4x more positions
    assert r8.stage_receptive_fields["stage4"] >= r16.stage_receptive_fields["stage4"]
    assert r8.macs > 2 * r16.macs
    assert (r16.output_stride, r8.output_stride) == (16, 8)  # image pooling's 1x1 map does not count
    assert r16.total_params == r8.total_params
    text = str(format_report([r16, r8], title="output stride"))
    assert "deeplabv3_resnet18" in text and "global" in text
    assert f"{r16.gmacs:.2f}" in text and f"{r8.gmacs:.2f}" in text
    assert r16.as_dict()["total_params"] == r16.total_params


def test_nested_model_is_walked(keras_r50):
    inputs = keras.Input((64, 64, 3))
    outer = keras.Model(inputs, layers.Conv2D(3, 1, name="head")(keras_r50(inputs)))
    flat = model_report(keras_r50, (64, 64, 3))
    nested = model_report(outer, (64, 64, 3))
    assert nested.macs == flat.macs + 2 * 2 * 2048 * 3
    assert nested.stages == flat.stages


def test_rejects_non_functional_model():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional"):
        model_report(Subclassed(), (4, 4, 1))
