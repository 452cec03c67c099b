"""Estimated training time of a recipe from the model's FLOPs and a GPU's peak.

No GPU is needed: the model is built, :func:`course_utils.model.model_report`
counts its multiply-accumulates (MACs) symbolically, and the time follows from

* training FLOPs per image ``= 3 x 2 x MACs`` (forward pass, plus a backward
  pass of about twice the forward cost; one MAC is two FLOPs),
* validation FLOPs per image ``= 2 x MACs`` at the evaluation size,
* seconds ``= FLOPs / (peak x utilisation)``.

The result is an **estimate**, not a measurement: the utilisation a real run
reaches depends on the GPU's clocks, memory bandwidth, the input pipeline and
XLA. The default utilisation (10 % of the tensor-core peak) is a typical value
for convolutional networks trained with mixed precision on a T4 (ResNet-50 at
224x224 trains at about 250-300 images/s on one, i.e. 6-7 TFLOP/s of its 65).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: NVIDIA T4 (free Colab GPU): peak float16 tensor-core throughput, TFLOP/s.
T4_PEAK_TFLOPS = 65.0
#: Assumed share of that peak a Keras mixed-precision segmentation run sustains.
ASSUMED_UTILISATION = 0.10
#: One-time costs (XLA compilation, first epoch's decoding, weight and data download), seconds.
ASSUMED_OVERHEAD_S = 180.0


@dataclass(frozen=True)
class TimeEstimate:
    """An **estimated** training time (see the module docstring for the model behind it)."""

    gmacs_train: float
    gmacs_eval: float
    train_images_per_epoch: int
    val_images_per_epoch: int
    epochs: int
    peak_tflops: float
    utilisation: float
    overhead_s: float

    @property
    def epoch_seconds(self) -> float:
        """Estimated seconds of one epoch (training steps plus validation)."""
        flops = 6e9 * self.gmacs_train * self.train_images_per_epoch + 2e9 * self.gmacs_eval * self.val_images_per_epoch
        return flops / (self.peak_tflops * 1e12 * self.utilisation)

    @property
    def total_minutes(self) -> float:
        """Estimated minutes of the whole run, one-time overhead included."""
        return (self.epoch_seconds * self.epochs + self.overhead_s) / 60.0

    def describe(self) -> str:
        """One line, marked as an estimate."""
        return (
            f"estimated {self.total_minutes:.0f} min ({self.epochs} epochs x {self.epoch_seconds:.1f} s + "
            f"{self.overhead_s / 60:.0f} min set-up): {self.gmacs_train:.1f} GMACs per training image, "
            f"{self.train_images_per_epoch} training + {self.val_images_per_epoch} validation images per epoch, "
            f"{self.utilisation:.0%} of {self.peak_tflops:g} TFLOP/s (not measured)"
        )


def estimate_training_time(
    config,
    num_classes: int,
    num_train: int,
    num_val: int,
    dataset_size: tuple[int, int],
    peak_tflops: float = T4_PEAK_TFLOPS,
    utilisation: float = ASSUMED_UTILISATION,
    overhead_s: float = ASSUMED_OVERHEAD_S,
) -> TimeEstimate:
    """Estimate how long ``train(config, ...)`` takes on a GPU of ``peak_tflops``.

    Args:
        config: a :class:`course_utils.train.TrainConfig` (backbone, sizes, epochs).
        num_classes: classes of the dataset (the classifier's width).
        num_train, num_val: images in the training and validation splits.
        dataset_size: ``(H, W)`` of the dataset's images (used when
            ``config.eval_size`` is ``None``).
        peak_tflops: the GPU's peak (default: a T4's float16 tensor cores).
        utilisation: assumed share of the peak actually sustained.
        overhead_s: one-time set-up seconds added to the total.
    """
    from course_utils.model.deeplab import build_deeplabv3
    from course_utils.model.report import model_report

    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}")
    model = build_deeplabv3(
        num_classes,
        backbone=config.backbone,
        output_stride=config.output_stride,
        multi_grid=config.multi_grid,
        decoder=config.decoder,
    )
    train_size = tuple(config.image_size)
    eval_size = tuple(config.eval_size or dataset_size)
    gmacs_train = model_report(model, (*train_size, 3)).gmacs
    gmacs_eval = gmacs_train if eval_size == train_size else model_report(model, (*eval_size, 3)).gmacs
    n_train = min(num_train, config.max_train_images or num_train)
    steps = config.steps_per_epoch or max(1, math.ceil(n_train / config.batch_size))
    n_val = min(num_val, config.max_val_images or num_val)
    if config.val_steps:
        n_val = min(n_val, config.val_steps * config.batch_size)
    return TimeEstimate(
        gmacs_train=gmacs_train,
        gmacs_eval=gmacs_eval,
        train_images_per_epoch=steps * config.batch_size,
        val_images_per_epoch=n_val,
        epochs=int(config.epochs),
        peak_tflops=float(peak_tflops),
        utilisation=float(utilisation),
        overhead_s=float(overhead_s),
    )
