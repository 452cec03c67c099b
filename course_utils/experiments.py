"""Running trainings from the practice notebooks: runs, live curves, ablations, stored results.

The practice notebooks (05-09) train, compare and re-use models through the
functions here; everything trains through :func:`course_utils.train.train`.

Runs
    :func:`run_dir_for` names a run folder under ``paths.runs_dir()``, one per
    profile, dataset and tag, so that a later notebook finds the checkpoint an
    earlier one trained; :func:`load_or_train` loads that checkpoint when its
    configuration matches, else trains one with the same call.
Live curves and interruptions
    :class:`LiveCurves` redraws the training curves after every epoch;
    :class:`SimulatedDisconnect` stops a run mid-epoch the way a Colab
    disconnect would, to show that ``train()`` resumes it.
Input pipeline
    :func:`naive_batches` makes batches the way a plain Python generator does
    (one thread, OpenCV reads, one-hot labels); :func:`images_per_second` times
    any batch iterator.
Ablations
    :class:`Variant` describes one row of the talk's backbone comparison or the
    paper's ablations; :func:`paper_variants` lists them, :func:`run_variant`
    trains one and reports parameters, seconds per epoch and validation mIoU,
    :func:`ablation_table` prints the rows.
Stored full-size results
    :func:`load_stored_results` reads ``docs/results/*.json`` written by the
    course CLI (``python -m course_utils train ... --evaluate`` then
    :func:`record_result`), each with the command and the hardware that produced
    it; :func:`stored_results_table` prints them, or says plainly that none exist.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from course_utils import paths
from course_utils.callbacks import tensorboard_available
from course_utils.profiles import Profile

__all__ = [
    "run_dir_for",
    "load_or_train",
    "tensorboard_available",
    "LiveCurves",
    "SimulatedDisconnect",
    "Disconnected",
    "boundary_error_rates",
    "naive_batches",
    "images_per_second",
    "Variant",
    "paper_variants",
    "pretrained_weights_file",
    "variant_cost",
    "run_variant",
    "run_ablations",
    "live_variant_limit",
    "ablation_table",
    "train_command",
    "hardware_description",
    "record_result",
    "load_stored_results",
    "stored_results_table",
    "STORED_RESULTS_DIR",
]


# --------------------------------------------------------------------------- runs


def run_dir_for(profile: Profile, dataset_name: str, tag: str) -> Path:
    """``runs_dir()/<profile>/<dataset>-<tag>``: where a notebook keeps one run."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in f"{dataset_name}-{tag}")
    return paths.runs_dir() / profile.name / safe


def _stored_config(run_dir: Path) -> dict | None:
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


#: Config fields that change how a run is logged, not the model it produces.
BOOKKEEPING_FIELDS = ("tensorboard", "backup_every")


def _model_fields(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in BOOKKEEPING_FIELDS}


def load_or_train(config, dataset_root: str | os.PathLike, run_dir: str | os.PathLike, **train_kwargs):
    """The best checkpoint of ``run_dir`` when it was trained with ``config`` on this dataset, else a new run.

    A checkpoint is re-used only when ``run_dir/config.json`` records
    ``config`` (up to :data:`BOOKKEEPING_FIELDS`) and the same dataset, the run finished (``final.keras`` exists)
    and ``best.keras`` loads; otherwise ``run_dir`` is trained afresh with
    :func:`course_utils.train.train` (an unfinished run there is resumed).

    Returns:
        ``(model, how)`` with ``how`` either ``"loaded"`` or ``"trained"``.
    """
    from course_utils import evaluate, train

    run_dir = Path(run_dir)
    stored = _stored_config(run_dir)
    matches = (
        stored is not None
        and _model_fields(stored.get("config") or {}) == _model_fields(config.to_dict())
        and stored.get("dataset") == Path(dataset_root).name
        and (run_dir / "final.keras").is_file()
        and not (run_dir / "backup").exists()
    )
    if matches:
        try:
            return evaluate.load_checkpoint(run_dir / "best.keras"), "loaded"
        except (FileNotFoundError, ValueError):
            pass  # an unreadable or stale checkpoint: train again below
    train_kwargs.setdefault("verbose", 0)
    model, _ = train.train(config, dataset_root, run_dir, **train_kwargs)
    best = run_dir / "best.keras"
    return (evaluate.load_checkpoint(best) if best.is_file() else model), "trained"


# ------------------------------------------------------------------ callbacks


