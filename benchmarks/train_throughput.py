"""Training throughput (images/s) of the full training step, input pipeline included.

Measures ``model.fit`` on the course's real pipeline (PNG decoding, random
crops, flips, colour jitter, batching, prefetch) feeding DeepLabV3 with the
course's loss, optimizer and streaming mIoU metric: the same code path as
``python -m course_utils train``. Sizes default to the ``gpu`` profile
(ResNet-50, output stride 16, multi-grid (1, 2, 4), 240x480 crops, batch 8).

The first ``--warmup`` steps (tracing, XLA compilation, autotuning) are run in
a separate ``fit`` call and not timed; then ``--steps`` steps are timed.

Examples::

    # on a GPU: the four combinations
    python benchmarks/train_throughput.py --mixed-precision --jit-compile
    python benchmarks/train_throughput.py --no-mixed-precision --no-jit-compile
    # a quick look on a CPU
    python benchmarks/train_throughput.py --steps 3 --warmup 1 --no-mixed-precision --no-jit-compile

Prints one JSON line (and appends it to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="gpu", choices=("smoke", "cpu", "gpu"), help="sizes (default gpu).")
    p.add_argument(
        "--dataset",
        default=None,
        help="prepared dataset folder (default: a MiniDrive of --images scenes at the crop size, "
        "generated in a temporary folder).",
    )
    p.add_argument("--images", type=int, default=64, help="scenes in the generated MiniDrive (train split).")
    p.add_argument("--backbone", default=None)
    p.add_argument("--output-stride", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    p.add_argument("--recipe", default="seed", choices=("seed", "paper"))
    p.add_argument(
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed_float16 (default: the profile's; only applied on a GPU unless forced).",
    )
    p.add_argument("--force-mixed-precision", action="store_true")
    p.add_argument(
        "--jit-compile", action=argparse.BooleanOptionalAction, default=None, help="XLA (default: the profile's)."
    )
    p.add_argument("--steps", type=int, default=50, help="timed steps.")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first.")
    p.add_argument("--out", default=None, help="append the JSON result to this file.")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    from course_utils import data, train
    from course_utils.datasets.minidrive import build_minidrive
    from course_utils.profiles import get_profile

    profile = get_profile(args.profile)
    overrides = {
        k: v
        for k, v in {
            "backbone": args.backbone,
            "output_stride": args.output_stride,
            "batch_size": args.batch_size,
            "mixed_precision": args.mixed_precision,
            "jit_compile": args.jit_compile,
            "image_size": tuple(args.image_size) if args.image_size else None,
        }.items()
        if v is not None
    }
    config = train.TrainConfig.from_profile(
        profile, recipe=args.recipe, force_mixed_precision=args.force_mixed_precision, **overrides
    )
    tmp = None
    if args.dataset:
        root = Path(args.dataset)
    else:
        tmp = tempfile.TemporaryDirectory()
        h, w = config.image_size
        root = build_minidrive(Path(tmp.name) / "minidrive", max(args.images, config.batch_size), 0, 0, h, w, seed=1)
    info = data.load_info(root)
    keras.utils.set_random_seed(config.seed)

    ds = data.make_dataset(
        root,
        "train",
        config.batch_size,
        training=True,
        image_size=config.image_size,
        seed=config.seed,
        repeat=True,
        scale_range=config.scale_range,
    )
    policy = train.resolve_precision_policy(config)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = train.build_model(config, info.num_classes)
        train.compile_for_training(model, config, info.num_classes, total_steps=args.warmup + args.steps + 1)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)

    t0 = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=max(args.warmup, 1), verbose=0, shuffle=False)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hist = model.fit(ds, epochs=1, steps_per_epoch=args.steps, verbose=0, shuffle=False)
    float(hist.history["loss"][-1])  # results are on the host: the device work is done
    elapsed = time.perf_counter() - t0
    gpus = tf.config.list_physical_devices("GPU")
    result = {
        "images_per_s": round(args.steps * config.batch_size / elapsed, 2),
        "step_ms": round(1000 * elapsed / args.steps, 1),
        "steps": args.steps,
        "warmup_steps": max(args.warmup, 1),
        "warmup_s": round(warmup_s, 1),
        "backbone": config.backbone,
        "output_stride": config.output_stride,
        "image_size": list(config.image_size),
        "batch_size": config.batch_size,
        "precision_policy": policy,
        "jit_compile": bool(config.jit_compile),
        "device": (
            tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            if gpus
            else f"CPU ({platform.processor() or platform.machine()})"
        ),
        "tensorflow": tf.__version__,
        "final_loss": round(float(hist.history["loss"][-1]), 4),
    }
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    if tmp is not None:
        tmp.cleanup()
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
