"""Figures used across the course: curves, IoU bars, confusion matrices, qualitative grids.

Every function returns a :class:`matplotlib.figure.Figure` and never calls
``plt.show()``: a notebook displays the returned figure, a script saves it with
``fig.savefig(...)``. Colours of classes come from the dataset's palette
(``DatasetInfo.palette``); void pixels (255) are drawn black.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")  # headless machines; notebooks keep their inline backend

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from course_utils.metrics import IGNORE_INDEX

__all__ = [
    "colorize",
    "overlay",
    "to_uint8_image",
    "load_history",
    "plot_history",
    "plot_iou_bars",
    "plot_confusion_matrix",
    "plot_qualitative",
    "legend_handles",
    "plot_legend",
    "annotate_points",
    "plot_effective_receptive_field",
    "plot_feature_grids",
]


def _palette_array(palette: Sequence[Sequence[int]]) -> np.ndarray:
    pal = np.asarray(palette, dtype=np.uint8)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f"A palette is a list of [R, G, B] triples, got an array of shape {pal.shape}.")
    return pal


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Class-id map ``[H, W]`` to an RGB ``uint8`` image ``[H, W, 3]``; void is black.

    Raises:
        ValueError: for an id that is neither a palette entry nor ``ignore_index``.
    """
    label = np.asarray(label)
    if label.ndim == 3 and label.shape[-1] == 1:
        label = label[..., 0]
    pal = _palette_array(palette)
    void = label == ignore_index
    bad = (~void) & ((label < 0) | (label >= len(pal)))
    if bad.any():
        raise ValueError(
            f"colorize: class id {int(label[bad][0])} has no palette colour ({len(pal)} classes); "
            "pass the dataset's palette or map unknown ids to 255."
        )
    out = pal[np.where(void, 0, label).astype(np.int64)]
    out[void] = 0
    return out


def to_uint8_image(image: np.ndarray) -> np.ndarray:
    """An RGB image as ``uint8``.

    ``uint8`` passes through; a float image is taken to be in ``[-1, 1]`` (the
    input pipeline's range, :func:`course_utils.data.normalize_image`) unless
    its values exceed 1, in which case it is read as 0..255.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    x = image.astype(np.float32)
    x = x / 255.0 if x.max(initial=0.0) > 1.0 else (x + 1.0) * 0.5
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: Sequence[Sequence[int]] | None = None,
    alpha: float = 0.5,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Blend a segmentation over an image (``uint8`` RGB out).

    ``mask`` is either an RGB image (e.g. from :func:`colorize`) or a class-id
    map together with ``palette``. Void pixels keep the plain image.
    """
    img = to_uint8_image(image).astype(np.float32)
    mask = np.asarray(mask)
    void = np.zeros(img.shape[:2], dtype=bool)
    if mask.ndim == 2 or (mask.ndim == 3 and mask.shape[-1] == 1):
        if palette is None:
            raise ValueError("overlay: a class-id mask needs the dataset's palette (palette=info.palette).")
        ids = mask.reshape(mask.shape[:2])
        void = ids == ignore_index
        mask = colorize(ids, palette, ignore_index)
    if mask.shape[:2] != img.shape[:2]:
        raise ValueError(f"overlay: image {img.shape[:2]} and mask {mask.shape[:2]} differ in size.")
    out = (1.0 - alpha) * img + alpha * mask.astype(np.float32)
    out[void] = img[void]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def load_history(history) -> dict[str, list[float]]:
    """A training history as ``{name: [values per epoch]}``.

    Accepts a ``keras.callbacks.History``, a dict, or the path of the CSV
    written by ``CSVLogger`` (``history.csv`` in a run folder).
    """
    if hasattr(history, "history"):
        return {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if isinstance(history, Mapping):
        return {k: [float(v) for v in vals] for k, vals in history.items()}
    path = Path(history)
    if not path.is_file():
        raise FileNotFoundError(f"No training history at {path}; train first (it is written as history.csv).")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path} holds no epochs yet.")
    out: dict[str, list[float]] = {}
    for key in rows[0]:
        if key == "epoch":
            continue
        try:
            out[key] = [float(r[key]) for r in rows]
        except (TypeError, ValueError):
            continue
    return out


