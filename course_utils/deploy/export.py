"""Export a trained model for serving, and check every written file against Keras.

Four formats, each written into one output folder:

============  ==================  ===================================  =============================
format        file                written by                           checked in
============  ==================  ===================================  =============================
keras         ``model.keras``     ``Model.save``                       ``keras.saving.load_model``
saved_model   ``saved_model/``    ``Model.export("tf_saved_model")``   ``tf.saved_model.load``
onnx          ``model.onnx``      ``Model.export("onnx")`` (tf2onnx    ONNX Runtime
                                  under TensorFlow); else ``tf2onnx``
litert        ``model.tflite``    ``Model.export("litert")`` (the      the LiteRT interpreter
                                  TFLite converter); else the TFLite   (``ai_edge_litert``, else
                                  converter on a SavedModel            ``tf.lite.Interpreter``)
============  ==================  ===================================  =============================

Every file is loaded back in its own runtime right after it is written, run
on a few seeded inputs of two different sizes, and its per-pixel argmax is
compared with the Keras model's (at least :data:`MIN_AGREEMENT` of the pixels
must agree). Beside each file a small JSON (``model.onnx.json``...) records
the input convention (float range, channel order, layout, fixed or dynamic
size), the output, and the check's figures; :func:`describe` prints it.

The export is atomic: everything is written and checked in a temporary folder
next to the output, and only moved into place when every format passed; a
failure leaves the output folder as it was. Bad input (an unknown format, a
missing converter or runtime, an output that exists) raises
:class:`ExportError` with a one-line message that names the fix.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

__all__ = [
    "FORMATS",
    "FILENAMES",
    "MIN_AGREEMENT",
    "ExportError",
    "ExportRecord",
    "check_formats",
    "check_tools",
    "export_model",
    "load_runner",
    "check_agreement",
    "input_convention",
    "describe",
    "sample_inputs",
]

#: Formats in the order they are written.
FORMATS: tuple[str, ...] = ("keras", "saved_model", "onnx", "litert")
#: What each format writes in the output folder.
FILENAMES: dict[str, str] = {
    "keras": "model.keras",
    "saved_model": "saved_model",
    "onnx": "model.onnx",
    "litert": "model.tflite",
}
#: Smallest share of pixels whose argmax must agree with Keras.
MIN_AGREEMENT = 0.999
#: Sizes of the check inputs when the model accepts any size (two, so a dynamic size is exercised).
CHECK_SIZES: tuple[tuple[int, int], ...] = ((64, 96), (48, 80))
#: ONNX opset written (Keras' default for tf2onnx may change between releases; this one is pinned).
ONNX_OPSET = 17
#: How to install what the ONNX and LiteRT formats need.
INSTALL_EXPORT = "pip install 'deeplabv3-course[export]' (or: pip install tf2onnx onnx onnxruntime ai-edge-litert)"


class ExportError(ValueError):
    """An export that cannot be done or did not pass its check (one-line message with the fix)."""


@dataclass
class ExportRecord:
    """What was written for one format, and how it was checked."""

    format: str
    path: str
    writer: str
    runtime: str
    input: dict
    output: dict
    check: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


# ------------------------------------------------------------------------ what is needed


def check_formats(formats: Sequence[str]) -> list[str]:
    """The requested formats, deduplicated in :data:`FORMATS` order; an unknown one is an error."""
    if not formats:
        raise ExportError(f"No export format given: choose some of {', '.join(FORMATS)}.")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"Unknown export format {unknown[0]!r}: choose some of {', '.join(FORMATS)}.")
    return [f for f in FORMATS if f in formats]


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _missing_tools(fmt: str) -> list[str]:
    """Python modules that ``fmt`` needs and this environment lacks."""
    backend = keras.backend.backend()
    needed: list[str] = []
    if fmt == "saved_model" or (fmt == "litert" and backend != "torch"):
        needed.append("tensorflow")
    if fmt == "onnx":
        needed += {"tensorflow": ["tf2onnx", "onnx"], "jax": ["jax2onnx", "onnx"], "torch": ["onnxscript", "onnx"]}.get(
            backend, ["onnx"]
        )
        needed.append("onnxruntime")
    if fmt == "litert" and backend == "torch":
        needed.append("litert_torch")
    return [m for m in needed if not _have(m)]


def check_tools(formats: Sequence[str]) -> None:
    """Raise :class:`ExportError` naming the install command when a converter or runtime is missing."""
    for fmt in formats:
        missing = _missing_tools(fmt)
        if missing:
            raise ExportError(
                f"Export to {fmt} needs {', '.join(missing)}, which is not installed: {INSTALL_EXPORT}."
                if "tensorflow" not in missing
                else f"Export to {fmt} needs TensorFlow (the SavedModel and TFLite converters): pip install tensorflow."
            )


# ------------------------------------------------------------------------ conventions


def _fixed_size(model: keras.Model) -> tuple[int, int] | None:
    """``(H, W)`` when the model's input has a fixed spatial size, else ``None``."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
        return int(shape[1]), int(shape[2])
    return None


