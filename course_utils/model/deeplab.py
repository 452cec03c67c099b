"""DeepLabV3 and DeepLabV3+ assembled from the course ResNet and ASPP.

``build_deeplabv3`` returns a functional ``keras.Model``:

``image (B, H, W, 3) in [-1, 1]`` -> [input adapter] -> ResNet (dilated, output
stride 8/16/32) -> ASPP -> [V3+ decoder] -> 1x1 classifier -> bilinear resize to
``(H, W)`` -> ``logits`` (float32).

The output is **logits**: no softmax and no ReLU (the seed notebook put a ReLU
right before its softmax, which zeroes every negative score and stalls
learning). Losses and metrics take logits. The final ``logits`` layer is a float32
linear activation so that the output stays float32 under a ``mixed_float16``
policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from course_utils.config import BACKBONES as REGISTRY
from course_utils.model.aspp import aspp
from course_utils.model.blocks import DEFAULT_BN_MOMENTUM, conv_bn_relu
from course_utils.model.layers import ResizeLike
from course_utils.model.resnet import (
    apply_input_adapter,
    imagenet_backbone,
    load_keras_applications_weights,
    resnet_features,
)

#: backbone name -> ResNet depth, and the backbones with ImageNet weights (views of config.BACKBONES)
BACKBONES = {name: b.depth for name, b in REGISTRY.items()}
PRETRAINED_BACKBONES = tuple(name for name, b in REGISTRY.items() if b.pretrained)
# ASPP rates at output stride 16 (paper); they scale inversely with the stride.
BASE_ASPP_RATES = (6, 12, 18)


def default_aspp_rates(output_stride: int) -> tuple[int, int, int]:
    """ASPP rates for an output stride: (6, 12, 18) at 16, doubled at 8, halved at 32.

    The rates are meant in pixels of the *input* image divided by 16, so a
    feature map twice as large (OS 8) needs twice the rate to see the same
    context; at OS 32 (not used in the paper) the course halves them to (3, 6, 9).
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride!r}.")
    return tuple(r * 16 // output_stride for r in BASE_ASPP_RATES)


def build_deeplabv3(
    num_classes: int,
    backbone: str = "resnet50",
    output_stride: int = 16,
    multi_grid: Sequence[int] | None = (1, 2, 4),
    aspp_rates: Sequence[int] | None = None,
    image_pooling: bool = True,
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    weights=None,
    decoder: bool = False,
    dropout: float = 0.1,
    name: str | None = None,
    aspp_filters: int = 256,
    input_adapter: str | None = "auto",
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
) -> keras.Model:
    """Build DeepLabV3 (or DeepLabV3+ with ``decoder=True``) on a ResNet.

    Args:
        num_classes: number of output channels (classes).
        backbone: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        output_stride: 8, 16 or 32 (see :mod:`course_utils.model.resnet`).
        multi_grid: unit rate multipliers of the last stage, e.g. ``(1, 2, 4)``.
        aspp_rates: atrous rates of ASPP; ``None`` -> :func:`default_aspp_rates`
            ((6, 12, 18) at OS 16, (12, 24, 36) at OS 8, (3, 6, 9) at OS 32).
        image_pooling: include ASPP's image-pooling branch.
        input_shape: ``(H, W, 3)``; ``None`` dimensions accept any size.
        weights: ``None`` (random init), ``"imagenet"`` (ResNet-50/101 only;
            downloads the ``keras.applications`` weights, needs network access
            once, or reads ``COURSE_IMAGENET_WEIGHTS``; when they cannot be had
            the build stops, unless ``COURSE_ALLOW_SCRATCH=1`` lets it go on
            from scratch), a ``keras.applications.ResNet50/101(include_top=False)`` model
            to copy from, or a local ``.h5`` weights file.
        decoder: add the DeepLabV3+ decoder: stage-1 features (stride 4) -> 1x1,
            48 channels; ASPP output resized to their size; concatenation; two
            3x3, 256-channel Conv-BN-ReLU; classifier.
        dropout: dropout after the ASPP projection.
        name: model name (default ``"deeplabv3_{backbone}"`` or ``"deeplabv3plus_..."``).
        aspp_filters: channels of ASPP (and of the decoder convolutions).
        input_adapter: the model always takes RGB in ``[-1, 1]``
            (``course_utils.data.normalize_image``). ``"auto"`` adds a
            :class:`~course_utils.model.layers.CaffeInputAdapter` (a fixed layer,
            no weights) in front of the backbone exactly when pretrained
            ``keras.applications`` weights are loaded, because those expect
            Caffe preprocessing (BGR, 0-255, mean subtracted); ``"caffe"``
            always adds it, ``None`` never does.
        bn_momentum: momentum of the moving statistics of every BatchNorm
            (backbone and heads); Keras' default 0.99, the paper's 0.9997.

    Returns:
        A functional ``keras.Model`` mapping ``(B, H, W, 3)`` to float32 logits
        ``(B, H, W, num_classes)`` for any ``H, W``; the output layer is named
        ``"logits"``.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}.")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes!r}.")
    if weights is not None and backbone not in PRETRAINED_BACKBONES:
        raise ValueError(
            f"Pretrained weights exist for {PRETRAINED_BACKBONES} only (keras.applications); "
            f"train {backbone} from scratch with weights=None."
        )
    if isinstance(weights, str) and weights == "imagenet":
        # None only when the weights cannot be had and the student allowed training from scratch
        weights = imagenet_backbone(BACKBONES[backbone])
    if input_adapter == "auto":
        input_adapter = "caffe" if weights is not None else None
    rates = default_aspp_rates(output_stride) if aspp_rates is None else tuple(aspp_rates)
    if name is None:
        name = f"deeplabv3{'plus' if decoder else ''}_{backbone}"

    inputs = keras.Input(shape=input_shape, name="image")
    x = apply_input_adapter(inputs, input_adapter)
    features = resnet_features(x, BACKBONES[backbone], output_stride, multi_grid, bn_momentum)
    x = aspp(features["stage4"], rates, aspp_filters, image_pooling, dropout, "aspp", bn_momentum)

    if decoder:
        low = conv_bn_relu(features["stage1"], 48, 1, "decoder_low", bn_momentum=bn_momentum)
        x = ResizeLike(name="decoder_upsample")([x, low])
        x = layers.Concatenate(name="decoder_concat")([x, low])
        x = conv_bn_relu(x, aspp_filters, 3, "decoder_conv1", bn_momentum=bn_momentum)
        x = conv_bn_relu(x, aspp_filters, 3, "decoder_conv2", bn_momentum=bn_momentum)

    x = layers.Conv2D(num_classes, 1, name="classifier")(x)
    # Resize in float32 (also under mixed precision) and keep the output float32.
    x = ResizeLike(name="upsample", dtype="float32")([x, inputs])
    outputs = layers.Activation("linear", dtype="float32", name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)

    if weights is not None:
        load_keras_applications_weights(model, weights)
    return model
