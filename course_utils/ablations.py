"""The CamVid ablation study of notebook 08: one change at a time from the ``cpu`` recipe.

:data:`ABLATIONS` is the one list of the study's rows. Each row is the CamVid
``cpu`` recipe with one change, given as :class:`~course_utils.training.config.TrainConfig`
overrides; :func:`train_arguments` turns them into the options of
``python -m course_utils train`` and :func:`store_command` into the one command
that trains, scores and stores the row as a reference run
(``tools/store_reference_run.py --train``). The baseline appears three times,
with three seeds, so that the study can say how large a difference must be to
mean anything.

Before training, :func:`cost_rows` says what each change costs (parameters,
multiply-accumulates, the size of the last feature map and the dilation rates
that really act on it). After training, :func:`stored_rows` reads the stored
runs, compares each with the baseline and marks every difference smaller than
the run-to-run noise (:func:`noise_threshold`); :func:`study_table` prints
them.

Every row trains for :data:`ABLATION_EPOCHS` epochs, a quarter of the ``cpu``
recipe's 24: the study compares rows with each other, not with the recipe's
stored 24-epoch run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Ablation",
    "ABLATIONS",
    "ABLATION_EPOCHS",
    "THIN_CLASSES",
    "train_arguments",
    "store_command",
    "cost_rows",
    "cost_table",
    "stored_rows",
    "study_table",
    "noise_threshold",
    "run_name",
]

#: The common, shorter schedule every row of the study trains for (the cpu CamVid recipe trains 24 epochs).
ABLATION_EPOCHS = 6
#: CamVid's thin or small classes: where output stride and the decoder should show.
THIN_CLASSES = ("pole", "sign-symbol", "fence", "pedestrian", "bicyclist")


@dataclass(frozen=True)
class Ablation:
    """One row of the study: a name, what changes, and the config overrides that change it."""

    name: str
    change: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        """A baseline row changes nothing but (perhaps) the seed."""
        return set(self.overrides) <= {"seed"}


ABLATIONS: tuple[Ablation, ...] = (
    Ablation("baseline", "the cpu CamVid recipe (ResNet-18, OS 16, multi-grid, image pooling, class weights)"),
    Ablation("baseline, 2nd seed", "the same with random seed 7 (run-to-run noise)", {"seed": 7}),
    Ablation("baseline, 3rd seed", "the same with random seed 1234 (run-to-run noise)", {"seed": 1234}),
    Ablation("output stride 8", "stages 3 and 4 keep their resolution (dilated)", {"output_stride": 8}),
    Ablation("V3+ decoder", "DeepLabV3+ decoder on stage-1 features", {"decoder": True}),
    Ablation("no class weights", "plain cross-entropy", {"class_weighting": False}),
    Ablation("no multi-grid", "one rate in the last stage", {"multi_grid": None}),
    Ablation("no image pooling", "ASPP without its global branch", {"image_pooling": False}),
    Ablation(
        "original notebook's recipe",
        "recipe='seed': Adam at a constant rate, plateau decay and early stopping, no warm-up",
        {"recipe": "seed"},
    ),
)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def train_arguments(overrides: dict[str, Any]) -> list[str]:
    """The ``python -m course_utils train`` options that apply ``overrides`` to a config.

    Raises:
        ValueError: for a field the command line cannot set.
    """
    args: list[str] = []
    for key, value in overrides.items():
        if key == "output_stride":
            args += ["--output-stride", str(int(value))]
        elif key == "decoder":
            args += ["--decoder"] if value else []
        elif key == "class_weighting":
            args += ["--class-weights" if value else "--no-class-weights"]
        elif key == "multi_grid":
            args += ["--multi-grid", *(str(int(r)) for r in (value or (1,)))]
        elif key == "image_pooling":
            args += ["--image-pooling" if value else "--no-image-pooling"]
        elif key == "seed":
            args += ["--seed", str(int(value))]
        elif key == "recipe":
            args += ["--recipe", str(value)]
        elif key == "epochs":
            args += ["--epochs", str(int(value))]
        else:
            raise ValueError(f"train_arguments cannot set {key!r} from the command line.")
    return args


def run_name(ablation: Ablation, dataset: str = "camvid") -> str:
    """The stored reference run's name of a row, e.g. ``camvid-abl-output-stride-8``."""
    return f"{dataset}-abl-{_slug(ablation.name)}"


