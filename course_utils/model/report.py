"""Size, compute and receptive field of a functional model, for comparison tables.

:func:`model_report` runs the model's graph *symbolically* on one concrete input
shape (no data flows, nothing is computed) and records for every layer the
shapes it sees. From those it derives:

Multiply-accumulates (MACs)
    Only layers that multiply by weights are counted, one MAC per
    multiply-add, bias additions excluded:

    - ``Conv2D``: ``H_out * W_out * k_h * k_w * C_in * C_out / groups``
      (dilation does not change the count: a dilated 3x3 kernel still has 9 taps);
    - ``DepthwiseConv2D``: ``H_out * W_out * k_h * k_w * C_in * depth_multiplier``;
    - ``Conv2DTranspose``: ``H_in * W_in * k_h * k_w * C_in * C_out``;
    - ``Dense``: ``(number of output positions) * units_in * units_out``.

    BatchNorm, activations, additions, concatenation, pooling and resizing are
    not counted (they are cheap and counted inconsistently across papers).
    ``gmacs`` is MACs / 1e9. Papers and the ResNet table often call this number
    "FLOPs" (ResNet-50: 3.8e9); hardware FLOPs are about twice the MACs.

Feature-map sizes per stage
    ``(H, W, C)`` of the course ResNet's stem and stage outputs
    (``stem_pool``, ``stage{s}_unit{last}_out``) or of ``keras.applications``
    ResNets (``pool1_pool``, ``conv{n}_block{last}_out``).

Theoretical receptive field
    Propagated along the graph with ``rf_out = rf_in + (k_eff - 1) * jump_in``,
    ``jump_out = jump_in * stride``, where ``k_eff = rate * (k - 1) + 1`` for a
    dilated kernel; merges (add, concatenate) take the largest field; a bilinear
    resize adds one input step; global pooling makes it the whole image
    (``math.inf``). Upsampling divides the jump: a transposed convolution
    (kernel ``k``, stride ``s``) adds ``ceil(k / s) - 1`` input steps, nearest
    ``UpSampling2D`` none, bilinear one. It is the *theoretical* field: the
    effective one is much smaller.

Output stride
    :attr:`ModelReport.output_stride`: the largest jump (product of strides)
    of any layer, i.e. input size / size of the coarsest feature map (global
    pooling excluded).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import keras
from keras import layers

_OUR_STAGE = re.compile(r"^stage(\d)_unit(\d+)_out$")
_KERAS_STAGE = re.compile(r"^conv(\d)_block(\d+)_out$")


@dataclass
class LayerInfo:
    """What :func:`model_report` records for one layer call."""

    name: str
    type: str
    output_shape: tuple
    macs: int
    receptive_field: float
    jump: float


@dataclass
class ModelReport:
    """Summary of a model at one input shape (see the module docstring)."""

    name: str
    input_shape: tuple
    output_shape: tuple
    total_params: int
    trainable_params: int
    macs: int
    stages: dict[str, tuple] = field(default_factory=dict)
    stage_receptive_fields: dict[str, float] = field(default_factory=dict)
    receptive_field: float = 0.0
    layers: list[LayerInfo] = field(default_factory=list, repr=False)

    @property
    def gmacs(self) -> float:
        """Multiply-accumulates in billions."""
        return self.macs / 1e9

    @property
    def output_stride(self) -> int:
        """Input pixels per pixel of the coarsest feature map (the largest jump; global pooling excluded)."""
        return int(max((r.jump for r in self.layers), default=1))

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def as_dict(self) -> dict:
        """The summary as a plain dict (without the per-layer list)."""
        return {
            "name": self.name,
            "input_shape": self.input_shape,
            "output_shape": self.output_shape,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "gmacs": self.gmacs,
            "stages": dict(self.stages),
            "stage_receptive_fields": dict(self.stage_receptive_fields),
            "receptive_field": self.receptive_field,
        }


def _count_params(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _shape(spec) -> tuple:
    return tuple(spec.shape)


def _macs(layer, in_shapes: list[tuple], out_shape: tuple) -> int:
    if isinstance(layer, layers.Conv2DTranspose):
        _, h, w, c_in = in_shapes[0]
        kh, kw = layer.kernel_size
        return int(h * w * kh * kw * c_in * layer.filters)
    if isinstance(layer, layers.DepthwiseConv2D):
        _, h, w, _ = out_shape
        kh, kw = layer.kernel_size
        c_in = in_shapes[0][-1]
        return int(h * w * kh * kw * c_in * layer.depth_multiplier)
    if isinstance(layer, layers.Conv2D):
        _, h, w, c_out = out_shape
        kh, kw = layer.kernel_size
        c_in = in_shapes[0][-1]
        return int(h * w * kh * kw * c_in * c_out // layer.groups)
    if isinstance(layer, layers.Dense):
        positions = math.prod(out_shape[1:-1]) if len(out_shape) > 2 else 1
        return int(positions * in_shapes[0][-1] * layer.units)
    return 0


def _rf_step(layer, in_rfs: list[tuple[float, float]]) -> tuple[float, float]:
    """(receptive field, jump) after ``layer`` given those of its inputs."""
    rf = max(r for r, _ in in_rfs)
    jump = max(j for _, j in in_rfs)
    if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)):
        return math.inf, jump
    kernel = strides = dilation = None
    if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)) and not isinstance(layer, layers.Conv2DTranspose):
        kernel, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
    elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
        kernel, strides, dilation = layer.pool_size, layer.strides, (1, 1)
    if kernel is not None:
        k_eff = max(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        return rf + (k_eff - 1) * jump, jump * max(strides)
    if isinstance(layer, layers.Conv2DTranspose):
        # each output pixel mixes ceil(k / s) input pixels per axis
        taps = max(math.ceil(k / s) for k, s in zip(layer.kernel_size, layer.strides))
        return rf + (taps - 1) * jump, jump / max(layer.strides)
    if isinstance(layer, layers.UpSampling2D):
        extra = jump if layer.interpolation != "nearest" else 0.0
        return rf + extra, jump / max(layer.size)
    if type(layer).__name__ == "ResizeLike" and len(in_rfs) == 2:
        # bilinear: each output mixes 2 neighbouring inputs per axis; the output
        # grid is the reference's.
        return in_rfs[0][0] + in_rfs[0][1], in_rfs[1][1]
    return rf, jump


def _walk(model, inputs, records: list, rf_map: dict):
    """Run ``model``'s graph symbolically on ``inputs``; fill ``records``.

    ``rf_map`` maps ``id(KerasTensor)`` to (receptive field, jump).
    """

    def operation_fn(op):
        def run(*args, **kwargs):
            tensors = [a for a in keras.tree.flatten((args, kwargs)) if isinstance(a, keras.KerasTensor)]
            if isinstance(op, keras.Model) and hasattr(op, "_run_through_graph"):
                inner = tensors if len(tensors) > 1 else tensors[0]
                return _walk(op, inner, records, rf_map)
            out = op.compute_output_spec(*args, **kwargs)
            in_rfs = [rf_map.get(id(t), (1.0, 1.0)) for t in tensors] or [(1.0, 1.0)]
            rf_jump = _rf_step(op, in_rfs)
            for o in keras.tree.flatten(out):
                rf_map[id(o)] = rf_jump
            out_shape = _shape(keras.tree.flatten(out)[0])
            records.append(
                LayerInfo(
                    name=op.name,
                    type=type(op).__name__,
                    output_shape=out_shape,
                    macs=_macs(op, [_shape(t) for t in tensors], out_shape),
                    receptive_field=rf_jump[0],
                    jump=rf_jump[1],
                )
            )
            return out

        return run

    return model._run_through_graph(inputs, operation_fn=operation_fn)


def model_report(model: keras.Model, input_shape: tuple[int, int, int]) -> ModelReport:
    """Parameters, MACs, per-stage feature sizes and receptive field of ``model``.

    Args:
        model: a functional ``keras.Model`` with one image input (nested
            functional models, e.g. a ``keras.applications`` backbone used as a
            layer, are walked into).
        input_shape: ``(H, W, C)`` of one image; the batch size is 1.

    Returns:
        A :class:`ModelReport`. ``macs`` are multiply-accumulates for one image
        (see the module docstring for exactly what is counted).
    """
    if not hasattr(model, "_run_through_graph"):
        raise TypeError(
            f"model_report needs a functional keras.Model, got {type(model).__name__}; "
            "build the model with keras.Input(...) and keras.Model(inputs, outputs)."
        )
    input_shape = tuple(int(d) for d in input_shape)
    spec = keras.KerasTensor((1, *input_shape), dtype="float32")
    records: list[LayerInfo] = []
    rf_map: dict = {id(spec): (1.0, 1.0)}
    out = _walk(model, spec, records, rf_map)
    out_first = keras.tree.flatten(out)[0]

    stages: dict[str, tuple] = {}
    stage_rf: dict[str, float] = {}
    last_unit: dict[str, int] = {}
    for rec in records:
        key = None
        if rec.name in ("stem_pool", "pool1_pool"):
            key = "stem"
        else:
            m = _OUR_STAGE.match(rec.name)
            if m:
                key, unit = f"stage{m.group(1)}", int(m.group(2))
            else:
                m = _KERAS_STAGE.match(rec.name)
                if m:
                    key, unit = f"stage{int(m.group(1)) - 1}", int(m.group(2))
            if key is not None:
                if unit < last_unit.get(key, 0):
                    continue
                last_unit[key] = unit
        if key is not None:
            stages[key] = rec.output_shape[1:]
            stage_rf[key] = rec.receptive_field

    return ModelReport(
        name=model.name,
        input_shape=input_shape,
        output_shape=_shape(out_first)[1:],
        total_params=_count_params(model.weights),
        trainable_params=_count_params(model.trainable_weights),
        macs=sum(r.macs for r in records),
        stages=dict(sorted(stages.items(), key=lambda kv: (kv[0] != "stem", kv[0]))),
        stage_receptive_fields=stage_rf,
        receptive_field=rf_map.get(id(out_first), (math.nan, 0))[0],
        layers=records,
    )


def _fmt_rf(rf: float) -> str:
    return "global" if math.isinf(rf) else f"{int(rf)}"


def format_report(reports, title: str | None = None):
    """A PrettyTable comparing one or several :class:`ModelReport` objects.

    Columns: model, input, parameters (M), GMACs, output stride (input height /
    stage-4 height), stage-4 feature size, theoretical receptive field of the
    backbone (stage 4) and of the output. ``print()`` the result.
    """
    from prettytable import PrettyTable

    if isinstance(reports, ModelReport):
        reports = [reports]
    table = PrettyTable()
    if title:
        table.title = title
    table.field_names = [
        "model",
        "input",
        "params (M)",
        "GMACs",
        "OS",
        "stage4 map",
        "RF stage4",
        "RF output",
    ]
    for r in reports:
        s4 = r.stages.get("stage4")
        os_ = f"{r.input_shape[0] / s4[0]:.0f}" if s4 else "-"
        table.add_row(
            [
                r.name,
                "x".join(str(d) for d in r.input_shape[:2]),
                f"{r.total_params / 1e6:.2f}",
                f"{r.gmacs:.2f}",
                os_,
                "x".join(str(d) for d in s4) if s4 else "-",
                _fmt_rf(r.stage_receptive_fields["stage4"]) if s4 else "-",
                _fmt_rf(r.receptive_field),
            ]
        )
    table.align["model"] = "l"
    return table


def stage_trace(model: keras.Model, input_shape: tuple[int, int, int]) -> dict[str, tuple]:
    """Output stride, dilation and feature-map size of each stage of a course DeepLabV3, for one input size.

    Returns ``{"stem": (stride, dilation, (H, W)), "stage1": ..., "stage4": ..., "aspp": (stride,
    rates, (H, W)), "logits": (H, W)}``. ``stride`` is the stage output's jump (input pixels per
    feature pixel); ``dilation`` the rate of the stage's first 3x3 convolution
    (``stage{s}_unit1_conv1``; 1 for the stem); ``rates`` the ASPP's atrous rates, largest last.
    Sizes come from :func:`model_report`, so odd inputs show the ``ceil`` of every 'same' stride 2
    (90x75 -> 45x38 -> 23x19 -> ...) and the logits the input size (``ResizeLike``).
    """
    report = model_report(model, input_shape)
    by_name = {info.name: info for info in report.layers}
    convs = {layer.name: layer for layer in model.layers if isinstance(layer, layers.Conv2D)}
    out: dict[str, tuple] = {}
    for stage, (h, w, _) in report.stages.items():
        last = (
            "stem_pool"
            if stage == "stem"
            else max(
                (n for n in by_name if n.startswith(f"{stage}_unit") and n.endswith("_out")),
                key=lambda n: int(n.split("_unit")[1].split("_")[0]),
            )
        )
        conv = convs.get(f"{stage}_unit1_conv1")
        dilation = 1 if conv is None else int(conv.dilation_rate[0])
        out[stage] = (int(by_name[last].jump), dilation, (int(h), int(w)))
    rates = sorted(int(c.dilation_rate[0]) for n, c in convs.items() if re.match(r"^aspp_rate\d+_conv$", n))
    proj = by_name.get("aspp_proj_conv") or by_name.get("aspp_1x1_conv")
    if proj is not None:
        out["aspp"] = (int(proj.jump), tuple(rates), tuple(int(d) for d in proj.output_shape[1:3]))
    out["logits"] = tuple(int(d) for d in report.output_shape[-3:-1])
    return out
