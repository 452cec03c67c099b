"""The command line's options: argparse types, one parser function per sub-command, and the
``train`` options derived from the :class:`~course_utils.training.config.TrainConfig` fields.

Each ``train`` option that sets a ``TrainConfig`` field has that field's name as its
``dest``; :func:`train_overrides` collects them with ``dataclasses.fields``, so a new
field needs one ``add_argument`` line and nothing else. (The preparation scripts'
shared options are :mod:`course_utils.cli.prepare`.)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

import numpy as np

from course_utils.cli.errors import CLI_ERRORS, one_line  # noqa: F401 (the CLI's shared names)
from course_utils.config import BACKBONES, PROFILE_NAMES, RECIPES
from course_utils.training.config import TrainConfig

#: Smallest image side, crop or tile the CLI accepts (a ResNet at output stride 16 needs a few pixels).
MIN_SIZE = 16
#: Largest test-time scale (memory grows with its square).
MAX_TTA_SCALE = 4.0


# ---------------------------------------------------------------------- argparse types


def _number(kind: type, text: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
    if kind is float and not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers ``>= low`` (e.g. ``int_at_least(1)`` for counts)."""

    def parse(text: str) -> int:
        value = _number(int, text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is too small: it must be at least {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def float_in(low: float, high: float = float("inf"), low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` accepting finite floats in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        value = _number(float, text)
        if value < low or (low_open and value == low) or value > high:
            left = "(" if low_open else "["
            right = "]" if np.isfinite(high) else ")"
            raise argparse.ArgumentTypeError(f"{value} is outside {left}{low:g}, {high:g}{right}")
        return value

    parse.__name__ = "number"
    return parse


# ------------------------------------------------------------------- sub-commands


def _add_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="'auto' (default: the best prepared dataset, else MiniDrive built on the spot), "
        "a name under the data folder (minidrive, camvid, idd, cityscapes) or a path.",
    )


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help="run profile that sizes everything (default: COURSE_PROFILE, else gpu/cpu by hardware).",
    )


def _add_size(p: argparse.ArgumentParser, flag: str, help: str, dest: str | None = None) -> None:
    p.add_argument(flag, dest=dest, type=int_at_least(MIN_SIZE), nargs=2, default=None, metavar=("H", "W"), help=help)


def _add_tta(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tta-scales",
        type=float_in(0.0, MAX_TTA_SCALE, low_open=True),
        nargs="+",
        default=[1.0],
        metavar="S",
        help=f"test-time scales in (0, {MAX_TTA_SCALE:g}] whose softmax outputs are averaged, e.g. 0.75 1 1.25; "
        "relative to the input scale the run was trained at (its config.json), so 1 means 'as in training'.",
    )
    p.add_argument("--flip", action="store_true", help="also average the horizontally flipped image.")
    _add_size(p, "--tile", "sliding-window inference with tiles of H x W (bounded memory on large images).")


def _add_train_model(t: argparse.ArgumentParser) -> None:
    """The model's ``TrainConfig`` fields (each option's ``dest`` is the field)."""
    t.add_argument("--backbone", choices=tuple(BACKBONES), default=None)
    t.add_argument("--output-stride", type=int, choices=(8, 16, 32), default=None)
    t.add_argument("--decoder", action="store_const", const=True, default=None, help="DeepLabV3+ decoder.")
    t.add_argument(
        "--weights",
        default=None,
        help="backbone weights: 'imagenet' (ResNet-50/101; needs the keras.applications file once) "
        "or a local .h5 file.",
    )
    t.add_argument(
        "--multi-grid",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="R",
        help="unit rates of the last stage, e.g. 1 2 4 (the paper's); 1 for none (default: the profile's).",
    )
    t.add_argument(
        "--image-pooling",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ASPP's image-pooling branch (default: on).",
    )
    t.add_argument(
        "--bn-momentum",
        type=float_in(0.0, 0.99999),
        default=None,
        help="BatchNorm moving-average momentum (default Keras' 0.99; the paper uses 0.9997).",
    )


def _add_train_data(t: argparse.ArgumentParser) -> None:
    """The input's ``TrainConfig`` fields."""
    t.add_argument(
        "--input-scale",
        type=float_in(0.0, 4.0, low_open=True),
        default=None,
        help="the model sees images resized by this factor, in training and validation; scores are "
        "always taken at the labels' native resolution.",
    )
    _add_size(t, "--image-size", "training crop size.")
    _add_size(t, "--eval-size", "validation images are resized to this size (default: the profile's).")
    t.add_argument(
        "--scale-range",
        type=float_in(0.0, low_open=True),
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="random scale range of training crops (seed 1 1, paper 0.5 2).",
    )
    t.add_argument(
        "--class-weights",
        dest="class_weighting",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="weight the loss by inverse log class frequency (default: the recipe's).",
    )
    t.add_argument("--batch-size", type=int_at_least(1), default=None)
    t.add_argument("--max-train-images", type=int_at_least(1), default=None)
    t.add_argument("--seed", type=int_at_least(0), default=None, help="random seed of weights and augmentation.")


def _add_train_schedule(t: argparse.ArgumentParser) -> None:
    """The optimisation's ``TrainConfig`` fields."""
    t.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default=None,
        help="seed: Adam + plateau/early stopping on val_miou; paper: SGD + poly LR + weight decay "
        "+ random-scale crops; fast: Adam + warm-up + poly LR for a fixed budget "
        "(default: the profile's recipe for the dataset, else seed).",
    )
    t.add_argument("--epochs", type=int_at_least(1), default=None)
    t.add_argument("--steps-per-epoch", type=int_at_least(1), default=None)
    t.add_argument(
        "--lr",
        dest="learning_rate",
        metavar="LR",
        type=float_in(0.0, low_open=True),
        default=None,
        help="base learning rate (seed 1e-3, paper 1e-2).",
    )
    t.add_argument("--weight-decay", type=float_in(0.0), default=None)
    t.add_argument(
        "--warmup-epochs", type=float_in(0.0), default=None, help="linear learning-rate warm-up (poly recipes)."
    )
    t.add_argument(
        "--recalibrate-bn",
        type=int_at_least(0),
        default=None,
        metavar="N",
        help="re-estimate BatchNorm statistics from N training batches before each validation (0: off).",
    )


def _add_train_machine(t: argparse.ArgumentParser) -> None:
    """Precision, compilation and bookkeeping fields, and the options that are not fields."""
    t.add_argument(
        "--precision",
        choices=("float32", "mixed_float16", "mixed_bfloat16"),
        default=None,
        help="dtype policy, applied on any device (default: the profile's choice).",
    )
    t.add_argument(
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed_float16 on a GPU (default: the profile's).",
    )
    t.add_argument(
        "--force-mixed-precision",
        action="store_const",
        const=True,
        default=None,
        help="use mixed precision even on a CPU.",
    )
    t.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA-compile the train step (default: the profile's).",
    )
    t.add_argument(
        "--strategy", choices=("auto", "mirrored", "tpu", "default"), default="auto", help="tf.distribute strategy."
    )
    t.add_argument(
        "--backup-every", type=int_at_least(1), default=None, help="back up every N steps (default: every epoch)."
    )
    t.add_argument("--no-tensorboard", dest="tensorboard", action="store_const", const=False, default=None)


def add_train_parser(sub) -> argparse.ArgumentParser:
    """``train``: every ``TrainConfig`` option, the run folder and the evaluation after training."""
    t = sub.add_parser("train", help="train DeepLabV3 on a prepared dataset (resumable).", formatter_class=_FORMATTER)
    _add_dataset(t)
    _add_profile(t)
    _add_train_schedule(t)
    _add_train_model(t)
    _add_train_data(t)
    _add_train_machine(t)
    t.add_argument(
        "--run-dir",
        default=None,
        help="output folder (default runs/<dataset>-<backbone>-<recipe>). An unfinished run there is "
        "resumed; a finished one is kept and this run goes to <run-dir>-2 (or see --overwrite).",
    )
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the finished run in --run-dir (its checkpoints, history and logs) instead of "
        "using a new -2 folder.",
    )
    t.add_argument(
        "--evaluate",
        nargs="*",
        default=None,
        metavar="SPLIT",
        help="after training, evaluate best.keras on these splits (default val test) and print the table.",
    )
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    return t


#: ``train`` options that are not ``TrainConfig`` overrides (or are passed to ``from_profile`` apart).
_NOT_OVERRIDES = {"recipe"}


def train_overrides(args: argparse.Namespace) -> dict:
    """The ``TrainConfig`` fields the ``train`` options set: every option whose ``dest`` is a field and was given.

    ``--multi-grid 1`` means no multi-grid; ``--precision P`` sets ``mixed_precision`` and forces it.
    """
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in _NOT_OVERRIDES and getattr(args, f.name, None) is not None
    }
    for key in ("image_size", "eval_size", "scale_range"):
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    if "multi_grid" in overrides:
        overrides["multi_grid"] = None if list(overrides["multi_grid"]) == [1] else tuple(overrides["multi_grid"])
    if getattr(args, "precision", None) is not None:
        overrides["mixed_precision"] = False if args.precision == "float32" else args.precision
        overrides["force_mixed_precision"] = args.precision != "float32"
    return overrides


def add_evaluate_parser(sub) -> argparse.ArgumentParser:
    """``evaluate``: scores of a checkpoint per split."""
    e = sub.add_parser(
        "evaluate", help="mIoU and pixel accuracy per split, as a table and a JSON file.", formatter_class=_FORMATTER
    )
    e.add_argument("--checkpoint", required=True, help="a .keras model (e.g. <run-dir>/best.keras).")
    _add_dataset(e)
    _add_profile(e)
    e.add_argument(
        "--splits", nargs="+", default=None, help="splits to evaluate (default: those of train, val, test present)."
    )
    _add_tta(e)
    _add_size(e, "--image-size", "resize images first (default: native size).")
    e.add_argument(
        "--output-stride",
        type=int,
        choices=(8, 16, 32),
        default=None,
        help="rebuild the trained model at this output stride (e.g. train at 16, evaluate at 8); "
        "needs the run's config.json next to the checkpoint.",
    )
    e.add_argument(
        "--recalibrate-bn",
        type=int_at_least(0),
        default=0,
        metavar="N",
        help="first re-estimate BatchNorm statistics from N training batches (helps short runs).",
    )
    e.add_argument("--max-images", type=int_at_least(1), default=None, help="cap per split (default: the profile's).")
    e.add_argument("--batch-size", type=int_at_least(1), default=None)
    e.add_argument("--out", default=None, help="results JSON (default <checkpoint dir>/results-<dataset>.json).")
    e.add_argument("--plots", action="store_true", help="also save IoU bars and the confusion matrix as PNG.")
    return e


def add_predict_parser(sub) -> argparse.ArgumentParser:
    """``predict``: masks and overlays for image files."""
    p = sub.add_parser("predict", help="coloured masks and overlays for image files.", formatter_class=_FORMATTER)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="output folder for <name>_mask.png and <name>_overlay.png.")
    _add_dataset(p)
    _add_profile(p)
    _add_tta(p)
    p.add_argument("--alpha", type=float_in(0.0, 1.0), default=0.5, help="overlay opacity in [0, 1].")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace earlier predictions in --out (files predict did not write are never replaced).",
    )
    return p


def add_export_parser(sub) -> argparse.ArgumentParser:
    """``export``: ``.keras``, SavedModel, ONNX and/or LiteRT files, each checked against Keras."""
    x = sub.add_parser(
        "export",
        help="write the model as .keras, SavedModel, ONNX and/or LiteRT, each checked against Keras.",
        formatter_class=_FORMATTER,
    )
    x.add_argument("--checkpoint", required=True)
    x.add_argument(
        "--out",
        required=True,
        help="output folder (model.keras, saved_model/, model.onnx, model.tflite, each with a .json of its "
        "input convention; written together or not at all).",
    )
    x.add_argument(
        "--format",
        nargs="+",
        default=["keras", "saved_model"],
        metavar="FORMAT",
        help="some of keras, saved_model, onnx, litert (onnx and litert need the [export] extra).",
    )
    x.add_argument("--overwrite", action="store_true", help="replace the files of an earlier export in --out.")
    return x


_FORMATTER = argparse.ArgumentDefaultsHelpFormatter
#: One parser function per sub-command, in the order ``--help`` lists them.
SUBCOMMANDS = {
    "train": add_train_parser,
    "evaluate": add_evaluate_parser,
    "predict": add_predict_parser,
    "export": add_export_parser,
}


def build_parser(
    description: str = "DeepLabV3 from scratch: train, evaluate, predict, export.",
) -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=description, formatter_class=_FORMATTER)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for add in SUBCOMMANDS.values():
        add(sub)
    return parser
