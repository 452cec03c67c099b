"""ResNet-18/34/50/101 backbones with atrous (dilated) convolution.

The backbone is written layer by layer with the Keras 3 functional API so that
``model.summary()`` shows every convolution under a name a student can find:

``stem_pad, stem_conv, stem_bn, stem_relu, stem_pool_pad, stem_pool``
    The 7x7/2 convolution and the 3x3/2 max pooling (output stride 4).
``stage{s}_unit{u}_conv{i}``, ``..._bn{i}``, ``..._relu{i}``
    Convolution ``i`` of unit ``u`` of stage ``s`` (stages 1..4 are the paper's
    ``conv2_x`` .. ``conv5_x``), each followed by BatchNorm and (except the last
    one of the unit) ReLU: Conv -> BN -> ReLU everywhere.
``stage{s}_unit{u}_shortcut_conv``, ``..._shortcut_bn``
    The 1x1 projection on the shortcut of the first unit of a stage.
``stage{s}_unit{u}_add``, ``stage{s}_unit{u}_out``
    The residual addition and the ReLU after it. The ``_out`` layer of the last
    unit of each stage is that stage's feature map (see :func:`resnet_endpoints`).

Bottleneck units (ResNet-50/101) are the *Caffe-style ResNet v1* of
``keras.applications.ResNet50/101``: the stride sits in the first 1x1
convolution of the unit (``conv1``), convolutions carry a bias, and BatchNorm uses
``epsilon=1.001e-5``. This layout is what makes the parameter count equal to
``keras.applications`` and lets :func:`load_keras_applications_weights` copy its
ImageNet weights one layer to one layer. (Putting the stride in the 3x3
convolution instead is the "ResNet v1.5" variant of torchvision and others: same
parameters, slightly more compute, a different set of pretrained weights.)

Basic units (ResNet-18/34) follow the He et al. table: two 3x3 convolutions, the
stride in the first one, no conv bias (the BatchNorm that follows has its own
offset); there is no ``keras.applications`` counterpart.

Output stride: a plain ResNet downsamples by 32. To keep larger feature maps
DeepLab removes the stride of the last stage(s) and dilates their 3x3
convolutions instead, which keeps each kernel's field of view:

========  ===================  ===================
OS        stage 3 (conv4_x)    stage 4 (conv5_x)
========  ===================  ===================
32        stride 2, rate 1     stride 2, rate 1
16        stride 2, rate 1     stride 1, rate 2
8         stride 1, rate 2     stride 1, rate 4
========  ===================  ===================

Multi-grid (DeepLabV3, section 3.2): ``multi_grid=(1, 2, 4)`` multiplies the rate
of the last stage unit by unit, e.g. rates ``2 * (1, 2, 4) = (2, 4, 8)`` for its
three units at output stride 16. A whole dilated stage, including its first unit,
uses the stage's rate. When the last stage has fewer units than ``multi_grid``
entries (ResNet-18 has 2) the first entries are used; with more, the grid repeats.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from keras import layers

from course_utils.config import BACKBONES
from course_utils.model.blocks import DEFAULT_BN_MOMENTUM
from course_utils.model.layers import CaffeInputAdapter

BN_EPSILON = 1.001e-5  # the value keras.applications uses for ResNet v1

# depth -> (unit type, units per stage), from the backbone registry course_utils.config.BACKBONES
RESNET_SPECS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    b.depth: (b.unit, b.units) for b in BACKBONES.values()
}
STAGE_FILTERS = (64, 128, 256, 512)  # bottleneck width; outputs are 4x for bottlenecks
OUTPUT_STRIDES = (8, 16, 32)

_UNIT_OUT = re.compile(r"^stage(\d)_unit(\d+)_out$")


def stage_strides_and_rates(output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation rate) of the first unit of stages 1..4 for an output stride.

    >>> stage_strides_and_rates(16)
    [(1, 1), (2, 1), (2, 1), (1, 2)]
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}.")
    plan = []
    current_stride, rate = 4, 1  # after the stem
    for stage in range(4):
        stride = 1 if stage == 0 else 2
        if stride == 2 and current_stride >= output_stride:
            # Replace the stride by dilation from here on.
            rate *= 2
            stride = 1
        current_stride *= stride
        plan.append((stride, rate))
    return plan


def multi_grid_rates(rate: int, units: int, multi_grid: Sequence[int] | None) -> list[int]:
    """Dilation rates of the units of the last stage: ``rate * multi_grid[i]``."""
    if multi_grid is None:
        return [rate] * units
    grid = [int(g) for g in multi_grid]
    if not grid or any(g < 1 for g in grid):
        raise ValueError(f"multi_grid must hold positive integers, got {multi_grid!r}.")
    return [rate * grid[i % len(grid)] for i in range(units)]


def _conv_bn(
    x,
    filters: int,
    kernel_size: int,
    name: str,
    suffix: str,
    strides: int = 1,
    dilation_rate: int = 1,
    use_bias: bool = True,
    relu: bool = True,
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
):
    """Conv -> BN (-> ReLU) with names ``{name}_conv{suffix}`` etc."""
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=dilation_rate,
        padding="same" if kernel_size > 1 else "valid",
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=f"{name}_conv{suffix}",
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name=f"{name}_bn{suffix}")(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu{suffix}")(x)
    return x


def _shortcut(x, filters: int, strides: int, name: str, use_bias: bool, bn_momentum: float = DEFAULT_BN_MOMENTUM):
    x = layers.Conv2D(
        filters,
        1,
        strides=strides,
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=f"{name}_shortcut_conv",
    )(x)
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name=f"{name}_shortcut_bn")(x)


def bottleneck_unit(
    x, filters: int, strides: int, rate: int, name: str, project: bool, bn_momentum: float = DEFAULT_BN_MOMENTUM
):
    """Caffe-style bottleneck: 1x1 (stride) -> 3x3 (dilated) -> 1x1 (4x filters)."""
    m = bn_momentum
    shortcut = _shortcut(x, 4 * filters, strides, name, True, m) if project else x
    y = _conv_bn(x, filters, 1, name, "1", strides=strides, bn_momentum=m)
    y = _conv_bn(y, filters, 3, name, "2", dilation_rate=rate, bn_momentum=m)
    y = _conv_bn(y, 4 * filters, 1, name, "3", relu=False, bn_momentum=m)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def basic_unit(
    x, filters: int, strides: int, rate: int, name: str, project: bool, bn_momentum: float = DEFAULT_BN_MOMENTUM
):
    """Basic unit: 3x3 (stride, dilated) -> 3x3 (dilated)."""
    m = bn_momentum
    shortcut = _shortcut(x, filters, strides, name, False, m) if project else x
    y = _conv_bn(x, filters, 3, name, "1", strides=strides, dilation_rate=rate, use_bias=False, bn_momentum=m)
    y = _conv_bn(y, filters, 3, name, "2", dilation_rate=rate, use_bias=False, relu=False, bn_momentum=m)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet_features(
    x,
    depth: int,
    output_stride: int = 32,
    multi_grid: Sequence[int] | None = None,
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
) -> dict[str, keras.KerasTensor]:
    """Build the ResNet layers on tensor ``x``; return its feature maps.

    ``bn_momentum`` is the momentum of every BatchNorm's moving statistics.

    Returns:
        ``{"stem": ..., "stage1": ..., "stage2": ..., "stage3": ..., "stage4": ...}``:
        the stem output (stride 4) and the output of each stage (strides 4, 8,
        16, 32 before dilation replaces strides).
    """
    if depth not in RESNET_SPECS:
        raise ValueError(f"depth must be one of {sorted(RESNET_SPECS)}, got {depth!r}.")
    unit_type, units = RESNET_SPECS[depth]
    plan = stage_strides_and_rates(output_stride)

    x = layers.ZeroPadding2D(3, name="stem_pad")(x)
    x = layers.Conv2D(
        64,
        7,
        strides=2,
        use_bias=unit_type == "bottleneck",
        kernel_initializer="he_normal",
        name="stem_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    features = {"stem": x}

    unit_fn = bottleneck_unit if unit_type == "bottleneck" else basic_unit
    expansion = 4 if unit_type == "bottleneck" else 1
    in_channels = 64
    for s, (n_units, filters, (stride, rate)) in enumerate(zip(units, STAGE_FILTERS, plan), start=1):
        rates = multi_grid_rates(rate, n_units, multi_grid if s == 4 else None)
        for u in range(1, n_units + 1):
            first = u == 1
            project = first and (stride != 1 or in_channels != filters * expansion)
            x = unit_fn(
                x,
                filters,
                stride if first else 1,
                rates[u - 1],
                name=f"stage{s}_unit{u}",
                project=project,
                bn_momentum=bn_momentum,
            )
            in_channels = filters * expansion
        features[f"stage{s}"] = x
    return features


def build_resnet(
    depth: int,
    output_stride: int = 32,
    multi_grid: Sequence[int] | None = None,
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    name: str | None = None,
    return_endpoints: bool = False,
    input_adapter: str | None = None,
    bn_momentum: float = DEFAULT_BN_MOMENTUM,
) -> keras.Model:
    """Build a ResNet backbone (no classification head) as a functional model.

    Args:
        depth: 18, 34 (basic units), 50 or 101 (Caffe-style bottleneck units,
            identical in layout to ``keras.applications.ResNet50/101``).
        output_stride: 32 (plain ResNet), 16 or 8: ratio of input to output size.
            Strides of the last stage(s) are replaced by dilation (rates 2 and 4).
        multi_grid: e.g. ``(1, 2, 4)``: per-unit multipliers of the last stage's
            dilation rate. ``None`` means all ones.
        input_shape: ``(H, W, C)``; ``None`` for sizes known only at run time.
        name: model name (default ``"resnet{depth}"``).
        return_endpoints: if True the model returns a dict of feature maps
            ``{"stem", "stage1", .., "stage4"}`` instead of the last stage only.
        input_adapter: ``None`` (inputs go straight to the stem) or ``"caffe"``
            to prepend :class:`CaffeInputAdapter` (course inputs in ``[-1, 1]``
            -> the preprocessing of ``keras.applications`` ImageNet weights).
        bn_momentum: momentum of every BatchNorm's moving statistics (Keras'
            default 0.99; the DeepLabV3 paper uses 0.9997).

    Returns:
        A ``keras.Model``. With the defaults, ``build_resnet(50)`` has exactly
        the parameters of ``keras.applications.ResNet50(include_top=False,
        weights=None)`` (23,587,712), and ``build_resnet(101)`` those of
        ResNet101 (42,658,176).
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = apply_input_adapter(inputs, input_adapter)
    features = resnet_features(x, depth, output_stride, multi_grid, bn_momentum)
    outputs = features if return_endpoints else features["stage4"]
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")


