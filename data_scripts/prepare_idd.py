#!/usr/bin/env python
"""Prepare the IDD segmentation release at level 1 (7 classes + void) in the course's format.

Reads leftImg8bit/<split>/<seq>/<id>_leftImg8bit.png with gtFine/<split>/<seq>/
<id>_gtFine_labellevel1Ids.png where present, otherwise rasterises
<id>_gtFine_polygons.json with the official level-1 mapping. IDD's test labels are
private: --test-fraction moves a seeded part of train into a test split.

Example:
    python data_scripts/prepare_idd.py --root IDD_Segmentation --out data/idd --test-fraction 0.1
"""

from __future__ import annotations

import argparse
import sys

from course_utils.datasets.common import BadPairError
from course_utils.datasets.idd import prepare_idd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="IDD folder holding leftImg8bit/ and gtFine/")
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    parser.add_argument("--height", type=int, default=240, help="output height (default 240)")
    parser.add_argument("--width", type=int, default=480, help="output width (default 480)")
    parser.add_argument("--test-fraction", type=float, default=0.0,
                        help="fraction of train moved to a seeded test split (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test split (default 0)")
    parser.add_argument("--skip-bad", action="store_true", help="leave out bad pairs and list them")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    try:
        result = prepare_idd(args.root, args.out, size=(args.height, args.width),
                             test_fraction=args.test_fraction, seed=args.seed, skip_bad=args.skip_bad,
                             overwrite=args.overwrite, progress=True)
    except (ValueError, FileNotFoundError, FileExistsError, BadPairError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for item in result.excluded:
        print(f"excluded: {item}")
    print(f"IDD level 1 written to {result.root}: {result.counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
