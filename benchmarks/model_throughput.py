"""Throughput and memory of the course DeepLabV3 against a keras.applications twin.

Measures training and inference images/s and peak memory for
``build_deeplabv3(backbone="resnet50", output_stride=16, multi_grid=(1, 2, 4))``
and for an *equivalent* model assembled on ``keras.applications.ResNet50``: the
same backbone rebuilt with the same dilation
(``dilate_keras_applications_resnet``), the same ASPP head, classifier and
upsampling. Both run in the same process, on the same random batch, with their
steps interleaved (ours, reference, ours, reference...) so that a busy
machine affects both alike; images/s are reported from the best step (least
disturbed by other processes) and the median step. The ratio ``ours / reference`` should be >= 0.97.

Examples::

    # CPU (a few minutes on 2 cores)
    python benchmarks/model_throughput.py
    # GPU, mixed precision and XLA
    python benchmarks/model_throughput.py --device /GPU:0 --mixed-precision \\
        --jit-compile --steps 20 --rounds 3

Memory: on a GPU the peak of ``tf.config.experimental.get_memory_info`` (reset
before each phase); on a CPU the peak resident set size (RSS) of the process
sampled every 20 ms during a step, and its growth over the RSS at the start
of the step. Both models live in one process, so CPU figures include what is
already allocated; compare the growth column.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and phase")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps (tracing) per phase")
    parser.add_argument("--rounds", type=int, default=1, help="multiplies --steps")
    parser.add_argument("--num-classes", type=int, default=7)
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16 policy")
    parser.add_argument("--jit-compile", action="store_true", help="compile steps with XLA")
    parser.add_argument("--device", default=None, help="e.g. /CPU:0 or /GPU:0 (default: TF's choice)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


class PeakRSS:
    """Sample the process RSS in a thread; ``peak`` and ``start`` in bytes."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def build_models(num_classes: int):
    import keras

    from course_utils.model import build_deeplabv3
    from course_utils.model.aspp import aspp
    from course_utils.model.deeplab import default_aspp_rates
    from course_utils.model.layers import ResizeLike
    from course_utils.model.resnet import dilate_keras_applications_resnet

    ours = build_deeplabv3(
        num_classes,
        backbone="resnet50",
        output_stride=16,
        multi_grid=(1, 2, 4),
        weights=None,
        name="course_deeplabv3_r50",
    )

    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(None, None, 3))
    backbone = dilate_keras_applications_resnet(base, output_stride=16, multi_grid=(1, 2, 4))
    x = aspp(backbone.output, default_aspp_rates(16), 256, True, 0.1, name="aspp")
    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    x = ResizeLike(name="upsample", dtype="float32")([x, backbone.input])
    out = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    reference = keras.Model(backbone.input, out, name="keras_apps_resnet50_deeplabv3")
    return ours, reference


def gpu_memory(device: str | None):
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU") or (device and "CPU" in device.upper()):
        return None
    return "GPU:0" if not device else device.lstrip("/").upper().replace("DEVICE:", "")


