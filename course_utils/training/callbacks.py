"""The training callbacks of the course recipes, and :func:`make_callbacks` that assembles them.

- :class:`NaNGuard`: stops a diverged run with an explanation (no host sync per step);
- :class:`ResumeInfo`: says where a resumed run picks up;
- :class:`EpochTimer`: ``epoch_seconds`` in the logs and the CSV history;
- :class:`ModelCheckpoint`, :class:`CSVLogger`, :class:`BackupAndRestore`: Keras'
  callbacks of the same names made crash-safe (atomic writes, no diverged weights kept,
  the backup recorded only after the epoch's other writes);
- :func:`make_callbacks`: backup, the three above, best-model checkpoint, CSV
  history, the seed recipe's plateau/early stopping, TensorBoard.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from course_utils import safe_io
from course_utils.config import RECIPES

if TYPE_CHECKING:  # pragma: no cover
    from course_utils.training.config import TrainConfig

__all__ = [
    "NaNGuard",
    "ResumeInfo",
    "EpochTimer",
    "ModelCheckpoint",
    "CSVLogger",
    "BackupAndRestore",
    "make_callbacks",
    "tensorboard_available",
]


def tensorboard_available() -> bool:
    """Whether the TensorBoard callback can run: ``tensorboard`` and TensorFlow (it writes tf.summary) installed."""
    return importlib.util.find_spec("tensorboard") is not None and importlib.util.find_spec("tensorflow") is not None


class NaNGuard(keras.callbacks.Callback):
    """Stop training when the loss is no longer finite, and explain what to try.

    Reading the loss forces the host to wait for the device, so the guard does
    not look at every step: it checks the logged loss (the running mean over
    the epoch, which stays ``nan`` once one step was ``nan``) every
    ``check_every`` steps and at each epoch end. ``check_every=None`` checks at
    epoch ends only. It is marked ``async_safe`` so that it alone never makes
    Keras wait for each step.

    ``triggered_at`` is ``(epoch, batch)`` of the check that fired (``batch`` is
    ``None`` for an epoch-end check), or ``None``.
    """

    async_safe = True

    def __init__(self, run_dir: str | Path | None = None, check_every: int | None = 100) -> None:
        super().__init__()
        self.run_dir = None if run_dir is None else Path(run_dir)
        if check_every is not None and check_every < 1:
            raise ValueError(f"NaNGuard: check_every must be >= 1 or None, got {check_every}.")
        self.check_every = check_every
        self.triggered_at: tuple[int, int | None] | None = None
        self._epoch = 0
        self._last_check = -1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._last_check = -1

    def on_train_batch_end(self, batch, logs=None):
        if self.check_every is None or self.triggered_at is not None:
            return
        if batch - self._last_check >= self.check_every:
            self._last_check = batch
            self._check((logs or {}).get("loss"), batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.triggered_at is None:
            self._check((logs or {}).get("loss"), None)

    def _check(self, loss, batch: int | None) -> None:
        if loss is None or _finite(loss):
            return
        self.triggered_at = (self._epoch, batch)
        self.model.stop_training = True
        where = f"epoch {self._epoch + 1}" + ("" if batch is None else f", by batch {batch + 1}")
        best = None if self.run_dir is None else self.run_dir / "best.keras"
        kept = (
            f"The best weights before it diverged are in {best}."
            if best is not None and best.is_file()
            else "No checkpoint was saved before it diverged."
        )
        print(
            f"\nTraining stopped: the loss became {float(loss)} ({where}).\n"
            "Usual causes: a learning rate too high for this batch size (try --lr 10x smaller), "
            "labels outside [0, num_classes) that are not 255 (check the dataset), or float16 "
            f"overflow (run without --mixed-precision). {kept}",
            file=sys.stderr,
        )


class ResumeInfo(keras.callbacks.Callback):
    """Prints where a resumed run picks up (epoch and optimizer step)."""

    def __init__(self, resumed: bool) -> None:
        super().__init__()
        self.resumed = resumed
        self.start_epoch = 0
        self.start_step = 0

    def on_train_begin(self, logs=None):
        self.start_epoch = int(getattr(self.model, "_initial_epoch", 0) or 0)
        self.start_step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if self.resumed:
            print(f"Resuming an interrupted run at epoch {self.start_epoch + 1} (optimizer step {self.start_step}).")


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` and ``learning_rate`` to the logs (and so to the CSV history)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._t0
            if "learning_rate" not in logs:  # the rate the schedule reached, for the curves
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


# ------------------------------------------------------- crash-safe Keras callbacks


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to judge


class ModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ``ModelCheckpoint`` that saves atomically and never keeps diverged weights.

    The model is saved to a temporary file next to ``filepath`` and renamed
    over it, so a kill during the save keeps the previous checkpoint intact.
    An epoch whose ``loss`` or monitored value is NaN/inf is never saved (its
    weights are garbage even if the monitored metric looks better).
    """

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        if not all(_finite(logs[k]) for k in ("loss", self.monitor) if k in logs):
            return
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        with safe_io.atomic_path(filepath) as tmp:
            if self.save_weights_only:
                self.model.save_weights(tmp, overwrite=True)
            else:
                self.model.save(tmp, overwrite=True)