def plot_history(history, title: str | None = None, loss_title: str | None = None) -> Figure:
    """Loss, mIoU and (when logged) learning rate per epoch, train vs validation.

    ``loss_title`` replaces the loss panel's title, e.g. to say that the training loss is
    class-weighted while the validation loss is not (the two are then different quantities).
    """
    h = load_history(history)
    if not h:
        raise ValueError("The history is empty: nothing to plot.")
    panels = [("loss", loss_title or "Loss (masked cross-entropy)"), ("miou", "Mean IoU")]
    panels = [(k, t) for k, t in panels if k in h or f"val_{k}" in h]
    lr_key = next((k for k in ("learning_rate", "lr") if k in h), None)
    n = len(panels) + (lr_key is not None)
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4.2 * max(n, 1), 3.2), squeeze=False)
    axes = axes[0]
    for ax, (key, label) in zip(axes, panels):
        for name, style in ((key, "-o"), (f"val_{key}", "-s")):
            if name in h:
                epochs = np.arange(1, len(h[name]) + 1)
                ax.plot(epochs, h[name], style, ms=3, label="validation" if name.startswith("val_") else "train")
        if f"val_{key}" in h and key == "miou":
            best = int(np.nanargmax(h["val_miou"]))
            ax.axvline(best + 1, color="grey", ls=":", lw=1)
            ax.set_title(f"{label} (best val {h['val_miou'][best]:.3f})", fontsize=10)
        else:
            ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean IoU" if key == "miou" else key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if lr_key is not None:
        ax = axes[len(panels)]
        ax.plot(np.arange(1, len(h[lr_key]) + 1), h[lr_key], "-o", ms=3, color="tab:green")
        if min(h[lr_key]) > 0:  # a poly schedule ends at 0, which a log axis cannot show
            ax.set_yscale("log")
        ax.set_title("Learning rate", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_iou_bars(
    iou: Sequence[float] | Mapping[str, float | None] | np.ndarray,
    class_names: Sequence[str] | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    title: str = "IoU per class",
) -> Figure:
    """Horizontal bars of per-class IoU, with the mean as a dashed line.

    ``nan``/``None`` (a class absent from truth and prediction) is marked "n/a".
    """
    if isinstance(iou, Mapping):
        class_names = list(iou.keys())
        values = np.array([np.nan if v is None else float(v) for v in iou.values()])
    else:
        values = np.asarray(iou, dtype=float)
        class_names = list(class_names) if class_names is not None else [str(i) for i in range(len(values))]
    if len(class_names) != len(values):
        raise ValueError(f"{len(values)} IoU values but {len(class_names)} class names.")
    colours = (_palette_array(palette) / 255.0) if palette is not None else None
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(values) + 1.2))
    y = np.arange(len(values))
    ax.barh(y, np.nan_to_num(values), color=colours if colours is not None else "tab:blue", edgecolor="black", lw=0.5)
    for yi, v in zip(y, values):
        ax.text((0 if np.isnan(v) else v) + 0.01, yi, "n/a" if np.isnan(v) else f"{v:.2f}", va="center", fontsize=8)
    if np.isfinite(values).any():
        mean = float(np.nanmean(values))
        ax.axvline(mean, color="black", ls="--", lw=1, label=f"mIoU {mean:.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, class_names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("IoU")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    cm: np.ndarray,
    class_names: Sequence[str] | None = None,
    normalize: str | None = "true",
    title: str | None = None,
) -> Figure:
    """Confusion matrix as an image (rows: truth, columns: prediction).

    ``normalize="true"`` divides each row by its total (recall per class; rows
    of absent classes stay 0), ``"pred"`` each column, ``None`` shows counts.
    """
    cm = np.asarray(cm, dtype=float)
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if normalize == "true":
        shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    elif normalize == "pred":
        shown = cm / np.maximum(cm.sum(axis=0, keepdims=True), 1)
    elif normalize is None:
        shown = cm
    else:
        raise ValueError(f"normalize must be 'true', 'pred' or None, got {normalize!r}.")
    size = max(3.5, 0.45 * n + 1.5)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if n <= 20:
        thresh = shown.max() / 2 if shown.size else 0
        for i in range(n):
            for j in range(n):
                txt = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(
                    j, i, txt, ha="center", va="center", fontsize=7, color="white" if shown[i, j] > thresh else "black"
                )
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(
        title or ("Confusion matrix (rows normalised)" if normalize == "true" else "Confusion matrix"), fontsize=10
    )
    fig.tight_layout()
    return fig


