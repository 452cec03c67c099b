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
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from prettytable import PrettyTable  # noqa: E402

from course_utils import data  # noqa: E402
from course_utils.datasets.minidrive import build_minidrive  # noqa: E402


def seed_style_generator(root: Path, split: str, batch_size: int, size: tuple[int, int], num_classes: int,
                         seed: int = 0):
    """Endless batches the way the seed notebook made them (one Python thread, cv2, one-hot)."""
    pairs = data.list_pairs(root, split)
    rng = np.random.default_rng(seed)
    eye = np.eye(num_classes + 1, dtype=np.float32)[:, :num_classes]  # void -> all-zero row
    while True:
        order = rng.permutation(len(pairs))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            images, labels = [], []
            for k in order[start:start + batch_size]:
                img_path, lbl_path = pairs[k]
                img = cv2.cvtColor(cv2.imread(str(img_path)), cv2.COLOR_BGR2RGB)
                lbl = cv2.imread(str(lbl_path), cv2.IMREAD_GRAYSCALE)
                img = cv2.resize(img, (size[1], size[0])).astype(np.float32) / 255.0
                lbl = cv2.resize(lbl, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
                images.append(img)
                labels.append(eye[np.minimum(lbl, num_classes)])
            yield np.stack(images), np.stack(labels)


def time_batches(iterator, batches: int, warmup: int) -> float:
    """Seconds for ``batches`` batches after ``warmup`` untimed ones."""
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return time.perf_counter() - start


def run(root: Path, batch_size: int, batches: int, size: tuple[int, int], warmup: int = 3) -> dict[str, float]:
    """Images/s (steady state) of the generator and of ``make_dataset`` with and without its cache.

    The default ``make_dataset`` keeps decoded images in memory after the first
    epoch when the split fits in ``data.CACHE_BUDGET_BYTES``; its warm-up is
    therefore one full epoch. ``cache=False`` decodes every PNG in every epoch.
    """
    info = data.load_info(root)
    n_images = len(data.list_pairs(root, "train"))
    epoch = -(-n_images // batch_size)
    rates = {}
    gen = seed_style_generator(root, "train", batch_size, size, info.num_classes)
    rates["generator"] = time_batches(gen, batches, warmup)
    for name, cache, wu in (("make_dataset, cache=False", False, warmup),
                            ("make_dataset (default cache)", None, epoch + warmup)):
        ds = data.make_dataset(root, "train", batch_size, training=True, image_size=size, seed=0,
                               repeat=True, cache=cache)
        rates[name] = time_batches(iter(ds), batches, wu)
    n = batches * batch_size
    return {k: n / t for k, t in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="prepared dataset to read (default: a MiniDrive built in a temp folder)")
    parser.add_argument("--images", type=int, default=200, help="MiniDrive train scenes to build (default 200)")
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40, help="timed batches per pipeline (default 40)")
    args = parser.parse_args(argv)
    size = (args.height, args.width)
    with tempfile.TemporaryDirectory() as tmp:
        if args.root:
            root = Path(args.root)
        else:
            t0 = time.perf_counter()
            root = build_minidrive(Path(tmp) / "minidrive", args.images, 0, 0, args.height, args.width, seed=0)
            print(f"built {args.images} MiniDrive scenes ({args.height}x{args.width}) in "
                  f"{time.perf_counter() - t0:.1f} s")
        rates = run(root, args.batch_size, args.batches, size)
    table = PrettyTable(["pipeline", "images/s", "speed-up"])
    table.align = "r"
    table.align["pipeline"] = "l"
    for name, rate in rates.items():
        table.add_row([name, f"{rate:.1f}", f"{rate / rates['generator']:.1f}x"])
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"training batches of {args.batch_size} at {args.height}x{args.width}, {os.cpu_count()} CPU cores, "
          f"load average {load}")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
