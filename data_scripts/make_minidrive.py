#!/usr/bin/env python
"""Generate MiniDrive, the course's offline road-scene dataset (7 IDD level-1 classes + void).

Example:
    python data_scripts/make_minidrive.py --out data/minidrive --train 400 --val 100 --test 100
"""

from __future__ import annotations

import argparse
import sys
import time

from course_utils.cli.errors import CLI_ERRORS, interrupted, one_line
from course_utils.cli.options import int_at_least
from course_utils.cli.prepare import check_size_option
from course_utils.datasets.minidrive import build_minidrive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    parser.add_argument("--train", type=int_at_least(1), default=400, help="training scenes, >= 1 (default 400)")
    parser.add_argument("--val", type=int_at_least(1), default=100, help="validation scenes, >= 1 (default 100)")
    parser.add_argument(
        "--test", type=int_at_least(0), default=100, help="test scenes; 0 writes no test split (default 100)"
    )
    parser.add_argument("--height", type=int_at_least(16), default=240, help="scene height, >= 16 (default 240)")
    parser.add_argument("--width", type=int_at_least(16), default=480, help="scene width, >= 16 (default 480)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out that holds a MiniDrive dataset"
    )
    args = parser.parse_args(argv)
    check_size_option(parser, (args.height, args.width))
    start = time.perf_counter()
    try:
        out = build_minidrive(
            args.out,
            args.train,
            args.val,
            args.test,
            args.height,
            args.width,
            args.seed,
            overwrite=args.overwrite,
            progress=True,
        )
    except CLI_ERRORS as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return interrupted("nothing written (the partial dataset was removed)")
    print(
        f"MiniDrive written to {out} in {time.perf_counter() - start:.1f} s "
        f"(train {args.train}, val {args.val}, test {args.test}, {args.height}x{args.width})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