def timed_step(fn, gpu_dev: str | None) -> dict:
    """Run one step; its wall time and the memory it used."""
    import tensorflow as tf

    if gpu_dev:
        tf.config.experimental.reset_memory_stats(gpu_dev)
    with PeakRSS() as rss:
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
    result = {"seconds": seconds, "peak_rss_mb": rss.peak / 2**20, "rss_growth_mb": (rss.peak - rss.start) / 2**20}
    if gpu_dev:
        result["gpu_peak_mb"] = tf.config.experimental.get_memory_info(gpu_dev)["peak"] / 2**20
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    gpu_dev = gpu_memory(args.device)
    device = tf.device(args.device) if args.device else tf.device(None)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch, args.height, args.width, 3)).astype("float32")
    y = rng.integers(0, args.num_classes, (args.batch, args.height, args.width)).astype("int32")

    results: dict = {"models": {}}
    with device:
        models = build_models(args.num_classes)
        for model in models:
            model.compile(
                optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=args.jit_compile,
            )
            results["models"][model.name] = {"params": model.count_params(), "train": [], "inference": []}
        x_t, y_t = tf.constant(x), tf.constant(y)
        for model in models:  # warm-up: tracing / XLA compilation, not timed
            for _ in range(args.warmup):
                model.train_on_batch(x_t, y_t)
                model.predict_on_batch(x_t)
        # Steps alternate between the two models (ours, reference, ours, ...), so
        # that load from other processes hits both alike; the best step time is
        # the least disturbed estimate, the median is reported too.
        for phase in ("train", "inference"):
            for step in range(args.steps * args.rounds):
                for model in models:
                    if phase == "train":
                        fn = lambda m=model: m.train_on_batch(x_t, y_t)  # noqa: E731
                    else:
                        fn = lambda m=model: m.predict_on_batch(x_t)  # noqa: E731
                    r = timed_step(fn, gpu_dev)
                    results["models"][model.name][phase].append(r)
                    print(
                        f"{phase:9s} step {step + 1} {model.name:32s} "
                        f"{args.batch / r['seconds']:8.2f} img/s  "
                        f"peak RSS {r['peak_rss_mb']:8.0f} MB",
                        flush=True,
                    )

    summary = {}
    for name, m in results["models"].items():
        entry = {"params": m["params"]}
        for phase in ("train", "inference"):
            times = np.array([r["seconds"] for r in m[phase]])
            entry[f"{phase}_images_per_s_best"] = args.batch / times.min()
            entry[f"{phase}_images_per_s_median"] = args.batch / float(np.median(times))
            entry[f"{phase}_peak_rss_mb"] = max(r["peak_rss_mb"] for r in m[phase])
            entry[f"{phase}_rss_growth_mb"] = max(r["rss_growth_mb"] for r in m[phase])
            if gpu_dev:
                entry[f"{phase}_gpu_peak_mb"] = max(r["gpu_peak_mb"] for r in m[phase])
        summary[name] = entry
    ours, ref = (summary[m.name] for m in models)
    ratios = {
        f"{phase}_{stat}": ours[f"{phase}_images_per_s_{stat}"] / ref[f"{phase}_images_per_s_{stat}"]
        for phase in ("train", "inference")
        for stat in ("best", "median")
    }
    results.update(
        summary=summary,
        ratio_ours_over_reference=ratios,
        config={k: v for k, v in vars(args).items() if k != "json"},
        environment={
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        },
    )

    from prettytable import PrettyTable

    table = PrettyTable()
    table.title = (
        f"DeepLabV3-R50 OS16, {args.height}x{args.width}, batch {args.batch}, "
        f"mixed precision {args.mixed_precision}, XLA {args.jit_compile}"
    )
    mem = "GPU peak (MB)" if gpu_dev else "RSS growth (MB)"
    table.field_names = [
        "model",
        "params (M)",
        "train img/s best (median)",
        "infer img/s best (median)",
        f"train {mem}",
        f"infer {mem}",
    ]
    for name, e in summary.items():
        key = "gpu_peak_mb" if gpu_dev else "rss_growth_mb"
        table.add_row(
            [
                name,
                f"{e['params'] / 1e6:.2f}",
                f"{e['train_images_per_s_best']:.2f} ({e['train_images_per_s_median']:.2f})",
                f"{e['inference_images_per_s_best']:.2f} ({e['inference_images_per_s_median']:.2f})",
                f"{e[f'train_{key}']:.0f}",
                f"{e[f'inference_{key}']:.0f}",
            ]
        )
    print(table)
    print(
        "ratio ours/reference (best, median): "
        f"train {ratios['train_best']:.3f}, {ratios['train_median']:.3f}; "
        f"inference {ratios['inference_best']:.3f}, {ratios['inference_median']:.3f}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
