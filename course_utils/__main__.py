"""Command line: ``python -m course_utils train|evaluate|predict|export``.

Long runs (a GPU training of 50+ epochs) belong here rather than in a
notebook. Every size defaults to the run profile (``--profile`` or
``COURSE_PROFILE``); flags override single values.

Examples::

    python -m course_utils train --dataset auto --profile cpu
    python -m course_utils evaluate --checkpoint runs/minidrive-cpu/best.keras --splits val test
    python -m course_utils predict street.png --checkpoint runs/minidrive-cpu/best.keras --out preds/
    python -m course_utils export --checkpoint runs/minidrive-cpu/best.keras --out exported/

Bad input (a missing checkpoint, an unreadable image, a model trained for
another number of classes, an option out of range, a folder that cannot be
written) ends with a one-line message and exit status 2, before any long work.
A finished run is never overwritten unless ``--overwrite`` is given: a new
folder ``<run-dir>-2`` is used instead (see :mod:`course_utils.training.runs`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# TensorFlow's C++ INFO lines (XLA service start, "Compiled cluster using XLA!") are machine noise
# in a terminal; warnings and errors still show. Set before TensorFlow loads; a user's value wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
#: Smallest image side, crop or tile the CLI accepts (a ResNet at output stride 16 needs a few pixels).
MIN_SIZE = 16
#: Largest test-time scale (memory grows with its square).
MAX_TTA_SCALE = 4.0


def _int_at_least(low: int):
    from course_utils.datasets.writer import int_at_least

    return int_at_least(low)


def _float_in(low: float, high: float = float("inf"), low_open: bool = False):
    from course_utils.datasets.writer import float_in

    return float_in(low, high, low_open)


class CLIError(Exception):
    """Bad input: printed as one line, exit status 2."""


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
        choices=("smoke", "cpu", "gpu"),
        default=None,
        help="run profile that sizes everything (default: COURSE_PROFILE, else gpu/cpu by hardware).",
    )


def _add_tta(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tta-scales",
        type=_float_in(0.0, MAX_TTA_SCALE, low_open=True),
        nargs="+",
        default=[1.0],
        metavar="S",
        help=f"test-time scales in (0, {MAX_TTA_SCALE:g}] whose softmax outputs are averaged, e.g. 0.75 1 1.25; "
        "relative to the input scale the run was trained at (its config.json), so 1 means 'as in training'.",
    )
    p.add_argument("--flip", action="store_true", help="also average the horizontally flipped image.")
    p.add_argument(
        "--tile",
        type=_int_at_least(MIN_SIZE),
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="sliding-window inference with tiles of H x W (bounded memory on large images).",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict,export}")

    t = sub.add_parser(
        "train",
        help="train DeepLabV3 on a prepared dataset (resumable).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_dataset(t)
    _add_profile(t)
    t.add_argument(
        "--recipe",
        choices=("seed", "paper", "fast"),
        default=None,
        help="seed: Adam + plateau/early stopping on val_miou; paper: SGD + poly LR + weight decay "
        "+ random-scale crops; fast: Adam + warm-up + poly LR for a fixed budget "
        "(default: the profile's recipe for the dataset, else seed).",
    )
    t.add_argument(
        "--input-scale",
        type=_float_in(0.0, 4.0, low_open=True),
        default=None,
        help="the model sees images resized by this factor, in training and validation; scores are "
        "always taken at the labels' native resolution.",
    )
    t.add_argument(
        "--bn-momentum",
        type=_float_in(0.0, 0.99999),
        default=None,
        help="BatchNorm moving-average momentum (default Keras' 0.99; the paper uses 0.9997).",
    )
    t.add_argument(
        "--recalibrate-bn",
        type=_int_at_least(0),
        default=None,
        metavar="N",
        help="re-estimate BatchNorm statistics from N training batches before each validation (0: off).",
    )
    t.add_argument(
        "--warmup-epochs", type=_float_in(0.0), default=None, help="linear learning-rate warm-up (poly recipes)."
    )
    t.add_argument(
        "--precision",
        choices=("float32", "mixed_float16", "mixed_bfloat16"),
        default=None,
        help="dtype policy, applied on any device (default: the profile's choice).",
    )
    t.add_argument("--backbone", choices=("resnet18", "resnet34", "resnet50", "resnet101"), default=None)
    t.add_argument("--output-stride", type=int, choices=(8, 16, 32), default=None)
    t.add_argument("--decoder", action="store_true", help="DeepLabV3+ decoder.")
    t.add_argument(
        "--weights",
        default=None,
        help="backbone weights: 'imagenet' (ResNet-50/101; needs the keras.applications file once) "
        "or a local .h5 file.",
    )
    t.add_argument("--epochs", type=_int_at_least(1), default=None)
    t.add_argument("--batch-size", type=_int_at_least(1), default=None)
    t.add_argument("--steps-per-epoch", type=_int_at_least(1), default=None)
    t.add_argument(
        "--lr", type=_float_in(0.0, low_open=True), default=None, help="base learning rate (seed 1e-3, paper 1e-2)."
    )
    t.add_argument("--weight-decay", type=_float_in(0.0), default=None)
    t.add_argument(
        "--image-size",
        type=_int_at_least(MIN_SIZE),
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="training crop size.",
    )
    t.add_argument(
        "--eval-size",
        type=_int_at_least(MIN_SIZE),
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="validation images are resized to this size (default: the profile's).",
    )
    t.add_argument(
        "--scale-range",
        type=_float_in(0.0, low_open=True),
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="random scale range of training crops (seed 1 1, paper 0.5 2).",
    )
    t.add_argument(
        "--class-weights",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="weight the loss by inverse log class frequency (default: the recipe's).",
    )
    t.add_argument(
        "--multi-grid",
        type=_int_at_least(1),
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
    t.add_argument("--seed", type=_int_at_least(0), default=None, help="random seed of weights and augmentation.")
    t.add_argument("--max-train-images", type=_int_at_least(1), default=None)
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
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed_float16 on a GPU (default: the profile's).",
    )
    t.add_argument("--force-mixed-precision", action="store_true", help="use mixed precision even on a CPU.")
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
        "--backup-every", type=_int_at_least(1), default=None, help="back up every N steps (default: every epoch)."
    )
    t.add_argument("--no-tensorboard", action="store_true")
    t.add_argument(
        "--evaluate",
        nargs="*",
        default=None,
        metavar="SPLIT",
        help="after training, evaluate best.keras on these splits (default val test) and print the table.",
    )
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)

    e = sub.add_parser(
        "evaluate",
        help="mIoU and pixel accuracy per split, as a table and a JSON file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("--checkpoint", required=True, help="a .keras model (e.g. <run-dir>/best.keras).")
    _add_dataset(e)
    _add_profile(e)
    e.add_argument(
        "--splits", nargs="+", default=None, help="splits to evaluate (default: those of train, val, test present)."
    )
    _add_tta(e)
    e.add_argument(
        "--image-size",
        type=_int_at_least(MIN_SIZE),
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="resize images first (default: native size).",
    )
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
        type=_int_at_least(0),
        default=0,
        metavar="N",
        help="first re-estimate BatchNorm statistics from N training batches (helps short runs).",
    )
    e.add_argument("--max-images", type=_int_at_least(1), default=None, help="cap per split (default: the profile's).")
    e.add_argument("--batch-size", type=_int_at_least(1), default=None)
    e.add_argument("--out", default=None, help="results JSON (default <checkpoint dir>/results-<dataset>.json).")
    e.add_argument("--plots", action="store_true", help="also save IoU bars and the confusion matrix as PNG.")

    p = sub.add_parser(
        "predict",
        help="coloured masks and overlays for image files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="output folder for <name>_mask.png and <name>_overlay.png.")
    _add_dataset(p)
    _add_profile(p)
    _add_tta(p)
    p.add_argument("--alpha", type=_float_in(0.0, 1.0), default=0.5, help="overlay opacity in [0, 1].")

    x = sub.add_parser(
        "export",
        help="write a .keras file and a TensorFlow SavedModel.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    x.add_argument("--checkpoint", required=True)
    x.add_argument(
        "--out",
        required=True,
        help="output folder (model.keras and saved_model/, written together); an existing export there is replaced.",
    )
    return parser


# ----------------------------------------------------------------------- commands


def _dataset_root(name: str | None) -> Path:
    from course_utils import datasets

    return datasets.find_dataset(name)


def _check_splits(splits: list[str] | None, info, root: Path, option: str) -> list[str] | None:
    """Refuse splits the dataset does not have (a typo would otherwise be skipped silently)."""
    if splits is None:
        return None
    present = sorted(info.counts or {})
    missing = [s for s in splits if present and s not in present]
    if missing:
        raise CLIError(f"{option}: {root / 'dataset.json'} has no split {missing[0]!r}; use some of {present}.")
    return splits


def _cmd_train(args) -> int:
    import dataclasses

    from course_utils import data, evaluate, tables, train
    from course_utils.config import get_profile, runs_dir
    from course_utils.safe_io import check_writable
    from course_utils.training import runs

    if args.scale_range is not None and args.scale_range[0] > args.scale_range[1]:
        raise CLIError(f"--scale-range {args.scale_range[0]:g} {args.scale_range[1]:g}: LO must not exceed HI.")
    if args.weights not in (None, "imagenet") and not Path(args.weights).is_file():
        raise CLIError(f"--weights {args.weights}: no such file; pass 'imagenet' or the path of a local .h5 file.")
    profile = get_profile()
    root = _dataset_root(args.dataset)
    overrides = {}
    for key, attr in (
        ("backbone", "backbone"),
        ("output_stride", "output_stride"),
        ("epochs", "epochs"),
        ("batch_size", "batch_size"),
        ("steps_per_epoch", "steps_per_epoch"),
        ("lr", "learning_rate"),
        ("weight_decay", "weight_decay"),
        ("bn_momentum", "bn_momentum"),
        ("weights", "weights"),
        ("mixed_precision", "mixed_precision"),
        ("jit_compile", "jit_compile"),
        ("max_train_images", "max_train_images"),
        ("backup_every", "backup_every"),
        ("input_scale", "input_scale"),
        ("bn_momentum", "bn_momentum"),
        ("recalibrate_bn", "recalibrate_bn"),
        ("warmup_epochs", "warmup_epochs"),
    ):
        value = getattr(args, key)
        if value is not None:
            overrides[attr] = value
    for key in ("image_size", "eval_size", "scale_range"):
        if getattr(args, key) is not None:
            overrides[key] = tuple(getattr(args, key))
    if args.decoder:
        overrides["decoder"] = True
    if args.class_weights is not None:
        overrides["class_weighting"] = args.class_weights
    if args.multi_grid is not None:
        overrides["multi_grid"] = None if list(args.multi_grid) == [1] else tuple(args.multi_grid)
    if args.image_pooling is not None:
        overrides["image_pooling"] = args.image_pooling
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.force_mixed_precision:
        overrides["force_mixed_precision"] = True
    if args.precision is not None:
        overrides["mixed_precision"] = False if args.precision == "float32" else args.precision
        overrides["force_mixed_precision"] = args.precision != "float32"
    if args.no_tensorboard:
        overrides["tensorboard"] = False
    info = data.load_info(root)
    config = train.TrainConfig.from_profile(profile, recipe=args.recipe, dataset=info.name, **overrides)
    eval_splits = None
    if args.evaluate is not None:
        eval_splits = _check_splits(args.evaluate or None, info, root, "--evaluate") or [
            s for s in ("val", "test") if s in (info.counts or {"val": 1, "test": 1})
        ]
    requested = Path(args.run_dir) if args.run_dir else runs_dir() / f"{info.name}-{config.backbone}-{config.recipe}"
    check_writable(requested, folder=True, option="--run-dir")
    choice = runs.choose_run_dir(requested, "overwrite" if args.overwrite else "suffix")
    run_dir = choice.path
    if choice.action == "resume":
        runs.check_resume(run_dir, config.to_dict(), root.name, list(info.classes))
    print(choice.message)
    print(
        f"Dataset {info.name} ({info.num_classes} classes), profile {profile.name}, recipe {config.recipe}, "
        f"run folder {run_dir.name}"
    )
    strategy = train.get_strategy(args.strategy)
    model, history = train.train(
        config,
        root,
        run_dir,
        strategy=strategy,
        verbose=args.verbose,
        if_finished="overwrite" if args.overwrite else "error",
    )
    if getattr(history, "terminated_on_nan", False):
        print("error: training diverged (loss is NaN); see the message above.", file=sys.stderr)
        return EXIT_DIVERGED
    h = history.history
    if h.get("val_miou"):
        print(f"Best val_miou {max(h['val_miou']):.4f}; model in {run_dir / 'best.keras'}")
    if eval_splits is not None:
        best = evaluate.load_checkpoint(run_dir / "best.keras")
        results = evaluate.evaluate_splits(
            best,
            root,
            eval_splits,
            image_size=config.eval_size,
            tta_scales=(1.0,) if config.eval_size else (config.input_scale,),
            max_images=profile.max_eval_images,
        )
        evaluate.save_results(
            results,
            run_dir / f"results-{info.name}.json",
            checkpoint="best.keras",
            dataset=info.name,
            config=dataclasses.asdict(config),
        )
        print(tables.performance_table(results))
    return 0


def _run_input_scale(checkpoint: str | Path) -> float:
    """The ``input_scale`` of the run a checkpoint belongs to (its ``config.json``), else 1."""
    import json

    path = Path(checkpoint).parent / "config.json"
    try:
        return float(json.loads(path.read_text())["config"].get("input_scale") or 1.0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 1.0


def _absolute_scales(args) -> tuple[float, ...]:
    """Test-time scales relative to the run's input scale, made absolute (none with --image-size)."""
    scale = 1.0 if getattr(args, "image_size", None) else _run_input_scale(args.checkpoint)
    if scale != 1.0:
        print(
            f"The run was trained on images at {scale:g}x their size: the model sees them so; "
            "scores are taken at the labels' native size."
        )
    return tuple(float(s) * scale for s in args.tta_scales)


