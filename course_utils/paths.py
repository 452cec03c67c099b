"""Where the course keeps prepared datasets, runs and artifacts.

Nothing here points outside the course: the data folder is ``COURSE_DATA_DIR``
when set, else ``data/`` at the top of a course checkout, else
``~/deeplabv3-course-data`` (an installed package without a checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "COURSE_DATA_DIR"
RUNS_ENV = "COURSE_RUNS_DIR"


def repo_root() -> Path | None:
    """The course checkout holding this package, or ``None`` when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def data_dir() -> Path:
    """Folder under which prepared datasets live (``<data_dir>/<name>/dataset.json``)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / "data") if root else Path.home() / "deeplabv3-course-data"


def runs_dir() -> Path:
    """Folder for training runs (checkpoints, logs, histories)."""
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / "runs") if root else Path.home() / "deeplabv3-course-runs"