def store_command(ablation: Ablation, dataset: str = "camvid", epochs: int = ABLATION_EPOCHS) -> str:
    """The one command that trains, scores and stores ``ablation`` (``tools/store_reference_run.py``)."""
    train = " ".join(["--profile", "cpu", *train_arguments({"epochs": epochs, **ablation.overrides})])
    return (
        f"python tools/store_reference_run.py --dataset {dataset} --name {run_name(ablation, dataset)} "
        f'--note "ablation={ablation.name}" --description "{ablation.change}" --train "{train}"'
    )


def cost_rows(profile, dataset: str = "camvid", image_size: tuple[int, int] = (360, 480), num_classes: int = 11):
    """What each row costs before any training: one dict per :data:`ABLATIONS` row.

    Each model is built from the profile's config for ``dataset`` with the
    row's overrides, at the run's input scale: ``image_size`` is the labels'
    size, the model sees it resized by ``input_scale``.

    Returns:
        Dicts with ``name``, ``params``, ``gmacs`` (one forward pass), ``map``
        (height, width of the last feature map, rounded up at each stride),
        ``stage4_rates`` (the dilation rates of the last stage's units) and
        ``aspp_rates``.
    """
    from course_utils.model import build_deeplabv3, model_report
    from course_utils.model.deeplab import default_aspp_rates
    from course_utils.model.resnet import RESNET_SPECS, multi_grid_rates, stage_strides_and_rates
    from course_utils.training.config import TrainConfig

    rows = []
    cache: dict[tuple, tuple[float, int]] = {}
    for ablation in ABLATIONS:
        cfg = TrainConfig.from_profile(profile, dataset=dataset, **ablation.overrides)
        size = tuple(max(1, round(s * cfg.input_scale)) for s in image_size)
        key = (cfg.backbone, cfg.output_stride, cfg.multi_grid, cfg.image_pooling, cfg.decoder)
        if key not in cache:
            model = build_deeplabv3(
                num_classes,
                backbone=cfg.backbone,
                output_stride=cfg.output_stride,
                multi_grid=cfg.multi_grid,
                image_pooling=cfg.image_pooling,
                decoder=cfg.decoder,
            )
            report = model_report(model, (*size, 3))
            cache[key] = (report.gmacs, int(model.count_params()))
        gmacs, params = cache[key]
        depth = int(cfg.backbone.removeprefix("resnet"))
        units = RESNET_SPECS[depth][1][-1]
        rate = stage_strides_and_rates(cfg.output_stride)[3][1]
        rows.append(
            {
                "name": ablation.name,
                "params": params,
                "gmacs": gmacs,
                "input": size,
                "map": tuple(math.ceil(s / cfg.output_stride) for s in size),
                "stage4_rates": tuple(multi_grid_rates(rate, units, cfg.multi_grid)),
                "aspp_rates": tuple(default_aspp_rates(cfg.output_stride)),
            }
        )
    return rows


def cost_table(rows: Sequence[dict]):
    """A PrettyTable of :func:`cost_rows` (GMACs relative to the first row too)."""
    from prettytable import PrettyTable

    table = PrettyTable(["row", "params (M)", "GMACs", "x baseline", "input", "last map", "stage-4 rates", "ASPP"])
    base = rows[0]["gmacs"]
    for r in rows:
        table.add_row(
            [
                r["name"],
                f"{r['params'] / 1e6:.2f}",
                f"{r['gmacs']:.2f}",
                f"{r['gmacs'] / base:.2f}",
                "x".join(map(str, r["input"])),
                "x".join(map(str, r["map"])),
                ", ".join(map(str, r["stage4_rates"])),
                ", ".join(map(str, r["aspp_rates"])),
            ]
        )
    table.align["row"] = "l"
    return table


