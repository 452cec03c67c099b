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

from course_utils.datasets.cityscapes import prepare_cityscapes
from course_utils.datasets.common import BadPairError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="Cityscapes folder holding leftImg8bit/ and gtFine/")
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    parser.add_argument("--height", type=int, help="resize height (labels: nearest neighbour)")
    parser.add_argument("--width", type=int, help="resize width (labels: nearest neighbour)")
    parser.add_argument("--skip-bad", action="store_true", help="leave out bad pairs and list them")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    if (args.height is None) != (args.width is None):
        parser.error("give both --height and --width, or neither")
    size = (args.height, args.width) if args.height else None
    try:
        result = prepare_cityscapes(args.root, args.out, size=size, skip_bad=args.skip_bad,
                                    overwrite=args.overwrite, progress=True)
    except (ValueError, FileNotFoundError, FileExistsError, BadPairError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for item in result.excluded:
        print(f"excluded: {item}")
    print(f"Cityscapes written to {result.root}: {result.counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
