"""Export to .keras, SavedModel, ONNX and LiteRT: each file is reloaded in its runtime and checked against Keras.

ONNX and LiteRT tests run where their converters and runtimes are installed
(the ``dev`` extra installs tf2onnx, onnx and onnxruntime; LiteRT is checked
with ``ai_edge_litert`` when present, else TensorFlow's own interpreter).
"""

from __future__ import annotations

import importlib.util
import json

import keras
import numpy as np
import pytest

from course_utils import cli
from course_utils.deploy import export as E

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("tf2onnx", "onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="pip install tf2onnx onnx onnxruntime (the [export] extra)")


def tiny_model(num_classes: int = 4, size: tuple[int | None, int | None] = (None, None)) -> keras.Model:
    """A small fully convolutional model with the course's input convention (any H and W)."""
    inputs = keras.Input((*size, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(num_classes, 1, name="logits")(x))


def _error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_keras_export_is_checked_and_its_convention_written(tmp_path):
    model = tiny_model()
    lines = []
    records = E.export_model(model, tmp_path / "exp", ["keras"], source="best.keras", log=lines.append)
    meta = json.loads((tmp_path / "exp" / "model.keras.json").read_text())
    assert meta["input"]["range"] == [-1.0, 1.0] and meta["input"]["channel_order"] == "RGB"
    assert meta["input"]["height"] == meta["input"]["width"] == "dynamic"
    assert meta["output"]["num_classes"] == 4 and meta["source"] == "best.keras"
    assert meta["check"]["agreement"] == 1.0 and meta["check"]["inputs"] == [[2, 64, 96, 3], [1, 48, 80, 3]]
    assert records["keras"].check["agreement"] == 1.0
    assert len(lines) == 1 and "model.keras" in lines[0] and "100.000 %" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # no staging folder left


def test_fixed_size_model_is_checked_at_its_size(tmp_path):
    records = E.export_model(tiny_model(size=(32, 40)), tmp_path / "exp", ["keras"], log=None)
    assert (records["keras"].input["height"], records["keras"].input["width"]) == (32, 40)
    assert records["keras"].check["inputs"] == [[2, 32, 40, 3], [1, 32, 40, 3]]


def test_unknown_format_and_existing_output_are_one_line_errors(tmp_path):
    with pytest.raises(E.ExportError, match="Unknown export format 'tflite': choose some of keras"):
        E.export_model(tiny_model(), tmp_path / "exp", ["tflite"])
    E.export_model(tiny_model(), tmp_path / "exp", ["keras"], log=None)
    with pytest.raises(E.ExportError, match=r"model.keras exists: choose another output folder or pass --overwrite"):
        E.export_model(tiny_model(), tmp_path / "exp", ["keras"], log=None)
    E.export_model(tiny_model(), tmp_path / "exp", ["keras"], overwrite=True, log=None)


def test_missing_converter_names_the_install_command(monkeypatch):
    monkeypatch.setattr(E, "_have", lambda module: module not in ("tf2onnx", "onnxruntime"))
    with pytest.raises(E.ExportError) as err:
        E.check_tools(["keras", "onnx"])
    message = str(err.value)
    assert (
        "Export to onnx needs tf2onnx, onnxruntime" in message and "pip install 'deeplabv3-course[export]'" in message
    )
    assert "\n" not in message


def test_a_failed_check_leaves_nothing_behind(tmp_path):
    with pytest.raises(E.ExportError, match="agrees with Keras on only"):
        E.export_model(tiny_model(), tmp_path / "exp", ["keras"], min_agreement=1.01, log=None)
    assert list(tmp_path.iterdir()) == []
    # into an existing export folder: its files are untouched
    E.export_model(tiny_model(), tmp_path / "exp", ["keras"], log=None)
    before = (tmp_path / "exp" / "model.keras").read_bytes()
    with pytest.raises(E.ExportError):
        E.export_model(tiny_model(), tmp_path / "exp", ["keras"], overwrite=True, min_agreement=1.01, log=None)
    assert (tmp_path / "exp" / "model.keras").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]


def test_a_failing_writer_leaves_nothing_behind(tmp_path, monkeypatch):
    real = E._write

    def failing(model, fmt, path, via):
        if fmt == "saved_model":
            raise RuntimeError("converter crashed")
        return real(model, fmt, path, via)

    monkeypatch.setattr(E, "_write", failing)
    with pytest.raises(RuntimeError, match="converter crashed"):
        E.export_model(tiny_model(), tmp_path / "exp", ["keras", "saved_model"], log=None)
    assert list(tmp_path.iterdir()) == []


def test_agreement_counts_pixels_whose_argmax_differs():
    model = tiny_model(num_classes=3)
    x = E.sample_inputs(model)

    def flip_first_row(batch):
        logits = np.array(model(batch, training=False))
        logits[:, 0] = -logits[:, 0]  # one row of pixels gets another argmax (almost surely)
        return logits

    check = E.check_agreement(model, flip_first_row, x)
    rows = sum(b.shape[0] * b.shape[2] for b in x)
    assert check["pixels"] == sum(b.shape[0] * b.shape[1] * b.shape[2] for b in x)
    assert 1 - rows / check["pixels"] <= check["agreement"] < 1.0


def test_cli_export_errors_are_one_line(tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "best.keras"
    tiny_model().save(ckpt)
    assert cli.main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x"), "--format", "pt"]) == 2
    assert _error_line(capsys) == "error: Unknown export format 'pt': choose some of keras, saved_model, onnx, litert."
    assert cli.main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x"), "--format", "keras"]) == 0
    assert "model.keras (keras" in capsys.readouterr().out
    assert cli.main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x"), "--format", "keras"]) == 2
    assert "model.keras exists" in _error_line(capsys)
    monkeypatch.setattr(E, "_have", lambda module: module != "onnxruntime")
    assert cli.main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "y"), "--format", "onnx"]) == 2
    assert "needs onnxruntime" in _error_line(capsys) and not (tmp_path / "y").exists()