def noise_threshold(baselines: Sequence[float], factor: float = 2.0) -> float | None:
    """How far a single run must sit from the baselines' mean before the study calls it a difference.

    The baselines differ only by their seed, so their sample standard
    deviation ``s`` estimates the run-to-run noise of one run. A row minus the
    mean of ``n`` baselines then has a standard deviation of about
    ``s * sqrt(1 + 1/n)``; the threshold is ``factor`` times that. With three
    seeds ``s`` is itself rough (a row with no real effect still passes a
    2-sigma threshold about one time in five), so read a verdict as a hint, not
    a proof. ``None`` with fewer than two baselines.
    """
    values = [float(v) for v in baselines]
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return factor * s * math.sqrt(1 + 1 / n)


def _per_class(run, scores: dict) -> dict[str, float]:
    per_class = scores["per_class_iou"]
    if isinstance(per_class, dict):  # what store_reference_run writes
        return {str(k): float(v) for k, v in per_class.items()}
    return {str(k): float(v) for k, v in zip(run.meta["classes"], per_class)}


def stored_rows(dataset: str = "camvid", folder: str | os.PathLike | None = None, split: str = "val") -> list[dict]:
    """The study's stored runs, each compared with the baselines.

    A row is read from the reference run :func:`run_name` names; rows not
    stored yet are left out (the list may be empty). ``delta`` is a row's mIoU
    minus the baselines' mean, ``noise`` the :func:`noise_threshold` of the
    stored baselines (``None`` with fewer than two), and ``within_noise`` true
    when ``|delta|`` is not larger than it.

    Returns:
        Dicts with ``name``, ``baseline``, ``run`` (the :class:`ReferenceRun`),
        ``miou``, ``delta``, ``noise``, ``within_noise``, ``per_class`` (class ->
        IoU), ``tta_gain``, ``minutes`` and ``machine``
        (``idle``/``shared``/``not recorded``).
    """
    from course_utils import reference_runs

    stored = set(reference_runs.list_reference_runs(folder))
    rows = []
    for ablation in ABLATIONS:
        name = run_name(ablation, dataset)
        if name not in stored:
            continue
        run = reference_runs.load_reference_run(name, folder)
        scores = run.splits[split]
        rows.append(
            {
                "name": ablation.name,
                "baseline": ablation.is_baseline,
                "run": run,
                "miou": float(scores["miou"]),
                "per_class": _per_class(run, scores),
                "tta_gain": (run.meta.get("tta") or {}).get("gain"),
                "minutes": (run.meta.get("wall_seconds") or math.nan) / 60,
                "machine": (run.meta.get("extra") or {}).get("machine_state", "not recorded"),
            }
        )
    baselines = [r["miou"] for r in rows if r["baseline"]]
    noise = noise_threshold(baselines)
    centre = sum(baselines) / len(baselines) if baselines else None
    for r in rows:
        r["noise"] = noise
        r["delta"] = None if centre is None else r["miou"] - centre
        r["within_noise"] = None if noise is None or r["delta"] is None else abs(r["delta"]) <= noise
    return rows


def study_table(rows: Sequence[dict], classes: Sequence[str] = THIN_CLASSES):
    """A PrettyTable of :func:`stored_rows`: mIoU, difference, noise verdict and the thin classes' IoU."""
    from prettytable import PrettyTable

    table = PrettyTable(["row", "val mIoU", "vs baseline", "verdict", *classes, "TTA gain", "min", "machine"])
    for r in rows:
        if r["delta"] is None or r["baseline"]:
            verdict = "baseline" if r["baseline"] else "-"
        else:
            verdict = "within noise" if r["within_noise"] else ("better" if r["delta"] > 0 else "worse")
        table.add_row(
            [
                r["name"],
                f"{r['miou']:.3f}",
                "-" if r["delta"] is None else f"{r['delta']:+.3f}",
                verdict,
                *(f"{r['per_class'].get(c, math.nan):.2f}" for c in classes),
                "-" if r["tta_gain"] is None else f"{r['tta_gain']:+.3f}",
                f"{r['minutes']:.0f}",
                r["machine"],
            ]
        )
    table.align["row"] = "l"
    return table
