"""Command line: ``python -m course_utils train|evaluate|predict|export``.

Long runs (a GPU training of 50+ epochs) belong here rather than in a
notebook. Every size defaults to the run profile (``--profile`` or
``COURSE_PROFILE``); flags override single values.

Examples::

    python -m course_utils train --dataset auto --profile cpu
    python -m course_utils evaluate --checkpoint runs/minidrive-cpu/best.keras --splits val test
    python -m course_utils predict street.png --checkpoint runs/minidrive-cpu/best.keras --out preds/
    python -m course_utils export --checkpoint runs/minidrive-cpu/best.keras --out exported/

Bad input (a missing checkpoint, an unreadable image, a model trained for
another number of classes, an option out of range, a folder that cannot be
written) ends with a one-line message and exit status 2, before any long work.
A finished run is never overwritten unless ``--overwrite`` is given: a new
folder ``<run-dir>-2`` is used instead (see :mod:`course_utils.training.runs`); a folder
another training is writing into (its lock file) or that is not a run folder of
the course is refused. ``predict`` never replaces a file it did not write, and
its own earlier outputs only with ``--overwrite``. Ctrl-C ends any command with
one line and exit status 130.
"""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ INFO lines (XLA service start, "Compiled cluster using XLA!") are machine noise
# in a terminal; warnings and errors still show. Set before TensorFlow loads; a user's value wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from course_utils.cli.commands import COMMANDS, EXIT_BAD_INPUT, EXIT_DIVERGED, CLIError  # noqa: E402
from course_utils.cli.errors import interrupted, one_line  # noqa: E402
from course_utils.cli.options import build_parser  # noqa: E402
from course_utils.cli.outputs import interrupted_what  # noqa: E402

__all__ = ["main", "build_parser", "COMMANDS", "CLIError", "EXIT_BAD_INPUT", "EXIT_DIVERGED"]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    if getattr(args, "profile", None):
        os.environ["COURSE_PROFILE"] = args.profile
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return interrupted(interrupted_what(args))
    except (CLIError, OSError, ValueError, RuntimeError) as err:  # OSError: not found, permission, disk full
        if args.debug:
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