class LiveCurves(keras.callbacks.Callback):
    """Redraw loss and mIoU curves in the notebook after every epoch.

    The figure is updated in place (one output area, ``IPython.display``
    with a display id); outside IPython nothing is drawn. After training,
    ``self.history`` holds the logged values per epoch.
    """

    def __init__(self, title: str | None = None) -> None:
        super().__init__()
        self.title = title
        self.history: dict[str, list[float]] = {}
        self._handle = None

    def on_train_begin(self, logs=None):
        self.history = {}
        self._handle = None

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            self.history.setdefault(key, []).append(number)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with Jupyter
            return
        if get_ipython() is None:
            return
        import matplotlib.pyplot as plt

        from course_utils.plotting import plot_history

        fig = plot_history(self.history, title=f"{self.title or 'training'}: epoch {epoch + 1}")
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)


class Disconnected(RuntimeError):
    """Raised by :class:`SimulatedDisconnect` (stands for a lost Colab session)."""


class SimulatedDisconnect(keras.callbacks.Callback):
    """Stop training with :class:`Disconnected` after ``after_batches`` training batches.

    Place it after the course's callbacks (``train(..., callbacks=[...])``) so
    that ``BackupAndRestore`` has written its backup for that batch first.
    """

    def __init__(self, after_batches: int) -> None:
        super().__init__()
        if after_batches < 1:
            raise ValueError(f"after_batches must be >= 1, got {after_batches}.")
        self.after_batches = int(after_batches)
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen >= self.after_batches:
            raise Disconnected(f"simulated disconnect after {self.seen} training batch(es)")


# -------------------------------------------------------------------- evaluation


def boundary_error_rates(
    labels: Sequence[np.ndarray], predictions: Sequence[np.ndarray], width: int = 3, ignore_index: int = 255
) -> tuple[float, float, float]:
    """Error rates near label boundaries and away from them.

    A pixel is in the boundary band when a different label value (class or
    void) lies within ``width`` pixels of it. Void pixels are never scored.

    Returns:
        ``(error rate in the band, error rate elsewhere, share of scored pixels in the band)``.
    """
    import cv2

    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}.")
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    wrong_band = n_band = wrong_inner = n_inner = 0
    for label, pred in zip(labels, predictions):
        label = np.asarray(label)
        pred = np.asarray(pred)
        if label.shape != pred.shape:
            raise ValueError(f"label {label.shape} and prediction {pred.shape} differ in size.")
        lab8 = label.astype(np.uint8)
        band = cv2.dilate(lab8, kernel) != cv2.erode(lab8, kernel)
        scored = label != ignore_index
        wrong = (pred != label) & scored
        wrong_band += int((wrong & band).sum())
        n_band += int((scored & band).sum())
        wrong_inner += int((wrong & ~band).sum())
        n_inner += int((scored & ~band).sum())
    total = n_band + n_inner
    if total == 0:
        raise ValueError("No scored (non-void) pixels in the given labels.")
    rate = lambda w, n: (w / n) if n else float("nan")  # noqa: E731
    return rate(wrong_band, n_band), rate(wrong_inner, n_inner), n_band / total


# --------------------------------------------------------------- input pipeline


