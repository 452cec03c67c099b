"""Crash-safe writing: atomic files, early writability checks, CSV histories that a resume trims.

A file is written under a temporary name in its own folder and renamed into
place with :func:`os.replace` (atomic on POSIX and Windows), so a kill at any
moment leaves either the previous file or the new one, never a truncated file.
Temporary names carry the writer's process id; :func:`remove_stale_temps`
deletes those of processes that no longer run.

The crash-safe training callbacks built on these (``ModelCheckpoint``,
``CSVLogger``, ``BackupAndRestore``) live in :mod:`course_utils.training.callbacks`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "UnwritablePathError",
    "atomic_path",
    "atomic_write_text",
    "atomic_write_json",
    "remove_stale_temps",
    "check_writable",
    "trim_csv",
    "pid_alive",
    "read_csv_rows",
    "write_csv_rows",
]

_TEMP_RE = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]{8}")


class UnwritablePathError(ValueError):
    """A path the command must write to cannot be written (one-line message with the fix)."""


# ------------------------------------------------------------------------- atomic files


def _temp_name(path: Path) -> Path:
    """``.<stem>.tmp-<pid>-<hex><suffix>`` next to ``path`` (keeps the suffix: Keras checks it)."""
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Whatever is written to the yielded path (a file or a folder) becomes
    ``path`` only when the ``with`` block ends without an exception; otherwise
    it is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with _naming(path):
            yield tmp
        if tmp.is_dir() and path.is_dir():
            old = _temp_name(path.with_name(path.name + ".old"))
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Give an ``OSError`` raised without a file name (a full disk inside a writer) the name of ``path``."""
    try:
        yield
    except OSError as err:
        if err.filename or not err.errno:
            raise
        raise type(err)(err.errno, err.strerror or os.strerror(err.errno), str(path)) from err


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, flushed to disk before the rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a temporary name's writer, a preparation's owner)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # exists, owned by someone else (or not a valid pid)
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files/folders left in ``folder`` by killed writers; returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TEMP_RE.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


# ------------------------------------------------------------------- writability check


def check_writable(path: str | os.PathLike, *, folder: bool, option: str = "--out") -> Path:
    """Fail early, with the fix, when ``path`` cannot be created or written; creates nothing.

    Args:
        path: the file (``folder=False``) or folder (``folder=True``) a command
            will write.
        option: the command-line option that named it (for the message).

    Raises:
        UnwritablePathError: the path (or a parent) is occupied by the wrong
            kind of entry, or its nearest existing folder is not writable.
    """
    p = Path(path).expanduser().absolute()
    if p.exists():
        if folder and not p.is_dir():
            raise UnwritablePathError(
                f"{option} {p} is a file, not a folder: choose another {option} or move the file away."
            )
        if not folder and p.is_dir():
            raise UnwritablePathError(
                f"{option} {p} is a folder, not a file: pass a file path such as {p / 'results.json'}."
            )
    base = p if (folder and p.is_dir()) else p.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise UnwritablePathError(
            f"Cannot create {p}: {base} is a file, not a folder. Choose another {option} or move {base} away."
        )
    try:  # os.access ignores read-only mounts and root's rights: really try
        fd, probe = _probe(base)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UnwritablePathError(
            f"Cannot write to {base} ({err.strerror or err}): choose a writable {option} or fix the "
            "folder's permissions."
        ) from err
    if p.exists() and not folder and not os.access(p, os.W_OK):
        raise UnwritablePathError(f"{p} is read-only: choose another {option} or make the file writable.")
    return p


def _probe(folder: Path) -> tuple[int, str]:
    name = str(folder / f".write-probe.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    return os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), name


# ------------------------------------------------------------------------- histories


def read_csv_rows(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if r.get("epoch") not in (None, "")]
        return list(reader.fieldnames or []), rows


def write_csv_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, restval="", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def trim_csv(path: str | os.PathLike, keep_epochs: int) -> None:
    """Drop (atomically) the rows of epochs ``>= keep_epochs`` (those a resumed run repeats)."""
    path = Path(path)
    fields, rows = read_csv_rows(path)
    if not fields:
        return
    kept = []
    for r in rows:
        try:
            if int(float(r["epoch"])) < keep_epochs:
                kept.append(r)
        except ValueError:
            continue  # a damaged row: drop it
    write_csv_rows(path, fields, kept)