def apply_input_adapter(x, input_adapter: str | None):
    if input_adapter is None:
        return x
    if input_adapter == "caffe":
        return CaffeInputAdapter(name="caffe_input_adapter")(x)
    raise ValueError(f"input_adapter must be None or 'caffe', got {input_adapter!r}.")


def resnet_endpoints(model: keras.Model) -> dict[str, keras.KerasTensor]:
    """Feature maps of a model built from these ResNets, found by layer name.

    Works for :func:`build_resnet` models, for DeepLab models built on them and
    for models loaded from ``.keras`` files. Returns ``{"stem": .., "stage1": ..,
    .., "stage4": ..}``: ``stem`` is ``stem_pool``'s output, ``stage{s}`` the
    output of the last ``stage{s}_unit{u}_out`` layer. ``stage1`` (stride 4) is
    the low-level feature of the DeepLabV3+ decoder.
    """
    last_unit: dict[int, tuple[int, keras.layers.Layer]] = {}
    endpoints = {}
    for layer in model.layers:
        if layer.name == "stem_pool":
            endpoints["stem"] = layer.output
        match = _UNIT_OUT.match(layer.name)
        if match:
            stage, unit = int(match.group(1)), int(match.group(2))
            if stage not in last_unit or unit > last_unit[stage][0]:
                last_unit[stage] = (unit, layer)
    for stage in sorted(last_unit):
        endpoints[f"stage{stage}"] = last_unit[stage][1].output
    if len(endpoints) != 5:
        raise ValueError(
            f"Model {model.name!r} has no complete course ResNet inside (found "
            f"{sorted(endpoints)}); build it with build_resnet or build_deeplabv3."
        )
    return endpoints


