"""`python -m course_utils ...` run in subprocesses (smoke profile, tiny dataset)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.data.format import read_image

pytestmark = pytest.mark.slow  # every test starts Python + TensorFlow in a subprocess


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, COURSE_PROFILE="smoke", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "course_utils", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _last_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    return tiny_dataset(8, 4, 4, 32, 64, seed=9)


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory) -> Path:
    """Train the real DeepLabV3 (smoke profile: ResNet-18) for one step through the CLI."""
    run = tmp_path_factory.mktemp("runs") / "run"
    out = cli(
        "train",
        "--dataset",
        tiny_root,
        "--image-size",
        32,
        64,
        "--epochs",
        1,
        "--steps-per-epoch",
        1,
        "--run-dir",
        run,
        "--no-tensorboard",
        "--verbose",
        0,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Best val_miou" in out.stdout
    return run


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import keras

    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 1)(inp))  # 3 classes; MiniDrive has 7
    path = tmp_path_factory.mktemp("ckpt") / "three.keras"
    model.save(path)
    return path


def test_help_lists_subcommands_and_flags():
    out = cli("--help")
    assert out.returncode == 0
    for name in ("train", "evaluate", "predict", "export"):
        assert name in out.stdout
    train_help = cli("train", "--help").stdout
    for flag in (
        "--dataset",
        "--profile",
        "--recipe",
        "--backbone",
        "--output-stride",
        "--epochs",
        "--batch-size",
        "--run-dir",
        "--mixed-precision",
        "--jit-compile",
        "--weights",
    ):
        assert flag in train_help, flag
    eval_help = cli("evaluate", "--help").stdout
    for flag in ("--checkpoint", "--splits", "--tta-scales", "--flip", "--tile"):
        assert flag in eval_help, flag


def test_train_writes_a_run_folder(trained):
    for name in ("best.keras", "history.csv", "curves.png", "config.json"):
        assert (trained / name).is_file(), name
    assert json.loads((trained / "config.json").read_text())["config"]["backbone"] == "resnet18"


def test_evaluate_prints_table_and_writes_json(trained, tiny_root, tmp_path):
    out_json = tmp_path / "results.json"
    out = cli(
        "evaluate",
        "--checkpoint",
        trained / "best.keras",
        "--dataset",
        tiny_root,
        "--splits",
        "val",
        "test",
        "--tta-scales",
        1.0,
        0.75,
        "--flip",
        "--out",
        out_json,
        "--plots",
        "--recalibrate-bn",
        1,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "re-estimated from 1 training batches" in out.stdout
    assert "Validation" in out.stdout and "Test" in out.stdout and "Pixel accuracy" in out.stdout
    res = json.loads(out_json.read_text())
    assert set(res["splits"]) == {"val", "test"}
    val = res["splits"]["val"]
    assert 0.0 <= val["miou"] <= 1.0 and val["num_images"] == 4 and val["flip"] is True
    assert np.array(val["confusion_matrix"]).sum() > 0
    assert (tmp_path / "iou-minidrive-val.png").is_file() and (tmp_path / "confusion-minidrive-test.png").is_file()


def test_predict_writes_masks_and_overlays(trained, tiny_root, tmp_path):
    img = sorted((tiny_root / "test" / "images").glob("*.png"))[0]
    out = cli("predict", img, "--checkpoint", trained / "best.keras", "--dataset", tiny_root, "--out", tmp_path / "p")
    assert out.returncode == 0, out.stderr[-3000:]
    mask = read_image(tmp_path / "p" / f"{img.stem}_mask.png")
    overlay = read_image(tmp_path / "p" / f"{img.stem}_overlay.png")
    assert mask.shape == overlay.shape == (32, 64, 3)
    palette = {tuple(c) for c in json.loads((tiny_root / "dataset.json").read_text())["palette"]}
    assert {tuple(c) for c in mask.reshape(-1, 3)} <= palette


def test_export_writes_keras_and_savedmodel(trained, tmp_path):
    out = cli("export", "--checkpoint", trained / "best.keras", "--out", tmp_path / "exp")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "exp" / "model.keras").is_file()
    assert (tmp_path / "exp" / "saved_model" / "saved_model.pb").is_file()


def test_missing_checkpoint_is_a_one_line_error(tiny_root, tmp_path):
    out = cli("evaluate", "--checkpoint", tmp_path / "nope.keras", "--dataset", tiny_root)
    assert out.returncode == 2
    line = _last_line(out.stderr)
    assert line.startswith("error: Checkpoint") and "nope.keras" in line and "Train first" in line


def test_wrong_class_count_is_a_one_line_error(tiny_root, tiny_checkpoint):
    out = cli("evaluate", "--checkpoint", tiny_checkpoint, "--dataset", tiny_root, "--splits", "val")
    assert out.returncode == 2
    line = _last_line(out.stderr)
    assert "predicts 3 classes" in line and "dataset.json has 7" in line


def test_unreadable_image_is_a_one_line_error(tiny_root, tiny_checkpoint, tmp_path):
    # the class check comes first, so use a dataset-matching checkpoint shape: 7 classes
    import keras

    inp = keras.Input((None, None, 3))
    seven = tmp_path / "seven.keras"
    keras.Model(inp, keras.layers.Conv2D(7, 1)(inp)).save(seven)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    out = cli("predict", broken, "--checkpoint", seven, "--dataset", tiny_root, "--out", tmp_path / "o")
    assert out.returncode == 2
    line = _last_line(out.stderr)
    assert line.startswith("error: Cannot read image") and "broken.png" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0")])
def test_cli_hides_tensorflow_info_lines_unless_the_user_asks(given, expected):
    """The CLI sets TF_CPP_MIN_LOG_LEVEL=1 before TensorFlow loads (XLA's INFO lines), never over a user's value."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if given is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = given
    code = "import os, course_utils.cli; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
