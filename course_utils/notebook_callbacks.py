"""Callbacks for training inside a notebook: live curves and a simulated disconnect.

:class:`LiveCurves` redraws the training curves after every epoch, in place;
:class:`SimulatedDisconnect` stops a run mid-epoch the way a lost Colab session
would, so that notebook 06 can show ``train()`` resuming it.
"""

from __future__ import annotations

import keras

__all__ = ["LiveCurves", "Disconnected", "SimulatedDisconnect"]


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