class CSVLogger(keras.callbacks.CSVLogger):
    """Keras' ``CSVLogger`` (append mode) that rewrites the file atomically after every epoch.

    Existing rows are kept (resume); a kill never leaves a half-written row.
    Columns that appear later (e.g. ``learning_rate``) are added to the header.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",") -> None:
        super().__init__(str(filename), separator=separator, append=True)
        self._fields: list[str] = []
        self._rows: list[dict] = []

    def on_train_begin(self, logs=None):
        self._fields, self._rows = safe_io.read_csv_rows(Path(self.filename))

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch}
        for key, value in sorted((logs or {}).items()):
            if hasattr(value, "shape") and getattr(value, "shape", ()) not in ((), None):
                value = str(list(value))
            else:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    value = str(value)
            row[key] = value
        if not self._fields:
            self._fields = ["epoch"]
        self._fields += [k for k in row if k not in self._fields]
        self._rows.append(row)
        safe_io.write_csv_rows(Path(self.filename), self._fields, self._rows)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` whose end-of-epoch backup waits for the other callbacks.

    With ``save_freq="epoch"`` Keras saves in ``on_epoch_end``, before the
    callbacks that follow it write ``best.keras`` and the history row: a kill
    during those writes resumed *after* the epoch, and its row was lost. Here
    the save happens when the next epoch begins (after every ``on_epoch_end``);
    a kill before that repeats the epoch, whose rows a resume trims first.
    A finished run deletes the backup anyway, so the last epoch needs none.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending_save = False

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        self._pending_save = self.save_freq == "epoch"

    def on_epoch_begin(self, epoch, logs=None):
        if self._pending_save:
            self._pending_save = False
            self._save_model()
        self._current_epoch = epoch  # also right after a resume (Keras leaves it at 0 then)


# ------------------------------------------------------------------ the recipe's set


def previous_best(csv_path: Path, monitor: str = "val_miou") -> float | None:
    """Best ``monitor`` value in a CSV history (``None`` without one)."""
    if not csv_path.is_file():
        return None
    with csv_path.open(newline="") as fh:
        values = [float(r[monitor]) for r in csv.DictReader(fh) if r.get(monitor) not in (None, "", "nan")]
    return max(values) if values else None


def make_callbacks(config: TrainConfig, run_dir: Path, resumed_epoch: int | None) -> list[keras.callbacks.Callback]:
    """The recipe's callbacks (order matters: the backup runs before anything that may stop a run).

    The checkpoint and the history are written atomically, and the backup
    records an epoch as done only after both (see :mod:`course_utils.safe_io`).
    ``train()`` inserts its validation callback right after the backup.
    """
    run_dir = Path(run_dir)
    csv_path = run_dir / "history.csv"
    best = previous_best(csv_path) if resumed_epoch is not None else None
    cbs: list[keras.callbacks.Callback] = [
        # deleted by train() after the final save (runs.finish_run), not when fit() ends
        BackupAndRestore(str(run_dir / "backup"), save_freq=config.backup_every, delete_checkpoint=False),
        ResumeInfo(resumed_epoch is not None),
        EpochTimer(),
        NaNGuard(run_dir),
        ModelCheckpoint(
            str(run_dir / "best.keras"),
            monitor="val_miou",
            mode="max",
            save_best_only=True,
            initial_value_threshold=best,
            verbose=0,
        ),
        CSVLogger(csv_path),
    ]
    if RECIPES[config.recipe].plateau:
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_miou",
                mode="max",
                factor=config.reduce_lr_factor,
                patience=config.reduce_lr_patience,
                min_lr=config.min_learning_rate,
                verbose=1,
            )
        )
    if config.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor="val_miou", mode="max", patience=config.early_stopping_patience, verbose=1
            )
        )
    if config.tensorboard:
        if tensorboard_available():
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), write_graph=False))
        else:
            print(
                "TensorBoard logs skipped: the `tensorboard` and `tensorflow` packages are needed "
                "(pip install tensorboard tensorflow); history.csv and curves.png are still written.",
                file=sys.stderr,
            )
    return cbs