def legend_handles(class_names: Sequence[str], palette: Sequence[Sequence[int]]) -> list[Patch]:
    """One coloured patch per class, plus black for void, for ``ax.legend(handles=...)``."""
    pal = _palette_array(palette)
    handles = [Patch(facecolor=pal[i] / 255.0, edgecolor="black", lw=0.5, label=n) for i, n in enumerate(class_names)]
    handles.append(Patch(facecolor="black", label="void"))
    return handles


def annotate_points(
    ax, x: Sequence[float], y: Sequence[float], labels: Sequence[str], fontsize: float = 8, offset: float = 4.0
) -> list:
    """Label scatter points so that no two labels overlap; returns the ``Annotation`` objects.

    Each label starts ``offset`` points right of its point; a label whose box
    would overlap one already placed moves up (then down) in steps of its own
    height until it is free, with a thin leader line to its point when it
    moved. Call it after the axis limits are final (labels are placed in
    display coordinates).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    placed: list = []
    annotations = []
    order = np.argsort(np.asarray(y, dtype=float), kind="stable")
    for i in order:
        text = ax.annotate(
            labels[i], (x[i], y[i]), xytext=(offset, 0), textcoords="offset points", fontsize=fontsize, va="center"
        )
        box = text.get_window_extent(renderer)
        step_pt = box.height * 72.0 / fig.dpi * 1.1
        for k in range(1, 4 * len(labels) + 2):
            if not any(box.overlaps(other) for other in placed):
                break
            shift = (k + 1) // 2 * step_pt * (1 if k % 2 else -1)  # up 1, down 1, up 2, ...
            text.set_position((offset, shift))
            box = text.get_window_extent(renderer)
        shift = text.get_position()[1]
        if shift != 0:  # moved: redraw it with a leader line to its point
            text.remove()
            text = ax.annotate(
                labels[i],
                (x[i], y[i]),
                xytext=(offset, shift),
                textcoords="offset points",
                fontsize=fontsize,
                va="center",
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.4", "shrinkA": 0, "shrinkB": 2},
            )
        placed.append(box)
        annotations.append(text)
    return annotations


def plot_legend(class_names: Sequence[str], palette: Sequence[Sequence[int]], ncol: int = 4) -> Figure:
    """The class legend on its own."""
    fig = plt.figure(figsize=(1.6 * ncol, 0.3 * (len(class_names) // ncol + 2)))
    fig.legend(handles=legend_handles(class_names, palette), loc="center", ncol=ncol, fontsize=8, frameon=False)
    return fig


def plot_qualitative(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    ignore_index: int = IGNORE_INDEX,
    max_rows: int = 4,
) -> Figure:
    """Grid of image | ground truth | prediction | error map, one row per example.

    In the error map, wrong pixels are red, correct ones dark grey and void
    (not scored) black. A class legend sits under the grid.
    """
    n = min(len(images), len(labels), len(predictions), max_rows)
    if n == 0:
        raise ValueError("plot_qualitative needs at least one (image, label, prediction) triple.")
    fig, axes = plt.subplots(n, 4, figsize=(12, 2.4 * n + 0.8), squeeze=False)
    for r in range(n):
        lab = np.asarray(labels[r])
        pred = np.asarray(predictions[r])
        void = lab == ignore_index
        wrong = (~void) & (pred != lab)
        err = np.zeros(lab.shape + (3,), np.uint8)
        err[~void] = (60, 60, 60)
        err[wrong] = (230, 30, 30)
        acc = 1.0 - wrong.sum() / max((~void).sum(), 1)
        panels = [
            (to_uint8_image(images[r]), "image"),
            (colorize(lab, palette, ignore_index), "ground truth"),
            (colorize(pred, palette, ignore_index), "prediction"),
            (err, f"errors (pixel acc. {acc:.2f})"),
        ]
        for c, (img, name) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            ax.set_axis_off()
            if r == 0 or c == 3:
                ax.set_title(name, fontsize=9)
    fig.legend(
        handles=legend_handles(class_names, palette),
        loc="lower center",
        ncol=min(len(class_names) + 1, 8),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(class_names) // 8), 1, 1))
    return fig


def plot_effective_receptive_field(
    gradients: Mapping[str, np.ndarray], mass: float = 0.9, figsize: tuple[float, float] | None = None
) -> Figure:
    """|gradient| of one output w.r.t. the input, with the theoretical and the effective field marked.

    One panel per entry of ``gradients`` (title -> square array of odd side,
    e.g. from :func:`course_utils.atrous.gradient_footprint` or a measured
    gradient cropped to its theoretical box). The whole panel is the
    theoretical receptive field (black frame); the white dashed square is the
    effective field, the centred square that holds ``mass`` of the gradient
    (:func:`course_utils.atrous.effective_receptive_field`). Colours are the
    gradient magnitude relative to its maximum.
    """
    from matplotlib.patches import Rectangle

    from course_utils.atrous import effective_receptive_field

    n = len(gradients)
    fig = Figure(figsize=figsize or (3.6 * n + 0.8, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    image = None
    for ax, (title, grad) in zip(axes, gradients.items()):
        grad = np.abs(np.asarray(grad, dtype=np.float64))
        side = grad.shape[0]
        centre = side // 2
        erf = effective_receptive_field(grad, mass)
        extent = (-centre - 0.5, centre + 0.5, centre + 0.5, -centre - 0.5)
        image = ax.imshow(grad / grad.max(), cmap="magma", vmin=0, vmax=1, interpolation="nearest", extent=extent)
        ax.add_patch(Rectangle((-centre - 0.5, -centre - 0.5), side, side, fill=False, ec="black", lw=2))
        half = erf // 2
        ax.add_patch(Rectangle((-half - 0.5, -half - 0.5), erf, erf, fill=False, ec="white", lw=1.5, ls="--"))
        ax.set_title(f"{title}\ntheoretical {side}x{side}, {100 * mass:.0f}% of |grad| in {erf}x{erf}", fontsize=9)
        ax.set_xlabel("input column offset (pixels)")
        ax.set_ylabel("input row offset (pixels)")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="|d output / d input| (relative)")
    return fig


def plot_feature_grids(
    image: np.ndarray,
    output_strides: Sequence[int] = (32, 16, 8),
    fields: Mapping[str, int] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """An image with the grid of feature-map cells of each output stride drawn over it.

    The figure is created with :func:`matplotlib.pyplot.subplots`, so it is
    registered with pyplot and ``plt.show()`` (or a notebook's inline backend)
    displays it.

    One panel per output stride: every cell of the grid is one position of the
    feature map, i.e. ``output_stride x output_stride`` input pixels (the map
    has :func:`course_utils.atrous.feature_map_size` cells). With ``fields``
    (label -> side in input pixels, e.g. the field of view of ASPP branches),
    one extra panel draws those squares centred on the image instead.
    """
    from matplotlib.patches import Rectangle

    from course_utils.atrous import feature_map_size

    height, width = image.shape[:2]
    n = len(output_strides) + (1 if fields else 0)
    # A pyplot figure (not a bare ``Figure``), so ``plt.show()`` in a notebook displays it.
    fig, axes = plt.subplots(1, n, figsize=figsize or (4.2 * n, 4.2 * height / width + 0.9), layout="constrained")
    axes = np.atleast_1d(axes)
    shown = to_uint8_image(image)
    for ax, stride in zip(axes, output_strides):
        ax.imshow(shown)
        for y in range(0, height, stride):
            ax.axhline(y - 0.5, color="yellow", lw=0.6)
        for x in range(0, width, stride):
            ax.axvline(x - 0.5, color="yellow", lw=0.6)
        rows, cols = feature_map_size((height, width), stride)
        ax.set_title(f"output stride {stride}: {rows}x{cols} feature map", fontsize=9)
    if fields:
        ax = axes[-1]
        ax.imshow(shown)
        colours = plt.get_cmap("autumn")(np.linspace(0, 1, len(fields)))
        for (label, side), colour in zip(fields.items(), colours):
            ax.add_patch(
                Rectangle(
                    (width / 2 - side / 2, height / 2 - side / 2), side, side, fill=False, ec=colour, lw=2, label=label
                )
            )
        margin = max(0.0, (max(fields.values()) - min(height, width)) / 2) + 4  # show squares larger than the image
        ax.set_xlim(
            min(-0.5, width / 2 - max(fields.values()) / 2 - 4),
            max(width - 0.5, width / 2 + margin + min(height, width) / 2),
        )
        ax.set_ylim(
            max(height - 0.5, height / 2 + margin + min(height, width) / 2),
            min(-0.5, height / 2 - max(fields.values()) / 2 - 4),
        )
        ax.legend(loc="lower right", fontsize=7)
        ax.set_title("fields of view in the image", fontsize=9)
    for ax in axes:
        ax.set_xlabel("image column (pixels)")
        ax.set_ylabel("image row (pixels)")
    return fig