def _cmd_evaluate(args) -> int:
    from course_utils import data, evaluate, plotting, tables
    from course_utils.config import get_profile
    from course_utils.datasets.writer import check_prepared
    from course_utils.safe_io import check_writable

    root = _dataset_root(args.dataset)
    info = data.load_info(root)
    explicit = _check_splits(args.splits, info, root, "--splits")
    splits = explicit or ["train", "val", "test"]
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / f"results-{info.name}.json"
    if not Path(args.checkpoint).is_file():
        evaluate.load_checkpoint(args.checkpoint)  # the usual "not found" message
    check_writable(out, folder=False, option="--out")  # before the long evaluation, not after it
    if out.suffix.lower() != ".json":
        raise CLIError(f"--out {out} must name a .json file (e.g. {out.with_suffix('.json')}).")
    model = evaluate.load_checkpoint(args.checkpoint)
    if args.output_stride:
        model = evaluate.with_output_stride(model, Path(args.checkpoint).parent / "config.json", args.output_stride)
    evaluate.check_num_classes(model, info.num_classes, root)
    present = [s for s in splits if not info.counts or s in info.counts]
    check_prepared(root, present + (["train"] if args.recalibrate_bn else []), info.num_classes)
    profile = get_profile()
    if args.recalibrate_bn:
        from course_utils import train

        train_ds = data.make_dataset(
            root,
            "train",
            args.batch_size or profile.batch_size,
            training=True,
            image_size=tuple(args.image_size) if args.image_size else None,
            augment=False,
            seed=profile.seed,
        )
        used = train.recalibrate_batchnorm(model, train_ds, args.recalibrate_bn)
        print(f"BatchNorm statistics re-estimated from {used} training batches.")
    max_images = args.max_images if args.max_images is not None else profile.max_eval_images
    results = evaluate.evaluate_splits(
        model,
        root,
        splits,
        batch_size=args.batch_size or profile.batch_size,
        tta_scales=_absolute_scales(args),
        flip=args.flip,
        tile=tuple(args.tile) if args.tile else None,
        image_size=tuple(args.image_size) if args.image_size else None,
        max_images=max_images,
    )
    if not results:
        raise CLIError(
            f"None of the splits {splits} exist in {root / 'dataset.json'}; pass --splits with "
            f"some of {sorted(info.counts or {})}."
        )
    evaluate.save_results(
        results,
        out,
        checkpoint=Path(args.checkpoint).name,
        dataset=info.name,
        tta_scales=list(args.tta_scales),
        flip=args.flip,
        output_stride=args.output_stride,
        recalibrate_bn=args.recalibrate_bn,
    )
    print(tables.performance_table(results))
    if args.plots:
        import matplotlib.pyplot as plt

        from course_utils.safe_io import atomic_path

        for split, res in results.items():
            for kind, fig in (
                ("iou", plotting.plot_iou_bars(res.per_class_iou, info.classes, info.palette)),
                ("confusion", plotting.plot_confusion_matrix(res.confusion_matrix, info.classes)),
            ):
                with atomic_path(out.parent / f"{kind}-{info.name}-{split}.png") as tmp:
                    fig.savefig(tmp, dpi=90, format="png")
                plt.close(fig)
    print(f"Results written to {out.name}")
    return 0