def naive_batches(
    root: str | os.PathLike, split: str, batch_size: int, size: tuple[int, int], seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless training batches made the plain way: one Python thread, OpenCV, one-hot labels.

    Each batch reads ``batch_size`` PNG pairs one after the other, converts BGR
    to RGB, resizes (bilinear image, nearest label), scales to [0, 1] and
    one-hot encodes the labels (void becomes an all-zero row). No augmentation.

    Yields:
        ``(images float32 [B, H, W, 3], one_hot float32 [B, H, W, C])``.
    """
    import cv2

    from course_utils.data import list_pairs, load_info

    num_classes = load_info(root).num_classes
    pairs = list_pairs(root, split)
    if len(pairs) < batch_size:
        raise ValueError(f"Split {split!r} of {root} has {len(pairs)} images, fewer than batch_size={batch_size}.")
    eye = np.eye(num_classes + 1, dtype=np.float32)[:, :num_classes]
    rng = np.random.default_rng(seed)
    h, w = int(size[0]), int(size[1])
    while True:
        order = rng.permutation(len(pairs))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            images, labels = [], []
            for k in order[start : start + batch_size]:
                img_path, lbl_path = pairs[k]
                img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
                lbl = cv2.imread(str(lbl_path), cv2.IMREAD_GRAYSCALE)
                if img is None or lbl is None:
                    raise ValueError(f"Cannot read {img_path if img is None else lbl_path}: prepare the dataset again.")
                img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (w, h)).astype(np.float32) / 255.0
                lbl = cv2.resize(lbl, (w, h), interpolation=cv2.INTER_NEAREST)
                images.append(img)
                labels.append(eye[np.minimum(lbl, num_classes)])
            yield np.stack(images), np.stack(labels)


def images_per_second(batches: Iterator | Any, num_batches: int, warmup: int = 1) -> float:
    """Images per second of a batch iterator (a generator or a ``tf.data.Dataset``).

    ``warmup`` batches are drawn first and not timed (start-up costs).
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    images = 0
    start = time.perf_counter()
    for _ in range(num_batches):
        x = next(it)[0]
        images += int(np.shape(x)[0])
    return images / (time.perf_counter() - start)


# --------------------------------------------------------------------- ablations


@dataclass(frozen=True)
class Variant:
    """One configuration of the backbone comparison or of the paper's ablations.

    Attributes:
        name: row label.
        group: ``"backbone"`` (the talk's comparison) or ``"ablation"`` (the paper's).
        backbone, output_stride, multi_grid, image_pooling, weights: the model.
    """

    name: str
    group: str
    backbone: str
    output_stride: int = 16
    multi_grid: tuple[int, ...] | None = (1, 2, 4)
    image_pooling: bool = True
    weights: str | None = None

    def describe(self) -> str:
        """``backbone OS16 MG(1,2,4) pool`` in a few characters."""
        mg = "MG(" + ",".join(str(r) for r in self.multi_grid) + ")" if self.multi_grid else "no MG"
        pool = "pool" if self.image_pooling else "no pool"
        pre = " ImageNet" if self.weights else ""
        return f"{self.backbone} OS{self.output_stride} {mg} {pool}{pre}"

    def build(self, num_classes: int) -> keras.Model:
        """The DeepLabV3 model of this variant."""
        from course_utils.model import build_deeplabv3

        return build_deeplabv3(
            num_classes,
            backbone=self.backbone,
            output_stride=self.output_stride,
            multi_grid=self.multi_grid,
            image_pooling=self.image_pooling,
            weights=self.weights,
        )


def paper_variants(profile: Profile) -> list[Variant]:
    """The talk's ResNet-18/50/101 comparison and the paper's ablations around the profile's model.

    The reference row is the profile's own model (its backbone, output stride
    and multi-grid, with image pooling); each ablation changes one thing:
    output stride 8 instead of 16, no multi-grid, no image pooling, ImageNet
    weights (ResNet-50, the smallest backbone with ``keras.applications``
    weights) against the same network from scratch.
    """
    mg = tuple(profile.multi_grid) if profile.multi_grid else None
    ref = Variant("reference", "ablation", profile.backbone, profile.output_stride, mg)
    other_os = 8 if profile.output_stride != 8 else 16
    rows = [
        Variant("ResNet-18", "backbone", "resnet18", profile.output_stride, mg),
        Variant("ResNet-50", "backbone", "resnet50", profile.output_stride, mg),
        Variant("ResNet-101", "backbone", "resnet101", profile.output_stride, mg),
        ref,
        dataclasses.replace(ref, name=f"output stride {other_os}", output_stride=other_os),
        dataclasses.replace(ref, name="no multi-grid", multi_grid=None),
        dataclasses.replace(ref, name="no image pooling", image_pooling=False),
        Variant("ResNet-50 from scratch", "pretrained", "resnet50", profile.output_stride, mg),
        Variant("ResNet-50 ImageNet", "pretrained", "resnet50", profile.output_stride, mg, weights="imagenet"),
    ]
    return rows


def pretrained_weights_file(backbone: str) -> Path | None:
    """The cached ``keras.applications`` ImageNet weights of ``backbone`` (no top), or ``None``.

    Looks in the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``);
    never downloads.
    """
    names = {
        "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "resnet101": "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
    }
    if backbone not in names:
        return None
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    path = home / "models" / names[backbone]
    return path if path.is_file() else None


def variant_cost(variant: Variant, image_size: tuple[int, int], num_classes: int = 2) -> tuple[float, int]:
    """``(GMACs of one forward pass at image_size, parameter count)`` of the variant (built, not trained)."""
    from course_utils.model import build_deeplabv3, model_report

    model = build_deeplabv3(
        num_classes,
        backbone=variant.backbone,
        output_stride=variant.output_stride,
        multi_grid=variant.multi_grid,
        image_pooling=variant.image_pooling,
    )
    report = model_report(model, (int(image_size[0]), int(image_size[1]), 3))
    return report.gmacs, int(report.total_params)


def train_command(variant: Variant, dataset: str = "auto", profile: str = "gpu") -> str:
    """The command that trains, evaluates and stores ``variant`` at full size (``tools/run_ablations.py``).

    The script trains through :func:`run_variant`, evaluates the best
    checkpoint on val and test and writes ``docs/results/<dataset>-<variant>.json``
    with this command and the hardware (see :func:`record_result`).
    """
    import shlex

    return (
        f"python tools/run_ablations.py --dataset {shlex.quote(dataset)} --profile {profile} --recipe paper "
        f"--variant {shlex.quote(variant.name)}"
    )


def _not_run(variant: Variant, reason: str) -> dict:
    return {
        "variant": variant.name,
        "group": variant.group,
        "model": variant.describe(),
        "params": None,
        "seconds_per_epoch": None,
        "val_miou": None,
        "status": reason,
    }


def run_variant(variant: Variant, base_config, dataset_root: str | os.PathLike, run_dir: str | os.PathLike) -> dict:
    """Train one variant with ``train()`` and return its row.

    ``base_config`` (a :class:`~course_utils.train.TrainConfig`) gives every
    size; the variant changes the model only. A variant with ImageNet weights
    whose weights file is not in the Keras cache is not trained (nothing is
    downloaded): its row says so and how to run it.

    Returns:
        ``{"variant", "group", "model", "params", "seconds_per_epoch",
        "val_miou", "status"}``; ``seconds_per_epoch`` is the fastest epoch (the
        first one includes graph tracing).
    """
    from course_utils import train

    if variant.weights == "imagenet" and pretrained_weights_file(variant.backbone) is None:
        return _not_run(
            variant,
            f"skipped: no ImageNet weights for {variant.backbone} in the Keras cache (offline). "
            f"Run on a machine with network access: {train_command(variant)}",
        )
    config = dataclasses.replace(
        base_config,
        backbone=variant.backbone,
        output_stride=variant.output_stride,
        multi_grid=variant.multi_grid,
        weights=variant.weights,
        tensorboard=False,
    )
    model, history = train.train(config, dataset_root, run_dir, model=variant.build, verbose=0)
    h = history.history
    seconds = h.get("epoch_seconds") or [math.nan]
    val = h.get("val_miou") or [math.nan]
    return {
        "variant": variant.name,
        "group": variant.group,
        "model": variant.describe(),
        "params": int(model.count_params()),
        "seconds_per_epoch": float(min(seconds)),
        "val_miou": float(max(val)),
        "status": "trained",
    }


def row_from_finished_run(variant: Variant, config, dataset_root: str | os.PathLike, run_dir: str | os.PathLike):
    """The row of ``variant`` read from a finished run trained with ``config``, or ``None``.

    The run must record ``config`` (up to :data:`BOOKKEEPING_FIELDS`) and this
    dataset, be finished, and have a history: then nothing is trained again.
    """
    from course_utils import plotting

    run_dir = Path(run_dir)
    stored = _stored_config(run_dir)
    if (
        stored is None
        or _model_fields(stored.get("config") or {}) != _model_fields(config.to_dict())
        or stored.get("dataset") != Path(dataset_root).name
        or not (run_dir / "final.keras").is_file()
        or (run_dir / "backup").exists()
        or not (run_dir / "history.csv").is_file()
    ):
        return None
    h = plotting.load_history(run_dir / "history.csv")
    seconds = h.get("epoch_seconds") or [math.nan]
    return {
        "variant": variant.name,
        "group": variant.group,
        "model": variant.describe(),
        "params": stored.get("params"),
        "seconds_per_epoch": float(min(seconds)),
        "val_miou": float(max(h.get("val_miou") or [math.nan])),
        "status": f"trained (re-used {run_dir.name})",
    }


def run_ablations(
    variants: Sequence[Variant],
    base_config,
    dataset_root: str | os.PathLike,
    run_root: str | os.PathLike,
    max_gmacs: float | None = None,
    max_trained: int | None = None,
    reference_run: str | os.PathLike | None = None,
) -> list[dict]:
    """Train every variant (see :func:`run_variant`), one run folder each under ``run_root``.

    A variant that builds the same network as one trained before (e.g. the
    reference and the backbone row of the same ResNet) re-uses its row.

    Args:
        max_gmacs: variants whose forward pass at the training crop size costs
            more than this are not trained live (their row gives the command
            that trains them at full size); ``None``: no cost limit.
        max_trained: train at most this many variants; the rows after that
            give the full-size command only (``None``: no limit; see
            :func:`live_variant_limit`).
        reference_run: a finished run of the reference configuration (e.g.
            notebook 06's): when it matches, the reference row is read from it
            instead of training the same network again.
    """
    from course_utils.data import load_info

    num_classes = load_info(dataset_root).num_classes
    rows: list[dict] = []
    done: dict[tuple, dict] = {}
    costs: dict[tuple, tuple[float, int]] = {}
    for variant in variants:
        key = (variant.backbone, variant.output_stride, variant.multi_grid, variant.image_pooling, variant.weights)
        if key in done:  # the same network under another name: reuse its run
            rows.append(
                {
                    **done[key],
                    "variant": variant.name,
                    "group": variant.group,
                    "status": f"same network as {done[key]['variant']}",
                }
            )
            continue
        trained = sum(1 for r in done.values())
        if max_trained is not None and trained >= max_trained and variant.weights is None:
            rows.append(
                _not_run(
                    variant,
                    f"not run live (live run limited to {max_trained} training(s)); "
                    f"full size: {train_command(variant)}",
                )
            )
            continue
        if max_gmacs is not None and variant.weights is None:
            if key[:4] not in costs:
                costs[key[:4]] = variant_cost(variant, base_config.image_size, num_classes)
            cost, params = costs[key[:4]]
            if cost > max_gmacs * (1 + 1e-9):
                row = _not_run(
                    variant,
                    f"not run live ({cost:.2f} GMACs > budget {max_gmacs:.2f}); full size: {train_command(variant)}",
                )
                row["params"] = params
                rows.append(row)
                continue
        slug = variant.name.lower().replace(" ", "-")
        row = None
        if reference_run is not None and variant.name == "reference":
            cfg = dataclasses.replace(
                base_config,
                backbone=variant.backbone,
                output_stride=variant.output_stride,
                multi_grid=variant.multi_grid,
                weights=variant.weights,
                tensorboard=False,
            )
            row = row_from_finished_run(variant, cfg, dataset_root, reference_run)
        if row is None:
            row = run_variant(variant, base_config, dataset_root, Path(run_root) / slug)
        if row["status"] == "trained":
            done[key] = row
        rows.append(row)
    return rows


def live_variant_limit(profile: Profile) -> int | None:
    """How many variants a notebook's live run trains under ``profile``.

    One, the reference, in every profile: notebook 06 trained it already (the
    notebooks train once and reuse that run), and in the ``smoke`` profile one
    tiny training exercises the whole code path. Each further variant costs as
    much as notebook 06's training, so the notebook trains them only when asked
    (``None``: every affordable variant).
    """
    return 1


def ablation_table(rows: Sequence[dict], show_status: bool = True):
    """A PrettyTable of :func:`run_ablations` rows (params in millions, s/epoch, val mIoU)."""
    from prettytable import PrettyTable

    table = PrettyTable()
    table.field_names = ["variant", "model", "params (M)", "s / epoch", "val mIoU"] + (
        ["status"] if show_status else []
    )
    for r in rows:
        row = [
            r["variant"],
            r["model"],
            "-" if r.get("params") is None else f"{r['params'] / 1e6:.2f}",
            "-" if r.get("seconds_per_epoch") is None else f"{r['seconds_per_epoch']:.1f}",
            "-" if r.get("val_miou") is None else f"{r['val_miou']:.3f}",
        ]
        if show_status:
            status = r.get("status", "")
            row.append(status if len(status) <= 60 else status[:57] + "...")
        table.add_row(row)
    table.align["variant"] = "l"
    table.align["model"] = "l"
    if show_status:
        table.align["status"] = "l"
    return table


# ---------------------------------------------------------------- stored results

#: Folder of stored full-size results (one JSON file per run).
STORED_RESULTS_DIR = Path("docs") / "results"


def hardware_description() -> str:
    """CPU count and GPU name(s): what a stored result was produced on."""
    from course_utils.environment import gpu_description

    gpu = gpu_description()
    gpu = "no GPU" if gpu.startswith("no GPU") else gpu
    return f"{platform.machine()} {os.cpu_count()} CPU cores, {gpu}"


def record_result(
    results_json: str | os.PathLike,
    out: str | os.PathLike,
    command: str,
    variant: str,
    hardware: str | None = None,
    **extra: Any,
) -> Path:
    """Store a CLI result file (``results-<dataset>.json``) with its command and hardware.

    Args:
        results_json: the file ``python -m course_utils train ... --evaluate`` or
            ``python -m course_utils evaluate`` wrote.
        out: destination, e.g. ``docs/results/camvid-resnet50-os16.json``.
        command: the exact command that produced the result.
        variant: the row label (e.g. ``"ResNet-50"``, ``"output stride 8"``).
        hardware: what it ran on (default: :func:`hardware_description`).
        extra: more metadata (e.g. ``seconds_per_epoch=...``, ``params=...``).
    """
    src = Path(results_json)
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found: run `python -m course_utils train ... --evaluate val test` first.")
    payload = json.loads(src.read_text(encoding="utf-8"))
    if "splits" not in payload:
        raise ValueError(f"{src} is not a course results file (no 'splits'): pass the JSON written by the CLI.")
    meta = dict(payload.get("meta", {}))
    meta.update(extra, command=command, variant=variant, hardware=hardware or hardware_description())
    payload["meta"] = meta
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return out


def load_stored_results(folder: str | os.PathLike | None = None) -> list[dict]:
    """Rows of the stored full-size results (``docs/results/*.json`` of the course checkout).

    A file must record ``meta.command`` and ``meta.hardware`` (see
    :func:`record_result`) for its numbers to be shown: a file without them
    gives a row whose numbers are ``None`` and whose ``problem`` says what is
    missing, so that no number appears without its provenance and no file is
    skipped silently.

    Returns:
        Dicts with ``variant, dataset, val_miou, test_miou, params,
        seconds_per_epoch, command, hardware, file, problem`` (``None`` where
        absent), sorted by file name. An absent folder gives ``[]``.
    """
    if folder is None:
        root = paths.repo_root()
        if root is None:
            return []
        folder = root / STORED_RESULTS_DIR
    rows = []
    for name in sorted(glob.glob(str(Path(folder) / "*.json"))):
        path = Path(name)
        row = {
            "variant": path.stem,
            "dataset": None,
            "val_miou": None,
            "test_miou": None,
            "params": None,
            "seconds_per_epoch": None,
            "command": "-",
            "hardware": "-",
            "file": path.name,
            "problem": None,
        }
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            row["problem"] = f"not readable as JSON ({type(err).__name__})"
            rows.append(row)
            continue
        meta = payload.get("meta", {}) if isinstance(payload, dict) else {}
        missing = [k for k in ("command", "hardware") if not meta.get(k)]
        if not isinstance(payload, dict) or "splits" not in payload:
            missing.append("splits")
        if missing:
            row["problem"] = f"numbers not shown: the file does not record {', '.join(missing)}"
            rows.append(row)
            continue
        splits = payload["splits"]
        row.update(
            variant=meta.get("variant", path.stem),
            dataset=meta.get("dataset"),
            val_miou=(splits.get("val") or {}).get("miou"),
            test_miou=(splits.get("test") or {}).get("miou"),
            params=meta.get("params"),
            seconds_per_epoch=meta.get("seconds_per_epoch"),
            command=meta["command"],
            hardware=meta["hardware"],
        )
        rows.append(row)
    return rows


def stored_results_table(rows: Sequence[dict]):
    """A PrettyTable of :func:`load_stored_results` rows; with no rows, one line saying so."""
    from prettytable import PrettyTable

    table = PrettyTable()
    table.field_names = [
        "variant",
        "dataset",
        "val mIoU",
        "test mIoU",
        "params (M)",
        "s / epoch",
        "hardware",
        "command",
    ]

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    for r in rows:
        if r.get("problem"):
            table.add_row([r["variant"], "-", "-", "-", "-", "-", "-", f"{r['file']}: {r['problem']}"])
            continue
        table.add_row(
            [
                r["variant"],
                r.get("dataset") or "-",
                fmt(r.get("val_miou"), ".3f"),
                fmt(r.get("test_miou"), ".3f"),
                "-" if r.get("params") is None else f"{r['params'] / 1e6:.2f}",
                fmt(r.get("seconds_per_epoch"), ".0f"),
                r["hardware"],
                r["command"],
            ]
        )
    if not rows:
        table.add_row(["no full-size results stored yet", "-", "-", "-", "-", "-", "-", "see the commands below"])
    table.align = "l"
    return table
