"""A training run's inputs: the training and validation pipelines, and the batches of precise BatchNorm.

Under the TensorFlow backend the pipeline is ``tf.data`` (:func:`course_utils.data.make_dataset`);
under JAX or PyTorch it is a ``keras.utils.PyDataset``
(:class:`course_utils.data.pydataset.SegmentationPyDataset`); ``TrainConfig.input_pipeline``
chooses explicitly.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from course_utils import data
from course_utils.devices import tensorflow_backend
from course_utils.training.config import TrainConfig

__all__ = ["make_datasets", "validation_input_size", "make_recalibration_batches"]


def _split_count(info, split: str) -> int:
    counts = getattr(info, "counts", None) or {}
    return int(counts.get(split, 0))


def _pipeline(config: TrainConfig) -> str:
    """``"tf.data"`` or ``"pydataset"``: the config's choice, ``"auto"`` resolved by the backend."""
    if config.input_pipeline == "auto":
        return "tf.data" if tensorflow_backend() else "pydataset"
    return config.input_pipeline


def make_datasets(config: TrainConfig, dataset_root: str | os.PathLike):
    """Training and validation pipelines plus their step counts.

    Returns:
        ``(train_ds, val_ds, steps_per_epoch, val_steps, info)``; the training
        set repeats forever (``steps_per_epoch`` bounds each epoch) so that the
        optimizer step, the poly schedule and resumed runs agree.
    """
    pipeline = _pipeline(config)
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
    scaled_range = (config.scale_range[0] * s, config.scale_range[1] * s)
    if pipeline == "pydataset":
        from course_utils.data.pydataset import SegmentationPyDataset

        train_ds = SegmentationPyDataset(
            root,
            "train",
            config.batch_size,
            training=True,
            image_size=config.image_size,
            augment=config.augment,
            seed=config.seed,
            max_images=config.max_train_images,
            scale_range=scaled_range,
            steps=steps,
        )
        # native-resolution labels for validation (see course_utils.training.validation)
        val_batch = config.batch_size if info.image_size is not None else 1
        val_ds = SegmentationPyDataset(root, "val", val_batch, training=False, max_images=config.max_val_images)
        return train_ds, val_ds, steps, config.val_steps, info
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
        scale_range=scaled_range,
    )
    # Validation batches keep the labels at their native size (see course_utils.training.validation);
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
    from course_utils.training.validation import scaled_size

    size = validation_input_size(config, info)
    if size is None and info.image_size is not None:
        size = scaled_size(int(info.image_size[0]), int(info.image_size[1]), config.input_scale)
    s = config.input_scale
    if _pipeline(config) == "pydataset":
        from course_utils.data.pydataset import SegmentationPyDataset

        if size is not None:
            return SegmentationPyDataset(
                dataset_root,
                "train",
                config.batch_size,
                training=False,
                image_size=size,
                max_images=config.max_train_images,
            )
        return SegmentationPyDataset(
            dataset_root,
            "train",
            config.batch_size,
            training=True,
            image_size=config.image_size,
            seed=config.seed,
            max_images=config.max_train_images,
            scale_range=(config.scale_range[0] * s, config.scale_range[1] * s),
        )
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
