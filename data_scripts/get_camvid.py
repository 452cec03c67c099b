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
import re
import sys
from pathlib import Path

from course_utils.cli.prepare import add_prepare_arguments, run_preparation, size_from_args
from course_utils.datasets.camvid import CAMVID_URL, download_camvid, prepare_camvid
from course_utils.datasets.writer import check_out_apart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created atomically)")
    parser.add_argument("--source", help="local CamVid folder in the SegNet layout (skips the download)")
    parser.add_argument("--cache", default=None, help="download folder (default: <out>.download)")
    parser.add_argument("--url", default=CAMVID_URL, help="archive URL (default: SegNet tutorial on GitHub)")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive, to pin a known copy")
    add_prepare_arguments(parser)
    args = parser.parse_args(argv)
    size = size_from_args(parser, args)
    if args.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        parser.error("--sha256 must be 64 hexadecimal digits")
    if not args.url.startswith(("https://", "http://", "file://")):
        parser.error("--url must start with https://, http:// or file://")

    def prepare():
        if args.source:
            source = Path(args.source)
        else:
            cache = Path(args.cache) if args.cache else Path(str(Path(args.out)) + ".download")
            check_out_apart(args.out, cache, "--cache")
            source = download_camvid(cache, url=args.url, sha256=args.sha256, progress=True)
        return prepare_camvid(
            source, args.out, size=size, skip_bad=args.skip_bad, overwrite=args.overwrite, progress=True
        )

    return run_preparation("CamVid", prepare)


if __name__ == "__main__":
    sys.exit(main())
