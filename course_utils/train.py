"""Training entry point: the run configuration, data, model, optimizer and a resumable ``train()``.

Two recipes, selected with ``TrainConfig.recipe``:

``"seed"``
    The recipe of the original notebook, with its bugs fixed: Adam at 1e-3,
    ``ReduceLROnPlateau`` (factor 0.2, patience 3) and ``EarlyStopping``
    (patience 5), both watching ``val_miou``; the best model by ``val_miou`` is
    kept. Good for short runs.
``"paper"``
    The DeepLabV3 paper's recipe: SGD with momentum 0.9, the "poly" learning
    rate ``lr = base * (1 - step / total) ** 0.9``, L2 weight decay on the
    convolution kernels (a loss term, as in the paper; see
    :func:`course_utils.losses.add_l2_regularization`), and random scale (0.5
    to 2.0) crops. Use it for long runs.
``"fast"``
    For a fixed, short budget (the CPU recipes): Adam with a linear warm-up
    and the poly decay to zero over the whole run, so the last epochs anneal
    instead of waiting for a plateau; no early stopping.

Both share: a cross-entropy computed from logits that ignores void pixels
(255), the streaming ``val_miou`` metric, ``BackupAndRestore`` (an interrupted
run continues from its last backup: same epoch, same optimizer step, same
weights), a NaN guard with an explanation, a CSV history, the best model
as ``best.keras``, TensorBoard logs and a plot of the curves.

The pieces live one concern per module and are re-exported here:
:mod:`course_utils.losses` (loss, L2 term), :mod:`course_utils.training.recipes`
(``make_optimizer``, the poly schedule), :mod:`course_utils.training.callbacks` (``NaNGuard``,
``make_callbacks``...), :mod:`course_utils.training.precision` (dtype policy,
distribution). Everything runs on every Keras backend (TensorFlow, JAX,
PyTorch): the input pipeline is ``tf.data`` under TensorFlow and a
``keras.utils.PyDataset`` elsewhere (:mod:`course_utils.data.pydataset`).

Every size comes from the run profile via :meth:`TrainConfig.from_profile`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import keras

from course_utils import data, plotting, safe_io
from course_utils.config import RECIPES
from course_utils.datasets.writer import check_prepared
from course_utils.devices import choose_precision, replicas_in_sync
from course_utils.losses import add_l2_regularization, masked_sparse_ce
from course_utils.metrics import StreamingMeanIoU
from course_utils.training import precision, runs
from course_utils.training.callbacks import NaNGuard, make_callbacks
from course_utils.training.config import TrainConfig
from course_utils.training.inputs import make_datasets, make_recalibration_batches, validation_input_size
from course_utils.training.precision import get_strategy, resolve_precision_policy
from course_utils.training.recipes import make_optimizer
from course_utils.training.validation import NativeValidation

__all__ = [
    "build_model",
    "compile_for_training",
    "train",
]

# Names notebooks of the previous release read from this module (one release, with a DeprecationWarning).
__getattr__ = __import__("course_utils")._moved_names(
    __name__,
    {
        "PolyDecay": "course_utils.training.recipes:poly_schedule",
        "make_optimizer": "course_utils.training.recipes:make_optimizer",
        "MaskedSparseCategoricalCrossentropy": "course_utils.losses:MaskedSparseCategoricalCrossentropy",
        "masked_sparse_ce": "course_utils.losses:masked_sparse_ce",
        "get_strategy": "course_utils.training.precision:get_strategy",
        "resolve_precision_policy": "course_utils.training.precision:resolve_precision_policy",
        "make_callbacks": "course_utils.training.callbacks:make_callbacks",
        "NaNGuard": "course_utils.training.callbacks:NaNGuard",
        "recalibrate_batchnorm": "course_utils.training.validation:recalibrate_batchnorm",
        "tensorboard_available": "course_utils.training.callbacks:tensorboard_available",
        "TrainConfig": "course_utils.training.config:TrainConfig",
        "make_datasets": "course_utils.training.inputs:make_datasets",
        "make_recalibration_batches": "course_utils.training.inputs:make_recalibration_batches",
        "validation_input_size": "course_utils.training.inputs:validation_input_size",
        "RECIPES": "course_utils.config:RECIPES",
    },
)


# ------------------------------------------------------------------ model / optim


def build_model(config: TrainConfig, num_classes: int) -> keras.Model:
    """DeepLabV3 (or V3+ with ``decoder=True``) as the config describes."""
    from course_utils.model import build_deeplabv3

    model = build_deeplabv3(
        num_classes,
        backbone=config.backbone,
        output_stride=config.output_stride,
        multi_grid=config.multi_grid,
        image_pooling=config.image_pooling,
        weights=config.weights,
        decoder=config.decoder,
        bn_momentum=config.bn_momentum,
    )
    return model


def compile_for_training(
    model: keras.Model,
    config: TrainConfig,
    num_classes: int,
    total_steps: int,
    class_weights: Sequence[float] | None = None,
) -> keras.Model:
    """Compile with the recipe's optimizer, the masked loss and the streaming ``miou`` metric.

    Call it inside the strategy scope. The paper recipe adds the L2 weight
    decay on convolution kernels (:func:`~course_utils.losses.add_l2_regularization`,
    coefficient divided by the number of replicas). ``jit_compile`` and
    ``steps_per_execution`` come from the config.
    """
    if RECIPES[config.recipe].l2_loss and config.weight_decay:
        add_l2_regularization(model, config.weight_decay, replicas=replicas_in_sync())
    model.compile(
        optimizer=make_optimizer(config, total_steps=total_steps),
        loss=masked_sparse_ce(class_weights),
        metrics=[StreamingMeanIoU(num_classes, name="miou")],
        jit_compile=config.jit_compile,
        steps_per_execution=int(config.steps_per_execution),
    )
    return model


# --------------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    dataset_root: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    model: keras.Model | Callable[[int], keras.Model] | None = None,
    strategy=None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    if_finished: str | None = None,
) -> tuple[keras.Model, keras.callbacks.History]:
    """Train a segmentation model on a prepared dataset; resumable.

    Args:
        config: sizes and recipe (see :meth:`TrainConfig.from_profile`).
        dataset_root: a prepared dataset folder (``dataset.json``).
        run_dir: output folder: ``best.keras`` (best ``val_miou``),
            ``final.keras``, ``history.csv``, ``curves.png``, ``config.json``,
            ``logs/`` (TensorBoard) and ``backup/`` while a run is unfinished.
            Calling ``train`` again with the same ``run_dir`` after an
            interruption resumes it.
        model: a ready model, or a function ``num_classes -> model`` (called
            inside the strategy scope and the precision policy); default
            :func:`build_model`.
        strategy: a ``tf.distribute`` strategy (TensorFlow backend; default:
            no distribution) or :class:`~course_utils.training.precision.NoStrategy`.
        callbacks: extra Keras callbacks, run after the course's.
        verbose: passed to ``model.fit``.
        if_finished: when ``run_dir`` holds a finished run: ``"overwrite"``
            (replace its outputs), ``"suffix"`` (train into ``<run_dir>-2``...)
            or ``"error"`` (see :func:`course_utils.training.runs.choose_run_dir`); the
            default ``None`` refuses, saying so (nothing is replaced unless asked).
            A folder that is not a run folder of the course is refused, and so
            is one another live process is training into (its lock file).

    Returns:
        ``(model, history)``; ``history.terminated_on_nan`` tells whether the
        loss diverged, ``history.run_dir`` where the run was written.
    """
    runs.check_run_folder(run_dir, option="run_dir")
    choice = runs.choose_library_run_dir(run_dir, if_finished)
    run_dir = choice.path
    runs.check_run_lock(run_dir)
    keras.utils.set_random_seed(config.seed)
    train_ds, val_ds, steps, val_steps, info = make_datasets(config, dataset_root)
    num_classes = int(info.num_classes)
    check_prepared(dataset_root, ("train", "val"), num_classes)  # bad labels: a clear error naming the file
    resumed_epoch = _resumed_epoch(run_dir, config, dataset_root, info)
    strategy = strategy or get_strategy("default")
    net, policy = _build_and_compile(config, dataset_root, num_classes, steps, strategy, model)
    recorded = {}
    if model is None:
        config, recorded = _record_weights(config, net)
    run_dir.mkdir(parents=True, exist_ok=True)  # only now: a validation failure leaves no empty folder
    runs.acquire_run_lock(run_dir)
    try:
        _prepare_run_dir(run_dir, choice.action, resumed_epoch)
        replicas = strategy.num_replicas_in_sync
        _write_config(run_dir, config, dataset_root, info, policy, replicas, steps, net, recorded)
        cbs = _run_callbacks(config, dataset_root, run_dir, resumed_epoch, info, val_ds, val_steps)
        return _fit(net, config, run_dir, train_ds, steps, cbs, callbacks, verbose)
    finally:
        runs.release_run_lock(run_dir)


def _fit(net: keras.Model, config: TrainConfig, run_dir: Path, train_ds, steps: int, cbs, callbacks, verbose):
    """``model.fit`` with the course's callbacks, then the final save (called while holding the run's lock)."""
    nan_guard = next(c for c in cbs if isinstance(c, NaNGuard))
    history = net.fit(
        train_ds,
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=[*cbs, *callbacks],
        verbose=verbose,
        shuffle=False,  # the input pipeline shuffles
    )
    history.terminated_on_nan = nan_guard.triggered_at is not None  # type: ignore[attr-defined]
    history.run_dir = run_dir  # type: ignore[attr-defined]
    _finish(net, run_dir, history.terminated_on_nan)
    return net, history


def _resumed_epoch(run_dir: Path, config: TrainConfig, dataset_root, info) -> int | None:
    """The epoch an unfinished run in ``run_dir`` resumes at (its backup), after checking it matches; else None."""
    meta = run_dir / "backup" / "training_metadata.json"
    resumed_epoch = json.loads(meta.read_text())["epoch"] if meta.is_file() else None
    if resumed_epoch is not None:
        runs.check_resume(run_dir, config.to_dict(), Path(dataset_root).name, list(info.classes))
    return resumed_epoch


def _build_and_compile(config: TrainConfig, dataset_root, num_classes: int, steps: int, strategy, model):
    """The model built (or given) and compiled under the precision policy and the strategy's scope."""
    policy = resolve_precision_policy(config)
    if config.mixed_precision == "auto":
        print(f"Precision {policy}: {choose_precision()[1]}.")
    previous_policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        with strategy.scope():
            if model is None:
                net = build_model(config, num_classes)
            else:
                net = model if isinstance(model, keras.Model) else model(num_classes)
            replicas = int(getattr(strategy, "num_replicas_in_sync", 1))
            if replicas > 1:
                sync, why = precision.needs_synchronized_batchnorm(config.batch_size, replicas)
                if sync:
                    precision.use_synchronized_batchnorm(net)
                    print(f"Synchronized BatchNorm: {why}.")
            out_classes = net.output_shape[-1]
            if out_classes != num_classes:
                raise ValueError(
                    f"The model predicts {out_classes} classes but {Path(dataset_root) / 'dataset.json'} has "
                    f"{num_classes}; build the model with num_classes={num_classes}."
                )
            class_weights = None
            if config.class_weighting:
                freqs = data.class_frequencies(dataset_root, "train", num_classes)
                class_weights = [float(w) for w in data.class_weights(freqs)]
            compile_for_training(net, config, num_classes, steps * config.epochs, class_weights)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
    return net, policy


