"""Training engine: loss, schedule, config, callbacks, train(), resume, NaN, distribution."""

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
import tensorflow as tf

from course_utils import train as T
from course_utils.config import get_profile
from course_utils.training import callbacks

NUM_CLASSES = 7  # MiniDrive


def tiny_model(num_classes: int) -> keras.Model:
    """A two-layer fully convolutional logits model (fast to train on a CPU)."""
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    return keras.Model(inp, keras.layers.Conv2D(num_classes, 1)(x))


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    return tiny_dataset(8, 4, 4, 32, 64, seed=3)


def tiny_config(**kw) -> T.TrainConfig:
    base = dict(
        image_size=(32, 64),
        eval_size=None,
        batch_size=4,
        epochs=2,
        steps_per_epoch=2,
        tensorboard=False,
        max_val_images=4,
    )
    base.update(kw)
    return T.TrainConfig.from_profile("smoke", **base)


# --------------------------------------------------------------------------- loss


def _ref_ce(labels, logits, weights=None):
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels != 255
    safe = np.where(valid, labels, 0)
    nll = -np.take_along_axis(logp, safe[..., None], -1)[..., 0]
    w = valid.astype(float) * (1.0 if weights is None else np.asarray(weights)[safe])
    return (nll * w).sum() / w.sum()


def test_masked_loss_matches_reference_and_keras():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 6, 4)).astype("float32")
    labels = rng.integers(0, 4, size=(2, 5, 6)).astype("int32")
    labels[0, :2] = 255
    loss = float(T.masked_sparse_ce()(labels, logits))
    assert loss == pytest.approx(_ref_ce(labels, logits), rel=1e-5)
    # same as Keras' own ignore_class on the valid pixels
    valid = labels != 255
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels[valid], logits[valid])
    assert loss == pytest.approx(float(keras_loss), rel=1e-5)
    w = [1.0, 2.0, 0.5, 3.0]
    assert float(T.masked_sparse_ce(w)(labels, logits)) == pytest.approx(_ref_ce(labels, logits, w), rel=1e-5)
    # a channel axis on the labels is accepted
    assert float(T.masked_sparse_ce()(labels[..., None], logits)) == pytest.approx(loss, rel=1e-6)


def test_all_void_batch_gives_zero_loss_and_zero_gradient():
    logits = tf.Variable(tf.random.normal((1, 4, 4, 3)))
    labels = tf.fill((1, 4, 4), 255)
    with tf.GradientTape() as tape:
        loss = T.masked_sparse_ce()(labels, logits)
    grad = tape.gradient(loss, logits)
    assert float(loss) == 0.0
    assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).max() == 0.0


def test_loss_round_trips_through_config():
    loss = T.masked_sparse_ce([1.0, 2.0])
    clone = T.MaskedSparseCategoricalCrossentropy.from_config(loss.get_config())
    assert clone.class_weights == [1.0, 2.0] and clone.ignore_index == 255


# -------------------------------------------------------------------------- config


def test_config_from_profile_and_recipes():
    prof = get_profile("cpu")
    seed = T.TrainConfig.from_profile(prof)
    assert (seed.image_size, seed.batch_size, seed.epochs, seed.backbone) == (
        prof.image_size,
        prof.batch_size,
        prof.epochs,
        prof.backbone,
    )
    assert seed.base_learning_rate == 1e-3 and seed.early_stopping_patience == 5
    paper = T.TrainConfig.from_profile("gpu", recipe="paper", epochs=3)
    assert paper.epochs == 3 and paper.scale_range == (0.5, 2.0) and paper.early_stopping_patience is None
    assert paper.backbone == "resnet50" and paper.mixed_precision and paper.jit_compile
    assert json.loads(json.dumps(paper.to_dict()))["image_size"] == [360, 480]
    with pytest.raises(ValueError, match="recipe"):
        T.TrainConfig(recipe="adamw")


def test_callbacks_of_the_recipes(tmp_path):
    seed = callbacks.make_callbacks(T.TrainConfig(recipe="seed"), tmp_path, None)
    kinds = {type(c).__name__: c for c in seed}
    for name in ("BackupAndRestore", "NaNGuard", "ModelCheckpoint", "CSVLogger", "ReduceLROnPlateau", "EarlyStopping"):
        assert name in kinds, name
    assert ("TensorBoard" in kinds) == callbacks.tensorboard_available()
    assert kinds["ModelCheckpoint"].monitor == "val_miou" and kinds["EarlyStopping"].patience == 5
    assert kinds["ReduceLROnPlateau"].factor == pytest.approx(0.2) and kinds["ReduceLROnPlateau"].patience == 3
    paper = {
        type(c).__name__
        for c in callbacks.make_callbacks(
            T.TrainConfig(recipe="paper", early_stopping_patience=None, tensorboard=False), tmp_path, None
        )
    }
    assert "ReduceLROnPlateau" not in paper and "EarlyStopping" not in paper and "BackupAndRestore" in paper


