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
another number of classes) ends with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


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
        type=float,
        nargs="+",
        default=[1.0],
        metavar="S",
        help="test-time scales whose softmax outputs are averaged, e.g. 0.75 1 1.25 (default 1).",
    )
    p.add_argument("--flip", action="store_true", help="also average the horizontally flipped image.")
    p.add_argument(
        "--tile",
        type=int,
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
        choices=("seed", "paper"),
        default="seed",
        help="seed: Adam + plateau/early stopping on val_miou; paper: SGD + poly LR + weight decay "
        "+ random-scale crops.",
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
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--steps-per-epoch", type=int, default=None)
    t.add_argument("--lr", type=float, default=None, help="base learning rate (seed 1e-3, paper 1e-2).")
    t.add_argument("--weight-decay", type=float, default=None)
    t.add_argument(
        "--bn-momentum",
        type=float,
        default=None,
        help="BatchNorm moving-average momentum (default Keras' 0.99; the paper uses 0.9997).",
    )
    t.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"), help="training crop size.")
    t.add_argument(
        "--eval-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="validation images are resized to this size (default: the profile's).",
    )
    t.add_argument(
        "--scale-range",
        type=float,
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="random scale range of training crops (seed 1 1, paper 0.5 2).",
    )
    t.add_argument("--class-weights", action="store_true", help="weight the loss by inverse log class frequency.")
    t.add_argument("--max-train-images", type=int, default=None)
    t.add_argument("--run-dir", default=None, help="output folder (default runs/<dataset>-<backbone>-<recipe>).")
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
    t.add_argument("--backup-every", type=int, default=None, help="back up every N steps (default: every epoch).")
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
    e.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    _add_tta(e)
    e.add_argument(
        "--image-size",
        type=int,
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
        type=int,
        default=0,
        metavar="N",
        help="first re-estimate BatchNorm statistics from N training batches (helps short runs).",
    )
    e.add_argument("--max-images", type=int, default=None, help="cap per split (default: the profile's).")
    e.add_argument("--batch-size", type=int, default=None)
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
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity.")

    x = sub.add_parser(
        "export",
        help="write a .keras file and a TensorFlow SavedModel.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--out", required=True, help="output folder (model.keras and saved_model/).")
    return parser


# ----------------------------------------------------------------------- commands


def _dataset_root(name: str | None) -> Path:
    from course_utils import data

    return data.find_dataset(name)


def _cmd_train(args) -> int:
    import dataclasses

    from course_utils import data, evaluate, report, train
    from course_utils.paths import runs_dir
    from course_utils.profiles import get_profile

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
    ):
        value = getattr(args, key)
        if value is not None:
            overrides[attr] = value
    for key in ("image_size", "eval_size", "scale_range"):
        if getattr(args, key) is not None:
            overrides[key] = tuple(getattr(args, key))
    if args.decoder:
        overrides["decoder"] = True
    if args.class_weights:
        overrides["class_weighting"] = True
    if args.force_mixed_precision:
        overrides["force_mixed_precision"] = True
    if args.no_tensorboard:
        overrides["tensorboard"] = False
    config = train.TrainConfig.from_profile(profile, recipe=args.recipe, **overrides)
    info = data.load_info(root)
    run_dir = Path(args.run_dir) if args.run_dir else runs_dir() / f"{info.name}-{config.backbone}-{config.recipe}"
    print(
        f"Dataset {info.name} ({info.num_classes} classes), profile {profile.name}, recipe {config.recipe}, "
        f"run folder {run_dir.name}"
    )
    strategy = train.get_strategy(args.strategy)
    model, history = train.train(config, root, run_dir, strategy=strategy, verbose=args.verbose)
    if getattr(history, "terminated_on_nan", False):
        print("error: training diverged (loss is NaN); see the message above.", file=sys.stderr)
        return EXIT_DIVERGED
    h = history.history
    if h.get("val_miou"):
        print(f"Best val_miou {max(h['val_miou']):.4f}; model in {run_dir / 'best.keras'}")
    if args.evaluate is not None:
        splits = args.evaluate or ["val", "test"]
        best = evaluate.load_checkpoint(run_dir / "best.keras")
        results = evaluate.evaluate_splits(
            best, root, splits, image_size=config.eval_size, max_images=profile.max_eval_images
        )
        evaluate.save_results(
            results,
            run_dir / f"results-{info.name}.json",
            checkpoint="best.keras",
            dataset=info.name,
            config=dataclasses.asdict(config),
        )
        print(report.performance_table(results))
    return 0


def _cmd_evaluate(args) -> int:
    from course_utils import data, evaluate, plotting, report
    from course_utils.profiles import get_profile

    model = evaluate.load_checkpoint(args.checkpoint)
    if args.output_stride:
        model = evaluate.with_output_stride(model, Path(args.checkpoint).parent / "config.json", args.output_stride)
    root = _dataset_root(args.dataset)
    info = data.load_info(root)
    evaluate.check_num_classes(model, info.num_classes, root)
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
        args.splits,
        batch_size=args.batch_size or profile.batch_size,
        tta_scales=tuple(args.tta_scales),
        flip=args.flip,
        tile=tuple(args.tile) if args.tile else None,
        image_size=tuple(args.image_size) if args.image_size else None,
        max_images=max_images,
    )
    if not results:
        raise CLIError(
            f"None of the splits {args.splits} exist in {root / 'dataset.json'}; pass --splits with "
            f"some of {sorted(info.counts or {})}."
        )
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / f"results-{info.name}.json"
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
    print(report.performance_table(results))
    if args.plots:
        import matplotlib.pyplot as plt

        for split, res in results.items():
            for kind, fig in (
                ("iou", plotting.plot_iou_bars(res.per_class_iou, info.classes, info.palette)),
                ("confusion", plotting.plot_confusion_matrix(res.confusion_matrix, info.classes)),
            ):
                fig.savefig(out.parent / f"{kind}-{info.name}-{split}.png", dpi=90)
                plt.close(fig)
    print(f"Results written to {out.name}")
    return 0


def _cmd_predict(args) -> int:
    from course_utils import data, evaluate, plotting
    from course_utils.datasets.common import write_png

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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path, rgb in images:
        ids = evaluate.predict_image(
            model,
            data.normalize_image(rgb),
            scales=tuple(args.tta_scales),
            flip=args.flip,
            tile_size=tuple(args.tile) if args.tile else None,
        )
        mask = plotting.colorize(ids, info.palette)
        write_png(out / f"{path.stem}_mask.png", mask)
        write_png(out / f"{path.stem}_overlay.png", plotting.overlay(rgb, mask, alpha=args.alpha))
        print(f"{path.name}: {out.name}/{path.stem}_mask.png, {out.name}/{path.stem}_overlay.png")
    return 0


def _cmd_export(args) -> int:
    from course_utils import evaluate

    model = evaluate.load_checkpoint(args.checkpoint)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
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
    except (CLIError, FileNotFoundError, ValueError) as err:
        if args.debug:
            raise
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
