#!/usr/bin/env python
"""Store a finished training run as one of the course's reference runs.

Evaluates the run's ``best.keras`` at the labels' native resolution and writes
``course_utils/reference_runs/<name>/`` (scores, history, curves, gallery, the
command, hardware, wall time and commit): see :mod:`course_utils.reference_runs`.

Two ways to use it. With ``--train``, one command trains, times, scores and stores
(this is how every stored CamVid run was made)::

    python tools/store_reference_run.py --dataset camvid --name camvid-abl-os8 \\
        --description "cpu recipe, 8 epochs, output stride 8" \\
        --train "--profile cpu --epochs 8 --output-stride 8"

It runs ``python -m course_utils train --dataset DATASET <TRAIN ARGS> --run-dir
runs/reference/NAME --no-tensorboard``, records that command, the wall time, the
machine's load while it trained (``idle`` or ``shared``) and the commit, then scores
``best.keras`` at the labels' native resolution.

Or store a run trained earlier::

    python tools/store_reference_run.py --run-dir runs/camvid-resnet18-fast --dataset camvid \\
        --name camvid-cpu --wall-seconds 2580 \\
        --command "python -m course_utils train --dataset camvid --profile cpu" \\
        --description "DeepLabV3-ResNet-18 from scratch on CamVid, cpu profile recipe"
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=None, help="the finished run folder")
    parser.add_argument(
        "--train",
        default=None,
        metavar="ARGS",
        help="train first: these options of `python -m course_utils train` (quoted, one string)",
    )
    parser.add_argument("--dataset", required=True, help="the prepared dataset it was trained on (name or folder)")
    parser.add_argument("--name", required=True, help="reference run name (a folder name, e.g. camvid-cpu)")
    parser.add_argument("--command", default=None, help="the one command that reproduces the training")
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
    from course_utils import datasets, reference_runs, tables

    extra = dict(item.split("=", 1) for item in args.note if "=" in item)
    if args.train is not None:
        if args.run_dir is None:
            args.run_dir = ROOT / "runs" / "reference" / args.name
        command = (
            f"python -m course_utils train --dataset {shlex.quote(args.dataset)} {args.train} "
            f"--run-dir {shlex.quote(str(args.run_dir))} --no-tensorboard"
        )
        print(f"training: {command}", flush=True)
        start, cpu_start = time.perf_counter(), os.times()
        rc = subprocess.call([sys.executable, "-m", "course_utils", *shlex.split(command)[3:]], cwd=ROOT)
        if rc != 0:
            print(f"error: training exited with {rc}; nothing stored.", file=sys.stderr)
            return rc
        wall = time.perf_counter() - start
        cpu_end = os.times()
        cpu = (cpu_end.children_user + cpu_end.children_system) - (cpu_start.children_user + cpu_start.children_system)
        load = os.getloadavg()[2]
        # the training alone would keep the cores busy: a 15-minute load well above the core count means
        # other jobs shared the machine
        state = "idle" if load <= (os.cpu_count() or 1) + 0.5 else "shared"
        extra["store_command"] = "python tools/store_reference_run.py " + shlex.join(
            sys.argv[1:] if argv is None else argv
        )
        extra.update(machine_state=state, load_average_15min=f"{load:.1f}", training_cpu_seconds=f"{cpu:.0f}")
        args.command = args.command or command.replace(f" --run-dir {shlex.quote(str(args.run_dir))}", "")
        args.wall_seconds = args.wall_seconds or wall
    if args.run_dir is None or args.command is None:
        parser.error("give --train, or --run-dir and --command of a finished run.")
    if not (args.run_dir / "best.keras").is_file():
        parser.error(f"{args.run_dir / 'best.keras'} not found: train the run first.")
    ref = reference_runs.store_reference_run(
        args.run_dir,
        datasets.find_dataset(args.dataset),
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
    print(tables.per_class_table(ref.splits["val"]["per_class_iou"]))
    if "tta" in ref.meta:
        print(f"TTA {ref.meta['tta']['scales']} + flip: {ref.meta['tta']['miou']:.4f} ({ref.meta['tta']['gain']:+.4f})")
    if "colour_baseline" in ref.meta:
        print(f"colour baseline: {ref.meta['colour_baseline']['miou']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
