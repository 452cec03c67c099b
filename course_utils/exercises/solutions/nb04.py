"""Solutions of the exercises of notebook 04 (the DeepLabV3 model)."""

from __future__ import annotations

import keras
from keras import layers

from course_utils.model import default_aspp_rates
from course_utils.model.aspp import aspp
from course_utils.model.layers import ResizeLike
from course_utils.model.resnet import resnet_features


def answer_1(num_classes: int) -> tuple[int, int, int, int]:
    """Exercise 1: the model resizes its logits to the input size."""
    return (2, 100, 72, num_classes)


# Exercise 2: relu turns every negative logit into 0, and the softmax of 7 equal values is uniform.
answer_2 = 1 / 7


def answer_3(c_low: int) -> int:
    """Exercise 3: 1x1 to 48, 3x3 from 256 + 48 to 256, 3x3 from 256 to 256, each with a BatchNorm."""
    return (c_low * 48 + 4 * 48) + (9 * (256 + 48) * 256 + 4 * 256) + (9 * 256 * 256 + 4 * 256)


# Exercise 4: (6, 12, 18) doubled at output stride 8.
answer_4 = (12, 24, 36)


def my_deeplabv3(num_classes, output_stride):
    """Exercise 5: dilated ResNet-18 (multi-grid 1, 2, 4) -> ASPP -> 1x1 classifier -> resize to the input."""
    inputs = keras.Input((None, None, 3), name="image")
    features = resnet_features(inputs, 18, output_stride, (1, 2, 4))
    x = aspp(features["stage4"], default_aspp_rates(output_stride), 256, name="aspp")
    x = layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = ResizeLike(name="upsample", dtype="float32")([x, inputs])
    outputs = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs)
