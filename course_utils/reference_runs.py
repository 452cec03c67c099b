"""Reference runs: real training results that ship with the course and that the notebooks display.

A notebook executed in the ``smoke`` profile trains for seconds on a tiny
dataset, so its own numbers are noise. Next to them the practice notebooks show
*reference runs*: complete trainings made with one command on stated hardware,
stored inside the package (so they are there in Colab, where the course is
pip-installed without a checkout) in ``course_utils/reference_runs/<name>/``:

``run.json``
    what was run (the command, configuration, hardware, wall time, commit and
    date), the dataset's classes and palette, and the scores of each evaluated
    split: mIoU, pixel accuracy, per-class IoU and the confusion matrix, plus
    optional extras (test-time augmentation, the colour baseline).
``history.csv``
    the epoch-by-epoch training history.
``curves.png``
    loss, mIoU and learning rate per epoch.
``gallery.png``
    about six validation images: image, ground truth, prediction and errors.

Every file is small (a run stays well under 1 MB). :func:`store_reference_run`
writes one from a finished run folder; :func:`load_reference_run` and
:func:`show_reference_run` read and display it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import tables
from course_utils.devices import hardware_summary

__all__ = [
    "REFERENCE_DIR",
    "ReferenceRun",
    "list_reference_runs",
    "load_reference_run",
    "store_reference_run",
    "reference_table",
    "show_reference_run",
    "save_small_png",
]

#: Where the course's reference runs live (inside the package, so they ship with it).
REFERENCE_DIR = Path(__file__).resolve().parent / "reference_runs"


@dataclass
class ReferenceRun:
    """One stored reference run (see the module docstring for the files)."""

    name: str
    folder: Path
    meta: dict[str, Any]

    @property
    def splits(self) -> dict[str, dict]:
        """Scores per evaluated split (``miou``, ``pixel_accuracy``, ``per_class_iou``, ``confusion_matrix``)."""
        return self.meta.get("splits", {})

    def miou(self, split: str = "val") -> float | None:
        """The mIoU of one split, or ``None`` when it was not evaluated."""
        return (self.splits.get(split) or {}).get("miou")

    @property
    def curves_png(self) -> Path:
        return self.folder / "curves.png"

    @property
    def gallery_png(self) -> Path:
        return self.folder / "gallery.png"

    @property
    def history_csv(self) -> Path:
        return self.folder / "history.csv"

    def confusion_matrix(self, split: str = "val") -> np.ndarray:
        """The stored confusion matrix of ``split`` (rows = truth, columns = prediction)."""
        return np.asarray(self.splits[split]["confusion_matrix"], np.int64)

    def describe(self) -> str:
        """Several lines: what was trained, where, how long, and with which command."""
        m = self.meta
        minutes = m.get("wall_seconds")
        took = f"{minutes / 60:.1f} min wall clock" if minutes else "wall time not recorded"
        lines = [
            f"Reference run '{self.name}': {m.get('description', '')}",
            f"  dataset {m.get('dataset')}, {took}, on {m.get('hardware', 'unknown hardware')}",
            f"  commit {str(m.get('commit') or 'unknown')[:10]}, recorded {m.get('date', 'unknown date')}",
            f"  command: {m.get('command', '-')}",
        ]
        return "\n".join(lines)


def list_reference_runs(folder: str | os.PathLike | None = None) -> list[str]:
    """Names of the stored reference runs (sub-folders holding a ``run.json``), sorted."""
    root = Path(folder) if folder is not None else REFERENCE_DIR
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/run.json"))


def load_reference_run(name: str, folder: str | os.PathLike | None = None) -> ReferenceRun:
    """Load one reference run by name.

    Raises:
        FileNotFoundError: naming the known runs, when ``name`` is not stored.
        ValueError: when its ``run.json`` is unreadable or lacks the command,
            hardware or scores (no number is shown without its provenance).
    """
    root = Path(folder) if folder is not None else REFERENCE_DIR
    path = root / name / "run.json"
    if not path.is_file():
        known = ", ".join(list_reference_runs(root)) or "none"
        raise FileNotFoundError(f"No reference run {name!r} in {root} (stored runs: {known}).")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); store the run again.") from err
    missing = [k for k in ("command", "hardware", "splits") if not meta.get(k)]
    if missing:
        raise ValueError(f"{path} does not record {', '.join(missing)}; store the run again.")
    return ReferenceRun(name=name, folder=path.parent, meta=meta)


# --------------------------------------------------------------------------- storing


def save_small_png(fig, path: str | os.PathLike, dpi: int = 60, colours: int = 128) -> Path:
    """Save a Matplotlib figure as a compact PNG (an adaptive palette of ``colours`` colours)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    path = Path(path)
    image.save(path, format="PNG", optimize=True)
    return path


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _pick_gallery(n_images: int, n: int) -> list[int]:
    """``n`` indices spread evenly over a split of ``n_images``."""
    n = max(1, min(n, n_images))
    return sorted({int(round(i)) for i in np.linspace(0, n_images - 1, n)})