def input_convention(model: keras.Model, fmt: str, name: str | None = None) -> dict:
    """The input a served model expects: its name, layout, dtype, range, channel order, size."""
    fixed = _fixed_size(model)
    size = {"height": fixed[0], "width": fixed[1]} if fixed else {"height": "dynamic", "width": "dynamic"}
    convention = {
        "name": name or model.inputs[0].name,
        "layout": "NHWC",
        "dtype": "float32",
        "range": [-1.0, 1.0],
        "channel_order": "RGB",
        "from_uint8": "x / 127.5 - 1 (course_utils.data.normalize_image)",
        "batch": "dynamic",
        **size,
    }
    if fmt == "litert" and not fixed:
        convention["note"] = (
            "the file's default shape is [1, 1, 1, 3]: call resize_tensor_input(index, [B, H, W, 3]) "
            "and allocate_tensors() before set_tensor"
        )
    return convention


def _output_convention(model: keras.Model) -> dict:
    return {
        "kind": "logits (argmax over the last axis gives class ids; softmax gives probabilities)",
        "layout": "NHWC",
        "dtype": "float32",
        "num_classes": int(model.outputs[0].shape[-1]),
        "size": "same height and width as the input",
    }


def describe(record: ExportRecord | dict) -> str:
    """One short paragraph that says how to feed an exported file (what the CLI prints)."""
    r = record.to_dict() if isinstance(record, ExportRecord) else record
    i, c = r["input"], r.get("check", {})
    size = "dynamic H and W" if i["height"] == "dynamic" else f"fixed {i['height']}x{i['width']}"
    line = (
        f"{Path(r['path']).name} ({r['format']}, {r['writer']}): input '{i['name']}' {i['dtype']} {i['layout']} "
        f"{i['channel_order']} in [{i['range'][0]:g}, {i['range'][1]:g}], {size}, batch {i['batch']}; "
        f"output {r['output']['num_classes']}-class logits"
    )
    if c:
        line += (
            f"; checked in {r['runtime']}: argmax agrees with Keras on {100 * c['agreement']:.3f} % of "
            f"{c['pixels']} pixels (max |logit diff| {c['max_abs_diff']:.2g})"
        )
    return line


# ------------------------------------------------------------------------ runners