# ---------------------------------------------------------------------------
# Weights from keras.applications
# ---------------------------------------------------------------------------

_KERAS_APPS = {b.depth: b.keras_app for b in BACKBONES.values() if b.pretrained}
_OUR_CONV = re.compile(r"^stage(\d)_unit(\d+)_(conv|bn)([123])$")
_OUR_SHORTCUT = re.compile(r"^stage(\d)_unit(\d+)_shortcut_(conv|bn)$")


def keras_applications_name(layer_name: str) -> str | None:
    """The ``keras.applications`` ResNet layer that matches one of ours.

    ``stem_conv -> conv1_conv``, ``stage3_unit2_conv2 -> conv4_block2_2_conv``,
    ``stage4_unit1_shortcut_bn -> conv5_block1_0_bn``; ``None`` for layers
    without weights in the mapping.
    """
    if layer_name in ("stem_conv", "stem_bn"):
        return "conv1_" + layer_name.split("_")[1]
    m = _OUR_CONV.match(layer_name)
    if m:
        stage, unit, kind, i = m.groups()
        return f"conv{int(stage) + 1}_block{unit}_{i}_{kind}"
    m = _OUR_SHORTCUT.match(layer_name)
    if m:
        stage, unit, kind = m.groups()
        return f"conv{int(stage) + 1}_block{unit}_0_{kind}"
    return None


