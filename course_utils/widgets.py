"""Interactive explorers (ipywidgets) for the concept notebooks, and their static figures.

Each explorer is a ``VBox`` of sliders, an ``HTML`` readout and an ``Output``
holding a matplotlib figure. Moving a slider updates the readout text and
re-draws the figure. Every explorer has a plain figure function next to it
(:func:`dilation_figure`, :func:`receptive_field_figure`,
:func:`aspp_rate_figure`) so a notebook can show the same picture statically,
which is what readers see on GitHub where widgets do not run.

Readout formats (stable; the browser tests rely on them):

* :func:`dilation_explorer`: ``"kernel 3x3, rate 2 -> effective 5x5"``
* :func:`receptive_field_explorer`: ``"receptive field: 13x13 (3 layers)"``
* :func:`aspp_rate_explorer`: ``"rates 6, 12, 18 -> valid weights 88%, 77%, 66%"``,
  the mean share of each 3x3 filter's taps that land inside the
  ``feature_size x feature_size`` map (:func:`course_utils.atrous.valid_weight_fraction`).

CSS classes for browser tests: ``course-kernel-slider``, ``course-rate-slider``,
``course-dilation-readout``, ``course-dilation-figure``; ``course-layers-slider``,
``course-rf-rate-slider``, ``course-rf-pattern``, ``course-rf-readout``,
``course-rf-figure``; ``course-aspp-rate-slider`` (three), ``course-aspp-readout``,
``course-aspp-figure``.

Figures are made with :class:`matplotlib.figure.Figure` (not pyplot), so they
never leak into a notebook's inline output. The explorer's ``Output`` gets the
new PNG by replacing its ``outputs`` in one step, which behaves like
``clear_output(wait=True)`` followed by a display (no flicker) and also works
outside a running kernel (unit tests).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from course_utils.atrous import (
    atrous_conv2d,
    coverage_fraction,
    dilate_kernel,
    effective_kernel_size,
    receptive_field,
    stack_footprint,
    valid_weight_fraction,
)
from course_utils.data.sample_images import street_scene, to_gray

RATE_PATTERNS = ("same", "multi-grid", "doubling")
"""Rate patterns of :func:`pattern_rates`."""

MULTI_GRID = (1, 2, 4)
FIGURE_DPI = 72


# --------------------------------------------------------------------------- helpers


def _gray(image: np.ndarray | None) -> np.ndarray:
    if image is None:
        image = street_scene(128, 256)
    image = np.asarray(image)
    if image.ndim == 3:
        return to_gray(image)
    if image.ndim == 2:
        return image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)
    raise ValueError(f"Expected an (H, W) or (H, W, 3) image, got shape {image.shape}.")


def figure_png(fig: Figure, dpi: int = FIGURE_DPI) -> bytes:
    """Render a matplotlib figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def show_figure(output: widgets.Output, fig: Figure) -> None:
    """Replace whatever ``output`` shows with ``fig`` (one atomic update)."""
    png = base64.b64encode(figure_png(fig)).decode("ascii")
    output.outputs = (
        {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure>"}, "metadata": {}},
    )


def _explorer(
    controls: Sequence[widgets.Widget],
    readout: widgets.HTML,
    output: widgets.Output,
    update: Callable[[], None],
    box_class: str,
) -> widgets.VBox:
    for control in controls:
        control.observe(lambda change: update(), names="value")
    update()
    box = widgets.VBox([widgets.HBox(list(controls)), readout, output])
    box.add_class(box_class)
    # Handles for tests and for notebooks that want to drive the explorer.
    box.controls, box.readout, box.figure_output, box.update = tuple(controls), readout, output, update
    return box


# --------------------------------------------------------------------------- dilation


def dilation_readout(kernel: int, rate: int) -> str:
    """``"kernel 3x3, rate 2 -> effective 5x5"``."""
    e = effective_kernel_size(kernel, rate)
    return f"kernel {kernel}x{kernel}, rate {rate} -> effective {e}x{e}"


def tap_positions(center: tuple[int, int], kernel: int, rate: int) -> list[tuple[int, int]]:
    """``(row, col)`` of the ``kernel**2`` taps of a dilated kernel centred on ``center``.

    Taps are ``rate`` pixels apart; the kernel is centred like "same" padding
    (first tap ``(effective - 1) // 2`` pixels before the centre).
    """
    half = (effective_kernel_size(kernel, rate) - 1) // 2
    offsets = np.arange(kernel) * rate - half
    return [(center[0] + int(dy), center[1] + int(dx)) for dy in offsets for dx in offsets]


def dilation_figure(
    image: np.ndarray | None = None, kernel: int = 3, rate: int = 2, center: tuple[int, int] | None = None
) -> Figure:
    """Kernel footprint on an image (full view and zoom), the zero-inserted kernel and the filtered output.

    Panel 1 marks the field of view (yellow box) on the whole image; panel 2
    zooms into it and draws each of the ``kernel**2`` taps as its own
    one-pixel red square, so that taps stay separate marks at any rate and
    figure size. The filter of panel 4 is a ``kernel x kernel`` mean filter
    applied with :func:`course_utils.atrous.atrous_conv2d` at the given rate: a
    large rate blends copies of the image shifted by ``rate`` pixels (watch
    the car).
    """
    gray = _gray(image)
    h, w = gray.shape
    cy, cx = center if center is not None else (int(0.7 * h), int(0.65 * w))
    weights = np.full((kernel, kernel), 1.0 / kernel**2)
    filtered = atrous_conv2d(gray, weights, rate)
    e = effective_kernel_size(kernel, rate)
    half = (e - 1) // 2

    fig = Figure(figsize=(12, 3.1))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [2, 1, 1, 2]})
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].add_patch(Rectangle((cx - half - 0.5, cy - half - 0.5), e, e, fill=False, ec="yellow", lw=1.5))
    axes[0].set_title(f"field of view {e}x{e} (yellow)")

    # zoom: the field of view plus a margin of 2 pixels, one square per tap
    margin = 2
    axes[1].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_xlim(cx - half - margin - 0.5, cx + half + margin + 0.5)
    axes[1].set_ylim(cy + half + margin + 0.5, cy - half - margin - 0.5)
    axes[1].add_patch(Rectangle((cx - half - 0.5, cy - half - 0.5), e, e, fill=False, ec="yellow", lw=1.5))
    for ty, tx in tap_positions((cy, cx), kernel, rate):
        axes[1].add_patch(Rectangle((tx - 0.5, ty - 0.5), 1, 1, fill=False, ec="red", lw=2, label="tap"))
    axes[1].set_title(f"zoom: {kernel * kernel} taps,\n{rate} px apart")

    axes[2].imshow(dilate_kernel(np.ones((kernel, kernel)), rate), cmap="Reds", vmin=0, vmax=1.3)
    axes[2].set_title(f"zero-inserted\nkernel {e}x{e}")
    axes[3].imshow(filtered, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[3].set_title(f"{kernel}x{kernel} mean filter, rate {rate}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def dilation_explorer(image: np.ndarray | None = None) -> widgets.VBox:
    """Sliders for kernel size and rate; shows the footprint on ``image`` and the filtered output.

    ``image`` is an RGB or grayscale array (default: :func:`street_scene`).
    """
    gray = _gray(image)
    kernel = widgets.IntSlider(value=3, min=1, max=7, step=2, description="kernel", continuous_update=False)
    kernel.add_class("course-kernel-slider")
    rate = widgets.IntSlider(value=2, min=1, max=8, step=1, description="rate", continuous_update=False)
    rate.add_class("course-rate-slider")
    readout = widgets.HTML()
    readout.add_class("course-dilation-readout")
    output = widgets.Output()
    output.add_class("course-dilation-figure")

    def update() -> None:
        readout.value = dilation_readout(kernel.value, rate.value)
        show_figure(output, dilation_figure(gray, kernel.value, rate.value))

    return _explorer([kernel, rate], readout, output, update, "course-dilation-explorer")


# --------------------------------------------------------------------------- receptive field


def pattern_rates(layers: int, rate: int, pattern: str = "same") -> tuple[int, ...]:
    """Rates of a stack of ``layers`` 3x3 convolutions.

    * ``"same"``: every layer uses ``rate`` (gridding when ``rate > 1``);
    * ``"multi-grid"``: ``rate`` times the unit rates (1, 2, 4), repeated;
    * ``"doubling"``: ``rate, 2 rate, 4 rate, ...``.
    """
    if pattern == "same":
        return (rate,) * layers
    if pattern == "multi-grid":
        return tuple(rate * MULTI_GRID[i % len(MULTI_GRID)] for i in range(layers))
    if pattern == "doubling":
        return tuple(rate * 2**i for i in range(layers))
    raise ValueError(f"Unknown rate pattern {pattern!r}; use one of {RATE_PATTERNS}.")


def receptive_field_readout(layers: int, rates: Sequence[int], kernel: int = 3) -> str:
    """``"receptive field: 13x13 (3 layers)"``."""
    rf = receptive_field([(kernel, 1, r) for r in rates])
    return f"receptive field: {rf}x{rf} ({layers} layer{'s' if layers != 1 else ''})"


def receptive_field_figure(rates: Sequence[int], kernel: int = 3) -> Figure:
    """The input pixels one output of a stack of dilated convolutions sees (holes = gridding)."""
    footprint = stack_footprint(rates, kernel)
    rf = footprint.shape[0]
    fig = Figure(figsize=(4.8, 4.0))
    ax = fig.subplots()
    image = ax.imshow(
        np.where(footprint > 0, footprint, np.nan),
        cmap="viridis",
        interpolation="nearest",
        extent=(-0.5, rf - 0.5, rf - 0.5, -0.5),
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="paths from this pixel to the output")
    ax.set_facecolor("white")
    ax.add_patch(Rectangle((-0.5, -0.5), rf, rf, fill=False, ec="black", lw=1))
    ax.set_title(
        f"rates {', '.join(map(str, rates))}: sees {100 * coverage_fraction(footprint):.0f}% of {rf}x{rf}", fontsize=10
    )
    ax.set_xlabel("input column in the field (pixels)")
    ax.set_ylabel("input row in the field (pixels)")
    if rf > 40:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def receptive_field_explorer() -> widgets.VBox:
    """Sliders for the number of 3x3 layers and the rate, a dropdown for the rate pattern."""
    layers = widgets.IntSlider(value=3, min=1, max=6, description="layers", continuous_update=False)
    layers.add_class("course-layers-slider")
    rate = widgets.IntSlider(value=2, min=1, max=8, description="rate", continuous_update=False)
    rate.add_class("course-rf-rate-slider")
    pattern = widgets.Dropdown(options=list(RATE_PATTERNS), value="same", description="pattern")
    pattern.add_class("course-rf-pattern")
    readout = widgets.HTML()
    readout.add_class("course-rf-readout")
    output = widgets.Output()
    output.add_class("course-rf-figure")

    def update() -> None:
        rates = pattern_rates(layers.value, rate.value, pattern.value)
        readout.value = receptive_field_readout(layers.value, rates)
        show_figure(output, receptive_field_figure(rates))

    return _explorer([layers, rate, pattern], readout, output, update, "course-rf-explorer")


# --------------------------------------------------------------------------- ASPP rates


def aspp_readout(rates: Sequence[int], feature_size: int) -> str:
    """``"rates 6, 12, 18 -> valid weights 88%, 77%, 66%"`` (see the module docstring)."""
    shares = [f"{100 * valid_weight_fraction(feature_size, r):.0f}%" for r in rates]
    return f"rates {', '.join(map(str, rates))} -> valid weights {', '.join(shares)}"


def aspp_rate_figure(rates: Sequence[int], feature_size: int = 65) -> Figure:
    """What each ASPP branch sees on a ``feature_size`` map, and the valid-weight curve.

    Left: the 3x3 taps of each rate around the centre and around a corner
    position (taps outside the map hit zero padding). Right: the mean share of
    valid taps against the rate, with the chosen rates marked.
    """
    fig = Figure(figsize=(10, 3.8))
    ax_map, ax_curve = fig.subplots(1, 2)
    ax_map.add_patch(Rectangle((-0.5, -0.5), feature_size, feature_size, fc="0.92", ec="black"))
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    centre = feature_size // 2
    corner = max(2, feature_size // 10)
    for i, r in enumerate(rates):
        offsets = np.array([-r, 0, r])
        for cy, cx, marker in ((centre, centre, "o"), (corner, corner, "s")):
            ty, tx = np.meshgrid(cy + offsets, cx + offsets, indexing="ij")
            inside = (ty >= 0) & (ty < feature_size) & (tx >= 0) & (tx < feature_size)
            colour = colours[i % len(colours)]
            ax_map.scatter(
                tx[inside], ty[inside], c=colour, marker=marker, s=22, label=f"rate {r}" if cy == centre else None
            )
            ax_map.scatter(tx[~inside], ty[~inside], facecolors="none", edgecolors=colour, marker=marker, s=22)
    lim = feature_size + max(rates)
    ax_map.set_xlim(-max(rates) - 1, lim)
    ax_map.set_ylim(lim, -max(rates) - 1)
    ax_map.set_aspect("equal")
    ax_map.set_title(f"3x3 taps on a {feature_size}x{feature_size} map (hollow: padding)", fontsize=10)
    ax_map.legend(fontsize=8, loc="lower right")
    all_rates = np.arange(1, feature_size + 1)
    ax_curve.plot(all_rates, [valid_weight_fraction(feature_size, r) for r in all_rates], color="0.3")
    for i, r in enumerate(rates):
        ax_curve.scatter(
            [r], [valid_weight_fraction(feature_size, r)], color=colours[i % len(colours)], zorder=3, label=f"rate {r}"
        )
    ax_curve.axhline(1 / 9, ls="--", color="0.5", lw=1)
    ax_curve.text(1, 1 / 9 + 0.02, "1/9: only the centre tap (a 1x1 filter)", fontsize=8)
    ax_curve.set_xlabel("atrous rate")
    ax_curve.set_ylabel("mean share of valid 3x3 taps")
    ax_curve.set_ylim(0, 1.05)
    ax_curve.set_title("valid weights vs rate", fontsize=10)
    fig.tight_layout()
    return fig


def aspp_rate_explorer(feature_size: int = 65) -> widgets.VBox:
    """Three rate sliders (the ASPP's 3x3 branches) on a ``feature_size`` map."""
    if feature_size < 3:
        raise ValueError(f"feature_size must be >= 3, got {feature_size}.")
    sliders = []
    for i, value in enumerate((6, 12, 18)):
        slider = widgets.IntSlider(
            value=min(value, feature_size),
            min=1,
            max=feature_size,
            description=f"rate {i + 1}",
            continuous_update=False,
        )
        slider.add_class("course-aspp-rate-slider")
        sliders.append(slider)
    readout = widgets.HTML()
    readout.add_class("course-aspp-readout")
    output = widgets.Output()
    output.add_class("course-aspp-figure")

    def update() -> None:
        rates = [s.value for s in sliders]
        readout.value = aspp_readout(rates, feature_size)
        show_figure(output, aspp_rate_figure(rates, feature_size))

    return _explorer(sliders, readout, output, update, "course-aspp-explorer")


# --------------------------------------------------------------------------- architecture diagram


def deeplab_diagram(
    stages: dict[str, tuple],
    aspp_rates: Sequence[int],
    input_shape: tuple,
    num_classes: int,
    image_pooling: bool = True,
    decoder: bool = False,
) -> Figure:
    """A drawn block diagram of DeepLabV3 (the fallback when Graphviz is missing).

    Args:
        stages: feature-map shapes per stage, e.g. ``model_report(...).stages``
            (``{"stem": (H, W, C), "stage1": ..., "stage4": ...}``).
        aspp_rates: rates of the ASPP 3x3 branches.
        input_shape: ``(H, W, C)`` of the input image.
        num_classes: channels of the logits.
        image_pooling: draw ASPP's image-pooling branch.
        decoder: draw the DeepLabV3+ decoder's skip connection from stage 1.
    """

    def size(shape):
        return "x".join(str(d) for d in shape)

    fig = Figure(figsize=(12, 3.6))
    ax = fig.subplots()
    ax.set_xlim(0, 12.4)
    ax.set_ylim(0, 4.2)
    ax.axis("off")

    def box(x, y, text, colour, w=1.15, h=0.7):
        ax.add_patch(Rectangle((x, y), w, h, fc=colour, ec="0.2", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=7.5)
        return (x, y, w, h)

    def arrow(a, b):
        ax.annotate(
            "",
            xy=(b[0], b[1] + b[3] / 2),
            xytext=(a[0] + a[2], a[1] + a[3] / 2),
            arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8},
        )

    y0 = 1.75
    previous = box(0.1, y0, f"image\n{size(input_shape)}", "#eeeeee")
    backbone_boxes = {}
    for i, name in enumerate(["stem", "stage1", "stage2", "stage3", "stage4"]):
        if name not in stages:
            continue
        current = box(1.45 + 1.3 * i, y0, f"{name}\n{size(stages[name])}", "#cfe2f3")
        arrow(previous, current)
        previous = current
        backbone_boxes[name] = current
    ax.text(1.45 + 2.6 + 0.6, y0 + 1.0, "ResNet backbone (dilated)", ha="center", fontsize=9)
    branches = ["1x1"] + [f"3x3 rate {r}" for r in aspp_rates] + (["image pool"] if image_pooling else [])
    x_aspp = 8.1
    ys = np.linspace(0.1, 3.45, len(branches))
    fuse = (9.55, y0, 1.15, 0.7)
    for label, y in zip(branches, ys):
        b = box(x_aspp, y, label, "#fce5cd", h=0.5)
        arrow(previous, b)
        arrow(b, fuse)
    ax.text(x_aspp + 0.57, 4.0, "ASPP", ha="center", fontsize=9)
    box(*fuse[:2], "concat\n1x1 proj", "#fce5cd")
    head = box(10.95, y0, f"1x1 classifier\n{num_classes} ch\nresize to\ninput", "#d9ead3", w=1.35, h=1.0)
    arrow(fuse, head)
    if decoder and "stage1" in backbone_boxes:
        s1 = backbone_boxes["stage1"]
        ax.annotate(
            "",
            xy=(fuse[0] + 0.5, fuse[1]),
            xytext=(s1[0] + 0.5, s1[1]),
            arrowprops={"arrowstyle": "->", "color": "tab:green", "connectionstyle": "arc3,rad=0.25"},
        )
        ax.text(5.5, 0.15, "V3+ decoder: low-level features (stride 4)", color="tab:green", fontsize=8)
    fig.tight_layout()
    return fig
