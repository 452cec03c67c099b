"""Solutions of the exercises of notebook 00 (setting up)."""

from __future__ import annotations

import math


def batches_per_epoch(num_images: int, batch_size: int) -> int:
    """Exercise 2: a last, smaller batch still counts."""
    return math.ceil(num_images / batch_size)


def batch_megabytes(batch_size: int, image_size: tuple[int, int]) -> float:
    """Exercise 3: float32 RGB images, 4 bytes per value, 2**20 bytes per MiB."""
    height, width = image_size
    return batch_size * height * width * 3 * 4 / 2**20
