"""How a command ends on bad input or Ctrl-C: one line on stderr and an exit status."""

from __future__ import annotations

import errno
import sys

#: Exit status of bad input (a one-line message, before any long work).
EXIT_BAD_INPUT = 2
#: Exit status of a training whose loss diverged.
EXIT_DIVERGED = 3
#: Exit status of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Errors a command reports as one line (exit status 2) instead of a traceback.
CLI_ERRORS = (ConnectionError, ValueError, FileNotFoundError, FileExistsError, OSError)


class CLIError(Exception):
    """Bad input: printed as one line, exit status 2."""


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line; an OS error names its path and the usual fix."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {err.filename}" if err.filename else ""
        return (
            f"The disk is full (no space left on device){where}: free some space on that disk, or write to "
            "another disk (another --out or --run-dir), and run the command again; nothing half-written was kept."
        )
    if isinstance(err, OSError) and err.filename and err.strerror and str(err).startswith("["):
        return (
            f"{err.strerror}: {err.filename}. Choose another location or fix the permissions "
            "(and free space) of that folder."
        )
    return " ".join(str(err).split())


def interrupted(what: str) -> int:
    """Print ``interrupted; <what>`` as one line on stderr and return :data:`EXIT_INTERRUPTED` (Ctrl-C)."""
    print(f"interrupted; {what}", file=sys.stderr)
    return EXIT_INTERRUPTED
