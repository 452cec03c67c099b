"""An input pipeline without ``tf.data``: a ``keras.utils.PyDataset`` over a prepared split.

For the JAX and PyTorch backends (or any machine without TensorFlow).
Images are decoded with OpenCV and augmented by the NumPy specification in
:mod:`course_utils.data.augment`, which the ``tf.data`` pipeline implements with
TensorFlow kernels (tested to cut the same crops), so a
training batch is ``(image float32 [B, H, W, 3] in [-1, 1], label int32 [B, H, W])``
with labels in ``{0..C-1, 255}`` exactly as :func:`course_utils.data.make_dataset`
yields. The random numbers differ (NumPy's generator instead of TensorFlow's),
so the two pipelines draw different crops for the same seed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras
import numpy as np

from course_utils.data import augment as aug
from course_utils.data.format import list_pairs, load_info, read_image, read_label

__all__ = ["SegmentationPyDataset"]


class SegmentationPyDataset(keras.utils.PyDataset):
    """Batches of a prepared split for ``model.fit`` / ``evaluate`` on any backend.

    Args:
        root, split, batch_size, training, image_size, augment, seed,
        max_images, scale_range: as in :func:`course_utils.data.make_dataset`.
        steps: training batches per epoch (default: the full batches of one
            pass). Training batches are drawn from an endless reshuffled
            stream, so an epoch of ``steps`` batches may cross a pass boundary.
        cache: keep decoded images in memory (default: in training).
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of
            ``keras.utils.PyDataset``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        batch_size: int,
        training: bool,
        image_size: tuple[int, int] | None = None,
        augment: bool | None = None,
        seed: int | None = None,
        max_images: int | None = None,
        scale_range: tuple[float, float] = (0.5, 2.0),
        steps: int | None = None,
        cache: bool | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        lo, hi = float(scale_range[0]), float(scale_range[1])
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        info = load_info(root)
        pairs = list_pairs(root, split)
        if max_images is not None:
            pairs = pairs[: int(max_images)]
        if training and image_size is None:
            if info.image_size is None:
                raise ValueError(f"{root}/dataset.json has no image_size: pass image_size=(H, W).")
            image_size = info.image_size
        if training and len(pairs) < batch_size:
            raise ValueError(
                f"Split {split!r} of {root} has {len(pairs)} images, fewer than batch_size="
                f"{batch_size}: training drops incomplete batches, so nothing would be yielded."
            )
        self.root, self.split, self.pairs = Path(root), split, pairs
        self.batch_size, self.training = int(batch_size), bool(training)
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self.augment = self.training if augment is None else bool(augment)
        self.seed = 0 if seed is None else int(seed)
        self.scale_range = (lo, hi)
        full = len(pairs) // self.batch_size
        self.steps = int(steps) if (training and steps) else full
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = (
            {} if (cache or (cache is None and training)) else None
        )

    def __len__(self) -> int:
        if self.training:
            return self.steps
        return math.ceil(len(self.pairs) / self.batch_size)

    def on_epoch_end(self) -> None:
        """Next epoch: new crops and a new order."""
        self.epoch += 1

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        img_path, lbl_path = self.pairs[index]
        pair = (read_image(img_path), read_label(lbl_path))
        if self._cache is not None:
            self._cache[index] = pair
        return pair

    def _order(self, epoch_pass: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch_pass]).permutation(len(self.pairs))

    def __getitem__(self, idx: int):
        if idx >= len(self):
            raise IndexError(idx)
        if not self.training:
            items = range(idx * self.batch_size, min(len(self.pairs), (idx + 1) * self.batch_size))
            images, labels = [], []
            for i in items:
                image, label = self._load(i)
                if self.image_size is not None:
                    image, label = aug.resize_pair(image, label, self.image_size)
                images.append(np.asarray(image, np.float32) / 127.5 - 1.0)
                labels.append(np.asarray(label, np.int32))
            return np.stack(images), np.stack(labels)
        n = len(self.pairs)
        crops, labels, jitters = [], [], []
        for k in range(self.batch_size):
            flat = (self.epoch * self.steps + idx) * self.batch_size + k  # position in the endless stream
            image, label = self._load(int(self._order(flat // n)[flat % n]))
            u = np.random.default_rng([self.seed, flat]).random(aug.N_UNIFORMS, dtype=np.float32)
            h, w = image.shape[:2]
            ys, xs, jitter = aug.sample_window(u, h, w, self.image_size, self.scale_range, self.augment)
            crop, lbl = aug.resample(image, label, ys, xs)
            crops.append(crop)
            labels.append(lbl)
            jitters.append(jitter)
        images = aug.jitter_batch(np.stack(crops), np.stack(jitters).astype(np.float32))
        return images.astype(np.float32), np.stack(labels).astype(np.int32)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
