"""Checks of the student's environment, used by ``00_setup.ipynb``.

Versions of Python, TensorFlow and Keras; the GPU TensorFlow sees; whether we
run in Google Colab; which prepared datasets exist locally.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from course_utils.config import DATASETS, data_dir

#: The course's GitHub home (used by the Colab badges and the Colab install cell).
COURSE_REPO = "deeplabv3-course/deeplabv3-from-scratch"
COURSE_GIT_URL = f"https://github.com/{COURSE_REPO}.git"

#: Supported interpreter and TensorFlow versions (kept in step with pyproject.toml).
PYTHON_RANGE = ((3, 10), (3, 12))
MIN_TF = (2, 16)

#: Prepared datasets the course knows, with the command that prepares each.


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def colab_badge(notebook: str, repo: str = COURSE_REPO, branch: str = "main") -> str:
    """Markdown for an "Open in Colab" badge of ``notebooks/<notebook>``."""
    url = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@dataclass(frozen=True)
class VersionCheck:
    """One line of the environment check."""

    name: str
    version: str
    ok: bool
    advice: str = ""

    def __str__(self) -> str:
        mark = "ok " if self.ok else "FIX"
        return f"[{mark}] {self.name:<11} {self.version}" + (f"  -> {self.advice}" if self.advice else "")


def check_versions() -> list[VersionCheck]:
    """Check Python, TensorFlow and Keras against what the course needs."""
    import keras
    import tensorflow as tf

    py = platform.python_version()
    lo, hi = PYTHON_RANGE
    py_ok = lo <= sys.version_info[:2] <= hi
    tf_ok = _version_tuple(tf.__version__) >= MIN_TF
    keras_ok = _version_tuple(keras.__version__) >= (3, 0)
    return [
        VersionCheck("Python", py, py_ok, "" if py_ok else "use Python 3.10 to 3.12"),
        VersionCheck("TensorFlow", tf.__version__, tf_ok, "" if tf_ok else "pip install 'tensorflow>=2.16'"),
        VersionCheck("Keras", keras.__version__, keras_ok, "" if keras_ok else "Keras 3 is required (TF >= 2.16)"),
    ]


def available_datasets(root: Path | None = None) -> dict[str, bool]:
    """Which prepared datasets exist under the data folder (``<root>/<name>*/dataset.json``)."""
    root = Path(root) if root is not None else data_dir()
    found = {}
    for name in DATASETS:
        found[name] = any(p.is_file() for p in root.glob(f"{name}*/dataset.json")) if root.is_dir() else False
    return found
