"""Every dtype policy and compile mode trains and evaluates (issue 11, item 1).

In the style of keras-hub's model tests (``run_precision_test``): for
{float32, mixed_float16, mixed_bfloat16} x {jit_compile on, off} x {DeepLabV3,
DeepLabV3+} the model ``fit``s one step at one crop size and ``evaluate``s at
another on a ``None x None`` input, and the logits stay float32. The matrix uses
the library's own head (``aspp``, ``conv_bn_relu``, ``ResizeLike``: where XLA
used to refuse the mixed-precision gradient of ``tf.image.resize``) on a
two-convolution stem, because XLA-compiling a ResNet on a 2-core CPU costs about
a minute per case; the full ResNet-18 DeepLabV3+ runs once, through the CLI with
the ``gpu`` profile (mixed precision + XLA).
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils.losses import masked_sparse_ce
from course_utils.metrics import StreamingMeanIoU
from course_utils.model.aspp import aspp
from course_utils.model.blocks import conv_bn_relu
from course_utils.model.layers import ResizeLike, interpolation_matrix, resize_images

NUM_CLASSES = 5
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


@pytest.fixture
def policy_scope():
    """Restore the global dtype policy after a test that changes it."""
    previous = keras.mixed_precision.dtype_policy()
    yield
    keras.mixed_precision.set_dtype_policy(previous)


# ------------------------------------------------------------------ ResizeLike


@pytest.mark.parametrize("size", [(17, 29), (5, 7), (3, 4), (40, 56), (1, 1)])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_resize_matches_tf_image_resize(size, method):
    x = np.random.default_rng(0).random((2, 5, 7, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(resize_images(x, size, method))
    ref = tf.image.resize(x, size, method=method).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_interpolation_matrix_rows_sum_to_one_and_rejects_unknown_methods():
    m = keras.ops.convert_to_numpy(interpolation_matrix(9, 4))
    assert m.shape == (9, 4) and np.allclose(m.sum(1), 1.0)
    with pytest.raises(ValueError, match="interpolation"):
        ResizeLike(interpolation="bicubic")


def test_resize_like_reads_the_size_at_run_time_under_xla():
    x, ref = keras.Input((None, None, 4)), keras.Input((None, None, 1))
    model = keras.Model([x, ref], ResizeLike()([x, ref]))
    fn = tf.function(model, jit_compile=True)
    for h, w in [(8, 12), (13, 5)]:
        out = fn([tf.ones((1, 3, 4, 4)), tf.zeros((1, h, w, 1))])
        assert tuple(out.shape) == (1, h, w, 4)
        np.testing.assert_allclose(out.numpy(), 1.0, atol=1e-6)


# ---------------------------------------------------------------- the matrix


def mini_deeplab(decoder: bool) -> keras.Model:
    """DeepLabV3(+) head of the library on a tiny stem: stride 4 (low level) and 16 (ASPP)."""
    inputs = keras.Input((None, None, 3), name="image")
    low = conv_bn_relu(keras.layers.AveragePooling2D(4)(inputs), 8, 3, "low")
    deep = conv_bn_relu(keras.layers.AveragePooling2D(4)(low), 16, 3, "deep")
    x = aspp(deep, rates=(1, 2), filters=8, dropout=0.1, bn_momentum=0.9)
    if decoder:
        x = ResizeLike(name="decoder_upsample")([x, low])
        x = keras.layers.Concatenate()([x, low])
        x = conv_bn_relu(x, 8, 3, "decoder_conv")
    x = keras.layers.Conv2D(NUM_CLASSES, 1)(x)
    x = ResizeLike(name="upsample", dtype="float32")([x, inputs])
    return keras.Model(inputs, keras.layers.Activation("linear", dtype="float32", name="logits")(x))


# V3+ contains every resize of V3 (ASPP image pooling, final upsampling) plus the
# decoder's: it runs in the default suite; the six V3 cases add ~1 min and are slow.
@pytest.mark.parametrize("decoder", [pytest.param(False, marks=pytest.mark.slow), True], ids=["v3", "v3plus"])
@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager-graph", "xla"])
@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_and_compile_mode_trains_and_evaluates(policy, jit_compile, decoder, policy_scope):
    keras.mixed_precision.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = mini_deeplab(decoder)
    compute = "float32" if policy == "float32" else policy.split("_")[1]
    assert model.get_layer("aspp_pool_resize").compute_dtype == compute
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=masked_sparse_ce(),
        metrics=[StreamingMeanIoU(NUM_CLASSES)],
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 32, 64, 3)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, (2, 32, 64)).astype("int32")
    y[:, :4] = 255
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.trainable_weights)
    xe = rng.uniform(-1, 1, (2, 48, 80, 3)).astype("float32")  # another size, same None x None model
    ye = rng.integers(0, NUM_CLASSES, (2, 48, 80)).astype("int32")
    loss, miou = model.evaluate(xe, ye, batch_size=2, verbose=0)
    assert np.isfinite(loss) and 0.0 <= miou <= 1.0
    logits = model(xe[:1], training=False)
    assert (
        tuple(logits.shape) == (1, 48, 80, NUM_CLASSES) and keras.backend.standardize_dtype(logits.dtype) == "float32"
    )


# ------------------------------------------------------- the real gpu profile


@pytest.mark.slow
def test_gpu_profile_trains_through_the_cli_with_forced_mixed_precision(tmp_path, monkeypatch, capsys, policy_scope):
    """``COURSE_PROFILE=gpu python -m course_utils train --force-mixed-precision`` on a CPU, shrunk:
    TrainConfig.from_profile("gpu") (mixed_float16 + XLA), train(), ResNet-18 DeepLabV3+, MiniDrive."""
    from course_utils.cli import main
    from course_utils.datasets.minidrive import build_minidrive

    root = build_minidrive(tmp_path / "minidrive", 4, 2, 0, 32, 64, seed=5)
    run = tmp_path / "run"
    monkeypatch.setenv("COURSE_PROFILE", "gpu")
    argv = ["train", "--dataset", str(root), "--backbone", "resnet18", "--decoder", "--image-size", "32", "64"]
    argv += ["--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "1", "--run-dir", str(run)]
    argv += ["--force-mixed-precision", "--no-tensorboard", "--verbose", "0"]
    assert main(argv) == 0, capsys.readouterr().err[-2000:]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["precision_policy"] == "mixed_float16"
    assert cfg["config"]["jit_compile"] is True and cfg["config"]["decoder"] is True
    assert keras.mixed_precision.dtype_policy().name == "float32"  # train() restores the policy
    model = keras.saving.load_model(Path(run) / "final.keras", compile=False)
    assert model.get_layer("aspp_pool_resize").compute_dtype == "float16"
    out = model.predict(np.zeros((1, 40, 56, 3), "float32"), verbose=0)
    assert out.dtype == np.float32 and out.shape == (1, 40, 56, 7) and np.isfinite(out).all()
