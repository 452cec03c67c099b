"""Figures (return Figure objects, never show) and text reports."""

from __future__ import annotations

import csv

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from course_utils import devices
from course_utils import plotting as P
from course_utils import tables as R

PALETTE = [(128, 64, 128), (70, 130, 180), (0, 0, 142)]
NAMES = ["road", "sky", "car"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_colorize_maps_palette_and_void_black():
    label = np.array([[0, 1], [2, 255]])
    rgb = P.colorize(label, PALETTE)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert tuple(rgb[0, 0]) == PALETTE[0] and tuple(rgb[1, 0]) == PALETTE[2] and tuple(rgb[1, 1]) == (0, 0, 0)
    with pytest.raises(ValueError, match="no palette colour"):
        P.colorize(np.array([[3]]), PALETTE)


def test_overlay_blends_and_keeps_void():
    image = np.full((2, 2, 3), 100, np.uint8)
    label = np.array([[0, 255], [1, 1]])
    out = P.overlay(image, label, PALETTE, alpha=0.5)
    assert tuple(out[0, 1]) == (100, 100, 100)  # void: plain image
    np.testing.assert_array_equal(out[0, 0], np.rint((np.array(PALETTE[0]) + 100) / 2).astype(np.uint8))
    # float image in [-1, 1] (the pipeline's range) is accepted
    out2 = P.overlay(np.zeros((2, 2, 3), np.float32), P.colorize(label, PALETTE), alpha=0.0)
    assert (out2 == 128).all()
    with pytest.raises(ValueError, match="palette"):
        P.overlay(image, label)


def test_to_uint8_image_ranges():
    assert P.to_uint8_image(np.array([[[-1.0, 0.0, 1.0]]])).tolist() == [[[0, 128, 255]]]
    assert P.to_uint8_image(np.array([[[0.0, 127.5, 255.0]]])).tolist() == [[[0, 128, 255]]]
    assert P.to_uint8_image(np.array([[[7, 8, 9]]], np.uint8)).tolist() == [[[7, 8, 9]]]


def test_plot_history_from_dict_and_csv(tmp_path):
    hist = {
        "loss": [1.0, 0.5, 0.4],
        "val_loss": [1.1, 0.7, 0.6],
        "miou": [0.2, 0.4, 0.5],
        "val_miou": [0.1, 0.35, 0.3],
        "learning_rate": [1e-3, 1e-3, 2e-4],
    }
    fig = P.plot_history(hist)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "best val 0.350" in fig.axes[1].get_title()
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", *hist])
        for i in range(3):
            w.writerow([i, *(v[i] for v in hist.values())])
    fig2 = P.plot_history(path)
    np.testing.assert_allclose(fig2.axes[1].lines[1].get_ydata(), hist["val_miou"])
    with pytest.raises(FileNotFoundError):
        P.plot_history(tmp_path / "none.csv")


def test_iou_bars_and_confusion_matrix():
    fig = P.plot_iou_bars([0.5, np.nan, 0.25], NAMES, PALETTE)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert "n/a" in [t.get_text() for t in ax.texts]
    assert "mIoU 0.375" in ax.get_legend().get_texts()[0].get_text()
    fig2 = P.plot_iou_bars({"road": 0.9, "sky": None})
    assert len(fig2.axes[0].patches) == 2
    cm = np.array([[8, 2, 0], [0, 5, 5], [0, 0, 0]])
    fig3 = P.plot_confusion_matrix(cm, NAMES)
    shown = fig3.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown[0], [0.8, 0.2, 0.0])
    np.testing.assert_allclose(shown[2], [0, 0, 0])  # absent class row stays 0, no nan
    assert [t.get_text() for t in fig3.axes[0].get_xticklabels()] == NAMES
    with pytest.raises(ValueError):
        P.plot_confusion_matrix(cm, normalize="all")


def test_qualitative_grid_has_four_columns_and_a_legend():
    rng = np.random.default_rng(0)
    imgs = [rng.uniform(-1, 1, (8, 12, 3)) for _ in range(3)]
    labs = [rng.integers(0, 3, (8, 12)) for _ in range(3)]
    labs[0][0] = 255
    preds = [rng.integers(0, 3, (8, 12)) for _ in range(3)]
    fig = P.plot_qualitative(imgs, labs, preds, NAMES, PALETTE, max_rows=2)
    assert len(fig.axes) == 8
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == NAMES + ["void"]
    err = fig.axes[3].images[0].get_array()
    assert tuple(err[0, 0]) == (0, 0, 0)  # void row is black in the error map
    assert isinstance(P.plot_legend(NAMES, PALETTE), Figure)


def test_performance_table_like_the_seed():
    results = {
        "test": {"miou": 0.5752, "pixel_accuracy": 0.8832},
        "train": {"miou": 0.6598, "pixel_accuracy": 0.9279},
        "val": {"miou": 0.5655, "pixel_accuracy": 0.8725},
    }
    table = R.performance_table(results)
    assert table.field_names == ["DeepLabV3", "mIoU", "Pixel accuracy"]
    rows = table.rows
    assert [r[0] for r in rows] == ["Train", "Validation", "Test"]
    assert rows[0][1:] == ["0.6598", "0.9279"]
    text = str(table)
    assert "Validation" in text and "0.8832" in text
    per = R.per_class_table([0.5, float("nan")], ["road", "sky"])
    assert per.rows == [["road", "0.500"], ["sky", "n/a"]]


def test_system_status_reports_ram():
    s = devices.memory_status()
    assert 0 < s["ram_used_gb"] <= s["ram_total_gb"] and 0 <= s["ram_util_percent"] <= 100
    text = devices.system_status()
    assert text.startswith("Gen RAM Free:") and "Total:" in text
    assert ("GPU RAM" in text) == bool(s["gpus"])


def test_annotate_points_labels_never_overlap():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = [1.0, 1.02, 1.01, 3.0, 1.0]
    y = [0.50, 0.505, 0.50, 0.2, 0.51]  # four points almost on top of each other
    labels = ["baseline", "no multi-grid", "OS 8", "no ASPP", "no pretraining"]
    ax.scatter(x, y)
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 1)
    texts = P.annotate_points(ax, x, y, labels)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in texts]  # the text only, not its leader line
    assert sorted(t.get_text() for t in texts) == sorted(labels)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # a lone point keeps its label next to it, without a leader line
    lone = next(t for t in texts if t.get_text() == "no ASPP")
    assert lone.get_position() == (4.0, 0)
    plt.close(fig)


def test_plot_effective_receptive_field_labels_its_axes():
    from course_utils.atrous import gradient_footprint
    from course_utils.plotting import plot_effective_receptive_field

    fig = plot_effective_receptive_field(
        {"4 layers": gradient_footprint([1] * 4), "rates 1, 2": gradient_footprint([1, 2])}
    )
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 2
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in panels)
    assert "7x7" in panels[0].get_title()  # 90 % of the mass of four rate-1 layers fits in 7x7 of 9x9


def test_plot_feature_grids_panels_and_titles():
    from course_utils.plotting import plot_feature_grids

    image = np.zeros((64, 96, 3), np.uint8)
    fig = plot_feature_grids(image, (32, 16), fields={"rate 6": 40, "rate 12": 80})
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 3
    assert panels[0].get_title() == "output stride 32: 2x3 feature map"
    assert len(panels[1].get_lines()) == 64 // 16 + 96 // 16
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in panels)
    assert len(panels[2].patches) == 2
