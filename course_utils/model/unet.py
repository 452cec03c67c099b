"""A small U-Net (Ronneberger et al., 2015), to compare with DeepLabV3.

``build_unet`` returns a functional ``keras.Model``:

``image (B, H, W, 3)`` -> encoder (``depth`` levels of two 3x3 Conv-BN-ReLU and a
2x2 max-pool, the filters doubling at each level) -> bottleneck (two 3x3
Conv-BN-ReLU at ``H / 2**depth``) -> decoder (per level: a 2x2 transposed
convolution with stride 2, concatenation with the encoder's feature map of the
same size, two 3x3 Conv-BN-ReLU) -> 1x1 classifier -> ``logits`` (float32).

Differences from the 2015 paper: "same" padding (the output has the input's
size, no cropping of the skip connections) and BatchNorm after every
convolution, as in most modern re-implementations. The height and width of the
input must be divisible by ``2**depth`` so that every upsampled map matches its
skip connection.
"""

from __future__ import annotations

import keras
from keras import layers

from course_utils.model.blocks import conv_bn_relu

__all__ = ["build_unet"]


def _double_conv(x, filters: int, name: str):
    x = conv_bn_relu(x, filters, 3, name=f"{name}_a")
    return conv_bn_relu(x, filters, 3, name=f"{name}_b")


def build_unet(
    num_classes: int,
    depth: int = 4,
    base_filters: int = 32,
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    name: str = "unet",
) -> keras.Model:
    """A U-Net that outputs float32 logits at the input's size.

    Args:
        num_classes: channels of the logits.
        depth: number of 2x downsamplings (the coarsest feature map is
            ``H / 2**depth``; the original U-Net uses 4).
        base_filters: filters of the first level; level ``d`` has
            ``base_filters * 2**d`` (the original uses 64).
        input_shape: ``(H, W, C)``; ``None`` for any size. A given ``H`` or ``W``
            must be divisible by ``2**depth``.
        name: the model's name.

    Returns:
        A functional ``keras.Model`` mapping ``(B, H, W, C)`` images to
        ``(B, H, W, num_classes)`` logits (no softmax). Layer names: ``enc{d}_*``,
        ``pool{d}``, ``bottleneck_*``, ``up{d}``, ``concat{d}``, ``dec{d}_*``,
        ``classifier``, ``logits``.

    Raises:
        ValueError: for ``depth < 1``, ``base_filters < 1``, ``num_classes < 1``
            or a fixed input size not divisible by ``2**depth``.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}.")
    if base_filters < 1 or num_classes < 1:
        raise ValueError(f"base_filters and num_classes must be positive, got {base_filters}, {num_classes}.")
    factor = 2**depth
    for size in input_shape[:2]:
        if size is not None and size % factor:
            raise ValueError(
                f"U-Net of depth {depth} needs input sizes divisible by {factor}, got {input_shape[:2]}; "
                "pad or crop the image."
            )
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for d in range(depth):
        x = _double_conv(x, base_filters * 2**d, f"enc{d + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{d + 1}")(x)
    x = _double_conv(x, base_filters * 2**depth, "bottleneck")
    for d in reversed(range(depth)):
        filters = base_filters * 2**d
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{d + 1}")(x)
        x = layers.Concatenate(name=f"concat{d + 1}")([x, skips[d]])
        x = _double_conv(x, filters, f"dec{d + 1}")
    x = layers.Conv2D(num_classes, 1, name="classifier")(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)
