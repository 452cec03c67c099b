#!/usr/bin/env python
"""Train, evaluate and store the backbone comparison and the paper's ablations at full size.

Each variant of :func:`course_utils.experiments.paper_variants` (ResNet-18/50/101,
output stride 8, no multi-grid, no image pooling, ResNet-50 from scratch or
ImageNet) is trained with ``course_utils.train.train`` sized by the profile,
its best checkpoint evaluated at the labels' native resolution, and the run
stored as a reference run (``course_utils/reference_runs/<dataset>-<profile>-<variant>/``:
scores, history, curves, gallery, this command line, the hardware and the wall
time), where ``08_experiments.ipynb`` shows it. A run interrupted at any point
resumes when the same command is started again.

Examples::

    python tools/run_ablations.py --list
    python tools/run_ablations.py --dataset camvid --profile gpu --variant "ResNet-50"
    python tools/run_ablations.py --dataset camvid --profile gpu --variant all
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="auto", help="'auto', a dataset name or a prepared folder")
    parser.add_argument(
        "--profile", choices=("smoke", "cpu", "gpu"), default=None, help="run profile (default: COURSE_PROFILE)"
    )
    parser.add_argument(
        "--variant", action="append", default=None, help="variant name (repeatable) or 'all'; see --list"
    )
    parser.add_argument("--recipe", choices=("seed", "paper", "fast"), default=None, help="default: the profile's")
    parser.add_argument("--runs", default=None, help="run folders go here (default runs/<profile>/ablations)")
    parser.add_argument("--out", default=None, help="folder of the reference runs (default: the package's)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile

    sys.path.insert(0, str(ROOT))
    from course_utils import data, datasets, experiments, reference_runs
    from course_utils.config import get_profile, runs_dir
    from course_utils.training.config import TrainConfig

    profile = get_profile()
    variants = {v.name: v for v in experiments.paper_variants(profile)}
    if args.list:
        for v in variants.values():
            print(f"{v.name:<24} {v.describe()}")
        return 0
    names = list(variants) if not args.variant or args.variant == ["all"] else args.variant
    unknown = [n for n in names if n not in variants]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from: {', '.join(variants)}")

    try:
        root = datasets.find_dataset(args.dataset)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    info = data.load_info(root)
    config = TrainConfig.from_profile(profile, recipe=args.recipe, dataset=info.name, tensorboard=False)
    run_root = Path(args.runs) if args.runs else runs_dir() / profile.name / "ablations"
    for name in names:
        variant = variants[name]
        slug = f"{info.name}-{name.lower().replace(' ', '-')}"
        print(f"== {name}: {variant.describe()} on {info.name} ({profile.name} profile, {config.recipe} recipe)")
        command = (
            f"python tools/run_ablations.py --dataset {shlex.quote(args.dataset)} --profile {profile.name} "
            f"--recipe {config.recipe} --variant {shlex.quote(name)}"
        )
        start = time.perf_counter()
        row = experiments.run_variant(variant, config, root, run_root / slug)
        if row["status"] != "trained":
            print(row["status"])
            continue
        splits = [split for split in ("val", "test") if split in (info.counts or {})]
        ref = reference_runs.store_reference_run(
            run_root / slug,
            root,
            f"{slug}-{profile.name}",
            command=command,
            description=f"{variant.describe()} on {info.name}, {profile.name} profile, {config.recipe} recipe",
            splits=splits,
            wall_seconds=time.perf_counter() - start,
            out_dir=args.out,
            extra={"variant": name, "params": row["params"], "seconds_per_epoch": row["seconds_per_epoch"]},
        )
        scores = ", ".join(f"{split} mIoU {ref.miou(split):.4f}" for split in splits)
        print(f"{name}: {scores}; stored as reference run {ref.name} in {ref.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