def store_reference_run(
    run_dir: str | os.PathLike,
    dataset_root: str | os.PathLike,
    name: str,
    command: str,
    description: str,
    *,
    splits: Sequence[str] = ("val",),
    checkpoint: str = "best.keras",
    wall_seconds: float | None = None,
    hardware: str | None = None,
    gallery_size: int = 6,
    tta_scales: Sequence[float] | None = None,
    colour_baseline: bool = True,
    out_dir: str | os.PathLike | None = None,
    extra: dict | None = None,
    commit: str | None = None,
) -> ReferenceRun:
    """Evaluate a finished run and store it as a reference run.

    The model is scored at the labels' native resolution, seeing each image
    resized by the run's ``input_scale`` (from its ``config.json``). The folder
    is written to a temporary name and renamed into place, so an interrupted
    call leaves the previous version intact.

    Args:
        run_dir: the run folder (``best.keras``, ``history.csv``, ``config.json``).
        dataset_root: the prepared dataset it was trained on.
        name: the reference run's name (a folder name, e.g. ``"camvid-cpu"``).
        command: the one command that reproduces the training.
        description: one line for people.
        splits: the splits to score.
        checkpoint: the model file inside ``run_dir``.
        wall_seconds: the training's wall time.
        hardware: what it ran on (default: this machine's description).
        gallery_size: validation images in the gallery.
        tta_scales: also score ``splits[0]`` with these scales (relative to the
            run's input scale) and horizontal flips, to show the TTA gain.
        colour_baseline: also score the per-pixel colour baseline on ``splits[0]``.
        out_dir: parent folder (default :data:`REFERENCE_DIR`).
        extra: more metadata to record.
        commit: the course commit the run was trained with (default: the
            checkout's current commit).
    """
    import matplotlib.pyplot as plt

    from course_utils import data, evaluate, plotting
    from course_utils import metrics as M

    run_dir = Path(run_dir)
    model_path = run_dir / checkpoint
    model = evaluate.load_checkpoint(model_path)
    info = data.load_info(dataset_root)
    config_path = run_dir / "config.json"
    run_config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    cfg = run_config.get("config", {})
    scale = float(cfg.get("input_scale", 1.0) or 1.0)
    eval_size = cfg.get("eval_size")
    score_kwargs: dict[str, Any] = {"tta_scales": (scale,)}
    if eval_size:  # a run validated at a fixed input size is scored the same way
        score_kwargs = {"image_size": tuple(eval_size)}

    meta: dict[str, Any] = {
        "name": name,
        "description": description,
        "dataset": info.name,
        "classes": list(info.classes),
        "palette": [list(map(int, c)) for c in info.palette],
        "command": command,
        "hardware": hardware or hardware_summary(),
        "wall_seconds": wall_seconds,
        "commit": commit or _git_commit(),
        "date": _dt.date.today().isoformat(),
        "config": cfg,
        "precision_policy": run_config.get("precision_policy"),
        "checkpoint": checkpoint,
        "params": int(model.count_params()),
        "scored_at": "native label resolution" if not eval_size else f"{eval_size[0]}x{eval_size[1]}",
        "splits": {},
        "extra": dict(extra or {}),
    }
    for split in splits:
        res = evaluate.evaluate_split(model, dataset_root, split, **score_kwargs)
        meta["splits"][split] = {
            "miou": float(res.miou),
            "pixel_accuracy": float(res.pixel_accuracy),
            "per_class_iou": {c: (None if np.isnan(v) else float(v)) for c, v in zip(info.classes, res.per_class_iou)},
            "confusion_matrix": res.confusion_matrix.astype(int).tolist(),
            "num_images": int(res.num_images),
        }
    first = splits[0]
    if tta_scales:
        scales = tuple(float(s) * scale for s in tta_scales)
        kwargs = {"tta_scales": scales, "flip": True}
        if eval_size:
            kwargs["image_size"] = tuple(eval_size)
            kwargs["tta_scales"] = tuple(float(s) for s in tta_scales)
        res = evaluate.evaluate_split(model, dataset_root, first, **kwargs)
        meta["tta"] = {
            "split": first,
            "scales": [float(s) for s in tta_scales],
            "flip": True,
            "miou": float(res.miou),
            "gain": float(res.miou) - meta["splits"][first]["miou"],
        }
    if colour_baseline:
        from course_utils import baselines

        clf = baselines.fit_colour_baseline(dataset_root, "train")
        cm = baselines.evaluate_colour_baseline(clf, dataset_root, first)
        meta["colour_baseline"] = {
            "split": first,
            "miou": float(M.mean_iou(cm)),
            "pixel_accuracy": float(M.pixel_accuracy(cm)),
        }

    history = run_dir / "history.csv"
    if history.is_file():
        with history.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows and "val_miou" in rows[0]:
            vals = [float(r["val_miou"]) for r in rows]
            meta["epochs"] = len(rows)
            meta["best_epoch"] = int(np.argmax(vals)) + 1

    out_root = Path(out_dir) if out_dir is not None else REFERENCE_DIR
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out_root))
    try:
        (tmp / "run.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if history.is_file():
            shutil.copyfile(history, tmp / "history.csv")
            fig = plotting.plot_history(history, title=description)
            save_small_png(fig, tmp / "curves.png", dpi=70)
            plt.close(fig)
        n_images = meta["splits"][first]["num_images"]
        picks = _pick_gallery(n_images, gallery_size)
        gallery_kwargs = {"image_size": tuple(eval_size)} if eval_size else {"scales": (scale,)}
        images, labels, preds = evaluate.sample_predictions(
            model, dataset_root, first, n=max(picks) + 1, **gallery_kwargs
        )
        fig = plotting.plot_qualitative(
            [images[i] for i in picks],
            [labels[i] for i in picks],
            [preds[i] for i in picks],
            info.classes,
            info.palette,
            max_rows=len(picks),
        )
        save_small_png(fig, tmp / "gallery.png", dpi=55)
        plt.close(fig)
        final = out_root / name
        old = out_root / f".{name}-old"
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_reference_run(name, out_root)


# --------------------------------------------------------------------------- showing


def reference_table(runs: Sequence[ReferenceRun | str], split: str = "val"):
    """A PrettyTable: one row per run with its mIoU, pixel accuracy, epochs and wall time."""
    from prettytable import PrettyTable

    table = PrettyTable()
    table.field_names = ["reference run", "dataset", f"{split} mIoU", "pixel acc.", "epochs", "wall time", "hardware"]
    table.align = "l"
    for run in runs:
        run = load_reference_run(run) if isinstance(run, str) else run
        s = run.splits.get(split) or {}
        wall = run.meta.get("wall_seconds")
        table.add_row(
            [
                run.name,
                run.meta.get("dataset"),
                f"{s['miou']:.3f}" if "miou" in s else "not evaluated",
                f"{s['pixel_accuracy']:.3f}" if "pixel_accuracy" in s else "-",
                run.meta.get("epochs", "-"),
                f"{wall / 60:.0f} min" if wall else "not recorded",
                run.meta.get("hardware", "-"),
            ]
        )
    return table


def show_reference_run(
    run: ReferenceRun | str, parts: Sequence[str] = ("summary", "curves", "gallery"), width: int = 900
) -> ReferenceRun:
    """Display a reference run in a notebook: its description and scores, curves and gallery."""
    from IPython.display import Image, display

    run = load_reference_run(run) if isinstance(run, str) else run
    for part in parts:
        if part == "summary":
            print(run.describe())
            print(reference_table([run]))
        elif part == "per_class":
            print(tables.per_class_table(run.splits["val"]["per_class_iou"]))
        elif part == "curves" and run.curves_png.is_file():
            display(Image(data=run.curves_png.read_bytes(), format="png", width=width))
        elif part == "gallery" and run.gallery_png.is_file():
            display(Image(data=run.gallery_png.read_bytes(), format="png", width=width))
    return run
