"""Tests of build_unet (course_utils.model.unet) and of the report on an encoder-decoder."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils.model import build_unet, model_report


def test_unet_logits_have_the_input_size_and_float32():
    model = build_unet(5, depth=3, base_filters=4)
    for size in [(16, 24), (32, 8)]:
        out = model(np.zeros((2, *size, 3), "float32"), training=False)
        assert tuple(out.shape) == (2, *size, 5)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_unet_structure_skips_and_parameters():
    model = build_unet(3, depth=2, base_filters=4)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("concat")] == ["concat2", "concat1"]
    # each concatenation joins the upsampled map and the encoder map of the same size
    concat1 = model.get_layer("concat1")
    assert concat1.output.shape[-1] == 4 + 4
    assert model.get_layer("concat2").output.shape[-1] == 8 + 8
    # parameters by hand: conv 3x3 (no bias) + BN (4 per channel)
    conv = lambda cin, cout: 9 * cin * cout + 4 * cout  # noqa: E731
    expected = (
        conv(3, 4) + conv(4, 4)  # enc1
        + conv(4, 8) + conv(8, 8)  # enc2
        + conv(8, 16) + conv(16, 16)  # bottleneck
        + (4 * 16 * 8 + 8) + conv(16, 8) + conv(8, 8)  # up2 + dec2
        + (4 * 8 * 4 + 4) + conv(8, 4) + conv(4, 4)  # up1 + dec1
        + (4 * 3 + 3)  # 1x1 classifier with bias
    )  # fmt: skip
    assert model.count_params() == expected


def test_unet_report_output_stride_and_receptive_field():
    report = model_report(build_unet(2, depth=2, base_filters=2), (16, 16, 3))
    assert report.output_stride == 4  # coarsest map 4x4 for a 16x16 input
    assert min(r.output_shape[1] for r in report.layers if len(r.output_shape) == 4) == 4
    assert report.output_shape == (16, 16, 2)
    # enc1: 1+2+2 = 5; pool1 (+1) = 6, jump 2; enc2: +4+4 = 14; pool2: +2 = 16, jump 4;
    # bottleneck: +8+8 = 32; up2 (2x2, stride 2: one input per output) keeps 32, jump 2;
    # dec2: +4+4 = 40; up1 keeps 40, jump 1; dec1: +2+2 = 44; the 1x1 classifier adds nothing.
    assert report.receptive_field == 44


def test_unet_rejects_sizes_not_divisible_and_bad_arguments():
    with pytest.raises(ValueError, match="divisible by 16"):
        build_unet(3, depth=4, input_shape=(24, 32, 3))
    build_unet(3, depth=3, base_filters=2, input_shape=(24, 32, 3))  # 24 and 32 divide by 8
    with pytest.raises(ValueError):
        build_unet(3, depth=0)
    with pytest.raises(ValueError):
        build_unet(0)
