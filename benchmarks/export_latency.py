"""CPU latency of one model in every export format: Keras, SavedModel, ONNX Runtime, LiteRT.

Exports the model with :func:`course_utils.deploy.export.export_model` (each file is
checked against Keras as the CLI does) into a temporary folder, loads each
file in its runtime, and times batch-1 inference on the same seeded image,
the formats interleaved round by round (Keras, SavedModel, ONNX, LiteRT,
Keras...) so that a busy machine slows all of them alike. Reports the median,
the fastest and the slowest of ``--runs`` timed calls per format after
``--warmup`` untimed ones, with the machine's load (``os.getloadavg``) before
and after, so a reader can tell an idle machine from a shared one.

Examples::

    # a trained checkpoint (its weights do not change the latency, only the architecture does)
    python benchmarks/export_latency.py --checkpoint runs/camvid-resnet18-fast/best.keras
    # no checkpoint: an untrained DeepLabV3-ResNet-18 of the cpu profile's architecture, 11 classes
    python benchmarks/export_latency.py --runs 15 --json latency.json

Threads: each runtime uses its default on this machine (TensorFlow and ONNX
Runtime: one thread per core; LiteRT: ``--litert-threads``, default the core
count), all recorded in the output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FORMATS = ("keras", "saved_model", "onnx", "litert")
LABELS = {"keras": "Keras (predict_on_batch)", "saved_model": "SavedModel", "onnx": "ONNX Runtime", "litert": "LiteRT"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="a .keras model (default: an untrained R18, see above)")
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--runs", type=int, default=10, help="timed calls per format")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per format first")
    parser.add_argument("--num-classes", type=int, default=11, help="classes of the untrained model (CamVid: 11)")
    parser.add_argument("--litert-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def load_model(args):
    """The checkpoint, else an untrained DeepLabV3-R18 of the cpu profile's architecture; with a description."""
    from course_utils import evaluate, train

    if args.checkpoint:
        return evaluate.load_checkpoint(args.checkpoint), f"trained checkpoint {args.checkpoint}"
    config = train.TrainConfig.from_profile("cpu", dataset="camvid")
    model = train.build_model(config, args.num_classes)
    what = (
        f"untrained {config.backbone}, output stride {config.output_stride}, multi-grid {config.multi_grid}, "
        f"image pooling {config.image_pooling}, decoder {config.decoder}, {args.num_classes} classes "
        "(the cpu profile's architecture; latency does not depend on the weights' values)"
    )
    return model, what


def runners(model, folder: Path, formats, litert_threads: int) -> dict:
    """``{format: run(x)}`` for each exported file, plus Keras' own compiled predict."""
    from course_utils.deploy import export as E

    out = {}
    for fmt in formats:
        if fmt == "keras":
            out[fmt] = model.predict_on_batch  # the traced predict function, as model.predict uses
        elif fmt == "litert":
            import ai_edge_litert.interpreter as lite

            it = lite.Interpreter(model_path=str(folder / E.FILENAMES[fmt]), num_threads=litert_threads)
            state = {}

            def run(x, it=it, state=state):
                if state.get("shape") != x.shape:
                    it.resize_tensor_input(it.get_input_details()[0]["index"], list(x.shape))
                    it.allocate_tensors()
                    state["shape"] = x.shape
                it.set_tensor(it.get_input_details()[0]["index"], x)
                it.invoke()
                return it.get_tensor(it.get_output_details()[0]["index"])

            out[fmt] = run
        else:
            out[fmt] = E.load_runner(folder / E.FILENAMES[fmt], fmt)[0]
    return out


def machine() -> dict:
    """CPU, cores, load and library versions."""
    import keras

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "keras": keras.__version__}
    for name, module in (
        ("tensorflow", "tensorflow"),
        ("onnxruntime", "onnxruntime"),
        ("tf2onnx", "tf2onnx"),
        ("ai-edge-litert", "ai_edge_litert"),
    ):
        try:
            versions[name] = __import__(module).__version__
        except (ImportError, AttributeError):
            versions[name] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "versions": versions}


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from course_utils.deploy import export as E

    load_before = os.getloadavg()
    model, what = load_model(args)
    x = np.random.default_rng(0).uniform(-1, 1, (1, args.height, args.width, 3)).astype("float32")
    with tempfile.TemporaryDirectory(prefix="export-latency-") as tmp:
        folder = Path(tmp) / "exported"
        t0 = time.perf_counter()
        records = E.export_model(model, folder, args.formats, source=what, log=print)
        export_s = time.perf_counter() - t0
        run = runners(model, folder, args.formats, args.litert_threads)
        expected = np.argmax(np.asarray(model.predict_on_batch(x)), -1)
        agreement = {}
        for fmt in args.formats:
            for _ in range(args.warmup):
                got = run[fmt](x)
            agreement[fmt] = float(np.mean(np.argmax(np.asarray(got), -1) == expected))
        times: dict[str, list[float]] = {fmt: [] for fmt in args.formats}
        for _ in range(args.runs):  # interleaved: one call of each format per round
            for fmt in args.formats:
                t = time.perf_counter()
                run[fmt](x)
                times[fmt].append(1000.0 * (time.perf_counter() - t))
    load_after = os.getloadavg()
    result = {
        "model": what,
        "input": [1, args.height, args.width, 3],
        "runs": args.runs,
        "warmup": args.warmup,
        "litert_threads": args.litert_threads,
        "export_seconds": round(export_s, 1),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "machine": machine(),
        "formats": {
            fmt: {
                "label": LABELS[fmt],
                "writer": records[fmt].writer,
                "runtime": records[fmt].runtime,
                "median_ms": round(statistics.median(ms), 1),
                "min_ms": round(min(ms), 1),
                "max_ms": round(max(ms), 1),
                "argmax_agreement_at_this_size": agreement[fmt],
            }
            for fmt, ms in times.items()
        },
    }
    print(f"\nModel: {what}; input 1x{args.height}x{args.width}x3 float32; {args.runs} timed runs per format")
    print(f"Load average (1, 5, 15 min): before {load_before}, after {load_after}; cores {os.cpu_count()}")
    print("| format | runtime | median ms | min ms | max ms | argmax = Keras |")
    print("|---|---|---|---|---|---|")
    for f in result["formats"].values():
        print(
            f"| {f['label']} | {f['runtime']} | {f['median_ms']} | {f['min_ms']} | {f['max_ms']} | "
            f"{100 * f['argmax_agreement_at_this_size']:.3f} % |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
