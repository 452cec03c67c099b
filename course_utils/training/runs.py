"""Run folders: never destroy a finished run, resume only a matching unfinished one.

A run folder (``runs/<dataset>-<backbone>-<recipe>`` by default) is in one of
three states:

``new``
    missing, empty, or holding none of the files a run produces;
``unfinished``
    it has ``backup/`` (an interrupted run): training resumes it;
``finished``
    it has ``history.csv``, ``best.keras`` or ``final.keras`` and no backup.

A finished run is never replaced implicitly: :func:`choose_run_dir` picks a
fresh sibling with a numeric suffix (``-2``, ``-3`` ...) unless the caller asks
to overwrite it, and then only the files a run writes are deleted. A resume
whose configuration differs from the run's ``config.json`` is refused
(:func:`check_resume`) before anything is written.

Everything here is a pure function of the file system; nothing trains.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RUN_OUTPUTS",
    "RESUME_KEYS",
    "RunChoice",
    "run_state",
    "choose_run_dir",
    "clear_run",
    "check_resume",
    "RunLockedError",
    "LOCK_FILE",
    "acquire_run_lock",
    "release_run_lock",
    "check_run_lock",
    "check_run_folder",
    "choose_library_run_dir",
    "finish_run",
    "candidate_run_dirs",
    "training_target",
]

#: Files and folders that a training run writes into its folder (and that --overwrite may delete).
RUN_OUTPUTS = (
    "history.csv",
    "best.keras",
    "final.keras",
    "curves.png",
    "config.json",
    "logs",
    "backup",
)
#: Outputs whose presence makes a run folder "finished" (worth keeping).
_RESULT_FILES = ("history.csv", "best.keras", "final.keras")
#: Training settings a resumed run must share with the interrupted one.
RESUME_KEYS = ("backbone", "recipe", "decoder", "output_stride")
POLICIES = ("suffix", "overwrite", "error")


@dataclass(frozen=True)
class RunChoice:
    """Where a training run goes and why (``message`` is one line for the user)."""

    path: Path
    action: str  # "new", "resume", "suffix" or "overwrite"
    message: str


def run_state(run_dir: str | os.PathLike) -> str:
    """``"new"``, ``"unfinished"`` or ``"finished"`` (see the module docstring)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return "new"
    if (run_dir / "backup").is_dir():
        return "unfinished"
    if any((run_dir / name).exists() for name in _RESULT_FILES) or any(run_dir.glob("results-*.json")):
        return "finished"
    return "new"


def _suffixed(run_dir: Path) -> Path:
    n = 2
    while True:
        candidate = run_dir.with_name(f"{run_dir.name}-{n}")
        if run_state(candidate) == "new" and not (candidate.exists() and not candidate.is_dir()):
            return candidate
        n += 1


def choose_run_dir(run_dir: str | os.PathLike, policy: str = "suffix") -> RunChoice:
    """Decide where a training run writes, without touching anything.

    Args:
        run_dir: the requested run folder.
        policy: what to do when it holds a finished run: ``"suffix"`` (a new
            sibling folder ``<name>-2``, ``-3``...), ``"overwrite"`` (replace its
            run outputs; other files stay) or ``"error"``.

    Raises:
        FileExistsError: ``policy="error"`` and the run is finished, or
            ``run_dir`` is a file.
        ValueError: unknown policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"Unknown run folder policy {policy!r}; use one of {POLICIES}.")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(f"Run folder {run_dir} is a file: pass another --run-dir or move the file away.")
    state = run_state(run_dir)
    if state == "new":
        return RunChoice(run_dir, "new", f"New run in {run_dir}.")
    if state == "unfinished":
        return RunChoice(run_dir, "resume", f"Resuming the unfinished run in {run_dir} (it has backup/).")
    if policy == "overwrite":
        return RunChoice(run_dir, "overwrite", f"Overwriting the finished run in {run_dir} (--overwrite).")
    if policy == "error":
        raise FileExistsError(f"{run_dir} holds a finished run; pass another --run-dir, or --overwrite to replace it.")
    new = _suffixed(run_dir)
    return RunChoice(
        new,
        "suffix",
        f"{run_dir} holds a finished run, kept; this run goes to {new} (pass --overwrite to replace it).",
    )


def clear_run(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the outputs a run wrote (``RUN_OUTPUTS`` and ``results-*.json``); other files stay."""
    run_dir = Path(run_dir)
    removed = []
    if not run_dir.is_dir():
        return removed
    targets = [run_dir / n for n in RUN_OUTPUTS] + sorted(run_dir.glob("results-*.json"))
    for p in targets:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        else:
            continue
        removed.append(p)
    return removed