def output_stems(paths: list[Path]) -> list[str]:
    """One distinct output stem per input image: ``x``, then ``x-2``, ``x-3``... for repeated names.

    Two inputs never write to the same ``<stem>_mask.png`` (e.g. ``a/x.png`` and ``b/x.png``).
    """
    used: set[str] = set()
    stems = []
    for path in paths:
        stem, n = path.stem, 2
        while stem.lower() in used:
            stem, n = f"{path.stem}-{n}", n + 1
        used.add(stem.lower())
        stems.append(stem)
    return stems


def _cmd_predict(args) -> int:
    from course_utils import data, evaluate, plotting
    from course_utils.data.format import write_png
    from course_utils.safe_io import atomic_path, check_writable

    out = check_writable(args.out, folder=True, option="--out")
    model = evaluate.load_checkpoint(args.checkpoint)
    root = _dataset_root(args.dataset)
    info = data.load_info(root)
    evaluate.check_num_classes(model, info.num_classes, root)
    images = []
    for path in args.images:  # read everything first: fail before writing anything
        try:
            images.append((Path(path), data.read_image(path)))
        except (FileNotFoundError, ValueError) as err:
            raise CLIError(f"Cannot read image {path}: {err} Pass a PNG or JPEG file.") from err
    stems = output_stems([p for p, _ in images])
    out = Path(args.out)
    inputs = {p.resolve() for p, _ in images}
    for stem in stems:
        for suffix in ("mask", "overlay"):
            if (out / f"{stem}_{suffix}.png").resolve() in inputs:
                raise CLIError(
                    f"{out / f'{stem}_{suffix}.png'} is one of the input images and would be overwritten; "
                    "choose another --out."
                )
    out.mkdir(parents=True, exist_ok=True)
    scales = _absolute_scales(args)
    for (path, rgb), stem in zip(images, stems):
        ids = evaluate.predict_image(
            model,
            data.normalize_image(rgb),
            scales=scales,
            flip=args.flip,
            tile_size=tuple(args.tile) if args.tile else None,
        )
        mask = plotting.colorize(ids, info.palette)
        for suffix, array in (("mask", mask), ("overlay", plotting.overlay(rgb, mask, alpha=args.alpha))):
            with atomic_path(out / f"{stem}_{suffix}.png") as tmp:
                write_png(tmp, array)
        renamed = "" if stem == path.stem else f" (renamed: another input is also called {path.name})"
        print(f"{path}: {out.name}/{stem}_mask.png, {out.name}/{stem}_overlay.png{renamed}")
    return 0


EXPORT_OUTPUTS = ("model.keras", "saved_model")


def _cmd_export(args) -> int:
    from course_utils import evaluate
    from course_utils.safe_io import atomic_path, check_writable

    out = check_writable(args.out, folder=True, option="--out")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in EXPORT_OUTPUTS)
        if others:
            raise CLIError(
                f"--out {out} holds other files ({', '.join(others[:3])}); export replaces the whole folder, "
                "so choose an empty or new --out."
            )
    model = evaluate.load_checkpoint(args.checkpoint)
    with atomic_path(out) as tmp:  # model.keras and saved_model/ appear together or not at all
        tmp.mkdir()
        model.save(tmp / "model.keras")
        model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
    print(f"Exported {out.name}/model.keras and {out.name}/saved_model (serving signature 'serve').")
    return 0


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict, "export": _cmd_export}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "profile", None):
        os.environ["COURSE_PROFILE"] = args.profile
    try:
        return COMMANDS[args.command](args)
    except (CLIError, OSError, ValueError, RuntimeError) as err:  # OSError: not found, permission, disk full
        if args.debug:
            raise
        from course_utils.datasets.writer import one_line

        print(f"error: {one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