#: A local ImageNet weights file (or a folder holding the keras.applications file names) used instead of a download.
IMAGENET_WEIGHTS_ENV = "COURSE_IMAGENET_WEIGHTS"
#: Set to 1 to let a model whose ImageNet weights cannot be had train from scratch instead of stopping.
ALLOW_SCRATCH_ENV = "COURSE_ALLOW_SCRATCH"
#: The keras.applications file names (no top) and their download sizes (from the backbone registry).
IMAGENET_FILES = {b.depth: (b.imagenet_file, b.imagenet_size) for b in BACKBONES.values() if b.pretrained}


class PretrainedWeightsUnavailable(RuntimeError):
    """The ImageNet weights could not be downloaded (offline) and no local copy was given.

    ``reason`` holds the underlying error in one line.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def allow_scratch_from_env() -> bool:
    """Whether ``COURSE_ALLOW_SCRATCH`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(ALLOW_SCRATCH_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def local_imagenet_file(depth: int) -> str | None:
    """The file named by ``COURSE_IMAGENET_WEIGHTS`` for a ResNet-``depth``, or ``None`` when it is unset.

    The variable holds the ``.h5`` file itself or a folder containing it under
    its ``keras.applications`` name (e.g. a copy of ``~/.keras/models`` on a
    mounted drive).

    Raises:
        FileNotFoundError: the variable is set but names no such file.
    """
    value = os.environ.get(IMAGENET_WEIGHTS_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        path = path / IMAGENET_FILES[depth][0]
    if not path.is_file():
        raise FileNotFoundError(
            f"{IMAGENET_WEIGHTS_ENV}={value} but {path} is not a file: point it at "
            f"{IMAGENET_FILES[depth][0]} (or a folder holding it), or unset it to download the weights."
        )
    return str(path)


def _imagenet_resnet(depth: int) -> keras.Model:
    app = getattr(keras.applications, _KERAS_APPS[depth])
    local = local_imagenet_file(depth)
    if local is not None:
        return _weights_file_model(app, local, depth)
    try:
        return app(include_top=False, weights="imagenet")
    except Exception as err:  # urllib/HTTP/socket errors surface as many types
        reason = " ".join(str(err).split()) or type(err).__name__
        fname, size = IMAGENET_FILES[depth]
        raise PretrainedWeightsUnavailable(
            f"Could not download the ImageNet weights of keras.applications.{_KERAS_APPS[depth]} "
            f"({fname}, {size}): {reason[:200]}. Downloading them needs network access once (Keras caches "
            f"the file in ~/.keras/models); offline, set {IMAGENET_WEIGHTS_ENV}=PATH to a local copy, or train "
            f"from scratch on purpose with {ALLOW_SCRATCH_ENV}=1 or weights=None (expect a much lower mIoU).",
            reason=reason[:200],
        ) from None


def _weights_file_model(app, path: str, depth: int) -> keras.Model:
    """``app(include_top=False, weights=path)``, an unreadable file as one ``ValueError`` naming it and the fix."""
    try:
        return app(include_top=False, weights=path)
    except Exception as err:  # h5py, permission and shape errors have many types
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise ValueError(
            f"Weights file {path} could not be read ({reason}): it is damaged, unreadable or not the "
            f"keras.applications ResNet-{depth} file {IMAGENET_FILES[depth][0]}. Download it again (or fix its "
            "permissions), or train from scratch with weights=None (--weights none)."
        ) from None


def imagenet_backbone(depth: int, allow_scratch: bool | None = None) -> keras.Model | None:
    """A ``keras.applications`` ResNet-``depth`` with ImageNet weights, or ``None`` to train from scratch.

    The weights come from ``COURSE_IMAGENET_WEIGHTS`` when set, else from the
    Keras cache or a download. When they cannot be had the result is ``None``
    only if the student allowed it (``allow_scratch=True`` or
    ``COURSE_ALLOW_SCRATCH=1``), and one line says so; otherwise the run stops
    with :class:`PretrainedWeightsUnavailable`: no silent drop in quality.
    """
    try:
        return _imagenet_resnet(depth)
    except PretrainedWeightsUnavailable as err:
        allow = allow_scratch_from_env() if allow_scratch is None else allow_scratch
        if not allow:
            raise
        print(
            f"ImageNet weights of ResNet-{depth} unavailable ({err.reason}): training from scratch because "
            f"{ALLOW_SCRATCH_ENV}=1 (expect a much lower mIoU).",
            file=sys.stderr,
        )
        return None


def _resolve_source(source, depth: int) -> keras.Model:
    if isinstance(source, keras.Model):
        return source
    if isinstance(source, str):
        if source == "imagenet":
            return _imagenet_resnet(depth)
        if not os.path.exists(source):
            raise FileNotFoundError(
                f"Weights file {source!r} does not exist. Pass 'imagenet', a "
                "keras.applications model, or the path of a .keras/.h5 file."
            )
        if source.endswith(".keras"):
            return keras.models.load_model(source, compile=False)
        app = getattr(keras.applications, _KERAS_APPS[depth])
        return _weights_file_model(app, source, depth)
    raise TypeError(f"source must be a keras.Model, 'imagenet' or a weights file path, got {type(source).__name__}.")


def _infer_depth(model: keras.Model) -> int:
    stage3_units = {
        int(m.group(2)) for layer in model.layers if (m := _UNIT_OUT.match(layer.name)) and m.group(1) == "3"
    }
    conv3 = any(layer.name == "stage1_unit1_conv3" for layer in model.layers)
    n3 = max(stage3_units, default=0)
    for depth, (unit_type, units) in RESNET_SPECS.items():
        if units[2] == n3 and (unit_type == "bottleneck") == conv3:
            return depth
    raise ValueError(f"Model {model.name!r} does not contain a course ResNet backbone.")


def load_keras_applications_weights(backbone: keras.Model, source) -> int:
    """Copy the weights of a ``keras.applications`` ResNet50/101 into ours.

    Layers are matched by structure: each of our ``stem_*`` /
    ``stage{s}_unit{u}_{conv,bn}{i}`` / ``..._shortcut_*`` layers has exactly one
    counterpart ``conv1_*`` / ``conv{s+1}_block{u}_{i}_*`` / ``..._0_*`` (see
    :func:`keras_applications_name`), and every weight shape is checked. Dilation
    does not change weight shapes, so dilated backbones (output stride 16 or 8)
    load the same weights.

    Args:
        backbone: a model from :func:`build_resnet` (depth 50 or 101) or a
            DeepLab model built on one (its backbone layers are filled in).
        source: a ``keras.applications.ResNet50/ResNet101(include_top=False)``
            model, ``"imagenet"`` (builds one with ImageNet weights, which needs
            network access the first time), or the path of a local ``.h5``
            weights file / ``.keras`` model.

    Returns:
        The number of layers copied.

    Raises:
        PretrainedWeightsUnavailable: (a ``RuntimeError``) ``"imagenet"`` could
            not be downloaded (offline) and ``COURSE_IMAGENET_WEIGHTS`` is unset.
        ValueError: the two models do not have the same structure.
    """
    depth = _infer_depth(backbone)
    if depth not in _KERAS_APPS:
        raise ValueError(
            f"keras.applications has ResNet50 and ResNet101 only; {backbone.name!r} is a "
            f"ResNet-{depth}. Train it from scratch (weights=None)."
        )
    source_model = _resolve_source(source, depth)
    source_layers = {layer.name: layer for layer in source_model.layers}
    expected = {name for name, layer in source_layers.items() if layer.weights}

    copied = set()
    for layer in backbone.layers:
        target = keras_applications_name(layer.name)
        if target is None:
            continue
        if target not in source_layers:
            raise ValueError(
                f"Layer {layer.name!r} has no counterpart {target!r} in {source_model.name!r}: "
                f"is the source a keras.applications {_KERAS_APPS[depth]}(include_top=False)?"
            )
        src_weights = source_layers[target].get_weights()
        dst_shapes = [tuple(w.shape) for w in layer.weights]
        src_shapes = [tuple(w.shape) for w in src_weights]
        if dst_shapes != src_shapes:
            raise ValueError(f"Weight shapes differ between {layer.name!r} {dst_shapes} and {target!r} {src_shapes}.")
        layer.set_weights(src_weights)
        copied.add(target)
    missing = expected - copied
    if missing:
        raise ValueError(
            f"{len(missing)} layers of {source_model.name!r} were not copied, e.g. "
            f"{sorted(missing)[:3]}: the source is not a ResNet-{depth} without top."
        )
    return len(copied)


def dilate_keras_applications_resnet(
    model: keras.Model,
    output_stride: int = 16,
    multi_grid: Sequence[int] | None = None,
) -> keras.Model:
    """A copy of a ``keras.applications`` ResNet50/101 with DeepLab's dilation.

    The copy is rebuilt from the layer configs (``keras.models.clone_model``)
    with the strides of the last stage(s) set to 1 and their 3x3 convolutions
    dilated exactly as :func:`build_resnet` does, then the original weights are
    copied in. Used as an independent reference for our dilated backbones and by
    the throughput benchmark.
    """
    plan = stage_strides_and_rates(output_stride)
    n_last = max(int(m.group(1)) for layer in model.layers if (m := re.match(r"^conv5_block(\d+)_out$", layer.name)))
    last_rates = multi_grid_rates(plan[3][1], n_last, multi_grid)

    def clone_fn(layer):
        config = layer.get_config()
        m = re.match(r"^conv(\d)_block(\d+)_([0-3])_conv$", layer.name)
        if m:
            stage, unit, i = int(m.group(1)) - 1, int(m.group(2)), m.group(3)
            stride, rate = plan[stage - 1]
            if unit == 1 and i in ("0", "1") and stride == 1:
                config["strides"] = (1, 1)
            if i == "2":
                r = last_rates[unit - 1] if stage == 4 else rate
                config["dilation_rate"] = (r, r)
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_fn)
    clone.set_weights(model.get_weights())
    return clone


def randomize_batchnorm_and_biases(model: keras.Model, seed: int = 0) -> dict[str, int]:
    """Give every BatchNorm random gamma, beta, moving mean and variance, and every conv bias random values.

    A freshly built network (``keras.applications.ResNet50(weights=None)``
    included) has gamma 1, beta 0, mean 0, variance 1 and zero biases: a
    weight copy that forgot, swapped or transposed those tensors would still
    give the same outputs. Randomising them first makes an output comparison a
    real test of the copy. Kernels are left as they are (already random).

    Returns:
        ``{"batchnorm": layers changed, "bias": conv layers whose bias changed}``.
    """
    rng = np.random.default_rng(seed)
    changed = {"batchnorm": 0, "bias": 0}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype(gamma.dtype),
                    rng.normal(0.0, 0.1, beta.shape).astype(beta.dtype),
                    rng.normal(0.0, 0.1, mean.shape).astype(mean.dtype),
                    rng.uniform(0.5, 2.0, var.shape).astype(var.dtype),
                ]
            )
            changed["batchnorm"] += 1
        elif isinstance(layer, keras.layers.Conv2D) and getattr(layer, "use_bias", False):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0.0, 0.1, bias.shape).astype(bias.dtype)])
            changed["bias"] += 1
    return changed


def dense_equivalence_error(
    depth: int = 50, output_stride: int = 16, input_hw: tuple[int, int] = (128, 128), seed: int = 0
) -> dict[str, float]:
    """How far a dilated ResNet is from computing the plain (OS 32) network's features densely.

    Builds the plain ResNet (output stride 32) with random kernels, BatchNorm
    statistics and biases (:func:`randomize_batchnorm_and_biases`), copies the
    same weights into the dilated ResNet at ``output_stride`` *without*
    multi-grid (multi-grid changes the rates, so it is a different network),
    runs both on one random image and subsamples the dilated output by
    ``32 // output_stride``, starting at position 0: the 1x1 strided
    convolutions of a bottleneck read the even positions, and so does every
    dilated 3x3 centred on one. If dilation is the exact dense version of the
    strides, the subsampled map equals the plain one.

    Returns:
        ``{"max_abs_error": ..., "interior_max_abs_error": ..., "scale": ...}``:
        the largest absolute difference over the whole map and over the map
        without its one-cell border, and the largest absolute value of the
        plain output (for a relative tolerance).
    """
    plain = build_resnet(depth, output_stride=32, multi_grid=None)
    dense = build_resnet(depth, output_stride=output_stride, multi_grid=None)
    randomize_batchnorm_and_biases(plain, seed=seed)
    dense.set_weights(plain.get_weights())
    x = np.random.default_rng(seed + 1).normal(size=(1, *input_hw, 3)).astype("float32")
    reference = np.asarray(plain(x, training=False))
    step = 32 // output_stride
    subsampled = np.asarray(dense(x, training=False))[:, ::step, ::step]
    if subsampled.shape != reference.shape:
        raise ValueError(f"shapes differ: {subsampled.shape} vs {reference.shape}; use sizes divisible by 32")
    diff = np.abs(subsampled - reference)
    return {
        "max_abs_error": float(diff.max()),
        "interior_max_abs_error": float(diff[:, 1:-1, 1:-1].max()) if min(diff.shape[1:3]) > 2 else float("nan"),
        "scale": float(np.abs(reference).max()),
    }