def check_resume(
    run_dir: str | os.PathLike,
    config: dict,
    dataset: str,
    classes: list[str] | tuple[str, ...],
) -> None:
    """Refuse to resume a run whose ``config.json`` disagrees with this one; reads only.

    Args:
        run_dir: the unfinished run folder.
        config: this run's ``TrainConfig.to_dict()``.
        dataset: this run's dataset folder name.
        classes: this run's class names.

    Raises:
        ValueError: one line naming the differences and the fix.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return  # killed before config.json was written: nothing to compare
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValueError(
            f"{path} is unreadable, so the interrupted run cannot be checked before resuming; "
            "pass another --run-dir (or delete the folder to start over)."
        ) from None
    old_cfg = stored.get("config") or {}
    diffs = [
        f"{key} {old_cfg.get(key)!r} -> {config.get(key)!r}"
        for key in RESUME_KEYS
        if key in old_cfg and old_cfg.get(key) != config.get(key)
    ]
    if stored.get("dataset") not in (None, dataset):
        diffs.append(f"dataset {stored.get('dataset')!r} -> {dataset!r}")
    old_classes = stored.get("classes")
    if old_classes is not None and list(old_classes) != list(classes):
        diffs.append(
            f"classes {len(old_classes)} ({', '.join(old_classes[:3])}...) -> {len(classes)} ({', '.join(classes[:3])}...)"
        )
    meta = Path(run_dir) / "backup" / "training_metadata.json"
    try:
        done = int(json.loads(meta.read_text(encoding="utf-8"))["epoch"]) if meta.is_file() else 0
    except (OSError, ValueError, KeyError, TypeError):
        done = 0
    epochs = config.get("epochs")
    if epochs is not None and done >= int(epochs) > 0:
        raise ValueError(
            f"Cannot resume the interrupted run in {Path(run_dir)}: it has already done {done} epoch(s) and "
            f"--epochs is {epochs}; pass --epochs larger than {done} to continue it, or another --run-dir."
        )
    if diffs:
        raise ValueError(
            f"Cannot resume the interrupted run in {Path(run_dir)}: its config.json differs "
            f"({'; '.join(diffs)}). Pass another --run-dir, or the run's own settings to finish it."
        )


# ------------------------------------------------------------ notebook runs: never over a finished run


def candidate_run_dirs(run_dir: Path) -> list[Path]:
    """``run_dir`` and its existing numbered siblings ``<run_dir>-2``, ``-3``... (where changed configs went)."""
    found = [run_dir]
    n = 2
    while run_dir.with_name(f"{run_dir.name}-{n}").is_dir():
        found.append(run_dir.with_name(f"{run_dir.name}-{n}"))
        n += 1
    return found


def training_target(run_dir: Path) -> Path:
    """Where :func:`course_utils.experiments.load_or_train` trains: ``run_dir`` unless it holds a finished run (then a new sibling).

    Prints one line when the finished run is kept and the new run goes elsewhere.
    """
    if run_state(run_dir) != "finished":
        return run_dir
    new = _suffixed(run_dir)
    print(
        f"{run_dir} holds a finished run of another configuration (or an unreadable checkpoint), kept; "
        f"this configuration is trained into {new}."
    )
    return new


# ------------------------------------------------------------ one writer per run folder

#: Lock file of a run folder while a training writes into it (holds the owner's pid and host).
LOCK_FILE = ".training.lock"


class RunLockedError(RuntimeError):
    """Another live process is training into the run folder."""


def _read_lock(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _lock_alive(owner: dict | None) -> bool:
    """Whether the lock's owner still runs (a lock of another machine is taken as alive)."""
    import socket

    from course_utils.safe_io import pid_alive

    if not isinstance(owner, dict):
        return False  # unreadable: a writer killed while writing it
    if owner.get("host") not in (None, socket.gethostname()):
        return True
    try:
        pid = int(owner.get("pid"))
    except (TypeError, ValueError):
        return False
    return pid != os.getpid() and pid_alive(pid)


