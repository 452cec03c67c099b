"""Explorers update their readout and figure when a slider moves (no browser needed)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pytest

from course_utils import atrous
from course_utils import widgets as course_widgets


def _png(box) -> str:
    outputs = box.figure_output.outputs
    assert len(outputs) == 1 and outputs[0]["output_type"] == "display_data"
    return outputs[0]["data"]["image/png"]


def _by_class(box, css_class):
    found = []

    def walk(w):
        if css_class in getattr(w, "_dom_classes", ()):
            found.append(w)
        for child in getattr(w, "children", ()):
            walk(child)

    walk(box)
    return found


def test_dilation_explorer_updates():
    box = course_widgets.dilation_explorer(np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    (kernel,) = _by_class(box, "course-kernel-slider")
    (rate,) = _by_class(box, "course-rate-slider")
    (readout,) = _by_class(box, "course-dilation-readout")
    (output,) = _by_class(box, "course-dilation-figure")
    assert isinstance(kernel, widgets.IntSlider) and kernel.description == "kernel"
    assert isinstance(output, widgets.Output) and output is box.figure_output
    assert readout.value == "kernel 3x3, rate 2 -> effective 5x5"
    before = _png(box)
    rate.value = 4
    assert readout.value == "kernel 3x3, rate 4 -> effective 9x9"
    kernel.value = 5
    assert readout.value == "kernel 5x5, rate 4 -> effective 17x17"
    assert _png(box) != before


def test_receptive_field_explorer_updates():
    box = course_widgets.receptive_field_explorer()
    (layers,) = _by_class(box, "course-layers-slider")
    (rate,) = _by_class(box, "course-rf-rate-slider")
    (pattern,) = _by_class(box, "course-rf-pattern")
    (readout,) = _by_class(box, "course-rf-readout")
    assert _by_class(box, "course-rf-figure") == [box.figure_output]
    assert readout.value == "receptive field: 13x13 (3 layers)"
    before = _png(box)
    layers.value = 4
    assert (
        readout.value
        == f"receptive field: {atrous.receptive_field([(3, 1, 2)] * 4)}x{atrous.receptive_field([(3, 1, 2)] * 4)} (4 layers)"
    )
    after_layers = _png(box)
    assert after_layers != before
    pattern.value = "multi-grid"  # rates 2, 4, 8, 2
    rf = atrous.receptive_field([(3, 1, r) for r in (2, 4, 8, 2)])
    assert readout.value == f"receptive field: {rf}x{rf} (4 layers)"
    assert _png(box) != after_layers
    rate.value = 1
    layers.value = 1
    assert readout.value == "receptive field: 3x3 (1 layer)"


def test_pattern_rates():
    assert course_widgets.pattern_rates(3, 2, "same") == (2, 2, 2)
    assert course_widgets.pattern_rates(4, 2, "multi-grid") == (2, 4, 8, 2)
    assert course_widgets.pattern_rates(4, 1, "doubling") == (1, 2, 4, 8)
    with pytest.raises(ValueError, match="pattern"):
        course_widgets.pattern_rates(3, 2, "random")


def test_aspp_rate_explorer_updates():
    box = course_widgets.aspp_rate_explorer(feature_size=33)
    sliders = _by_class(box, "course-aspp-rate-slider")
    assert [s.description for s in sliders] == ["rate 1", "rate 2", "rate 3"]
    (readout,) = _by_class(box, "course-aspp-readout")
    pct = lambda r: f"{100 * atrous.valid_weight_fraction(33, r):.0f}%"  # noqa: E731
    assert readout.value == f"rates 6, 12, 18 -> valid weights {pct(6)}, {pct(12)}, {pct(18)}"
    before = _png(box)
    sliders[2].value = 33
    assert readout.value.endswith(", 11%")  # rate = map size: only the centre tap, 1/9
    assert _png(box) != before
    with pytest.raises(ValueError):
        course_widgets.aspp_rate_explorer(feature_size=2)


def test_static_figures_have_axes():
    assert len(course_widgets.dilation_figure(None, 3, 2).axes) == 4
    rf_fig = course_widgets.receptive_field_figure((1, 2, 4))
    assert len(rf_fig.axes) == 2  # the footprint and its colourbar
    assert "paths" in rf_fig.axes[1].get_ylabel()
    assert len(course_widgets.aspp_rate_figure((6, 12, 18), 65).axes) == 2


def test_deeplab_diagram_draws_every_branch():
    stages = {
        "stem": (16, 16, 64),
        "stage1": (16, 16, 64),
        "stage2": (8, 8, 128),
        "stage3": (4, 4, 256),
        "stage4": (4, 4, 512),
    }
    fig = course_widgets.deeplab_diagram(stages, (6, 12, 18), (64, 64, 3), 7)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "3x3 rate 12" in texts and "image pool" in texts and "stage4\n4x4x512" in texts
    fig = course_widgets.deeplab_diagram(stages, (6,), (64, 64, 3), 7, image_pooling=False, decoder=True)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "image pool" not in texts and any("V3+ decoder" in t for t in texts)


def test_street_scene_is_deterministic_and_checked():
    from course_utils.data.sample_images import street_scene, to_gray

    a, b = street_scene(48, 96, seed=3), street_scene(48, 96, seed=3)
    assert a.shape == (48, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, street_scene(48, 96, seed=4))
    gray = to_gray(a)
    assert gray.shape == (48, 96) and 0.0 <= gray.min() and gray.max() <= 1.0
    assert gray.std() > 0.05  # real structure, not a flat image
    with pytest.raises(ValueError, match="16x16"):
        street_scene(8, 96)
    with pytest.raises(ValueError, match="RGB"):
        to_gray(gray)


def test_dilation_figure_draws_every_tap_as_a_separate_mark():
    from matplotlib.patches import Rectangle

    assert course_widgets.tap_positions((10, 20), 3, 4) == [
        (r, c) for r in (6, 10, 14) for c in (16, 20, 24)
    ]  # fmt: skip
    fig = course_widgets.dilation_figure(None, kernel=3, rate=4, center=(60, 120))
    zoom = fig.axes[1]
    taps = [p for p in zoom.patches if isinstance(p, Rectangle) and p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert len(taps) == 9
    corners = sorted((p.get_x(), p.get_y()) for p in taps)
    # one pixel each, 4 pixels apart: no two squares touch
    assert all(p.get_width() == 1 and p.get_height() == 1 for p in taps)
    assert min(abs(a[0] - b[0]) + abs(a[1] - b[1]) for i, a in enumerate(corners) for b in corners[i + 1 :]) == 4
    # the zoom shows the 9x9 field of view and a margin, not the whole image
    x0, x1 = zoom.get_xlim()
    assert x1 - x0 == 9 + 2 * 2
