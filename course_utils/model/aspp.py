"""Atrous Spatial Pyramid Pooling (DeepLabV3, section 3.3).

Five parallel branches look at the same backbone feature map with different
fields of view, and a 1x1 convolution fuses them:

1. a 1x1 convolution;
2. three 3x3 atrous convolutions with rates ``rates`` (6, 12, 18 at output
   stride 16; doubled to 12, 24, 36 at output stride 8);
3. image pooling: global average -> 1x1 -> BN -> ReLU -> bilinear resize back to
   the feature map's size, read at run time, so any input size works (the seed
   notebook hard-coded ``UpSampling2D((15, 30))``, which fits one size only);

then concatenation -> 1x1 projection -> BN -> ReLU -> dropout.
Every convolution is followed by BatchNorm and then ReLU (Conv -> BN -> ReLU)
and has no bias, since BatchNorm supplies the offset.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from course_utils.model.blocks import BN_EPSILON, DEFAULT_BN_MOMENTUM, conv_bn_relu
from course_utils.model.layers import ResizeLike

__all__ = ["BN_EPSILON", "aspp", "build_aspp"]


def aspp(
    features,
    rates: Sequence[int] = (6, 12, 18),
    filters: int = 256,
    image_pooling: bool = True,
    dropout: float = 0.1,
    name: str = "aspp",
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
):
    """Apply ASPP to a feature map inside a functional graph.

    Layer names: ``{name}_1x1_*``, ``{name}_rate{r}_*`` (one per rate),
    ``{name}_pool_*`` (image pooling), ``{name}_concat``, ``{name}_proj_*``,
    ``{name}_dropout``.

    Args:
        features: a 4-D (NHWC) KerasTensor, e.g. the backbone's last stage.
        rates: atrous rates of the 3x3 branches.
        filters: channels of every branch and of the output.
        image_pooling: include the global-context branch.
        dropout: dropout rate after the projection (0 disables it).
        name: prefix of the layer names.
        bn_momentum: momentum of every BatchNorm's moving statistics (Keras
            default 0.99; the paper uses 0.9997).

    Returns:
        A KerasTensor with ``filters`` channels and the spatial size of ``features``.
    """
    rates = tuple(int(r) for r in rates)
    if not rates or any(r < 1 for r in rates):
        raise ValueError(f"ASPP rates must be positive integers, got {rates!r}.")
    if len(set(rates)) != len(rates):
        raise ValueError(f"ASPP rates must be distinct, got {rates!r}.")
    branches = [conv_bn_relu(features, filters, 1, f"{name}_1x1", bn_momentum=bn_momentum)]
    for rate in rates:
        branches.append(conv_bn_relu(features, filters, 3, f"{name}_rate{rate}", rate, bn_momentum))
    if image_pooling:
        pooled = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool_gap")(features)
        pooled = conv_bn_relu(pooled, filters, 1, f"{name}_pool", bn_momentum=bn_momentum)
        branches.append(ResizeLike(name=f"{name}_pool_resize")([pooled, features]))
    x = layers.Concatenate(name=f"{name}_concat")(branches)
    x = conv_bn_relu(x, filters, 1, f"{name}_proj", bn_momentum=bn_momentum)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def build_aspp(
    input_shape: tuple[int | None, int | None, int] = (None, None, 2048),
    rates: Sequence[int] = (6, 12, 18),
    filters: int = 256,
    image_pooling: bool = True,
    dropout: float = 0.1,
    name: str = "aspp",
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
) -> keras.Model:
    """ASPP as a stand-alone model (feature map in, fused feature map out).

    Handy in notebooks: ``build_aspp((None, None, 64))`` runs on any size.
    """
    inputs = keras.Input(shape=input_shape, name="features")
    outputs = aspp(inputs, rates, filters, image_pooling, dropout, name, bn_momentum)
    return keras.Model(inputs, outputs, name=name)