def _locked_message(run_dir: Path, owner: dict) -> str:
    return (
        f"{run_dir} is being trained by another process (pid {owner.get('pid')} on {owner.get('host')}, "
        f"since {owner.get('started', '?')}; lock file {run_dir / LOCK_FILE}): wait for it to finish, "
        "pass another --run-dir, or delete the lock file if that process is gone."
    )


def check_run_lock(run_dir: str | os.PathLike) -> None:
    """Raise :class:`RunLockedError` when a live process holds ``run_dir``'s lock; reads only."""
    run_dir = Path(run_dir)
    owner = _read_lock(run_dir / LOCK_FILE)
    if (run_dir / LOCK_FILE).exists() and _lock_alive(owner):
        raise RunLockedError(_locked_message(run_dir, owner))


def acquire_run_lock(run_dir: str | os.PathLike) -> Path:
    """Create ``run_dir/.training.lock`` (pid, host, start time) atomically; a stale lock is replaced.

    Raises:
        RunLockedError: a live process holds the lock.
    """
    import socket
    import time

    run_dir = Path(run_dir)
    path = run_dir / LOCK_FILE
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            current = _read_lock(path)
            if _lock_alive(current):
                raise RunLockedError(_locked_message(run_dir, current)) from None
            path.unlink(missing_ok=True)  # stale: its owner is gone
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(owner, fh)
        return path
    raise RunLockedError(f"Could not take the lock {path}: another process keeps replacing it; retry.")


def release_run_lock(run_dir: str | os.PathLike) -> None:
    """Delete ``run_dir``'s lock when this process holds it."""
    path = Path(run_dir) / LOCK_FILE
    owner = _read_lock(path)
    if isinstance(owner, dict) and owner.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


# ------------------------------------------------------------ only course run folders


def _is_course_config(path: Path) -> bool:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(stored, dict) and isinstance(stored.get("config"), dict)


def check_run_folder(run_dir: str | os.PathLike, option: str = "--run-dir") -> None:
    """Refuse a folder that holds files but is not a run folder of the course; reads only.

    A run folder is missing, empty, or has the ``config.json`` a course run
    writes (``{"config": {...}, ...}``); hidden lock and temporary files alone
    do not count.

    Raises:
        FileExistsError: one line naming the folder, what is in it and the fix.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    entries = [p for p in run_dir.iterdir() if not (p.name == LOCK_FILE or ".tmp-" in p.name)]
    if not entries or _is_course_config(run_dir / "config.json"):
        return
    why = (
        "its config.json is not one a course run writes"
        if (run_dir / "config.json").exists()
        else f"it has no course config.json (it holds {', '.join(sorted(p.name for p in entries)[:3])})"
    )
    raise FileExistsError(
        f"{option} {run_dir} is not a run folder of the course: {why}. Nothing was written; pass a new or "
        f"empty {option}."
    )


def choose_library_run_dir(run_dir: str | os.PathLike, if_finished: str | None) -> RunChoice:
    """:func:`choose_run_dir` for :func:`course_utils.train.train`: a finished run needs ``if_finished``.

    Raises:
        FileExistsError: ``run_dir`` holds a finished run and ``if_finished`` is ``None`` (the message
            names the three choices) or ``"error"``.
    """
    if if_finished is not None:
        return choose_run_dir(run_dir, if_finished)
    try:
        return choose_run_dir(run_dir, "error")
    except FileExistsError as err:
        if run_state(run_dir) != "finished":
            raise
        raise FileExistsError(
            f"{Path(run_dir)} holds a finished run, which train() does not replace unless told: pass "
            "if_finished='suffix' (train into a new <run_dir>-2), if_finished='overwrite' (replace it) or "
            "another run_dir."
        ) from err


def finish_run(run_dir: str | os.PathLike) -> None:
    """Delete ``run_dir/backup`` once the final save is done: only then does the run count as finished."""
    backup = Path(run_dir) / "backup"
    if backup.is_dir():
        shutil.rmtree(backup, ignore_errors=True)