def _record_weights(config: TrainConfig, net: keras.Model) -> tuple[TrainConfig, dict]:
    """The config as the model was really built, plus what to add to ``config.json``.

    A model asked for ImageNet weights that fell back to training from scratch
    (``COURSE_ALLOW_SCRATCH=1`` offline) has no Caffe input adapter: its config
    records ``weights: null`` (so ``evaluate`` rebuilds the same model) and
    ``weights_requested`` what was asked for.
    """
    has_adapter = any(layer.name == "caffe_input_adapter" for layer in net.layers)
    extra = {"preprocessing": "caffe" if has_adapter else "none"}
    if config.weights is not None and not has_adapter:
        extra["weights_requested"] = config.weights
        print(f"Recorded weights: null in config.json (the model was built without {config.weights!r} weights).")
        config = dataclasses.replace(config, weights=None)
    return config, extra


def _prepare_run_dir(run_dir: Path, action: str, resumed_epoch: int | None) -> None:
    """Create the folder (only now: a validation failure leaves none), clear an overwritten run, trim the CSV."""
    run_dir.mkdir(parents=True, exist_ok=True)
    safe_io.remove_stale_temps(run_dir)
    if action == "overwrite":
        runs.clear_run(run_dir)
    if resumed_epoch is not None:
        safe_io.trim_csv(run_dir / "history.csv", resumed_epoch)
    else:
        (run_dir / "history.csv").unlink(missing_ok=True)


