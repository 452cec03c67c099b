"""Training-step throughput (images/s) and model FLOP utilisation (MFU) of DeepLabV3, on any Keras backend.

Times the full training step, forward + masked cross-entropy + backward +
optimizer update, through ``model.fit`` on batches that are already in memory
(random tensors, or images of a prepared dataset read once), so that the
figure is the model's, not the input pipeline's (``benchmarks/input_pipeline.py``
measures that). The first ``--warmup`` steps (tracing, XLA compilation) run in
a separate ``fit`` call and are not timed.

MFU = achieved FLOP/s / peak FLOP/s. Training FLOPs per image are counted as
3 x forward FLOPs (the backward pass costs about twice the forward), forward
FLOPs as 2 x the multiply-accumulates of convolutions and dense layers that
:func:`course_utils.model.model_report` counts. The peak comes from
``--peak-tflops`` or, for a few known GPUs, from :data:`PEAK_TFLOPS`
(dense tensor-core peaks from the vendor's data sheets; float32 counts as TF32,
which TensorFlow and JAX use for float32 convolutions on Ampere and later);
otherwise MFU is "not computed".

The Keras backend is the ``KERAS_BACKEND`` environment variable; under ``jax``
or ``torch`` TensorFlow is never imported (the script needs only Keras, NumPy,
OpenCV and that framework).

Examples::

    # CPU, the cpu profile's model: float32 against mixed_bfloat16
    python benchmarks/train_throughput.py --backbone resnet18 --crop 120 240 --batch 8 \\
        --precision float32 mixed_bfloat16 --steps 5 --warmup 2
    # the same under JAX
    KERAS_BACKEND=jax python benchmarks/train_throughput.py --backbone resnet18 --crop 120 240 \\
        --precision float32 mixed_bfloat16
    # GPU, the gpu profile's model, every precision with and without XLA, JSON for the record
    python benchmarks/train_throughput.py --backbone resnet50 --crop 240 480 --batch 8 \\
        --precision auto float32 --jit-compile on off --steps 100 --warmup 20 --json h100.json

One table row per (precision, jit_compile) setting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

#: Dense peak TFLOP/s per device name fragment (first match wins) and arithmetic: bf16, fp16, fp32 (TF32 on Ampere+).
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989.4, "fp16": 989.4, "fp32": 494.7}),
    ("H100 PCIe", {"bf16": 756.0, "fp16": 756.0, "fp32": 378.0}),
    ("H100 NVL", {"bf16": 835.0, "fp16": 835.0, "fp32": 417.5}),
    ("H100", {"bf16": 989.4, "fp16": 989.4, "fp32": 494.7}),  # SXM ("NVIDIA H100 80GB HBM3")
    ("A100", {"bf16": 312.0, "fp16": 312.0, "fp32": 156.0}),
    ("L4", {"bf16": 121.0, "fp16": 121.0, "fp32": 60.0}),
    ("T4", {"fp16": 65.0, "fp32": 8.1}),
    ("V100", {"fp16": 125.0, "fp32": 15.7}),
]

IGNORE_INDEX = 255


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="resnet18", help="resnet18/34/50/101 (default resnet18).")
    p.add_argument("--output-stride", type=int, default=16, choices=(8, 16, 32))
    p.add_argument("--multi-grid", type=int, nargs=3, default=(1, 2, 4))
    p.add_argument("--crop", type=int, nargs=2, default=(120, 240), metavar=("H", "W"), help="input size.")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--num-classes", type=int, default=19, help="classes of the synthetic input (default 19).")
    p.add_argument(
        "--precision",
        nargs="+",
        default=["float32"],
        help="dtype policies to time: float32, mixed_float16, mixed_bfloat16, or auto "
        "(course_utils.devices.choose_precision).",
    )
    p.add_argument(
        "--jit-compile",
        nargs="+",
        default=["auto"],
        choices=("auto", "on", "off"),
        help="XLA settings to time (auto: Keras' choice: on under JAX, off for TensorFlow on a CPU).",
    )
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument(
        "--dataset",
        default=None,
        help="prepared dataset folder: use its first --pool x --batch training images (resized to --crop) "
        "instead of random tensors.",
    )
    p.add_argument("--pool", type=int, default=2, help="distinct batches kept in memory and cycled (default 2).")
    p.add_argument("--steps", type=int, default=10, help="timed steps.")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, compilation).")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak TFLOP/s of the device for MFU.")
    p.add_argument("--json", default=None, help="write the rows as a JSON list to this file.")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 1 or args.batch < 1 or args.pool < 1:
        p.error("--steps, --warmup, --batch and --pool must be >= 1.")
    return args


# ------------------------------------------------------------------------ input


def synthetic_batches(pool: int, batch: int, crop, num_classes: int, seed: int = 0):
    """``pool`` batches of random images in [-1, 1] and labels in ``[0, C)`` with 5 % void."""
    rng = np.random.default_rng(seed)
    h, w = crop
    out = []
    for _ in range(pool):
        x = rng.uniform(-1, 1, size=(batch, h, w, 3)).astype("float32")
        y = rng.integers(0, num_classes, size=(batch, h, w)).astype("int32")
        y[rng.random(y.shape) < 0.05] = IGNORE_INDEX
        out.append((x, y))
    return out


def dataset_batches(root: str, pool: int, batch: int, crop):
    """The first ``pool * batch`` training pairs of a prepared dataset, resized to ``crop`` (no TensorFlow)."""
    import cv2

    from course_utils.data import list_pairs, load_info
    from course_utils.data.format import read_image, read_label

    info = load_info(root)
    pairs = list_pairs(root, "train")
    if len(pairs) < pool * batch:
        raise SystemExit(f"{root} has {len(pairs)} training images; --pool x --batch needs {pool * batch}.")
    h, w = crop
    images, labels = [], []
    for img_path, lbl_path in pairs[: pool * batch]:
        img = cv2.resize(np.asarray(read_image(img_path)), (w, h), interpolation=cv2.INTER_LINEAR)
        lbl = cv2.resize(np.asarray(read_label(lbl_path)), (w, h), interpolation=cv2.INTER_NEAREST)
        images.append(img.astype("float32") / 127.5 - 1.0)
        labels.append(lbl.astype("int32"))
    x, y = np.stack(images), np.stack(labels)
    return [(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]) for i in range(pool)], info.num_classes


def make_feed(batches, total_steps: int):
    """Endless in-memory batches for ``fit``: ``tf.data`` under TensorFlow, a ``PyDataset`` elsewhere."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        xs = np.stack([b[0] for b in batches])
        ys = np.stack([b[1] for b in batches])
        return tf.data.Dataset.from_tensor_slices((xs, ys)).cache().repeat().prefetch(2)

    class Cycle(keras.utils.PyDataset):
        def __len__(self):
            return total_steps

        def __getitem__(self, i):
            return batches[i % len(batches)]

    return Cycle()


