"""Run-folder policy (course_utils.training.runs) and crash-safe writing (course_utils.safe_io), as unit tests."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import safe_io
from course_utils.training import callbacks, runs


def _finished(run: Path) -> Path:
    run.mkdir(parents=True)
    (run / "best.keras").write_bytes(b"best")
    (run / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (run / "config.json").write_text(json.dumps({"config": {"backbone": "resnet18"}}))
    return run


# --------------------------------------------------------------------------- runs


def test_run_states(tmp_path):
    assert runs.run_state(tmp_path / "missing") == "new"
    (tmp_path / "empty").mkdir()
    assert runs.run_state(tmp_path / "empty") == "new"
    (tmp_path / "only-config").mkdir()
    (tmp_path / "only-config" / "config.json").write_text("{}")
    assert runs.run_state(tmp_path / "only-config") == "new"  # killed before the first epoch: nothing to keep
    assert runs.run_state(_finished(tmp_path / "done")) == "finished"
    (tmp_path / "done" / "backup").mkdir()
    assert runs.run_state(tmp_path / "done") == "unfinished"


def test_finished_run_gets_a_suffix_never_overwritten_by_default(tmp_path):
    run = _finished(tmp_path / "minidrive-resnet18-seed")
    choice = runs.choose_run_dir(run)
    assert choice.action == "suffix" and choice.path == tmp_path / "minidrive-resnet18-seed-2"
    assert "kept" in choice.message and str(choice.path) in choice.message and "\n" not in choice.message
    _finished(choice.path)
    assert runs.choose_run_dir(run).path.name == "minidrive-resnet18-seed-3"
    assert (run / "best.keras").read_bytes() == b"best"  # choosing touches nothing


def test_other_policies_and_states(tmp_path):
    run = _finished(tmp_path / "r")
    over = runs.choose_run_dir(run, "overwrite")
    assert over.action == "overwrite" and over.path == run and "--overwrite" in over.message
    with pytest.raises(FileExistsError, match="finished run.*--overwrite"):
        runs.choose_run_dir(run, "error")
    (run / "backup").mkdir()
    assert runs.choose_run_dir(run, "error").action == "resume"
    assert runs.choose_run_dir(tmp_path / "fresh").action == "new"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        runs.choose_run_dir(tmp_path / "afile")
    with pytest.raises(ValueError, match="Unknown run folder policy"):
        runs.choose_run_dir(run, "clobber")


def test_clear_run_deletes_only_run_outputs(tmp_path):
    run = _finished(tmp_path / "r")
    (run / "logs").mkdir()
    (run / "logs" / "events").write_text("x")
    (run / "results-minidrive.json").write_text("{}")
    (run / "notes.txt").write_text("mine")
    removed = {p.name for p in runs.clear_run(run)}
    assert removed == {"best.keras", "history.csv", "config.json", "logs", "results-minidrive.json"}
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_resume_with_another_configuration_is_refused_and_config_untouched(tmp_path):
    run = tmp_path / "r"
    (run / "backup").mkdir(parents=True)
    stored = {
        "config": {"backbone": "resnet18", "recipe": "seed", "decoder": False, "output_stride": 16},
        "dataset": "minidrive",
        "classes": ["road", "car"],
    }
    (run / "config.json").write_text(json.dumps(stored))
    before = (run / "config.json").read_bytes()
    same = dict(stored["config"])
    runs.check_resume(run, same, "minidrive", ["road", "car"])  # matches: no error
    with pytest.raises(ValueError, match=r"backbone 'resnet18' -> 'resnet50'.*another --run-dir"):
        runs.check_resume(run, dict(same, backbone="resnet50"), "minidrive", ["road", "car"])
    with pytest.raises(ValueError, match=r"dataset 'minidrive' -> 'camvid'"):
        runs.check_resume(run, same, "camvid", ["road", "car"])
    with pytest.raises(ValueError, match=r"classes 2 .* -> 3"):
        runs.check_resume(run, same, "minidrive", ["road", "car", "sky"])
    (run / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 4, "batch": 0}))
    with pytest.raises(ValueError, match=r"already done 4 epoch\(s\) and --epochs is 3; pass --epochs larger than 4"):
        runs.check_resume(run, dict(same, epochs=3), "minidrive", ["road", "car"])
    runs.check_resume(run, dict(same, epochs=5), "minidrive", ["road", "car"])
    assert (run / "config.json").read_bytes() == before


# ------------------------------------------------------------------------- safe_io


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "results.json"
    safe_io.atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with safe_io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_atomic_path_replaces_a_folder_as_a_whole(tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "model.keras").write_text("old")
    with safe_io.atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "model.keras").write_text("new")
        (tmp / "saved_model").mkdir()
    assert (out / "model.keras").read_text() == "new" and (out / "saved_model").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_remove_stale_temps_spares_live_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".best.tmp-{dead_pid}-0123abcd.keras"
    live = tmp_path / f".best.tmp-{os.getpid()}-0123abcd.keras"
    stale.write_bytes(b"")
    live.write_bytes(b"")
    (tmp_path / "best.keras").write_bytes(b"ok")
    assert safe_io.remove_stale_temps(tmp_path) == [stale]
    assert live.exists() and (tmp_path / "best.keras").exists()


def test_check_writable_explains_and_creates_nothing(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    with pytest.raises(safe_io.UnwritablePathError, match=r"blocker is a file, not a folder"):
        safe_io.check_writable(blocker / "sub" / "results.json", folder=False)
    with pytest.raises(safe_io.UnwritablePathError, match=r"--run-dir .*blocker is a file"):
        safe_io.check_writable(blocker, folder=True, option="--run-dir")
    with pytest.raises(safe_io.UnwritablePathError, match=r"is a folder, not a file"):
        safe_io.check_writable(tmp_path, folder=False)
    target = tmp_path / "new" / "deeper" / "out.json"
    assert safe_io.check_writable(target, folder=False) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores write permissions")
def test_check_writable_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(safe_io.UnwritablePathError, match=r"Cannot write to .*ro .*writable --out"):
            safe_io.check_writable(ro / "x.json", folder=False)
    finally:
        ro.chmod(0o700)


def test_trim_and_csv_logger_rewrite_whole_rows(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.4\n")
    safe_io.trim_csv(path, 2)
    logger = callbacks.CSVLogger(path)
    logger.on_train_begin()
    logger.on_epoch_end(2, {"loss": 0.3, "learning_rate": 0.01})
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["learning_rate"] == "" and float(rows[2]["learning_rate"]) == pytest.approx(0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def _tiny(n: int = 3) -> keras.Model:
    inp = keras.Input((None, None, 3))
    return keras.Model(inp, keras.layers.Conv2D(n, 1)(inp))


def test_checkpoint_never_promotes_nan_weights(tmp_path):
    model = _tiny()
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_miou", mode="max", save_best_only=True)
    ckpt.set_model(model)
    ckpt.on_epoch_end(0, {"loss": float("nan"), "val_miou": 0.9})
    assert not (tmp_path / "best.keras").exists()
    ckpt.on_epoch_end(1, {"loss": 1.0, "val_miou": float("nan")})
    assert not (tmp_path / "best.keras").exists()
    ckpt.on_epoch_end(2, {"loss": 1.0, "val_miou": 0.2})
    assert (tmp_path / "best.keras").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras"]


KILL_DURING_SAVE = textwrap.dedent(
    """
    import os, sys
    import keras
    from course_utils.training import callbacks
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 1)(inp))
    ckpt = callbacks.ModelCheckpoint(sys.argv[1], monitor="val_miou", mode="max", save_best_only=True)
    ckpt.set_model(model)
    ckpt.on_epoch_end(0, {"loss": 1.0, "val_miou": 0.1})
    original = keras.Model.save
    def dying_save(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"PK")  # the start of a zip, then the power goes
        os._exit(17)
    keras.Model.save = dying_save
    ckpt.on_epoch_end(1, {"loss": 0.5, "val_miou": 0.2})
    """
)


@pytest.mark.slow
def test_kill_during_checkpoint_save_keeps_previous_best(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILL_DURING_SAVE)
    run = tmp_path / "run"
    run.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, str(script), str(run / "best.keras")], capture_output=True, text=True, env=env, timeout=240
    )
    assert out.returncode == 17, out.stderr[-2000:]
    model = keras.saving.load_model(run / "best.keras", compile=False)  # the epoch-0 checkpoint, intact
    assert model.output_shape[-1] == 3
    leftovers = [p for p in run.iterdir() if p.name != "best.keras"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".best.tmp-")
    safe_io.remove_stale_temps(run)  # what the next training run does first
    assert sorted(p.name for p in run.iterdir()) == ["best.keras"]
    assert np.isfinite(model.predict(np.zeros((1, 4, 4, 3)), verbose=0)).all()
