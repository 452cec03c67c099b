#!/usr/bin/env python
"""Prepare Cityscapes (fine annotations, 19 train ids + void 255) in the course's format.

Reads leftImg8bit/<split>/<city>/<id>_leftImg8bit.png and
gtFine/<split>/<city>/<id>_gtFine_labelIds.png for train and val (the public test
labels are placeholders) and maps label ids to train ids with the official table.

Example:
    python data_scripts/prepare_cityscapes.py --root cityscapes --out data/cityscapes --height 512 --width 1024
"""

from __future__ import annotations

import argparse
import sys

from course_utils.cli.prepare import add_prepare_arguments, run_preparation, size_from_args
from course_utils.datasets.cityscapes import prepare_cityscapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="Cityscapes folder holding leftImg8bit/ and gtFine/")
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    add_prepare_arguments(parser)
    args = parser.parse_args(argv)
    size = size_from_args(parser, args)
    return run_preparation(
        "Cityscapes",
        lambda: prepare_cityscapes(
            args.root, args.out, size=size, skip_bad=args.skip_bad, overwrite=args.overwrite, progress=True
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
