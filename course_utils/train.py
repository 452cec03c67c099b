"""Training: the masked loss, two recipes, callbacks and a resumable ``train()``.

Two recipes, selected with ``TrainConfig.recipe``:

``"seed"``
    The recipe of the original notebook, with its bugs fixed: Adam at 1e-3,
    ``ReduceLROnPlateau`` (factor 0.2, patience 3) and ``EarlyStopping``
    (patience 5), both watching ``val_miou``; the best model by ``val_miou`` is
    kept. Good for short runs.
``"paper"``
    The DeepLabV3 paper's recipe: SGD with momentum 0.9, the "poly" learning
    rate ``lr = base * (1 - step / total) ** 0.9``, weight decay, and random
    scale (0.5 to 2.0) crops. Use it for long runs.
``"fast"``
    For a fixed, short budget (the CPU recipes): Adam with a linear warm-up
    and the poly decay to zero over the whole run, so the last epochs anneal
    instead of waiting for a plateau; no early stopping.

Both share: a cross-entropy computed from logits that ignores void pixels
(255), the streaming ``val_miou`` metric, ``BackupAndRestore`` (an interrupted
run continues from its last backup: same epoch, same optimizer step, same
weights), ``TerminateOnNaN`` with an explanation, a CSV history, the best model
as ``best.keras``, TensorBoard logs and a plot of the curves.

Every size comes from the run profile via :meth:`TrainConfig.from_profile`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from course_utils import runs, safe_io
from course_utils.metrics import IGNORE_INDEX, StreamingMeanIoU
from course_utils.profiles import Profile, get_profile
from course_utils.validation import NativeValidation, recalibrate_batchnorm

RECIPES = ("seed", "paper", "fast")

__all__ = [
    "RECIPES",
    "MaskedSparseCategoricalCrossentropy",
    "masked_sparse_ce",
    "PolyDecay",
    "TrainConfig",
    "get_strategy",
    "resolve_precision_policy",
    "make_optimizer",
    "compile_for_training",
    "make_callbacks",
    "make_datasets",
    "build_model",
    "train",
    "NaNGuard",
    "recalibrate_batchnorm",
]


# --------------------------------------------------------------------------- loss


@keras.saving.register_keras_serializable(package="course_utils")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits, averaged over the non-void pixels of the batch.

    ``y_true``: int labels ``[B, H, W]`` (or ``[B, H, W, 1]``), ``ignore_index``
    marks void. ``y_pred``: logits ``[B, H, W, C]``. With ``class_weights`` each
    pixel's loss is multiplied by the weight of its true class and the result
    is the weighted mean (sum of weighted losses / sum of weights), the
    convention of ``torch.nn.CrossEntropyLoss``. A batch with no valid pixel
    has loss 0 (not ``nan``).
    """

    def __init__(
        self,
        class_weights: Sequence[float] | None = None,
        ignore_index: int = IGNORE_INDEX,
        name: str = "masked_sparse_ce",
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.ignore_index = int(ignore_index)

    def call(self, y_true, y_pred):
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(y_true, tf.int32)
        if labels.shape.rank == logits.shape.rank:
            labels = tf.squeeze(labels, -1)
        valid = tf.not_equal(labels, self.ignore_index)
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
        weights = tf.cast(valid, tf.float32)
        if self.class_weights is not None:
            cw = tf.constant(self.class_weights, tf.float32)
            weights = weights * tf.gather(cw, safe)
        total = tf.reduce_sum(per_pixel * weights)
        loss = tf.math.divide_no_nan(total, tf.reduce_sum(weights))
        # Keras sums gradients over replicas and leaves a scalar loss unscaled:
        # divide here so that N replicas average (the logged loss is rescaled back).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / float(replicas) if replicas > 1 else loss

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(class_weights=self.class_weights, ignore_index=self.ignore_index)
        return config


def masked_sparse_ce(
    class_weights: Sequence[float] | None = None, ignore_index: int = IGNORE_INDEX
) -> MaskedSparseCategoricalCrossentropy:
    """The course's segmentation loss (see :class:`MaskedSparseCategoricalCrossentropy`)."""
    return MaskedSparseCategoricalCrossentropy(class_weights=class_weights, ignore_index=ignore_index)


# ----------------------------------------------------------------------- schedule


@keras.saving.register_keras_serializable(package="course_utils")
class PolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The "poly" schedule: ``lr = (base - end) * (1 - min(step, total) / total) ** power + end``.

    After ``total_steps`` the rate stays at ``end_learning_rate`` (a resumed run
    that repeats part of an epoch never sees a negative rate). An optional
    linear warm-up ramps from 0 over the first ``warmup_steps``.
    """

    def __init__(
        self,
        base_learning_rate: float,
        total_steps: int,
        power: float = 0.9,
        end_learning_rate: float = 0.0,
        warmup_steps: int = 0,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"PolyDecay needs total_steps >= 1, got {total_steps}.")
        self.base_learning_rate = float(base_learning_rate)
        self.total_steps = int(total_steps)
        self.power = float(power)
        self.end_learning_rate = float(end_learning_rate)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        frac = tf.minimum(step, float(self.total_steps)) / float(self.total_steps)
        lr = (self.base_learning_rate - self.end_learning_rate) * tf.pow(1.0 - frac, self.power)
        lr = lr + self.end_learning_rate
        if self.warmup_steps > 0:
            lr = lr * tf.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        return lr

    def get_config(self) -> dict:
        return {
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
            "power": self.power,
            "end_learning_rate": self.end_learning_rate,
            "warmup_steps": self.warmup_steps,
        }


# ------------------------------------------------------------------------- config


@dataclass
class TrainConfig:
    """Everything a training run needs besides the dataset and the output folder.

    Build it with :meth:`from_profile` and change fields with
    ``dataclasses.replace`` (or keyword overrides to ``from_profile``).
    """

    recipe: str = "seed"
    backbone: str = "resnet18"
    output_stride: int = 16
    multi_grid: tuple[int, ...] | None = (1, 2, 4)
    weights: str | None = None
    decoder: bool = False
    image_size: tuple[int, int] = (120, 240)
    eval_size: tuple[int, int] | None = None
    batch_size: int = 8
    epochs: int = 12
    steps_per_epoch: int | None = None
    val_steps: int | None = None
    learning_rate: float | None = None
    momentum: float = 0.9
    poly_power: float = 0.9
    weight_decay: float = 1e-4
    scale_range: tuple[float, float] = (1.0, 1.0)
    augment: bool = True
    class_weighting: bool = False
    early_stopping_patience: int | None = 5
    reduce_lr_patience: int = 3
    reduce_lr_factor: float = 0.2
    min_learning_rate: float = 1e-6
    mixed_precision: bool | str = False
    force_mixed_precision: bool = False
    jit_compile: bool = False
    backup_every: int | str = "epoch"
    tensorboard: bool = True
    max_train_images: int | None = None
    max_val_images: int | None = None
    seed: int = 42
    input_scale: float = 1.0
    bn_momentum: float | None = None
    recalibrate_bn: int = 10
    warmup_epochs: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"Unknown recipe {self.recipe!r}; use one of {RECIPES} (e.g. --recipe paper).")
        if isinstance(self.weights, str) and self.weights.strip().lower() in ("none", "scratch"):
            self.weights = None  # the command line's spelling of "from scratch" (--weights none)
        self.image_size = tuple(int(v) for v in self.image_size)  # type: ignore[assignment]
        if self.eval_size is not None:
            self.eval_size = tuple(int(v) for v in self.eval_size)  # type: ignore[assignment]
        if self.multi_grid is not None:
            self.multi_grid = tuple(int(v) for v in self.multi_grid)
        self.scale_range = tuple(float(v) for v in self.scale_range)  # type: ignore[assignment]
        if not self.input_scale > 0:
            raise ValueError(f"input_scale must be > 0, got {self.input_scale}.")
        if self.bn_momentum is not None and not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum}.")
        if self.recalibrate_bn < 0:
            raise ValueError(f"recalibrate_bn must be >= 0 batches, got {self.recalibrate_bn}.")

    @classmethod
    def from_profile(
        cls,
        profile: Profile | str | None = None,
        recipe: str | None = None,
        dataset: str | None = None,
        **overrides,
    ) -> TrainConfig:
        """A config sized by a run profile (the active one when ``profile`` is ``None``).

        With ``dataset`` (a prepared dataset's name, e.g. ``"camvid"``) the
        profile's settings for that dataset (``Profile.dataset_recipes``) replace
        its generic sizes; ``recipe`` and ``overrides`` win over both. Without
        any of them the recipe is ``"seed"``.

        Training crops are taken at the dataset's scale with flips and colour
        jitter (``scale_range=(1, 1)``); the ``paper`` recipe adds random-scale
        crops (0.5 to 2.0) and turns off early stopping (the poly schedule runs
        to its end). The backbone weights are the profile's (``"imagenet"`` in
        ``gpu``) unless ``weights`` is overridden or the backbone has none
        (ResNet-18/34).
        """
        if not isinstance(profile, Profile):
            profile = get_profile(profile)
        specific = dict(profile.dataset_recipes.get(dataset, {})) if dataset else {}
        recipe = recipe or specific.pop("recipe", None) or "seed"
        specific.pop("recipe", None)
        values = dict(
            recipe=recipe,
            backbone=profile.backbone,
            output_stride=profile.output_stride,
            multi_grid=profile.multi_grid,
            image_size=profile.image_size,
            eval_size=profile.eval_size,
            batch_size=profile.batch_size,
            epochs=profile.epochs,
            steps_per_epoch=profile.steps_per_epoch,
            val_steps=profile.val_steps,
            mixed_precision=profile.mixed_precision,
            jit_compile=profile.jit_compile,
            max_val_images=profile.max_eval_images,
            seed=profile.seed,
        )
        if recipe == "paper":
            values.update(scale_range=(0.5, 2.0), early_stopping_patience=None)
        if recipe == "fast":
            values.update(early_stopping_patience=None)
        values.update(specific)
        values.update(overrides)
        if "weights" not in overrides:  # the profile's weights, where the (possibly overridden) backbone has them
            pretrained = values["backbone"] in ("resnet50", "resnet101")
            values["weights"] = profile.weights if pretrained else None
        return cls(**values)

    @property
    def base_learning_rate(self) -> float:
        """The recipe's starting learning rate unless ``learning_rate`` is set."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 1e-2 if self.recipe == "paper" else 1e-3

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


# --------------------------------------------------------------------- data helpers


def _split_count(info, split: str) -> int:
    counts = getattr(info, "counts", None) or {}
    return int(counts.get(split, 0))


def make_datasets(config: TrainConfig, dataset_root: str | os.PathLike):
    """Training and validation pipelines plus their step counts.

    Returns:
        ``(train_ds, val_ds, steps_per_epoch, val_steps, info)``; the training
        set repeats forever (``steps_per_epoch`` bounds each epoch) so that the
        optimizer step, the poly schedule and resumed runs agree.
    """
    from course_utils import data

    root = Path(dataset_root)
    info = data.load_info(root)
    n_train = _split_count(info, "train")
    n_val = _split_count(info, "val")
    if n_train == 0:
        raise ValueError(f"{root / 'dataset.json'} lists no 'train' images; prepare the dataset again.")
    if n_val == 0:
        raise ValueError(
            f"{root / 'dataset.json'} lists no 'val' images; training monitors val_miou, so prepare a "
            "dataset with a validation split."
        )
    if config.max_train_images:
        n_train = min(n_train, config.max_train_images)
    steps = config.steps_per_epoch or max(1, math.ceil(n_train / config.batch_size))
    s = config.input_scale
    train_ds = data.make_dataset(
        root,
        "train",
        config.batch_size,
        training=True,
        image_size=config.image_size,
        augment=config.augment,
        seed=config.seed,
        max_images=config.max_train_images,
        repeat=True,
        scale_range=(config.scale_range[0] * s, config.scale_range[1] * s),
    )
    # Validation batches keep the labels at their native size (see course_utils.validation);
    # images of different sizes cannot share a batch.
    val_batch = config.batch_size if info.image_size is not None else 1
    val_ds = data.make_dataset(root, "val", val_batch, training=False, max_images=config.max_val_images)
    return train_ds, val_ds, steps, config.val_steps, info


def validation_input_size(config: TrainConfig, info) -> tuple[int, int] | None:
    """The ``(h, w)`` the model sees at validation, or ``None`` for "native x ``input_scale``"."""
    if config.eval_size is not None:
        return tuple(config.eval_size)
    return None


def make_recalibration_batches(config: TrainConfig, dataset_root, info):
    """Training images as the model sees them at validation (no augmentation), shuffled, for precise BN.

    For a split of one image size the whole images are resized to the validation
    input size; otherwise augmented training crops are used.
    """
    from course_utils import data
    from course_utils.validation import scaled_size

    size = validation_input_size(config, info)
    if size is None and info.image_size is not None:
        size = scaled_size(int(info.image_size[0]), int(info.image_size[1]), config.input_scale)
    if size is not None:
        return data.make_dataset(
            dataset_root,
            "train",
            config.batch_size,
            training=False,
            image_size=size,
            shuffle=True,
            seed=config.seed,
            max_images=config.max_train_images,
        )
    s = config.input_scale
    return data.make_dataset(
        dataset_root,
        "train",
        config.batch_size,
        training=True,
        image_size=config.image_size,
        seed=config.seed,
        max_images=config.max_train_images,
        cache=False,
        scale_range=(config.scale_range[0] * s, config.scale_range[1] * s),
    )


# ------------------------------------------------------------------ distribution


def get_strategy(kind: str = "auto", devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Pick a ``tf.distribute`` strategy.

    Args:
        kind: ``"auto"`` (a Colab/Cloud TPU when the environment announces
            one and it answers, else
            ``MirroredStrategy`` over several GPUs, else the default strategy),
            ``"mirrored"`` (all GPUs; with no GPU, every logical CPU device),
            ``"tpu"`` or ``"default"`` (no distribution).
        devices: explicit device names for ``"mirrored"``.
    """
    kind = kind.lower()
    if kind not in ("auto", "mirrored", "tpu", "default"):
        raise ValueError(f"Unknown strategy {kind!r}; use auto, mirrored, tpu or default.")
    tpu_hint = any(os.environ.get(k) for k in ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE")) or any(
        Path("/dev").glob("accel*")
    )
    if kind == "tpu" or (kind == "auto" and tpu_hint):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:
            if kind == "tpu":
                raise RuntimeError(
                    f"No TPU found ({err}). On Colab choose Runtime > Change runtime type > TPU, "
                    "or use --strategy auto."
                ) from err
    if kind == "default":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if devices is None:
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=list(devices))


def resolve_precision_policy(config: TrainConfig) -> str:
    """The Keras dtype policy for this run.

    ``mixed_precision`` may be ``True`` (``mixed_float16``) or a policy name
    (``"mixed_bfloat16"`` for TPUs). It applies only when a GPU/TPU is present,
    unless ``force_mixed_precision`` is set (float16 on a CPU is slow).
    """
    mp = config.mixed_precision
    if not mp:
        return "float32"
    if mp == "auto":
        from course_utils.hardware import choose_precision

        return choose_precision()[0]
    policy = "mixed_float16" if mp is True else str(mp)
    if policy not in ("mixed_float16", "mixed_bfloat16", "float32"):
        raise ValueError(f"Unknown precision policy {policy!r}; use mixed_float16 or mixed_bfloat16.")
    accel = tf.config.list_physical_devices("GPU") or tf.config.list_logical_devices("TPU")
    return policy if (accel or config.force_mixed_precision) else "float32"


# ------------------------------------------------------------------ model / optim


def build_model(config: TrainConfig, num_classes: int) -> keras.Model:
    """DeepLabV3 (or V3+ with ``decoder=True``) as the config describes."""
    from course_utils.model import build_deeplabv3

    model = build_deeplabv3(
        num_classes,
        backbone=config.backbone,
        output_stride=config.output_stride,
        multi_grid=config.multi_grid,
        weights=config.weights,
        decoder=config.decoder,
    )
    if config.bn_momentum is not None:
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(config.bn_momentum)
    return model


def make_optimizer(config: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """Adam (seed recipe) or SGD + momentum + poly decay + weight decay (paper recipe)."""
    if config.recipe == "seed":
        return keras.optimizers.Adam(config.base_learning_rate)
    warmup = int(round(config.warmup_epochs * total_steps / max(1, config.epochs)))
    schedule = PolyDecay(config.base_learning_rate, total_steps, power=config.poly_power, warmup_steps=warmup)
    if config.recipe == "fast":
        return keras.optimizers.Adam(schedule)
    opt = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    if config.weight_decay:
        # decay convolution kernels only, as the paper's L2 on weights does
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return opt


def compile_for_training(
    model: keras.Model,
    config: TrainConfig,
    num_classes: int,
    total_steps: int,
    class_weights: Sequence[float] | None = None,
) -> keras.Model:
    """Compile with the recipe's optimizer, the masked loss and the streaming ``miou`` metric.

    Call it inside the strategy scope. ``jit_compile`` comes from the config.
    """
    model.compile(
        optimizer=make_optimizer(config, total_steps=total_steps),
        loss=masked_sparse_ce(class_weights),
        metrics=[StreamingMeanIoU(num_classes, name="miou")],
        jit_compile=config.jit_compile,
    )
    return model


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """``TerminateOnNaN`` that explains what went wrong and what to try."""

    def __init__(self, run_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.triggered_at: tuple[int, int] | None = None
        self._epoch = 0
        self.run_dir = None if run_dir is None else Path(run_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.triggered_at = (self._epoch, batch)
            self.model.stop_training = True
            best = None if self.run_dir is None else self.run_dir / "best.keras"
            where = (
                f"The best weights before it diverged are in {best}."
                if best is not None and best.is_file()
                else "No checkpoint was saved before it diverged."
            )
            print(
                f"\nTraining stopped: the loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}.\n"
                "Usual causes: a learning rate too high for this batch size (try --lr 10x smaller), "
                "labels outside [0, num_classes) that are not 255 (check the dataset), or float16 "
                f"overflow (run without --mixed-precision). {where}",
                file=sys.stderr,
            )


class _ResumeInfo(keras.callbacks.Callback):
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


class _EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` and ``learning_rate`` to the logs (and so to the CSV history)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._t0
            if "learning_rate" not in logs:  # the rate the schedule reached, for the curves
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _previous_best(csv_path: Path, monitor: str = "val_miou") -> float | None:
    if not csv_path.is_file():
        return None
    with csv_path.open(newline="") as fh:
        values = [float(r[monitor]) for r in csv.DictReader(fh) if r.get(monitor) not in (None, "", "nan")]
    return max(values) if values else None


def _trim_csv(csv_path: Path, keep_epochs: int) -> None:
    """Drop CSV rows of epochs a resumed run will repeat (atomically)."""
    safe_io.trim_csv(csv_path, keep_epochs)


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (needed by the TensorBoard callback) is installed."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def make_callbacks(config: TrainConfig, run_dir: Path, resumed_epoch: int | None) -> list[keras.callbacks.Callback]:
    """The recipe's callbacks (order matters: the backup runs before anything that may stop a run).

    The checkpoint and the history are written atomically, and the backup
    records an epoch as done only after both (see :mod:`course_utils.safe_io`).
    """
    run_dir = Path(run_dir)
    csv_path = run_dir / "history.csv"
    best = _previous_best(csv_path) if resumed_epoch is not None else None
    cbs: list[keras.callbacks.Callback] = [
        safe_io.BackupAndRestore(str(run_dir / "backup"), save_freq=config.backup_every),
        _ResumeInfo(resumed_epoch is not None),
        _EpochTimer(),
        NaNGuard(run_dir),
        safe_io.ModelCheckpoint(
            str(run_dir / "best.keras"),
            monitor="val_miou",
            mode="max",
            save_best_only=True,
            initial_value_threshold=best,
            verbose=0,
        ),
        safe_io.CSVLogger(csv_path),
    ]
    if config.recipe == "seed":
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
                "TensorBoard logs skipped: the `tensorboard` package is not installed "
                "(pip install tensorboard); history.csv and curves.png are still written.",
                file=sys.stderr,
            )
    return cbs


# --------------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    dataset_root: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    model: keras.Model | Callable[[int], keras.Model] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    if_finished: str = "overwrite",
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
        strategy: a ``tf.distribute`` strategy (default: no distribution).
        callbacks: extra Keras callbacks, run after the course's.
        verbose: passed to ``model.fit``.
        if_finished: when ``run_dir`` holds a finished run: ``"overwrite"``
            (replace its outputs), ``"suffix"`` (train into ``<run_dir>-2``...)
            or ``"error"`` (see :func:`course_utils.runs.choose_run_dir`).

    Returns:
        ``(model, history)``; ``history.terminated_on_nan`` tells whether the
        loss diverged, ``history.run_dir`` where the run was written.
    """
    choice = runs.choose_run_dir(run_dir, if_finished)
    run_dir = choice.path
    keras.utils.set_random_seed(config.seed)
    train_ds, val_ds, steps, val_steps, info = make_datasets(config, dataset_root)
    num_classes = int(info.num_classes)
    from course_utils.datasets.common import check_prepared

    check_prepared(dataset_root, ("train", "val"), num_classes)  # bad labels: a clear error naming the file

    meta = run_dir / "backup" / "training_metadata.json"
    resumed_epoch = json.loads(meta.read_text())["epoch"] if meta.is_file() else None
    if resumed_epoch is not None:
        runs.check_resume(run_dir, config.to_dict(), Path(dataset_root).name, list(info.classes))

    policy = resolve_precision_policy(config)
    if config.mixed_precision == "auto":
        from course_utils.hardware import choose_precision

        print(f"Precision {policy}: {choose_precision()[1]}.")
    strategy = strategy or tf.distribute.get_strategy()
    previous_policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        with strategy.scope():
            if model is None:
                net = build_model(config, num_classes)
            elif isinstance(model, keras.Model):
                net = model
            else:
                net = model(num_classes)
            out_classes = net.output_shape[-1]
            if out_classes != num_classes:
                raise ValueError(
                    f"The model predicts {out_classes} classes but {Path(dataset_root) / 'dataset.json'} has "
                    f"{num_classes}; build the model with num_classes={num_classes}."
                )
            class_weights = None
            if config.class_weighting:
                from course_utils import data

                freqs = data.class_frequencies(dataset_root, "train", num_classes)
                class_weights = [float(w) for w in data.class_weights(freqs)]
            compile_for_training(net, config, num_classes, steps * config.epochs, class_weights)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)

    run_dir.mkdir(parents=True, exist_ok=True)  # only now: a validation failure leaves no empty folder
    safe_io.remove_stale_temps(run_dir)
    if choice.action == "overwrite":
        runs.clear_run(run_dir)
    if resumed_epoch is not None:
        _trim_csv(run_dir / "history.csv", resumed_epoch)
    else:
        (run_dir / "history.csv").unlink(missing_ok=True)
    safe_io.atomic_write_text(
        run_dir / "config.json",
        json.dumps(
            {
                "config": config.to_dict(),
                "dataset": str(Path(dataset_root).name),
                "num_classes": num_classes,
                "classes": list(getattr(info, "classes", [])),
                "precision_policy": policy,
                "replicas": strategy.num_replicas_in_sync,
                "steps_per_epoch": steps,
                "params": int(net.count_params()),
            },
            indent=2,
        ),
    )
    cbs = make_callbacks(config, run_dir, resumed_epoch)
    # Validation runs as a callback right after the backup: precise BatchNorm statistics, then
    # scores at the labels' native resolution, written into the logs every later callback reads.
    recal = make_recalibration_batches(config, dataset_root, info) if config.recalibrate_bn else None
    cbs.insert(
        1,
        NativeValidation(
            val_ds,
            num_classes,
            input_scale=config.input_scale,
            input_size=validation_input_size(config, info),
            recalibration_batches=recal,
            recalibration_steps=config.recalibrate_bn,
            max_batches=val_steps,
        ),
    )
    nan_guard = next(c for c in cbs if isinstance(c, NaNGuard))
    history = net.fit(
        train_ds,
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=[*cbs, *callbacks],
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    history.terminated_on_nan = nan_guard.triggered_at is not None  # type: ignore[attr-defined]
    history.run_dir = run_dir  # type: ignore[attr-defined]
    if not history.terminated_on_nan:
        with safe_io.atomic_path(run_dir / "final.keras") as tmp:
            net.save(tmp)
    try:
        from course_utils import plotting

        fig = plotting.plot_history(run_dir / "history.csv")
        with safe_io.atomic_path(run_dir / "curves.png") as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        import matplotlib.pyplot as plt

        plt.close(fig)
    except (ValueError, FileNotFoundError) as err:  # an empty history (stopped in epoch 1)
        print(f"No training curves drawn: {err}", file=sys.stderr)
    return net, history