@pytest.mark.slow
@needs_onnx
def test_deeplab_exports_to_onnx_and_litert_with_dynamic_size(tmp_path, capsys):
    """The course's DeepLabV3 through the CLI in ONNX and LiteRT (.keras and SavedModel: the tests above and
    test_cli): each reloaded in its runtime, argmax == Keras'."""
    from course_utils.model import build_deeplabv3

    ckpt = tmp_path / "best.keras"
    build_deeplabv3(5, backbone="resnet18", aspp_filters=16).save(ckpt)
    argv = ["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "exp")]
    assert cli.main([*argv, "--format", "onnx", "litert"]) == 0
    printed = capsys.readouterr().out
    for fmt in ("onnx", "litert"):
        name = E.FILENAMES[fmt]
        meta = json.loads((tmp_path / "exp" / f"{name}.json").read_text())
        assert meta["format"] == fmt and meta["check"]["agreement"] >= E.MIN_AGREEMENT
        assert meta["input"]["height"] == "dynamic" and meta["check"]["inputs"][1] == [1, 48, 80, 3]
        assert name in printed
    # a fresh runtime session on a size the check did not use
    run, runtime, name = E.load_runner(tmp_path / "exp" / "model.onnx", "onnx")
    x = np.random.default_rng(3).uniform(-1, 1, (1, 40, 72, 3)).astype("float32")
    model = keras.saving.load_model(ckpt, compile=False)
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(run(x), expected, atol=1e-3)
    assert name == "image" and runtime.startswith("ONNX Runtime")


@pytest.mark.slow
@needs_onnx
def test_standard_converters_when_keras_cannot(tmp_path):
    """tf2onnx and the TFLite converter on a SavedModel: the path taken where Model.export lacks a format."""
    records = E.export_model(tiny_model(), tmp_path / "exp", ["onnx", "litert"], via="converter", log=None)
    assert records["onnx"].writer.startswith("tf2onnx") and records["litert"].writer.startswith("TFLiteConverter")
    assert all(r.check["agreement"] >= E.MIN_AGREEMENT for r in records.values())


def test_litert_is_checked_with_tensorflows_interpreter_without_ai_edge_litert(tmp_path, monkeypatch):
    """The dev extra has no ai-edge-litert: LiteRT files are then checked with tf.lite.Interpreter."""
    real = E._have
    monkeypatch.setattr(E, "_have", lambda module: module != "ai_edge_litert" and real(module))
    records = E.export_model(tiny_model(), tmp_path / "exp", ["litert"], log=None)
    assert records["litert"].runtime.startswith("tf.lite.Interpreter")
    assert records["litert"].check["agreement"] >= E.MIN_AGREEMENT
    assert records["litert"].input["height"] == "dynamic"
