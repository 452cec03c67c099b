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

from course_utils.cli.options import float_in, int_at_least
from course_utils.cli.prepare import add_prepare_arguments, run_preparation, size_from_args
from course_utils.datasets.idd import prepare_idd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="IDD folder holding leftImg8bit/ and gtFine/")
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    parser.add_argument(
        "--test-fraction",
        type=float_in(0.0, 0.99),
        default=0.0,
        help="fraction of train, in [0, 0.99], moved to a seeded test split (default 0)",
    )
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the test split (default 0)")
    add_prepare_arguments(parser, default_size=(240, 480))
    args = parser.parse_args(argv)
    size = size_from_args(parser, args)
    return run_preparation(
        "IDD level 1",
        lambda: prepare_idd(
            args.root,
            args.out,
            size=size,
            test_fraction=args.test_fraction,
            seed=args.seed,
            skip_bad=args.skip_bad,
            overwrite=args.overwrite,
            progress=True,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
