"""Nothing lost, nothing silently wrong: bad options, unsafe outputs, kills and bad data (issue 16).

The command line runs in-process (``course_utils.cli.main``) with the
DeepLabV3 builder swapped for a two-layer model, so every case takes seconds;
kills run in subprocesses like tests/test_train.py's resume test.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from course_utils import cli, data, datasets
from course_utils import train as T
from course_utils.cli import commands
from course_utils.cli.options import one_line
from course_utils.data.format import BadPairError
from course_utils.datasets import camvid
from course_utils.datasets import writer as common
from course_utils.datasets.minidrive import build_minidrive

REPO = Path(__file__).resolve().parent.parent


def tiny_model(num_classes: int) -> keras.Model:
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    return keras.Model(inp, keras.layers.Conv2D(num_classes, 1)(x))


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    return tiny_dataset(8, 4, 4, 32, 64, seed=5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "seven.keras"
    tiny_model(7).save(path)
    return path


@pytest.fixture
def fast_cli(monkeypatch):
    """``main(argv)`` with a tiny model instead of DeepLabV3 (the CLI logic is what is tested)."""
    monkeypatch.setattr(T, "build_model", lambda config, n: tiny_model(n))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    return cli.main


def _train_args(root: Path, run: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--dataset",
        str(root),
        "--image-size",
        "32",
        "64",
        "--eval-size",
        "32",
        "64",
        "--batch-size",
        "4",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "1",
        "--no-tensorboard",
        "--verbose",
        "0",
        "--run-dir",
        str(run),
        *extra,
    ]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no message on stderr"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------- 4. every option validated

BAD_OPTIONS = [
    ["train", "--epochs", "0"],
    ["train", "--batch-size", "-4"],
    ["train", "--steps-per-epoch", "0"],
    ["train", "--lr", "0"],
    ["train", "--lr", "nan"],
    ["train", "--weight-decay", "-1"],
    ["train", "--image-size", "0", "0"],
    ["train", "--eval-size", "32", "0"],
    ["train", "--scale-range", "0", "2"],
    ["train", "--max-train-images", "0"],
    ["train", "--backup-every", "0"],
    ["evaluate", "--checkpoint", "x.keras", "--tta-scales", "0"],
    ["evaluate", "--checkpoint", "x.keras", "--tta-scales", "1", "-1"],
    ["evaluate", "--checkpoint", "x.keras", "--tile", "0", "0"],
    ["evaluate", "--checkpoint", "x.keras", "--image-size", "0", "64"],
    ["evaluate", "--checkpoint", "x.keras", "--batch-size", "0"],
    ["evaluate", "--checkpoint", "x.keras", "--max-images", "0"],
    ["evaluate", "--checkpoint", "x.keras", "--recalibrate-bn", "-1"],
    ["predict", "a.png", "--checkpoint", "x.keras", "--out", "o", "--alpha", "5"],
    ["predict", "a.png", "--checkpoint", "x.keras", "--out", "o", "--tta-scales", "inf"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(a[-3:]) for a in BAD_OPTIONS])
def test_out_of_range_options_are_refused_up_front(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument --" in last and ("must be at least" in last or "outside" in last or "finite" in last)


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "data_scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "script, argv",
    [
        ("make_minidrive", ["--train", "0"]),
        ("make_minidrive", ["--val", "0"]),
        ("make_minidrive", ["--test", "-1"]),
        ("make_minidrive", ["--height", "0"]),
        ("make_minidrive", ["--width", "8"]),
        ("get_camvid", ["--source", "s", "--height", "0", "--width", "10"]),
        ("get_camvid", ["--sha256", "abc"]),
        ("prepare_idd", ["--root", "r", "--test-fraction", "1.5"]),
        ("prepare_idd", ["--root", "r", "--width", "-3"]),
        ("prepare_cityscapes", ["--root", "r", "--height", "0", "--width", "0"]),
    ],
)
def test_data_script_options_are_refused_up_front(script, argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _script(script).main(["--out", str(tmp_path / "o"), *argv])
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_scale_range_low_above_high_and_unknown_splits(tiny_root, checkpoint, tmp_path, fast_cli, capsys):
    assert fast_cli(_train_args(tiny_root, tmp_path / "r", "--scale-range", "2", "1")) == 2
    assert "LO must not exceed HI" in _error_line(capsys)
    assert fast_cli(["evaluate", "--checkpoint", str(checkpoint), "--dataset", str(tiny_root), "--splits", "tset"]) == 2
    assert "no split 'tset'" in _error_line(capsys)
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------- 1. re-running never destroys a run


def test_rerun_keeps_the_finished_run_and_overwrite_is_explicit(tiny_root, tmp_path, fast_cli, capsys):
    run = tmp_path / "runs" / "minidrive-resnet18-seed"
    assert fast_cli(_train_args(tiny_root, run)) == 0
    assert f"New run in {run}" in capsys.readouterr().out
    first = _tree(run)
    assert {"best.keras", "final.keras", "history.csv", "config.json"} <= set(first)

    assert fast_cli(_train_args(tiny_root, run)) == 0
    out = capsys.readouterr().out
    assert f"this run goes to {run}-2" in out and "kept" in out
    assert _tree(run) == first  # the finished run is byte for byte what it was
    assert (run.parent / f"{run.name}-2" / "best.keras").is_file()

    assert fast_cli(_train_args(tiny_root, run, "--overwrite")) == 0
    assert "Overwriting the finished run" in capsys.readouterr().out
    assert _tree(run)["final.keras"] != first["final.keras"]
    assert sorted(p.name for p in run.parent.iterdir()) == [run.name, f"{run.name}-2"]
    for folder in run.parent.iterdir():
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_resume_with_another_backbone_is_refused(tiny_root, tmp_path, fast_cli, capsys):
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "config.json").write_text(
        json.dumps({"config": {"backbone": "resnet50", "recipe": "seed"}, "dataset": tiny_root.name})
    )
    before = (run / "config.json").read_bytes()
    assert fast_cli(_train_args(tiny_root, run, "--backbone", "resnet18")) == 2
    line = _error_line(capsys)
    assert "Cannot resume" in line and "backbone 'resnet50' -> 'resnet18'" in line
    assert (run / "config.json").read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == ["backup", "config.json"]


def test_unwritable_run_dir_fails_before_training(tiny_root, tmp_path, fast_cli, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert fast_cli(_train_args(tiny_root, blocker / "run")) == 2
    line = _error_line(capsys)
    assert "blocker is a file, not a folder" in line and "--run-dir" in line
    assert fast_cli(_train_args(tiny_root, blocker)) == 2
    assert "is a file, not a folder" in _error_line(capsys)


# ----------------------------------------------------------- 2. --overwrite deletes only what it made


def _camvid_source(root: Path, n: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(n):
            cv2.imwrite(str(root / split / f"f{i}.png"), rng.integers(0, 255, (12, 16, 3), np.uint8))
            cv2.imwrite(str(root / f"{split}annot" / f"f{i}.png"), rng.integers(0, 12, (12, 16), np.uint8))
    return root


@pytest.mark.parametrize("where", ["same", "inside", "containing"])
def test_out_and_source_must_be_apart(where, tmp_path, capsys):
    src = _camvid_source(tmp_path / "raw" / "CamVid")
    before = _tree(tmp_path / "raw")
    out = {"same": src, "inside": src / "prepared", "containing": tmp_path / "raw"}[where]
    rc = _script("get_camvid").main(["--source", str(src), "--out", str(out), "--overwrite"])
    assert rc == 2
    line = _error_line(capsys)
    assert "--source" in line and "must be a separate folder" in line
    assert _tree(tmp_path / "raw") == before


def test_overwrite_replaces_only_a_prepared_dataset_of_the_same_kind(tmp_path, capsys):
    src = _camvid_source(tmp_path / "raw")
    others = tmp_path / "data"
    (others / "idd").mkdir(parents=True)
    (others / "idd" / "dataset.json").write_text("{}")
    (others / "notes.txt").write_text("keep me")
    before = _tree(others)
    assert _script("get_camvid").main(["--source", str(src), "--out", str(others), "--overwrite"]) == 2
    assert "Refusing to replace" in _error_line(capsys)
    assert _tree(others) == before

    mini = build_minidrive(tmp_path / "mini", 2, 2, 0, 16, 16)
    assert _script("get_camvid").main(["--source", str(src), "--out", str(mini), "--overwrite"]) == 2
    assert "holds a minidrive dataset" in _error_line(capsys)
    assert json.loads((mini / "dataset.json").read_text())["name"] == "minidrive"

    out = tmp_path / "camvid"
    assert _script("get_camvid").main(["--source", str(src), "--out", str(out)]) == 0
    assert _script("get_camvid").main(["--source", str(src), "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "dataset.json").read_text())["name"] == "camvid"


def test_hint_for_a_raw_camvid_folder_never_suggests_writing_into_it(tmp_path):
    raw = _camvid_source(tmp_path / "camvid")
    with pytest.raises(FileNotFoundError) as err:
        data.load_info(raw)
    message = str(err.value)
    assert f"--source {raw}" in message
    assert f"--out {raw}`" not in message and f"--out {raw} " not in message
    empty = tmp_path / "empty" / "camvid"
    with pytest.raises(FileNotFoundError, match=f"--out {empty}"):
        data.load_info(empty)  # a missing folder may be the output


# ------------------------------------------------------- 3. interrupted preparations leave nothing


KILLED_PREPARATION = textwrap.dedent(
    """
    import os, sys
    from course_utils.datasets import minidrive
    from course_utils.datasets import writer as common
    count = [0]
    original = minidrive.write_png
    def dying(path, array):
        count[0] += 1
        if count[0] == 5:
            os._exit(17)
        original(path, array)
    minidrive.write_png = dying
    minidrive.build_minidrive(sys.argv[1], 4, 2, 0, 16, 16, overwrite=len(sys.argv) > 2)
    """
)


@pytest.mark.slow
def test_killed_preparation_leaves_no_hidden_folders_after_the_next_run(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILLED_PREPARATION)
    out = tmp_path / "data" / "minidrive"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    killed = subprocess.run([sys.executable, str(script), str(out)], env=env, capture_output=True, timeout=120)
    assert killed.returncode == 17, killed.stderr[-2000:]
    assert [p.name for p in out.parent.iterdir() if ".partial-" in p.name]  # the kill left one
    assert _script("make_minidrive").main(["--out", str(out), "--train", "2", "--val", "1", "--test", "0"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["minidrive"]


def test_an_old_dataset_set_aside_by_a_killed_replacement_is_restored(tmp_path):
    out = tmp_path / "minidrive"
    build_minidrive(out, 2, 1, 0, 16, 16)
    os.replace(out, tmp_path / ".minidrive.old-999999999-0123abcd")  # killed between the two renames
    common.recover_interrupted(out)
    assert data.load_info(out).name == "minidrive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minidrive"]


# ------------------------------------------------------- 3. crash-safe checkpoints and histories

KILL_IN_BEST_SAVE = textwrap.dedent(
    """
    import os, sys, json
    import keras
    from course_utils import safe_io, train as T
    from course_utils.training import callbacks
    root, run = sys.argv[1], sys.argv[2]
    kill = len(sys.argv) > 3
    saves = [0]
    original = keras.Model.save
    def save(self, path, *a, **k):
        if kill and ".best.tmp-" in str(path):
            saves[0] += 1
            if saves[0] == 2:  # the best.keras save of the second epoch
                open(path, "wb").write(b"PK")
                os._exit(17)
        return original(self, path, *a, **k)
    keras.Model.save = save
    if kill:  # make every epoch an improvement, so the second one saves
        callbacks.ModelCheckpoint._should_save_model = lambda self, *a: True
    def tiny(n):
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        return keras.Model(inp, keras.layers.Conv2D(n, 1)(x))
    cfg = T.TrainConfig.from_profile("smoke", image_size=(32, 64), eval_size=None, batch_size=4, epochs=3,
                                     steps_per_epoch=2, tensorboard=False, max_val_images=4)
    T.train(cfg, root, run, model=tiny, verbose=0)
    print("DONE")
    """
)


@pytest.mark.slow
def test_kill_during_best_save_loses_neither_checkpoint_nor_history_row(tiny_root, tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILL_IN_BEST_SAVE)
    run = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    first = subprocess.run(
        [sys.executable, str(script), str(tiny_root), str(run), "kill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 17, first.stderr[-3000:]
    assert keras.saving.load_model(run / "best.keras", compile=False).output_shape[-1] == 7  # epoch 1's, intact
    second = subprocess.run(
        [sys.executable, str(script), str(tiny_root), str(run)], env=env, capture_output=True, timeout=600
    )
    assert second.returncode == 0, second.stderr[-3000:]
    with (run / "history.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [0, 1, 2]
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_nan_run_keeps_no_nan_checkpoint_and_points_at_no_missing_backup(tiny_root, tmp_path, capsys):
    def nan_model(num_classes):
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(num_classes, 1)(inp)
        return keras.Model(inp, keras.layers.Lambda(lambda t: t * float("nan"))(x))

    cfg = T.TrainConfig.from_profile(
        "smoke", image_size=(32, 64), eval_size=None, batch_size=4, epochs=2, steps_per_epoch=2, tensorboard=False
    )
    _, history = T.train(cfg, tiny_root, tmp_path / "run", model=nan_model, verbose=0)
    assert history.terminated_on_nan
    assert not (tmp_path / "run" / "best.keras").exists()
    err = capsys.readouterr().err
    assert "No checkpoint was saved before it diverged" in err and "backup" not in err


# ------------------------------------------------------------- 5. no file silently replaced


def test_predict_gives_same_named_images_distinct_outputs(tiny_root, checkpoint, tmp_path, fast_cli, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "x.png"), np.full((32, 64, 3), 40 * len(folder), np.uint8))
    out = tmp_path / "preds"
    argv = ["predict", str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")]
    assert fast_cli([*argv, "--checkpoint", str(checkpoint), "--out", str(out), "--dataset", str(tiny_root)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x-2_mask.png", "x-2_overlay.png", "x_mask.png", "x_overlay.png"]
    assert "renamed" in capsys.readouterr().out
    assert commands.output_stems([Path("a/x.png"), Path("b/X.png"), Path("c/x-2.png")]) == ["x", "X-2", "x-2-2"]
    own = out / "x_mask.png"  # an earlier output given as input, predicted into the same folder
    assert fast_cli(["predict", str(own), str(tmp_path / "a" / "x.png"), "--checkpoint", str(checkpoint),
                     "--out", str(out), "--dataset", str(tiny_root)]) == 2  # fmt: skip
    assert "is one of the input images" in _error_line(capsys)


# ------------------------------------------------------------- 6. filesystem errors are clear


def test_evaluate_refuses_an_unwritable_out_before_evaluating(tiny_root, checkpoint, tmp_path, fast_cli, capsys):
    (tmp_path / "blocker").write_text("file")
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--dataset", str(tiny_root), "--splits", "val"]
    assert fast_cli([*argv, "--out", str(tmp_path / "blocker" / "r.json")]) == 2
    line = _error_line(capsys)
    assert "blocker is a file, not a folder" in line
    assert fast_cli([*argv, "--out", str(tmp_path)]) == 2
    assert "is a folder, not a file" in _error_line(capsys)
    assert fast_cli([*argv, "--out", str(checkpoint)]) == 2  # would replace the model by a JSON file
    assert "must name a .json file" in _error_line(capsys)
    assert keras.saving.load_model(checkpoint, compile=False).output_shape[-1] == 7


def test_predict_and_export_refuse_occupied_outputs(tiny_root, checkpoint, tmp_path, fast_cli, capsys):
    (tmp_path / "taken").write_text("file")
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((32, 32, 3), np.uint8))
    pargs = ["predict", str(img), "--checkpoint", str(checkpoint), "--dataset", str(tiny_root)]
    assert fast_cli([*pargs, "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in _error_line(capsys)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep")
    assert fast_cli(["export", "--checkpoint", str(checkpoint), "--out", str(busy)]) == 2
    assert "holds other files" in _error_line(capsys)
    assert sorted(p.name for p in busy.iterdir()) == ["thesis.tex"]


def test_os_errors_become_one_line_with_the_path():
    err = PermissionError(13, "Permission denied", "/data/out")
    assert one_line(err).startswith("Permission denied: /data/out. Choose another location")


# ------------------------------------------------------------- 7. bad data in a prepared dataset


@pytest.fixture
def bad_root(tiny_root, tmp_path) -> Path:
    import shutil

    root = tmp_path / "minidrive-bad"
    shutil.copytree(tiny_root, root)
    (root / common.CHECK_CACHE).unlink(missing_ok=True)  # earlier tests checked (and cached) the pairs
    return root


def test_label_outside_the_class_set_names_the_file(bad_root, tmp_path):
    label = sorted((bad_root / "train" / "labels").glob("*.png"))[3]
    values = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    values[:, :] = np.arange(values.size).reshape(values.shape) % 200  # thousands of pixels, many bad ids
    cv2.imwrite(str(label), values)
    cfg = T.TrainConfig.from_profile(
        "smoke", image_size=(32, 64), eval_size=None, batch_size=4, epochs=1, steps_per_epoch=1, tensorboard=False
    )
    with pytest.raises(BadPairError) as err:
        T.train(cfg, bad_root, tmp_path / "run", model=tiny_model, verbose=0)
    message = str(err.value)
    assert str(label) in message and "lists 7 classes" in message and len(message) < 400
    assert not (tmp_path / "run").exists()  # a validation failure leaves no empty run folder


def test_truncated_png_and_class_count_mismatch_are_caught(bad_root):
    image = sorted((bad_root / "val" / "images").glob("*.png"))[0]
    image.write_bytes(image.read_bytes()[:100])
    with pytest.raises(BadPairError, match=f"Cannot decode {image}: the file is truncated"):
        common.check_prepared(bad_root, ("train", "val"), 7)
    image.unlink()
    (bad_root / "val" / "labels" / image.name).unlink()
    label = sorted((bad_root / "train" / "labels").glob("*.png"))[1]
    label.write_bytes(label.read_bytes()[:-40])
    with pytest.raises(BadPairError, match=f"Cannot decode {label}"):
        common.check_prepared(bad_root, ("train", "val"), 7)
    label.unlink()
    (bad_root / "train" / "images" / label.name).unlink()
    meta = json.loads((bad_root / "dataset.json").read_text())
    meta["classes"], meta["palette"] = meta["classes"][:3], meta["palette"][:3]
    (bad_root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(BadPairError, match=r"dataset.json lists 3 classes"):
        common.check_prepared(bad_root, ("train", "val"), 3)


def test_pair_check_is_cached_by_size_and_mtime(bad_root):
    n = len(list((bad_root / "train" / "labels").glob("*.png"))) + len(
        list((bad_root / "val" / "labels").glob("*.png"))
    )
    assert common.check_prepared(bad_root, ("train", "val"), 7) == n
    assert common.check_prepared(bad_root, ("train", "val"), 7) == 0
    label = sorted((bad_root / "train" / "labels").glob("*.png"))[0]
    os.utime(label, ns=(0, 1))
    assert common.check_prepared(bad_root, ("train", "val"), 7) == 1


def test_camvid_source_untouched_by_a_failed_prepare(tmp_path):
    src = _camvid_source(tmp_path / "src")
    before = _tree(src)
    with pytest.raises(ValueError):
        camvid.prepare_camvid(src, src / "out", log=lambda m: None)
    assert _tree(src) == before


def _raw_camvid() -> Path | None:
    from test_datasets import _shared_camvid  # the suite's one way to find the local raw copy

    return _shared_camvid()


@pytest.mark.skipif(_raw_camvid() is None, reason="local raw CamVid copy not available (COURSE_CAMVID_SOURCE)")
def test_raw_camvid_folder_is_never_an_output(tmp_path, capsys):
    raw = _raw_camvid()
    listing = sorted((str(p.relative_to(raw)), p.stat().st_size, p.stat().st_mtime_ns) for p in raw.rglob("*"))
    with pytest.raises(FileNotFoundError) as err:
        datasets.find_dataset(str(raw))  # what `train --dataset <raw folder>` does first
    assert f"--source {raw}" in str(err.value) and f"--out {raw}`" not in str(err.value)
    for out in (raw, raw / "prepared"):
        assert _script("get_camvid").main(["--source", str(raw), "--out", str(out), "--overwrite"]) == 2
        assert "must be a separate folder" in _error_line(capsys)
    assert sorted((str(p.relative_to(raw)), p.stat().st_size, p.stat().st_mtime_ns) for p in raw.rglob("*")) == listing
