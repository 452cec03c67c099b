#!/usr/bin/env python
"""Store a finished training run as one of the course's reference runs.

Evaluates the run's ``best.keras`` at the labels' native resolution and writes
``course_utils/reference_runs/<name>/`` (scores, history, curves, gallery, the
command, hardware, wall time and commit): see :mod:`course_utils.reference_runs`.

Example (after ``python -m course_utils train --dataset camvid --profile cpu``)::

    python tools/store_reference_run.py --run-dir runs/camvid-resnet18-fast --dataset camvid \\
        --name camvid-cpu --wall-seconds 2580 \\
        --command "python -m course_utils train --dataset camvid --profile cpu" \\
        --description "DeepLabV3-ResNet-18 from scratch on CamVid, cpu profile recipe"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", required=True, type=Path, help="the finished run folder")
    parser.add_argument("--dataset", required=True, help="the prepared dataset it was trained on (name or folder)")
    parser.add_argument("--name", required=True, help="reference run name (a folder name, e.g. camvid-cpu)")
    parser.add_argument("--command", required=True, help="the one command that reproduces the training")
    parser.add_argument("--description", required=True, help="one line for people")
    parser.add_argument("--wall-seconds", type=float, default=None, help="the training's wall time")
    parser.add_argument("--hardware", default=None, help="what it ran on (default: this machine)")
    parser.add_argument("--splits", nargs="+", default=["val"])
    parser.add_argument("--tta-scales", type=float, nargs="+", default=[0.75, 1.0, 1.25, 1.5])
    parser.add_argument("--note", action="append", default=[], metavar="KEY=VALUE", help="extra metadata")
    parser.add_argument("--out", type=Path, default=None, help="parent folder (default: the package's)")
    parser.add_argument("--commit", default=None, help="the commit the run was trained with (default: HEAD)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from course_utils import data, reference_runs

    if not (args.run_dir / "best.keras").is_file():
        parser.error(f"{args.run_dir / 'best.keras'} not found: train the run first.")
    extra = dict(item.split("=", 1) for item in args.note if "=" in item)
    ref = reference_runs.store_reference_run(
        args.run_dir,
        data.find_dataset(args.dataset),
        args.name,
        command=args.command,
        description=args.description,
        splits=args.splits,
        wall_seconds=args.wall_seconds,
        hardware=args.hardware,
        tta_scales=args.tta_scales,
        out_dir=args.out,
        extra=extra,
        commit=args.commit,
    )
    print(ref.describe())
    print(reference_runs.reference_table([ref]))
    print(reference_runs.per_class_table(ref))
    if "tta" in ref.meta:
        print(f"TTA {ref.meta['tta']['scales']} + flip: {ref.meta['tta']['miou']:.4f} ({ref.meta['tta']['gain']:+.4f})")
    if "colour_baseline" in ref.meta:
        print(f"colour baseline: {ref.meta['colour_baseline']['miou']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
