"""The paper's ablations and the talk's backbone comparison, run from notebook 08.

:class:`Variant` describes one row (a backbone, output stride, multi-grid,
image pooling or pre-training choice); :func:`paper_variants` lists them for a
profile, :func:`run_variant` trains one through :func:`course_utils.train.train`
and reports parameters, seconds per epoch and validation mIoU,
:func:`run_ablations` runs a list within a compute budget (re-using notebook
06's run for the reference); :func:`course_utils.tables.ablation_table` prints the rows.

A notebook's run folders live here too (:func:`run_dir_for`, :func:`load_or_train`:
the best checkpoint of a matching finished run, else a new run). The notebook callbacks live in
:mod:`course_utils.notebook`, boundary errors in :mod:`course_utils.metrics`,
input-pipeline timing in :mod:`course_utils.data.throughput`, and stored
full-size results in :mod:`course_utils.reference_runs`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras

from course_utils import evaluate, train
from course_utils.config import BACKBONES, Profile, runs_dir
from course_utils.training import runs

__all__ = [
    "run_dir_for",
    "load_or_train",
    "Variant",
    "paper_variants",
    "pretrained_weights_file",
    "variant_cost",
    "run_variant",
    "run_ablations",
    "live_variant_limit",
    "train_command",
]

# Names notebooks of the previous release read from this module (one release, with a DeprecationWarning).
__getattr__ = __import__("course_utils")._moved_names(
    __name__,
    {
        "tensorboard_available": "course_utils.training.callbacks:tensorboard_available",
        "LiveCurves": "course_utils.notebook:LiveCurves",
        "SimulatedDisconnect": "course_utils.notebook:SimulatedDisconnect",
        "Disconnected": "course_utils.notebook:Disconnected",
        "boundary_error_rates": "course_utils.metrics:boundary_error_rates",
        "naive_batches": "course_utils.data.throughput:naive_batches",
        "images_per_second": "course_utils.data.throughput:images_per_second",
        "ablation_table": "course_utils.tables:ablation_table",
    },
)


# ------------------------------------------------------------ notebook runs


def run_dir_for(profile, dataset_name: str, tag: str) -> Path:
    """``runs_dir()/<profile>/<dataset>-<tag>``: where a notebook keeps one run."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in f"{dataset_name}-{tag}")
    return runs_dir() / profile.name / safe


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
    config = {"image_pooling": True, **config}  # runs stored before the field existed had the branch
    return {k: v for k, v in config.items() if k not in BOOKKEEPING_FIELDS}


def _requested_config(stored: dict) -> dict:
    """The configuration a run was asked for: ``weights`` as requested when it fell back to scratch."""
    cfg = dict(stored.get("config") or {})
    if stored.get("weights_requested") is not None:
        cfg["weights"] = stored["weights_requested"]
    return cfg


def load_or_train(config, dataset_root: str | os.PathLike, run_dir: str | os.PathLike, **train_kwargs):
    """The best checkpoint of ``run_dir`` when it was trained with ``config`` on this dataset, else a new run.

    A checkpoint is re-used only when ``run_dir/config.json`` records
    ``config`` (up to :data:`BOOKKEEPING_FIELDS`) and the same dataset, the run finished (``final.keras`` exists)
    and ``best.keras`` loads; the numbered siblings ``<run_dir>-2``, ``-3``... are
    looked at too. Otherwise a new run is trained with :func:`course_utils.train.train`:
    in ``run_dir`` when it holds no finished run (an unfinished run there is
    resumed), else in the first free sibling, and one line says so. A finished
    run (another configuration, an unreadable checkpoint) is never replaced.

    Returns:
        ``(model, how)`` with ``how`` either ``"loaded"`` or ``"trained"``.
    """
    requested = Path(run_dir)
    for run_dir in runs.candidate_run_dirs(requested):
        stored = _stored_config(run_dir)
        matches = (
            stored is not None
            and _model_fields(_requested_config(stored)) == _model_fields(config.to_dict())
            and stored.get("dataset") == Path(dataset_root).name
            and (run_dir / "final.keras").is_file()
            and not (run_dir / "backup").exists()
        )
        if matches:
            try:
                return evaluate.load_checkpoint(run_dir / "best.keras"), "loaded"
            except (FileNotFoundError, ValueError):
                pass  # an unreadable or stale checkpoint: train again below (never over it)
    run_dir = runs.training_target(requested)
    train_kwargs.setdefault("verbose", 0)
    train_kwargs.setdefault("if_finished", "error")
    model, _ = train.train(config, dataset_root, run_dir, **train_kwargs)
    best = run_dir / "best.keras"
    return (evaluate.load_checkpoint(best) if best.is_file() else model), "trained"


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
    if backbone not in BACKBONES or not BACKBONES[backbone].pretrained:
        return None
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    path = home / "models" / BACKBONES[backbone].imagenet_file
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
    model, history = train.train(
        config, dataset_root, run_dir, model=variant.build, verbose=0, if_finished="overwrite"
    )  # a comparison row is re-measured on purpose
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

    def network(v: Variant) -> tuple:
        return (v.backbone, v.output_stride, v.multi_grid, v.image_pooling, v.weights)

    # the network the reference run trained: any row that builds it (the reference, or the backbone
    # row of the same ResNet, whichever comes first) is read from that run
    reference_key = next((network(v) for v in variants if v.name == "reference"), None)
    for variant in variants:
        key = network(variant)
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
        if reference_run is not None and key == reference_key:
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
        if row["status"].startswith("trained"):
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
