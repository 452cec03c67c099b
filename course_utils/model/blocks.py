"""The Conv -> BN -> ReLU block shared by ASPP and the DeepLabV3+ decoder.

One definition for both heads, so a change of initialiser, epsilon or BatchNorm
momentum reaches every head convolution. (The ResNet has its own
``_conv_bn`` in :mod:`course_utils.model.resnet`: Caffe-style epsilon, optional
bias and optional ReLU, matching ``keras.applications``.)
"""

from __future__ import annotations

from keras import layers

from course_utils.config import DEFAULT_BN_MOMENTUM

#: BatchNorm epsilon of the head (ASPP, decoder) convolutions.
BN_EPSILON = 1e-5


def conv_bn_relu(
    x,
    filters: int,
    kernel_size: int,
    name: str,
    rate: int = 1,
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
):
    """Conv (no bias, He init, "same" padding, dilation ``rate``) -> BN -> ReLU.

    Layer names: ``{name}_conv``, ``{name}_bn``, ``{name}_relu``.
    """
    x = layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        dilation_rate=rate,
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)