def test_precision_policy_only_on_accelerators():
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert T.resolve_precision_policy(T.TrainConfig(mixed_precision=False)) == "float32"
    expect = "mixed_float16" if has_gpu else "float32"
    assert T.resolve_precision_policy(T.TrainConfig(mixed_precision=True)) == expect
    forced = T.TrainConfig(mixed_precision="mixed_bfloat16", force_mixed_precision=True)
    assert T.resolve_precision_policy(forced) == "mixed_bfloat16"
    with pytest.raises(ValueError):
        T.resolve_precision_policy(T.TrainConfig(mixed_precision="float8", force_mixed_precision=True))


def test_get_strategy():
    assert T.get_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ValueError):
        T.get_strategy("horovod")


# --------------------------------------------------------------------------- train


def test_train_writes_run_folder(tiny_root, tmp_path):
    run = tmp_path / "run"
    model, history = T.train(tiny_config(epochs=2), tiny_root, run, model=tiny_model, verbose=0)
    h = history.history
    assert {"loss", "miou", "val_loss", "val_miou"} <= set(h) and len(h["val_miou"]) == 2
    assert np.isfinite(h["loss"]).all() and not history.terminated_on_nan
    for name in ("best.keras", "final.keras", "history.csv", "curves.png", "config.json"):
        assert (run / name).is_file(), name
    assert not (run / "backup").exists()  # removed once the run completes
    with (run / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [0, 1] and "epoch_seconds" in rows[0]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["num_classes"] == NUM_CLASSES and cfg["config"]["image_size"] == [32, 64]
    best = keras.saving.load_model(run / "best.keras", compile=False)
    assert best.output_shape[-1] == NUM_CLASSES


def test_paper_recipe_trains_with_poly_schedule(tiny_root, tmp_path):
    cfg = tiny_config(recipe="paper", epochs=1, scale_range=(0.5, 2.0), class_weighting=True)
    model, history = T.train(cfg, tiny_root, tmp_path / "run", model=tiny_model, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert int(model.optimizer.iterations) == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)  # 2 of 2 steps done
    assert model.loss.class_weights is not None and len(model.loss.class_weights) == NUM_CLASSES


def test_wrong_number_of_classes_is_a_clear_error(tiny_root, tmp_path):
    with pytest.raises(ValueError, match=r"predicts 3 classes .*dataset.json.* has 7"):
        T.train(tiny_config(), tiny_root, tmp_path / "run", model=lambda n: tiny_model(3), verbose=0)


def test_nan_loss_stops_with_a_clear_message(tiny_root, tmp_path, capsys):
    def nan_model(num_classes):
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(num_classes, 1)(inp)
        return keras.Model(inp, keras.layers.Lambda(lambda t: t * float("nan"))(x))

    _, history = T.train(tiny_config(epochs=3), tiny_root, tmp_path / "run", model=nan_model, verbose=0)
    assert history.terminated_on_nan
    assert len(history.history["loss"]) <= 1
    err = capsys.readouterr().err
    assert "Training stopped: the loss became nan" in err and "learning rate" in err
    assert not (tmp_path / "run" / "final.keras").exists()


# ------------------------------------------------------------- resume / distribute

RESUME_SCRIPT = textwrap.dedent(
    """
    import os, sys, json
    import keras
    from course_utils import train as T
    root, run = sys.argv[1], sys.argv[2]
    kill_at = int(os.environ.get("KILL_AT_STEP", "0"))

    class Killer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if kill_at and int(self.model.optimizer.iterations) >= kill_at:
                sys.stdout.flush()
                os._exit(17)  # like a Colab disconnect: no cleanup at all

    def tiny(n):
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        return keras.Model(inp, keras.layers.Conv2D(n, 1)(x))

    cfg = T.TrainConfig.from_profile("smoke", recipe="paper", image_size=(32, 64), eval_size=None,
                                     batch_size=4, epochs=3, steps_per_epoch=4, backup_every=1,
                                     tensorboard=False, max_val_images=4)
    seen = []
    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(int(self.model.optimizer.iterations))
    model, hist = T.train(cfg, root, run, model=tiny, callbacks=[Record(), Killer()], verbose=0)
    print("RESULT " + json.dumps({"start_step": seen[0], "epochs_run": len(hist.history["loss"]),
                                  "final_step": int(model.optimizer.iterations)}))
    """
)


def _run(script: Path, *args: str, env_extra: dict | None = None, timeout: int = 240):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env_extra or {}))
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.mark.slow
def test_killed_run_resumes_mid_training(tiny_root, tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    run = tmp_path / "run"
    first = _run(script, str(tiny_root), str(run), env_extra={"KILL_AT_STEP": "6"})
    assert first.returncode == 17, first.stderr[-2000:]
    meta = json.loads((run / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 1  # killed in the second epoch (steps 5..8), after step 6
    second = _run(script, str(tiny_root), str(run))
    assert second.returncode == 0, second.stderr[-3000:]
    result = json.loads(second.stdout.split("RESULT ")[1])
    assert "Resuming an interrupted run at epoch 2 (optimizer step 6)" in second.stdout
    assert result["start_step"] == 6  # weights and optimizer state restored, not from scratch
    assert result["epochs_run"] == 2  # epochs 2 and 3 only
    assert result["final_step"] == 6 + 2 * 4
    with (run / "history.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [0, 1, 2]
    assert not (run / "backup").exists()


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys, json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from course_utils import train as T
    strategy = T.get_strategy("mirrored")
    def tiny(n):
        inp = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        return keras.Model(inp, keras.layers.Conv2D(n, 1)(x))
    cfg = T.TrainConfig.from_profile("smoke", image_size=(32, 64), eval_size=None, batch_size=4, epochs=1,
                                     steps_per_epoch=2, tensorboard=False, max_val_images=4)
    model, hist = T.train(cfg, sys.argv[1], sys.argv[2], model=tiny, strategy=strategy, verbose=0)
    print("RESULT " + json.dumps({"replicas": strategy.num_replicas_in_sync,
                                  "loss": hist.history["loss"][-1], "val_miou": hist.history["val_miou"][-1]}))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tiny_root, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    out = _run(script, str(tiny_root), str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.split("RESULT ")[1])
    assert result["replicas"] == 2
    assert np.isfinite(result["loss"]) and 0.0 <= result["val_miou"] <= 1.0
    # the logged loss is the mean over replicas, not their sum: near ln(7) for an untrained model
    assert result["loss"] < 2 * np.log(NUM_CLASSES)


def test_recalibrate_batchnorm_averages_batch_statistics():
    keras.utils.set_random_seed(1)
    inp = keras.Input((4, 4, 2))
    conv = keras.layers.Conv2D(3, 1)
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inp, bn(conv(inp)))
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=i, size=(2, 4, 4, 2)).astype("float32") for i in range(3)]
    ds = tf.data.Dataset.from_tensor_slices((np.stack(batches), np.zeros((3, 2, 4, 4), "int32")))
    assert T.recalibrate_batchnorm(model, ds, steps=5) == 3
    means = [conv(b).numpy().mean(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, 0), rtol=1e-4, atol=1e-5)
    assert bn.momentum == pytest.approx(0.99)  # restored
    assert T.recalibrate_batchnorm(tiny_model(2), ds) == 0  # no BatchNorm: nothing to do


# ------------------------------------------------- weight decay, BN momentum, NaN guard


def test_paper_weight_decay_is_an_l2_loss_term_on_kernels():
    model = tiny_model(NUM_CLASSES)
    cfg = T.TrainConfig(recipe="paper", weight_decay=1e-3, steps_per_execution=3)
    T.compile_for_training(model, cfg, NUM_CLASSES, total_steps=10)
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    expected = 1e-3 / 2 * sum(float(np.sum(keras.ops.convert_to_numpy(k) ** 2)) for k in kernels)
    assert len(model.losses) == len(kernels) == 2  # kernels only: no bias, BN or other weight
    assert float(sum(keras.ops.convert_to_numpy(v) for v in model.losses)) == pytest.approx(expected, rel=1e-5)
    assert model.optimizer.weight_decay is None
    assert model.steps_per_execution == 3
    seed = tiny_model(NUM_CLASSES)
    T.compile_for_training(seed, T.TrainConfig(recipe="seed"), NUM_CLASSES, total_steps=10)
    assert not seed.losses  # the seed recipe (Adam) has no weight decay
    with pytest.raises(ValueError, match="steps_per_execution"):
        T.TrainConfig(steps_per_execution=0)


def test_bn_momentum_reaches_every_batchnorm_of_the_model():
    cfg = T.TrainConfig(backbone="resnet18", bn_momentum=0.9997)
    model = T.build_model(cfg, NUM_CLASSES)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) > 20 and {layer.momentum for layer in bns} == {0.9997}
    with pytest.raises(ValueError, match="bn_momentum"):
        T.TrainConfig(bn_momentum=1.0)


def test_nan_guard_checks_every_n_steps_and_at_epoch_end(capsys):
    guard = callbacks.NaNGuard(check_every=3)
    guard.set_model(tiny_model(2))
    guard.model.stop_training = False  # fit() sets it
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": 1.0})  # first check: fine
    guard.on_train_batch_end(1, {"loss": float("nan")})  # not a check step: not read
    assert guard.triggered_at is None and not guard.model.stop_training
    guard.on_train_batch_end(3, {"loss": float("nan")})
    assert guard.triggered_at == (0, 3) and guard.model.stop_training
    assert "by batch 4" in capsys.readouterr().err
    epoch_only = callbacks.NaNGuard(check_every=None)
    epoch_only.set_model(tiny_model(2))
    epoch_only.on_epoch_begin(2)
    epoch_only.on_train_batch_end(0, {"loss": float("inf")})
    assert epoch_only.triggered_at is None
    epoch_only.on_epoch_end(2, {"loss": float("inf")})
    assert epoch_only.triggered_at == (2, None)
