"""The sub-commands of ``python -m course_utils``: train, evaluate, predict, export.

Their options are :mod:`course_utils.cli.options`; :func:`course_utils.cli.main` dispatches.
"""

from __future__ import annotations

import sys
from pathlib import Path

from course_utils.cli.errors import EXIT_BAD_INPUT, EXIT_DIVERGED, CLIError  # noqa: F401 (cli's API)
from course_utils.cli.options import train_overrides
from course_utils.cli.outputs import PREDICTION_TAG, check_prediction_targets, cmd_export

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


def _train_config(args, profile, info):
    """The run's ``TrainConfig``: the profile's for this dataset and recipe, with the options given."""
    from course_utils.training.config import TrainConfig

    if args.scale_range is not None and args.scale_range[0] > args.scale_range[1]:
        raise CLIError(f"--scale-range {args.scale_range[0]:g} {args.scale_range[1]:g}: LO must not exceed HI.")
    if args.weights not in (None, "imagenet") and not Path(args.weights).is_file():
        raise CLIError(f"--weights {args.weights}: no such file; pass 'imagenet' or the path of a local .h5 file.")
    config = TrainConfig.from_profile(profile, recipe=args.recipe, dataset=info.name, **train_overrides(args))
    _check_recipe_options(args, config)
    return config


def _check_recipe_options(args, config) -> None:
    """Refuse options the chosen recipe ignores (they would be recorded in config.json as if applied)."""
    if args.weight_decay is not None and config.recipe != "paper":
        raise CLIError(
            f"--weight-decay is used by the paper recipe only (the {config.recipe} recipe has no weight decay): "
            "pass --recipe paper, or leave --weight-decay out."
        )
    if args.warmup_epochs is not None and config.recipe == "seed":
        raise CLIError(
            "--warmup-epochs is used by the fast and paper recipes only (seed keeps Adam at a constant rate): "
            "pass --recipe fast or --recipe paper, or leave --warmup-epochs out."
        )


def _open_run_dir(args, config, info, root: Path) -> Path:
    """The run folder (a finished run is kept unless --overwrite); refuses a mismatched resume early."""
    from course_utils.config import runs_dir
    from course_utils.safe_io import check_writable
    from course_utils.training import runs

    requested = Path(args.run_dir) if args.run_dir else runs_dir() / f"{info.name}-{config.backbone}-{config.recipe}"
    check_writable(requested, folder=True, option="--run-dir")
    runs.check_run_folder(requested)
    runs.check_run_lock(requested)  # before comparing configurations: "busy" is the first thing to say
    choice = runs.choose_run_dir(requested, "overwrite" if args.overwrite else "suffix")
    if choice.action == "resume":
        runs.check_resume(choice.path, config.to_dict(), root.name, list(info.classes))
    print(choice.message)
    return choice.path


def _evaluate_run(run_dir: Path, root: Path, splits: list[str], config, profile, info) -> None:
    """Score ``best.keras`` on ``splits``, save ``results-<dataset>.json`` and print the table."""
    import dataclasses

    from course_utils import evaluate, tables

    best = evaluate.load_checkpoint(run_dir / "best.keras")
    results = evaluate.evaluate_splits(
        best,
        root,
        splits,
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


def _cmd_train(args) -> int:
    from course_utils import data, train
    from course_utils.config import get_profile
    from course_utils.training.precision import get_strategy

    profile = get_profile()
    root = _dataset_root(args.dataset)
    info = data.load_info(root)
    config = _train_config(args, profile, info)
    eval_splits = None
    if args.evaluate is not None:
        eval_splits = _check_splits(args.evaluate or None, info, root, "--evaluate") or [
            s for s in ("val", "test") if s in (info.counts or {"val": 1, "test": 1})
        ]
    run_dir = _open_run_dir(args, config, info, root)
    print(
        f"Dataset {info.name} ({info.num_classes} classes), profile {profile.name}, recipe {config.recipe}, "
        f"run folder {run_dir.name}"
    )
    if_finished = "overwrite" if args.overwrite else "error"
    strategy = get_strategy(args.strategy)
    _, history = train.train(config, root, run_dir, strategy=strategy, verbose=args.verbose, if_finished=if_finished)
    if getattr(history, "terminated_on_nan", False):
        print("error: training diverged (loss is NaN); see the message above.", file=sys.stderr)
        return EXIT_DIVERGED
    h = history.history
    if h.get("val_miou"):
        print(f"Best val_miou {max(h['val_miou']):.4f}; model in {run_dir / 'best.keras'}")
    if eval_splits is not None:
        _evaluate_run(run_dir, root, eval_splits, config, profile, info)
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


def _check_evaluation_output(args, out: Path, profile) -> None:
    """Before the long evaluation: ``--out`` writable and a ``.json``, ``--image-size`` fits in memory."""
    from course_utils.safe_io import check_writable, remove_stale_temps

    check_writable(out, folder=False, option="--out")
    if out.suffix.lower() != ".json":
        raise CLIError(f"--out {out} must name a .json file (e.g. {out.with_suffix('.json')}).")
    if args.image_size:
        from course_utils.datasets.writer import INFERENCE_BYTES_PER_PIXEL, check_size_fits

        check_size_fits(
            args.image_size, "--image-size", args.batch_size or profile.batch_size, INFERENCE_BYTES_PER_PIXEL
        )
    remove_stale_temps(out.parent)


def _cmd_evaluate(args) -> int:
    from course_utils import data, evaluate, plotting, tables
    from course_utils.config import get_profile
    from course_utils.datasets.writer import check_prepared

    root = _dataset_root(args.dataset)
    info = data.load_info(root)
    explicit = _check_splits(args.splits, info, root, "--splits")
    splits = explicit or ["train", "val", "test"]
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / f"results-{info.name}.json"
    if not Path(args.checkpoint).is_file():
        evaluate.load_checkpoint(args.checkpoint)  # the usual "not found" message
    profile = get_profile()
    _check_evaluation_output(args, out, profile)
    model = evaluate.load_checkpoint(args.checkpoint)
    if args.output_stride:
        model = evaluate.with_output_stride(model, Path(args.checkpoint).parent / "config.json", args.output_stride)
    evaluate.check_num_classes(model, info.num_classes, root)
    present = [s for s in splits if not info.counts or s in info.counts]
    check_prepared(root, present + (["train"] if args.recalibrate_bn else []), info.num_classes)
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
    from course_utils.data.format import tag_png, write_png
    from course_utils.safe_io import atomic_path, check_writable, remove_stale_temps

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
    check_prediction_targets(out, stems, args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
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
                tag_png(tmp, *PREDICTION_TAG)
        renamed = "" if stem == path.stem else f" (renamed: another input is also called {path.name})"
        print(f"{path}: {out.name}/{stem}_mask.png, {out.name}/{stem}_overlay.png{renamed}")
    return 0


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict, "export": cmd_export}
