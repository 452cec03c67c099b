"""Solutions of the exercises of notebook 02 (the ResNet backbone)."""

from __future__ import annotations

from keras import layers

# Exercise 1: three convolutions with biases, three BatchNorms with 4 numbers per channel.
answer_1 = (256 * 64 + 64) + (9 * 64 * 64 + 64) + (64 * 256 + 256) + 4 * (64 + 64 + 256)

# Exercise 2: output stride 8 divides each side by 8.
answer_2 = (480 // 8, 640 // 8)

# Exercise 3: the stage's rate (4 at output stride 8) times each multi-grid entry.
answer_3 = (4 * 1, 4 * 2, 4 * 4)

BN_EPSILON = 1.001e-5  # keras.applications' ResNet


def my_bottleneck_unit(x, filters, strides, rate, name, project):
    """Exercise 4: a dilated bottleneck unit, Conv -> BN -> ReLU, the stride in the first 1x1."""

    def conv_bn(y, channels, kernel, suffix, strides=1, rate=1, relu=True):
        y = layers.Conv2D(
            channels, kernel, strides=strides, dilation_rate=rate, padding="same", name=f"{name}_conv{suffix}"
        )(y)
        y = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn{suffix}")(y)
        return layers.ReLU()(y) if relu else y

    shortcut = x
    if project:
        shortcut = layers.Conv2D(4 * filters, 1, strides=strides, name=f"{name}_shortcut_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_shortcut_bn")(shortcut)
    y = conv_bn(x, filters, 1, "1", strides=strides)
    y = conv_bn(y, filters, 3, "2", rate=rate)
    y = conv_bn(y, 4 * filters, 1, "3", relu=False)
    return layers.ReLU()(layers.Add()([shortcut, y]))
