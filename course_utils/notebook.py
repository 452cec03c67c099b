"""What a notebook needs around its lesson: the environment checks, the results hand-off, live callbacks.

- the student's environment (``00_setup``): versions of Python, TensorFlow and
  Keras, whether we run in Google Colab, which prepared datasets exist locally
  (the GPU: :func:`course_utils.devices.gpu_description`);
- :func:`publish`: a notebook hands its headline numbers to the course runner
  (``tools/run_notebooks.py``); outside the runner it does nothing visible;
- :class:`LiveCurves` redraws the training curves after every epoch, in place;
  :class:`SimulatedDisconnect` stops a run mid-epoch the way a lost Colab
  session would, so that notebook 06 can show ``train()`` resuming it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import keras

from course_utils.config import DATASETS, data_dir

#: The course's GitHub home (used by the Colab badges and the Colab install cell).
COURSE_REPO = "deeplabv3-course/deeplabv3-from-scratch"

#: Supported interpreter and TensorFlow versions (kept in step with pyproject.toml).
PYTHON_RANGE = ((3, 10), (3, 12))
MIN_TF = (2, 16)


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


# ------------------------------------------------------------ results hand-off

RESULTS_ENV = "COURSE_RESULTS_FILE"


def publish(**values: float | int | str) -> None:
    """Record named values for the runner's table (a no-op outside the runner).

    Values are written as one JSON line to the file named by the environment
    variable ``COURSE_RESULTS_FILE``. Floats are rounded to 4 decimals.
    """
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    clean = {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in values.items()}
    with Path(target).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(clean) + "\n")


def read_published(path: str | os.PathLike) -> dict[str, float | int | str]:
    """Merge every line :func:`publish` wrote to ``path`` (later values win)."""
    merged: dict[str, float | int | str] = {}
    p = Path(path)
    if p.is_file():
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                merged.update(json.loads(line))
    return merged


# ------------------------------------------------------------ notebook callbacks


class LiveCurves(keras.callbacks.Callback):
    """Redraw loss and mIoU curves in the notebook after every epoch.

    The figure is updated in place (one output area, ``IPython.display``
    with a display id); outside IPython nothing is drawn. After training,
    ``self.history`` holds the logged values per epoch.
    """

    def __init__(self, title: str | None = None) -> None:
        super().__init__()
        self.title = title
        self.history: dict[str, list[float]] = {}
        self._handle = None

    def on_train_begin(self, logs=None):
        self.history = {}
        self._handle = None

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            self.history.setdefault(key, []).append(number)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with Jupyter
            return
        if get_ipython() is None:
            return
        import matplotlib.pyplot as plt

        from course_utils.plotting import plot_history

        fig = plot_history(self.history, title=f"{self.title or 'training'}: epoch {epoch + 1}")
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)


class Disconnected(RuntimeError):
    """Raised by :class:`SimulatedDisconnect` (stands for a lost Colab session)."""


class SimulatedDisconnect(keras.callbacks.Callback):
    """Stop training with :class:`Disconnected` after ``after_batches`` training batches.

    Place it after the course's callbacks (``train(..., callbacks=[...])``) so
    that ``BackupAndRestore`` has written its backup for that batch first.
    """

    def __init__(self, after_batches: int) -> None:
        super().__init__()
        if after_batches < 1:
            raise ValueError(f"after_batches must be >= 1, got {after_batches}.")
        self.after_batches = int(after_batches)
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen >= self.after_batches:
            raise Disconnected(f"simulated disconnect after {self.seen} training batch(es)")
