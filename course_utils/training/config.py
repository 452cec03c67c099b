"""The configuration of one training run: :class:`TrainConfig`, sized by a run profile.

Its recipes, backbones and profiles are the tables of :mod:`course_utils.config`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from course_utils.config import BACKBONES, DEFAULT_BN_MOMENTUM, RECIPES, Profile, get_profile

__all__ = ["TrainConfig", "INPUT_PIPELINES"]

INPUT_PIPELINES = ("auto", "tf.data", "pydataset")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the dataset and the output folder.

    Build it with :meth:`from_profile` and change fields with
    ``dataclasses.replace`` (or keyword overrides to ``from_profile``).

    ``weight_decay`` is the paper's L2 coefficient (the loss term
    ``weight_decay / 2 * sum(w ** 2)`` on convolution kernels, paper recipe);
    ``bn_momentum`` the BatchNorm momentum (Keras 0.99, paper 0.9997);
    ``steps_per_execution`` the train steps run per call into the compiled
    function (fewer host round trips); ``input_pipeline`` ``"auto"``
    (``tf.data`` under the TensorFlow backend, else a ``keras.utils.PyDataset``),
    ``"tf.data"`` or ``"pydataset"``.
    """

    recipe: str = "seed"
    backbone: str = "resnet18"
    output_stride: int = 16
    multi_grid: tuple[int, ...] | None = (1, 2, 4)
    image_pooling: bool = True
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
    bn_momentum: float = DEFAULT_BN_MOMENTUM
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
    steps_per_execution: int = 1
    input_pipeline: str = "auto"
    backup_every: int | str = "epoch"
    tensorboard: bool = True
    max_train_images: int | None = None
    max_val_images: int | None = None
    seed: int = 42
    input_scale: float = 1.0
    recalibrate_bn: int = 10
    warmup_epochs: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"Unknown recipe {self.recipe!r}; use one of {tuple(RECIPES)} (e.g. --recipe paper).")
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
        if self.recalibrate_bn < 0:
            raise ValueError(f"recalibrate_bn must be >= 0 batches, got {self.recalibrate_bn}.")
        if self.input_pipeline not in INPUT_PIPELINES:
            raise ValueError(f"Unknown input_pipeline {self.input_pipeline!r}; use one of {INPUT_PIPELINES}.")
        if int(self.steps_per_execution) < 1:
            raise ValueError(f"steps_per_execution must be >= 1, got {self.steps_per_execution}.")
        if not 0.0 <= float(self.bn_momentum) < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum} (the paper uses 0.9997).")
        _check_ranges(self)

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
        if recipe in RECIPES:
            values.update(scale_range=RECIPES[recipe].scale_range)
            if not RECIPES[recipe].early_stopping:
                values.update(early_stopping_patience=None)
        values.update(specific)
        values.update(overrides)
        if "weights" not in overrides:  # the profile's weights, where the (possibly overridden) backbone has them
            pretrained = values["backbone"] in BACKBONES and BACKBONES[values["backbone"]].pretrained
            values["weights"] = profile.weights if pretrained else None
        return cls(**values)

    @property
    def base_learning_rate(self) -> float:
        """The recipe's starting learning rate unless ``learning_rate`` is set."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return RECIPES[self.recipe].learning_rate

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _check_ranges(config: TrainConfig) -> None:
    """Refuse sizes and counts no run can use, with the valid range (one line each)."""
    for name in ("image_size", "eval_size"):
        size = getattr(config, name)
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"{name} must be two sizes (height, width) >= 1 pixel, got {size}.")
    for name in ("epochs", "batch_size"):
        if int(getattr(config, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}.")
    for name in ("steps_per_epoch", "val_steps"):
        value = getattr(config, name)
        if value is not None and int(value) < 1:
            raise ValueError(f"{name} must be >= 1 (or None for a whole pass), got {value}.")
    if config.weight_decay < 0 or (config.learning_rate is not None and not config.learning_rate > 0):
        raise ValueError(
            f"weight_decay must be >= 0 and learning_rate > 0, got {config.weight_decay} and {config.learning_rate}."
        )
    if not 0.0 <= float(config.warmup_epochs) < int(config.epochs):
        raise ValueError(
            f"warmup_epochs must be in [0, epochs) = [0, {config.epochs}), got {config.warmup_epochs}: "
            "a warm-up as long as the run leaves no epoch at the full learning rate."
        )
    from course_utils.datasets.writer import INFERENCE_BYTES_PER_PIXEL, check_size_fits

    check_size_fits(config.image_size, "image_size", batch=int(config.batch_size))
    if config.eval_size is not None:
        check_size_fits(config.eval_size, "eval_size", int(config.batch_size), INFERENCE_BYTES_PER_PIXEL)