def sample_inputs(model: keras.Model, seed: int = 0) -> list[np.ndarray]:
    """Seeded check images in [-1, 1]: smooth random images, two batches of two sizes.

    Smooth (a random low-resolution image enlarged) rather than white noise, so
    the logits have the structure of real images; with a fixed-size model both
    batches have its size.
    """
    rng = np.random.default_rng(seed)
    fixed = _fixed_size(model)
    sizes = (fixed, fixed) if fixed else CHECK_SIZES
    batches = []
    for (h, w), batch in zip(sizes, (2, 1)):
        coarse = rng.uniform(-1.0, 1.0, (batch, max(2, h // 8), max(2, w // 8), 3)).astype("float32")
        smooth = keras.ops.convert_to_numpy(keras.ops.image.resize(coarse, (h, w), interpolation="bilinear"))
        noise = rng.normal(0.0, 0.05, smooth.shape).astype("float32")
        batches.append(np.clip(smooth + noise, -1.0, 1.0).astype("float32"))
    return batches


def _keras_logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float32)


def load_runner(path: str | os.PathLike, fmt: str) -> tuple[Callable[[np.ndarray], np.ndarray], str, str]:
    """Load an exported file in its own runtime.

    Returns:
        ``(run, runtime, input_name)``: ``run(x)`` maps a float32 NHWC batch to
        logits (a NumPy array); ``runtime`` names what ran it; ``input_name`` is
        the name a caller feeds the image by in that runtime.
    """
    path = Path(path)
    if fmt == "keras":
        import course_utils.model  # noqa: F401  (registers the course's custom layers)

        loaded = keras.saving.load_model(path, compile=False)
        runtime = f"Keras {keras.__version__} ({keras.backend.backend()})"
        return (lambda x: _keras_logits(loaded, x)), runtime, loaded.inputs[0].name
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        serve = loaded.signatures["serving_default"]
        name = next(iter(serve.structured_input_signature[1]))
        runtime = f"TensorFlow {tf.__version__} SavedModel"
        return (lambda x: np.asarray(next(iter(serve(**{name: tf.constant(x)}).values())))), runtime, name
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: np.asarray(session.run(None, {name: x})[0])), f"ONNX Runtime {ort.__version__}", name
    if fmt == "litert":
        interpreter, runtime = _litert_interpreter(path)
        inp = interpreter.get_input_details()[0]
        out_index = interpreter.get_output_details()[0]["index"]
        state = {"shape": None}

        def run(x: np.ndarray) -> np.ndarray:
            if state["shape"] != x.shape:
                interpreter.resize_tensor_input(inp["index"], list(x.shape), strict=False)
                interpreter.allocate_tensors()
                state["shape"] = x.shape
            interpreter.set_tensor(inp["index"], np.ascontiguousarray(x, dtype=np.float32))
            interpreter.invoke()
            return np.array(interpreter.get_tensor(out_index))

        return run, runtime, str(inp["name"])
    raise ExportError(f"Unknown export format {fmt!r}: choose some of {', '.join(FORMATS)}.")


def _litert_interpreter(path: Path):
    """The LiteRT interpreter (``ai_edge_litert``), else TensorFlow's deprecated ``tf.lite.Interpreter``."""
    if _have("ai_edge_litert"):
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        version = getattr(ai_edge_litert, "__version__", "")
        return Interpreter(model_path=str(path)), f"LiteRT interpreter {version}".strip()
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_path=str(path)), f"tf.lite.Interpreter (TensorFlow {tf.__version__})"


def check_agreement(model: keras.Model, run: Callable[[np.ndarray], np.ndarray], inputs: Sequence[np.ndarray]) -> dict:
    """Compare ``run``'s logits with the Keras model's on ``inputs``: argmax agreement and largest difference."""
    agree = pixels = 0
    max_diff = 0.0
    shapes = []
    for x in inputs:
        expected = _keras_logits(model, x)
        got = run(x)
        if got.shape != expected.shape:
            raise ExportError(
                f"the exported model returned shape {got.shape} for input {x.shape}, Keras {expected.shape}"
            )
        agree += int(np.sum(np.argmax(got, -1) == np.argmax(expected, -1)))
        pixels += int(np.prod(expected.shape[:-1]))
        max_diff = max(max_diff, float(np.max(np.abs(got - expected))))
        shapes.append(list(x.shape))
    return {"inputs": shapes, "pixels": pixels, "agreement": agree / pixels, "max_abs_diff": max_diff}


# ------------------------------------------------------------------------ writers


def _keras_supports(fmt: str) -> bool:
    """Whether this Keras' ``Model.export`` knows ``fmt`` (``format="onnx"``/``"litert"`` are recent)."""
    import inspect

    try:
        source = inspect.getsource(keras.Model.export)
    except (OSError, TypeError):  # pragma: no cover - source not shipped
        return True
    return f'"{fmt}"' in source


