"""Tests of the notebook helpers: run folders, notebook callbacks, throughput and the ablations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import experiments, tables
from course_utils.config import get_profile


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    """A MiniDrive of 4 train, 2 val and 2 test scenes at 32x64."""
    return tiny_dataset(4, 2, 2, 32, 64, seed=3)


def tiny_config(**changes):
    from course_utils.training.config import TrainConfig

    base = TrainConfig.from_profile(
        "smoke",
        image_size=(32, 64),
        eval_size=(32, 64),
        batch_size=2,
        epochs=1,
        steps_per_epoch=1,
        val_steps=1,
        max_val_images=2,
        tensorboard=False,
    )
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------- runs


def test_run_dir_for_is_per_profile_dataset_and_tag(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    profile = get_profile("smoke")
    path = experiments.run_dir_for(profile, "minidrive", "deeplabv3 seed/x")
    assert path == tmp_path / "smoke" / "minidrive-deeplabv3-seed-x"


@pytest.mark.slow
def test_load_or_train_trains_then_loads_and_retrains_on_a_changed_config(tiny_root, tmp_path):
    config = tiny_config()
    run_dir = tmp_path / "run"
    model, how = experiments.load_or_train(config, tiny_root, run_dir)
    assert how == "trained"
    assert (run_dir / "best.keras").is_file() and (run_dir / "final.keras").is_file()
    assert model.output_shape[-1] == 7

    # bookkeeping fields do not matter; the checkpoint is re-used
    again, how = experiments.load_or_train(dataclasses.replace(config, backup_every=1), tiny_root, run_dir)
    assert how == "loaded"
    x = np.zeros((1, 32, 64, 3), np.float32)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), atol=1e-5)

    # a different model is never served from the old checkpoint, nor trained over it (issue 26: run-2)
    other = dataclasses.replace(config, multi_grid=None)
    _, how = experiments.load_or_train(other, tiny_root, run_dir)
    assert how == "trained" and (tmp_path / "run-2" / "final.keras").is_file()

    # an unreadable checkpoint is not served either: a new run (kept beside it)
    (tmp_path / "run-2" / "best.keras").write_text("not a model")
    _, how = experiments.load_or_train(other, tiny_root, run_dir)
    assert how == "trained" and (tmp_path / "run-3" / "final.keras").is_file()
    assert experiments.load_or_train(other, tiny_root, run_dir)[1] == "loaded"


@pytest.mark.slow
def test_simulated_disconnect_then_resume_continues_the_optimizer(tiny_root, tmp_path):
    from course_utils import train

    config = tiny_config(steps_per_epoch=2, backup_every=1)
    run_dir = tmp_path / "run"
    with pytest.raises(experiments.Disconnected):
        train.train(config, tiny_root, run_dir, callbacks=[experiments.SimulatedDisconnect(1)], verbose=0)
    meta = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 0
    model, _ = train.train(config, tiny_root, run_dir, verbose=0)
    # one step before the disconnect, then the interrupted epoch (2 steps) again
    assert int(model.optimizer.iterations.numpy()) == 3
    assert not (run_dir / "backup").exists()


def test_simulated_disconnect_rejects_zero():
    with pytest.raises(ValueError, match="after_batches"):
        experiments.SimulatedDisconnect(0)


def test_live_curves_collects_history_outside_ipython():
    cb = experiments.LiveCurves("t")
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 1.0, "val_miou": 0.2})
    cb.on_epoch_end(1, {"loss": 0.5, "val_miou": 0.3, "note": "text"})
    assert cb.history == {"loss": [1.0, 0.5], "val_miou": [0.2, 0.3]}


# ------------------------------------------------------------------ evaluation


def test_boundary_error_rates_by_hand():
    label = np.zeros((10, 10), np.uint8)
    label[:, 5:] = 1
    pred = label.copy()
    pred[0, 0] = 1  # far from the edge: interior error
    pred[0, 5] = 0  # on the edge: band error
    band, inner, share = experiments.boundary_error_rates([label], [pred], width=1)
    # band = columns 4 and 5 (20 pixels), interior = 80 pixels
    assert share == pytest.approx(0.2)
    assert band == pytest.approx(1 / 20)
    assert inner == pytest.approx(1 / 80)


def test_boundary_error_rates_ignores_void_and_checks_input():
    label = np.full((4, 4), 255, np.uint8)
    with pytest.raises(ValueError, match="No scored"):
        experiments.boundary_error_rates([label], [label.astype(np.int32)])
    with pytest.raises(ValueError, match="differ in size"):
        experiments.boundary_error_rates([np.zeros((4, 4))], [np.zeros((4, 5))])


# --------------------------------------------------------------- input pipeline


def test_naive_batches_shapes_and_one_hot(tiny_root):
    images, labels = next(experiments.naive_batches(tiny_root, "train", 2, (16, 32)))
    assert images.shape == (2, 16, 32, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.shape == (2, 16, 32, 7)
    assert set(np.unique(labels.sum(-1))) <= {0.0, 1.0}


def test_naive_batches_rejects_a_batch_larger_than_the_split(tiny_root):
    with pytest.raises(ValueError, match="fewer than batch_size"):
        next(experiments.naive_batches(tiny_root, "val", 5, (16, 32)))


def test_images_per_second_counts_images():
    def batches():
        while True:
            yield np.zeros((3, 2, 2, 3)), None

    rate = experiments.images_per_second(batches(), 4, warmup=1)
    assert rate > 0
    with pytest.raises(ValueError):
        experiments.images_per_second(batches(), 0)


# ------------------------------------------------------------------ ablations


def test_paper_variants_change_one_thing_each():
    profile = get_profile("smoke")
    variants = {v.name: v for v in experiments.paper_variants(profile)}
    ref = variants["reference"]
    assert (ref.backbone, ref.output_stride, ref.multi_grid) == (
        profile.backbone,
        profile.output_stride,
        profile.multi_grid,
    )
    assert variants["output stride 8"] == dataclasses.replace(ref, name="output stride 8", output_stride=8)
    assert variants["no multi-grid"].multi_grid is None
    assert variants["no image pooling"].image_pooling is False
    assert {variants[n].backbone for n in ("ResNet-18", "ResNet-50", "ResNet-101")} == {
        "resnet18",
        "resnet50",
        "resnet101",
    }
    assert variants["ResNet-50 ImageNet"].weights == "imagenet"
    assert variants["ResNet-50 from scratch"].weights is None


def test_pretrained_weights_file_only_looks_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert experiments.pretrained_weights_file("resnet50") is None
    assert experiments.pretrained_weights_file("resnet18") is None
    (tmp_path / "models").mkdir()
    f = tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    f.write_bytes(b"x")
    assert experiments.pretrained_weights_file("resnet50") == f


def test_variant_cost_grows_with_a_smaller_output_stride():
    v16 = experiments.Variant("a", "ablation", "resnet18", 16, (1, 2, 4))
    v8 = dataclasses.replace(v16, output_stride=8)
    nopool = dataclasses.replace(v16, image_pooling=False)
    g16, p16 = experiments.variant_cost(v16, (32, 64))
    g8, p8 = experiments.variant_cost(v8, (32, 64))
    gnp, pnp = experiments.variant_cost(nopool, (32, 64))
    assert g8 > 2 * g16 and p8 == p16
    assert gnp < g16 and pnp < p16


@pytest.mark.slow
def test_run_ablations_trains_reuses_and_skips(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-empty"))
    ref = experiments.Variant("reference", "ablation", "resnet18", 16, (1, 2, 4))
    variants = [
        dataclasses.replace(ref, name="ResNet-18", group="backbone"),
        ref,
        dataclasses.replace(ref, name="output stride 8", output_stride=8),
        dataclasses.replace(ref, name="no image pooling", image_pooling=False),
        dataclasses.replace(ref, name="no multi-grid", multi_grid=None),
        experiments.Variant("ResNet-50 ImageNet", "pretrained", "resnet50", 16, (1, 2, 4), weights="imagenet"),
    ]
    budget, _ = experiments.variant_cost(ref, (32, 64), 7)
    rows = experiments.run_ablations(
        variants, tiny_config(), tiny_root, tmp_path / "abl", max_gmacs=budget, max_trained=2
    )
    by = {r["variant"]: r for r in rows}
    assert by["ResNet-18"]["status"] == "trained"
    assert by["ResNet-18"]["params"] > 1_000_000 and by["ResNet-18"]["seconds_per_epoch"] > 0
    assert 0.0 <= by["ResNet-18"]["val_miou"] <= 1.0
    assert by["reference"]["status"] == "same network as ResNet-18"
    assert by["reference"]["val_miou"] == by["ResNet-18"]["val_miou"]
    assert by["output stride 8"]["status"].startswith("not run live") and by["output stride 8"]["val_miou"] is None
    assert by["no image pooling"]["status"] == "trained"
    assert by["no image pooling"]["params"] < by["ResNet-18"]["params"]
    assert "limited to 2" in by["no multi-grid"]["status"]
    assert (
        by["ResNet-50 ImageNet"]["status"].startswith("skipped")
        and "run_ablations.py" in by["ResNet-50 ImageNet"]["status"]
    )
    assert not (tmp_path / "abl" / "resnet-50-imagenet").exists()
    table = str(tables.ablation_table(rows))
    assert "ResNet-18" in table and "params (M)" in table


def test_live_variant_limit_follows_the_profile_sizes():
    # notebook 06 trained the reference already: every profile trains it once, the rest on request
    for name in ("smoke", "cpu", "gpu"):
        assert experiments.live_variant_limit(get_profile(name)) == 1


def test_train_command_names_the_variant():
    v = experiments.Variant("no image pooling", "ablation", "resnet50", 16, (1, 2, 4), image_pooling=False)
    cmd = experiments.train_command(v, dataset="camvid")
    assert cmd == (
        "python tools/run_ablations.py --dataset camvid --profile gpu --recipe paper --variant 'no image pooling'"
    )


def test_tensorboard_available_is_a_bool():
    assert isinstance(experiments.tensorboard_available(), bool)


@pytest.fixture(autouse=True)
def _clear_keras_session():
    yield
    keras.backend.clear_session()


@pytest.mark.slow
def test_run_ablations_reads_the_reference_row_from_notebook_06s_run(tiny_root, tmp_path):
    """Train once: a finished run of the reference configuration is re-used, not trained again."""
    from course_utils import train

    ref = experiments.Variant("reference", "ablation", "resnet18", 16, (1, 2, 4))
    config = tiny_config()
    train.train(config, tiny_root, tmp_path / "nb06", verbose=0)
    rows = experiments.run_ablations([ref], config, tiny_root, tmp_path / "abl", reference_run=tmp_path / "nb06")
    assert rows[0]["status"] == "trained (re-used nb06)"
    history = (tmp_path / "nb06" / "history.csv").read_text().splitlines()
    assert rows[0]["val_miou"] == pytest.approx(float(history[1].split(",")[history[0].split(",").index("val_miou")]))
    assert rows[0]["params"] > 1_000_000
    assert not (tmp_path / "abl").exists()  # nothing trained
    # the notebook's order: a backbone row that builds the reference network comes first; it is read
    # from the run too, and the reference row names it
    same = dataclasses.replace(ref, name="ResNet-18", group="backbone")
    rows = experiments.run_ablations([same, ref], config, tiny_root, tmp_path / "abl", reference_run=tmp_path / "nb06")
    assert [r["status"] for r in rows] == ["trained (re-used nb06)", "same network as ResNet-18"]
    assert rows[1]["val_miou"] == rows[0]["val_miou"]
    assert not (tmp_path / "abl").exists()
    # a run of another configuration is not mistaken for the reference: it trains
    other = dataclasses.replace(config, image_size=(32, 32))
    rows = experiments.run_ablations([ref], other, tiny_root, tmp_path / "abl", reference_run=tmp_path / "nb06")
    assert rows[0]["status"] == "trained" and (tmp_path / "abl" / "reference").is_dir()