# ------------------------------------------------------------------------ device


def peak_tflops(device_name: str, policy: str, override: float | None) -> tuple[float | None, str]:
    """Peak TFLOP/s for the policy's arithmetic on the device, and where the number came from."""
    if override:
        return override, "--peak-tflops"
    kind = {"mixed_bfloat16": "bf16", "mixed_float16": "fp16"}.get(policy, "fp32")
    for fragment, peaks in PEAK_TFLOPS:
        if fragment.lower() in device_name.lower():
            value = peaks.get(kind)
            return value, (f"table: {fragment} {kind}" if value else f"table: {fragment} has no {kind} peak")
    return None, "device not in the table (pass --peak-tflops)"


# ------------------------------------------------------------------------ timing


def time_setting(args, batches, num_classes: int, policy: str, jit: str, accelerator) -> dict:
    """Build, compile and time one (precision, jit_compile) setting; return one result row."""
    import keras

    from course_utils.model import build_deeplabv3, model_report

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = build_deeplabv3(
            num_classes,
            backbone=args.backbone,
            output_stride=args.output_stride,
            multi_grid=tuple(args.multi_grid),
        )
        optimizer = keras.optimizers.Adam(1e-4) if args.optimizer == "adam" else keras.optimizers.SGD(1e-3, 0.9)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_INDEX),
            jit_compile={"auto": "auto", "on": True, "off": False}[jit],
        )
    finally:
        keras.config.set_dtype_policy(previous)
    h, w = args.crop
    macs = model_report(model, (h, w, 3)).macs
    train_flops = 3 * 2 * macs  # per image

    feed = make_feed(batches, args.warmup + args.steps)
    t0 = time.perf_counter()
    model.fit(feed, epochs=1, steps_per_epoch=args.warmup, verbose=0, shuffle=False)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hist = model.fit(feed, epochs=1, steps_per_epoch=args.steps, verbose=0, shuffle=False)
    loss = float(hist.history["loss"][-1])  # on the host: the device work is done
    elapsed = time.perf_counter() - t0

    images_per_s = args.steps * args.batch / elapsed
    device = accelerator.name
    peak, peak_source = peak_tflops(device, policy, args.peak_tflops)
    achieved = train_flops * images_per_s / 1e12
    return {
        "backend": keras.backend.backend(),
        "device": f"{accelerator.kind}: {device}",
        "backbone": args.backbone,
        "output_stride": args.output_stride,
        "crop": [h, w],
        "batch": args.batch,
        "precision": policy,
        "jit_compile": bool(model.jit_compile),
        "input": "dataset" if args.dataset else "synthetic",
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "warmup_s": round(warmup_s, 2),
        "step_ms": round(1000 * elapsed / args.steps, 1),
        "images_per_s": round(images_per_s, 2),
        "train_gflops_per_image": round(train_flops / 1e9, 2),
        "achieved_tflops": round(achieved, 4),
        "peak_tflops": peak,
        "peak_source": peak_source,
        "mfu": round(achieved / peak, 4) if peak else None,
        "final_loss": round(loss, 4),
        "keras": keras.__version__,
    }


