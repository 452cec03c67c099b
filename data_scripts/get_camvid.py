#!/usr/bin/env python
"""Get CamVid (SegNet split: 11 classes, 360x480, void 11 -> 255) in the course's prepared format.

Without --source the SegNet tutorial archive is downloaded from GitHub (resumable;
kept in --cache) and its CamVid folder converted. With --source a local copy in the
same layout (train/, trainannot/, val/, valannot/[, test/, testannot/]) is used.
A copy without a test split yields train and val only.

Examples:
    python data_scripts/get_camvid.py --out data/camvid
    python data_scripts/get_camvid.py --source PATH/TO/CamVid --out data/camvid
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.datasets.camvid import CAMVID_URL, download_camvid, prepare_camvid
from course_utils.datasets.common import BadPairError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    parser.add_argument("--source", help="local CamVid folder in the SegNet layout (skips the download)")
    parser.add_argument("--cache", default=None, help="download folder (default: <out>.download)")
    parser.add_argument("--url", default=CAMVID_URL, help="archive URL (default: SegNet tutorial on GitHub)")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive, to pin a known copy")
    parser.add_argument("--height", type=int, help="resize height (labels: nearest neighbour)")
    parser.add_argument("--width", type=int, help="resize width (labels: nearest neighbour)")
    parser.add_argument("--skip-bad", action="store_true", help="leave out bad pairs and list them")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    if (args.height is None) != (args.width is None):
        parser.error("give both --height and --width, or neither")
    size = (args.height, args.width) if args.height else None
    try:
        if args.source:
            source = Path(args.source)
        else:
            cache = Path(args.cache) if args.cache else Path(str(Path(args.out)) + ".download")
            source = download_camvid(cache, url=args.url, sha256=args.sha256, progress=True)
        result = prepare_camvid(source, args.out, size=size, skip_bad=args.skip_bad,
                                overwrite=args.overwrite, progress=True)
    except (ConnectionError, ValueError, FileNotFoundError, FileExistsError, BadPairError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for item in result.excluded:
        print(f"excluded: {item}")
    print(f"CamVid written to {result.root}: {result.counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
