"""The options and error handling every dataset preparation script (``data_scripts/``) shares."""

from __future__ import annotations

import sys
from collections.abc import Callable

from course_utils.cli.errors import CLI_ERRORS, interrupted, one_line
from course_utils.cli.options import int_at_least


def add_prepare_arguments(parser, default_size: tuple[int, int] | None = None) -> None:
    """Add the options every preparation script shares: output size, --skip-bad, --overwrite."""
    hint = f" (default {default_size[0]}x{default_size[1]})" if default_size else " (default: keep the size)"
    parser.add_argument(
        "--height",
        type=int_at_least(1),
        default=default_size[0] if default_size else None,
        help="output height; labels are resized with nearest neighbour" + hint,
    )
    parser.add_argument(
        "--width",
        type=int_at_least(1),
        default=default_size[1] if default_size else None,
        help="output width; labels are resized with nearest neighbour" + hint,
    )
    parser.add_argument("--skip-bad", action="store_true", help="leave out bad pairs and list them")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out that holds a prepared dataset of this kind"
    )


def check_size_option(parser, size) -> None:
    """``parser.error`` (exit status 2) when ``--height``/``--width`` cannot fit in memory."""
    from course_utils.datasets.writer import SCENE_BYTES_PER_PIXEL, check_size_fits

    try:
        check_size_fits(size, "--height --width", bytes_per_pixel=SCENE_BYTES_PER_PIXEL)
    except ValueError as err:
        parser.error(str(err))


def size_from_args(parser, args) -> tuple[int, int] | None:
    """The ``(height, width)`` the arguments ask for, or ``None``; both or neither must be given."""
    if (args.height is None) != (args.width is None):
        parser.error("give both --height and --width, or neither")
    if args.height is not None:
        check_size_option(parser, (args.height, args.width))
    return (args.height, args.width) if args.height else None


def run_preparation(name: str, prepare: Callable[[], object]) -> int:
    """Run ``prepare()``, print excluded pairs and counts; one-line error and status 2 on bad input."""
    try:
        result = prepare()
    except CLI_ERRORS as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return interrupted("nothing written (the partial output was removed; a download resumes on the next run)")
    for item in result.excluded:
        print(f"excluded: {item}")
    print(f"{name} written to {result.root}: {result.counts}")
    return 0
