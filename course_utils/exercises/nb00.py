"""Checkers of notebook 00 (setup); the worked solutions are :mod:`course_utils.exercises.solutions.nb00`."""

from __future__ import annotations

from collections.abc import Sequence

from course_utils.exercises.core import check_close, check_equal

__all__ = ["check_batches_per_epoch", "check_batch_megabytes"]


def check_batches_per_epoch(answer: int, num_images: int, batch_size: int) -> bool:
    """Check the number of batches one pass over ``num_images`` gives (the last batch may be partial)."""
    return check_equal(
        answer,
        -(-int(num_images) // int(batch_size)),
        hint="Divide and round up: a last, smaller batch still counts (math.ceil).",
        what="number of batches",
    )


def check_batch_megabytes(answer: float, batch_size: int, image_size: Sequence[int], channels: int = 3) -> bool:
    """Check the size in MiB of one float32 image batch ``(batch, H, W, channels)``."""
    expected = int(batch_size) * int(image_size[0]) * int(image_size[1]) * int(channels) * 4 / 2**20
    return check_close(
        answer,
        expected,
        rtol=1e-3,
        atol=1e-6,
        hint="batch x height x width x channels values, 4 bytes each (float32), divided by 2**20 bytes per MiB.",
        what="batch size in MiB",
    )
