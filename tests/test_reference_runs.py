"""Reference runs: storing a finished run with its provenance, and reading the ones the course ships."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import evaluate, metrics
from course_utils import reference_runs as R
from course_utils import train as T
from course_utils.datasets.minidrive import build_minidrive


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("ref")
    root = build_minidrive(base / "minidrive", 8, 6, 2, 48, 64, seed=7)

    def model_fn(n: int) -> keras.Model:
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        return keras.Model(inp, keras.layers.Conv2D(n, 1)(x))

    cfg = T.TrainConfig.from_profile(
        "smoke",
        recipe="fast",
        image_size=(32, 32),
        eval_size=None,
        input_scale=0.5,
        epochs=2,
        steps_per_epoch=2,
        batch_size=4,
        tensorboard=False,
    )
    T.train(cfg, root, base / "run", model=model_fn, verbose=0)
    return root, base / "run"


def test_store_and_load_a_reference_run(finished_run, tmp_path):
    root, run_dir = finished_run
    ref = R.store_reference_run(
        run_dir,
        root,
        "tiny",
        command="python -m course_utils train ...",
        description="a tiny test run",
        wall_seconds=12.5,
        hardware="test machine",
        gallery_size=3,
        tta_scales=(0.75, 1.0),
        out_dir=tmp_path,
    )
    assert R.list_reference_runs(tmp_path) == ["tiny"]
    for f in ("run.json", "history.csv", "curves.png", "gallery.png"):
        assert (tmp_path / "tiny" / f).is_file()
    total = sum(p.stat().st_size for p in (tmp_path / "tiny").iterdir())
    assert total < 1_000_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    meta = json.loads((tmp_path / "tiny" / "run.json").read_text())
    assert meta["command"].startswith("python -m course_utils train") and meta["hardware"] == "test machine"
    assert meta["epochs"] == 2 and 1 <= meta["best_epoch"] <= 2
    # the stored scores are the scores of best.keras at the run's input scale, at native resolution
    best = evaluate.load_checkpoint(run_dir / "best.keras")
    res = evaluate.evaluate_split(best, root, "val", tta_scales=(0.5,))
    np.testing.assert_array_equal(ref.confusion_matrix("val"), res.confusion_matrix)
    assert ref.miou("val") == pytest.approx(res.miou)
    assert ref.meta["tta"]["gain"] == pytest.approx(ref.meta["tta"]["miou"] - ref.miou("val"))
    assert 0.0 <= ref.meta["colour_baseline"]["miou"] <= 1.0
    assert "tiny" in str(R.reference_table([ref])) and "a tiny test run" in ref.describe()
    # storing again replaces the run in place
    R.store_reference_run(
        run_dir, root, "tiny", command="again", description="d", colour_baseline=False, out_dir=tmp_path, hardware="h"
    )
    assert R.load_reference_run("tiny", tmp_path).meta["command"] == "again"


def test_missing_or_incomplete_runs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No reference run 'nope'"):
        R.load_reference_run("nope", tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text(json.dumps({"splits": {"val": {"miou": 0.9}}}))
    with pytest.raises(ValueError, match="command, hardware"):
        R.load_reference_run("bad", tmp_path)


@pytest.mark.parametrize("name", R.list_reference_runs())
def test_shipped_reference_runs_are_complete_and_consistent(name):
    run = R.load_reference_run(name)
    assert run.curves_png.is_file() and run.gallery_png.is_file() and run.history_csv.is_file()
    assert sum(p.stat().st_size for p in run.folder.iterdir()) < 1_000_000
    for split, scores in run.splits.items():
        cm = run.confusion_matrix(split)
        assert cm.shape == (len(run.meta["classes"]),) * 2
        assert scores["miou"] == pytest.approx(metrics.mean_iou(cm))
        assert scores["pixel_accuracy"] == pytest.approx(metrics.pixel_accuracy(cm))
    assert run.meta["wall_seconds"] and run.meta["commit"]