def _write_config(
    run_dir: Path, config: TrainConfig, dataset_root, info, policy, replicas, steps, net, recorded: dict
) -> None:
    """``config.json``: what a resume, ``load_or_train`` and the evaluation read back."""
    record = {
        "config": config.to_dict(),
        "dataset": str(Path(dataset_root).name),
        "num_classes": int(info.num_classes),
        "classes": list(getattr(info, "classes", [])),
        "precision_policy": policy,
        "replicas": replicas,
        "steps_per_epoch": steps,
        "params": int(net.count_params()),
        **recorded,
    }
    safe_io.atomic_write_text(run_dir / "config.json", json.dumps(record, indent=2))


def _run_callbacks(config: TrainConfig, dataset_root, run_dir: Path, resumed_epoch, info, val_ds, val_steps):
    """The recipe's callbacks with the validation inserted right after the backup.

    Validation runs as a callback: precise BatchNorm statistics, then scores at the labels'
    native resolution, written into the logs every later callback reads.
    """
    cbs = make_callbacks(config, run_dir, resumed_epoch)
    recal = make_recalibration_batches(config, dataset_root, info) if config.recalibrate_bn else None
    validation = NativeValidation(
        val_ds,
        int(info.num_classes),
        input_scale=config.input_scale,
        input_size=validation_input_size(config, info),
        recalibration_batches=recal,
        recalibration_steps=config.recalibrate_bn,
        max_batches=val_steps,
    )
    cbs.insert(1, validation)
    return cbs


def _finish(net: keras.Model, run_dir: Path, diverged: bool) -> None:
    """``final.keras`` (unless the loss diverged) and ``curves.png``."""
    if not diverged:
        with safe_io.atomic_path(run_dir / "final.keras") as tmp:
            net.save(tmp)
    runs.finish_run(run_dir)  # the backup goes only now: a kill during the final save leaves it resumable
    try:
        fig = plotting.plot_history(run_dir / "history.csv")
        with safe_io.atomic_path(run_dir / "curves.png") as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        import matplotlib.pyplot as plt

        plt.close(fig)
    except (ValueError, FileNotFoundError) as err:  # an empty history (stopped in epoch 1)
        print(f"No training curves drawn: {err}", file=sys.stderr)