def format_row(r: dict) -> str:
    mfu = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "not computed"
    return (
        f"| {r['backend']} | {r['backbone']} OS{r['output_stride']} | {r['crop'][0]}x{r['crop'][1]} | {r['batch']} "
        f"| {r['precision']} | {'on' if r['jit_compile'] else 'off'} | {r['step_ms']:.0f} | {r['images_per_s']:.2f} "
        f"| {r['achieved_tflops']:.3f} | {mfu} |"
    )


HEADER = (
    "| backend | model | crop | batch | precision | XLA | step ms | images/s | TFLOP/s | MFU |\n"
    "|---|---|---|---|---|---|---:|---:|---:|---:|"
)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    import keras

    from course_utils import devices

    accelerator = devices.detect_accelerator()
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, device {accelerator.describe()}")
    if args.dataset:
        batches, num_classes = dataset_batches(args.dataset, args.pool, args.batch, tuple(args.crop))
    else:
        batches, num_classes = (
            synthetic_batches(args.pool, args.batch, tuple(args.crop), args.num_classes),
            args.num_classes,
        )
    policies = []
    for name in args.precision:
        if name == "auto":
            name, reason = devices.choose_precision(accelerator)
            print(f"auto precision: {name} ({reason})")
        if name not in devices.PRECISION_POLICIES:
            raise SystemExit(f"Unknown precision {name!r}; use one of {', '.join(devices.PRECISION_POLICIES)} or auto.")
        policies.append(name)
    rows = []
    print(HEADER, flush=True)
    for policy in policies:
        for jit in args.jit_compile:
            row = time_setting(args, batches, num_classes, policy, jit, accelerator)
            rows.append(row)
            print(format_row(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.json}")
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main(sys.argv[1:])
