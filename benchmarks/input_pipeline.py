#!/usr/bin/env python
"""Input pipeline throughput: ``make_dataset`` (tf.data) against a seed-style Python generator.

Both read the same MiniDrive PNG files (built in a temporary folder unless
``--root`` is given) and produce training batches of ``--height x --width``:

- ``make_dataset``: parallel PNG decode, random scale 0.5-2.0, crop with void
  padding, flip, photometric jitter, batching and prefetch (all in tf.data).
- generator: the pattern of the seed notebook: ``cv2.imread`` one file at a time,
  BGR to RGB, resize, scale to [0, 1], one-hot labels, ``np.stack`` into a batch,
  all in one Python thread, with no augmentation at all.

Example:
    python benchmarks/input_pipeline.py --images 200 --batches 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from prettytable import PrettyTable  # noqa: E402

from course_utils import data  # noqa: E402
from course_utils.data.throughput import images_per_second, naive_batches  # noqa: E402
from course_utils.datasets.minidrive import build_minidrive  # noqa: E402


def run(
    root: Path, batch_size: int, batches: int, size: tuple[int, int], warmup: int = 3, repeats: int = 3
) -> dict[str, float]:
    """Images/s (steady state, median of ``repeats`` timings of ``batches`` batches) of the
    generator and of ``make_dataset`` with and without its cache.

    The default ``make_dataset`` keeps decoded images in memory after the first
    epoch when the split fits in ``data.CACHE_BUDGET_BYTES``; its warm-up is
    therefore one full epoch. ``cache=False`` decodes every PNG in every epoch.
    Each pipeline is one iterator, warmed up once and then timed ``repeats`` times.
    """
    n_images = len(data.list_pairs(root, "train"))
    epoch = -(-n_images // batch_size)

    def median_rate(batches_iter, wu: int) -> float:
        it = iter(batches_iter)
        images_per_second(it, 1, wu)  # warm-up (the timed batch included: it is thrown away)
        return statistics.median(images_per_second(it, batches, 0) for _ in range(repeats))

    # the seed notebook's way: one Python thread, cv2 reads, numpy stacking, one-hot labels
    rates = {"generator": median_rate(naive_batches(root, "train", batch_size, size), warmup)}
    for name, cache, wu in (
        ("make_dataset, cache=False", False, warmup),
        ("make_dataset (default cache)", None, epoch + warmup),
    ):
        ds = data.make_dataset(
            root, "train", batch_size, training=True, image_size=size, seed=0, repeat=True, cache=cache
        )
        rates[name] = median_rate(ds, wu)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="prepared dataset to read (default: a MiniDrive built in a temp folder)")
    parser.add_argument("--images", type=int, default=200, help="MiniDrive train scenes to build (default 200)")
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40, help="timed batches per timing (default 40)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per pipeline; the median is shown (default 3)")
    args = parser.parse_args(argv)
    size = (args.height, args.width)
    with tempfile.TemporaryDirectory() as tmp:
        if args.root:
            root = Path(args.root)
        else:
            t0 = time.perf_counter()
            root = build_minidrive(Path(tmp) / "minidrive", args.images, 0, 0, args.height, args.width, seed=0)
            print(
                f"built {args.images} MiniDrive scenes ({args.height}x{args.width}) in {time.perf_counter() - t0:.1f} s"
            )
        rates = run(root, args.batch_size, args.batches, size, repeats=args.repeats)
    table = PrettyTable(["pipeline", "images/s", "speed-up"])
    table.align = "r"
    table.align["pipeline"] = "l"
    for name, rate in rates.items():
        table.add_row([name, f"{rate:.1f}", f"{rate / rates['generator']:.1f}x"])
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"training batches of {args.batch_size} at {args.height}x{args.width}, {os.cpu_count()} CPU cores, "
        f"load average {load}"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