def _write(model: keras.Model, fmt: str, path: Path, via: str) -> str:
    """Write ``model`` as ``fmt`` at ``path``; returns what wrote it."""
    if fmt == "keras":
        model.save(path)
        return f"Model.save (Keras {keras.__version__})"
    if fmt == "saved_model":
        model.export(str(path), format="tf_saved_model", verbose=False)
        return f"Model.export('tf_saved_model') (Keras {keras.__version__})"
    if via == "auto":
        via = "keras" if _keras_supports(fmt) else "converter"
    keras_format = {"onnx": "onnx", "litert": "litert"}[fmt]
    if via == "keras":
        import warnings

        with warnings.catch_warnings():  # Keras' tf2onnx patch for NumPy 2 touches np.object (a FutureWarning)
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format=keras_format, verbose=False, **_kwargs(fmt))
        return f"Model.export('{keras_format}') (Keras {keras.__version__})"
    # the standard converters, from a SavedModel written next to the file
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".savedmodel-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        if fmt == "onnx":
            cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved), "--output", str(path)]
            cmd += ["--opset", str(ONNX_OPSET), "--signature_def", "serving_default"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0 or not path.is_file():
                tail = " ".join(done.stderr.strip().splitlines()[-1:])
                raise ExportError(f"tf2onnx could not convert the model ({tail}); try --debug for the full log.")
            import tf2onnx

            return f"tf2onnx {tf2onnx.__version__} from a SavedModel"
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        path.write_bytes(converter.convert())
        return f"TFLiteConverter (TensorFlow {tf.__version__}) from a SavedModel"


def _kwargs(fmt: str) -> dict:
    return {"opset_version": ONNX_OPSET} if fmt == "onnx" else {}


# ------------------------------------------------------------------------ the export


def _targets(out: Path, fmt: str) -> list[Path]:
    return [out / FILENAMES[fmt], out / (FILENAMES[fmt] + ".json")]


def export_model(
    model: keras.Model,
    out: str | os.PathLike,
    formats: Sequence[str] = ("keras", "saved_model"),
    *,
    overwrite: bool = False,
    min_agreement: float = MIN_AGREEMENT,
    via: str = "auto",
    source: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> dict[str, ExportRecord]:
    """Write ``model`` in each of ``formats`` into the folder ``out``, check each file, write its JSON.

    Args:
        model: a built Keras model mapping float32 NHWC images to logits.
        out: output folder (created when missing; other files in it are left alone).
        formats: some of :data:`FORMATS`.
        overwrite: replace files of a previous export instead of refusing.
        min_agreement: smallest share of pixels whose argmax must match Keras'.
        via: ``"auto"`` (Keras' ``Model.export`` when it knows the format,
            else the standard converter), ``"keras"`` or ``"converter"``
            (tf2onnx / the TFLite converter on a SavedModel).
        source: where the model came from (recorded in the JSON).
        seed: seed of the check inputs.
        log: where to print each file's description (``None``: silent).

    Returns:
        ``{format: ExportRecord}``.

    Raises:
        ExportError: unknown format, missing tool, existing output without
            ``overwrite``, or an exported file that disagrees with Keras.
            Nothing is left behind in ``out`` then.
    """
    formats = check_formats(formats)
    if via not in ("auto", "keras", "converter"):
        raise ExportError(f"via must be 'auto', 'keras' or 'converter', got {via!r}.")
    check_tools(formats)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"Output {out} is a file, not a folder: choose another output folder.")
    if not overwrite:
        taken = [p for fmt in formats for p in _targets(out, fmt) if p.exists()]
        if taken:
            raise ExportError(f"{taken[0]} exists: choose another output folder or pass --overwrite to replace it.")
    inputs = sample_inputs(model, seed)
    _keras_logits(model, inputs[-1])  # Keras' ONNX export refuses a model that was never called (a fresh load)
    out.parent.mkdir(parents=True, exist_ok=True)
    records: dict[str, ExportRecord] = {}
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        for fmt in formats:
            path = staging / FILENAMES[fmt]
            writer = _write(model, fmt, path, via)
            run, runtime, input_name = load_runner(path, fmt)
            check = check_agreement(model, run, inputs)
            del run
            if check["agreement"] < min_agreement:
                raise ExportError(
                    f"{FILENAMES[fmt]} ({fmt}) agrees with Keras on only {100 * check['agreement']:.3f} % of pixels "
                    f"(need {100 * min_agreement:g} %): nothing was written; report this with --debug output."
                )
            record = ExportRecord(
                format=fmt,
                path=FILENAMES[fmt],
                writer=writer,
                runtime=runtime,
                input=input_convention(model, fmt, input_name),
                output=_output_convention(model),
                check={**check, "min_agreement": min_agreement, "seed": seed},
            )
            meta = record.to_dict()
            meta["source"] = source
            (staging / (FILENAMES[fmt] + ".json")).write_text(json.dumps(meta, indent=2) + "\n")
            records[fmt] = record
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if log is not None:
        for record in records.values():
            log(describe(record))
    return records


def _move_into_place(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``: one rename when ``out`` is new, else file by file."""
    if not out.exists():
        os.replace(staging, out)
        return
    for item in sorted(staging.iterdir()):
        target = out / item.name
        if target.is_dir() and item.is_dir():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(item, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
