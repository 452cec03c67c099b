"""Tests of ASPP and DeepLabV3(+) (course_utils.model.aspp / deeplab / layers)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils.model import (
    CaffeInputAdapter,
    ResizeLike,
    build_aspp,
    build_deeplabv3,
    default_aspp_rates,
    resnet_endpoints,
)

NUM_CLASSES = 7


@pytest.fixture(scope="module")
def deeplab18():
    keras.utils.set_random_seed(0)
    return build_deeplabv3(NUM_CLASSES, backbone="resnet18")


@pytest.fixture(scope="module")
def deeplab18_plus():
    keras.utils.set_random_seed(1)
    # with the (weight-free) Caffe input adapter, so that saving covers it too
    return build_deeplabv3(NUM_CLASSES, backbone="resnet18", output_stride=8, decoder=True, input_adapter="caffe")


def _parents(layer):
    if not layer._inbound_nodes:
        return []
    return [node.operation for node in layer._inbound_nodes[0].parent_nodes]


@pytest.mark.parametrize("hw", [(64, 64), (250, 371), (33, 47)])
def test_logits_shape_any_input_size(deeplab18, deeplab18_plus, hw):
    x = np.random.default_rng(0).uniform(-1, 1, (1, *hw, 3)).astype("float32")
    for model in (deeplab18, deeplab18_plus):
        assert model.input_shape == (None, None, None, 3)
        out = model(x)
        assert tuple(out.shape) == (1, *hw, NUM_CLASSES)
        assert out.dtype == "float32"
        assert np.isfinite(out.numpy()).all()


def test_fixed_input_shape_and_batch():
    model = build_deeplabv3(3, backbone="resnet18", input_shape=(96, 64, 3), output_stride=32)
    assert model.output_shape == (None, 96, 64, 3)
    assert model(np.zeros((2, 96, 64, 3), "float32")).shape == (2, 96, 64, 3)


def test_aspp_rates_default_and_doubling(deeplab18, deeplab18_plus):
    assert default_aspp_rates(16) == (6, 12, 18)
    assert default_aspp_rates(8) == (12, 24, 36)
    assert default_aspp_rates(32) == (3, 6, 9)

    def aspp_rates(model):
        return sorted(
            layer.dilation_rate[0]
            for layer in model.layers
            if layer.name.startswith("aspp_rate") and layer.name.endswith("_conv")
        )

    assert aspp_rates(deeplab18) == [6, 12, 18]
    assert aspp_rates(deeplab18_plus) == [12, 24, 36]
    # backbone at OS 8: stage 3 at rate 2, stage 4 at 4 * (1, 2) (ResNet-18: 2 units)
    assert deeplab18_plus.get_layer("stage3_unit2_conv1").dilation_rate == (2, 2)
    assert deeplab18_plus.get_layer("stage4_unit1_conv2").dilation_rate == (4, 4)
    assert deeplab18_plus.get_layer("stage4_unit2_conv2").dilation_rate == (8, 8)
    custom = build_deeplabv3(2, backbone="resnet18", aspp_rates=(2, 3, 5, 7))
    assert aspp_rates(custom) == [2, 3, 5, 7]


def test_aspp_image_pooling_on_and_off():
    on = build_aspp((None, None, 32), filters=16, image_pooling=True, dropout=0.0)
    off = build_aspp((None, None, 32), filters=16, image_pooling=False, dropout=0.0)
    assert on.get_layer("aspp_concat").output.shape[-1] == 5 * 16
    assert off.get_layer("aspp_concat").output.shape[-1] == 4 * 16
    assert not any(isinstance(layer, keras.layers.GlobalAveragePooling2D) for layer in off.layers)
    # the pooling branch: 32*16 conv + 4*16 BN, and 16*16 more weights in the projection
    assert on.count_params() - off.count_params() == 32 * 16 + 4 * 16 + 16 * 16
    x = np.random.default_rng(1).normal(size=(2, 9, 13, 32)).astype("float32")
    for model in (on, off):
        for hw in [(9, 13), (4, 6)]:
            assert tuple(model(x[:, : hw[0], : hw[1]]).shape) == (2, *hw, 16)
    # image pooling is global context: the same value at every position
    pool = keras.Model(on.input, on.get_layer("aspp_pool_resize").output)(x).numpy()
    np.testing.assert_allclose(pool, np.broadcast_to(pool[:, :1, :1], pool.shape), atol=1e-5)
    model = build_deeplabv3(2, backbone="resnet18", image_pooling=False)
    assert "aspp_pool_gap" not in {layer.name for layer in model.layers}
    assert model(np.zeros((1, 40, 56, 3), "float32")).shape == (1, 40, 56, 2)


def test_logits_have_no_relu_or_softmax(deeplab18, deeplab18_plus):
    for model in (deeplab18, deeplab18_plus):
        logits = model.get_layer("logits")
        assert model.layers[-1] is logits
        assert logits.activation is keras.activations.linear
        (resize,) = _parents(logits)
        assert isinstance(resize, ResizeLike)
        classifier = model.get_layer("classifier")
        assert classifier in _parents(resize)
        assert classifier.activation is keras.activations.linear
        assert not any(isinstance(layer, keras.layers.Softmax) for layer in model.layers)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    out = deeplab18(x).numpy()
    assert (out < 0).any()  # a ReLU or softmax would forbid negative values


def test_conv_bn_relu_order(deeplab18_plus):
    n_bn = 0
    for layer in deeplab18_plus.layers:
        parents = _parents(layer)
        if isinstance(layer, keras.layers.BatchNormalization):
            n_bn += 1
            assert all(isinstance(p, keras.layers.Conv2D) for p in parents), layer.name
        if isinstance(layer, keras.layers.ReLU):
            assert all(isinstance(p, (keras.layers.BatchNormalization, keras.layers.Add)) for p in parents), layer.name
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.activation is keras.activations.linear, layer.name
    assert n_bn > 20


def test_decoder_uses_stride4_features(deeplab18_plus):
    low = deeplab18_plus.get_layer("decoder_low_conv")
    assert _parents(low) == [deeplab18_plus.get_layer("stage1_unit2_out")]
    assert low.filters == 48
    ends = resnet_endpoints(deeplab18_plus)
    sub = keras.Model(deeplab18_plus.input, [ends["stage1"], deeplab18_plus.get_layer("decoder_upsample").output])
    a, b = sub(np.zeros((1, 64, 96, 3), "float32"))
    assert tuple(a.shape[1:3]) == tuple(b.shape[1:3]) == (16, 24)


@pytest.mark.slow
def test_trains_and_loss_goes_down():
    """A few Adam steps on a learnable toy task (colour of a block -> its class).

    Small atrous rates keep this fast on a CPU: TensorFlow runs a dilated
    convolution as space-to-batch + convolution, and a rate much larger than the
    feature map mostly convolves padding.
    """
    keras.utils.set_random_seed(3)
    num_classes = 4
    model = build_deeplabv3(
        num_classes, backbone="resnet18", output_stride=32, aspp_rates=(1, 2, 3), decoder=True, dropout=0.0
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=False,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(3)
    palette = rng.uniform(-1, 1, (num_classes, 3)).astype("float32")
    blocks = rng.integers(0, num_classes, (4, 2, 2))
    y = np.kron(blocks, np.ones((16, 16), "int64")).astype("int32")  # (4, 32, 32)
    x = palette[y] + rng.normal(0, 0.05, (*y.shape, 3)).astype("float32")
    losses = [float(model.train_on_batch(x, y)) for _ in range(8)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-2:]) < 0.7 * losses[0], losses


def test_save_load_round_trip(deeplab18_plus, tmp_path):
    path = tmp_path / "deeplab.keras"
    deeplab18_plus.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 45, 61, 3)).astype("float32")
    np.testing.assert_array_equal(deeplab18_plus.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.count_params() == deeplab18_plus.count_params()


def test_mixed_precision_logits_float32():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = build_deeplabv3(3, backbone="resnet18", decoder=True)
        assert model.get_layer("stage2_unit1_conv1").compute_dtype == "float16"
        assert model.get_layer("classifier").compute_dtype == "float16"
        out = model(np.zeros((1, 40, 40, 3), "float32"))
        assert model.output.dtype == "float32"
        assert out.dtype == "float32" and out.shape == (1, 40, 40, 3)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.mixed_precision.global_policy().name == previous.name


def test_caffe_input_adapter():
    x = np.array([[[[-1.0, 0.0, 1.0]]]], "float32")  # R=0, G=127.5, B=255
    out = CaffeInputAdapter()(x).numpy()
    expected = np.array([255.0 - 103.939, 127.5 - 116.779, 0.0 - 123.68], "float32")
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-6)
    assert CaffeInputAdapter().trainable is False
    no_adapter = build_deeplabv3(2, backbone="resnet18")
    assert "caffe_input_adapter" not in {layer.name for layer in no_adapter.layers}
    forced = build_deeplabv3(2, backbone="resnet18", input_adapter="caffe")
    assert isinstance(forced.get_layer("caffe_input_adapter"), CaffeInputAdapter)


def test_pretrained_transfer_sees_caffe_inputs():
    """Course inputs in [-1, 1] -> same backbone features as keras on Caffe inputs."""
    source = keras.applications.ResNet50(include_top=False, weights=None)
    model = build_deeplabv3(NUM_CLASSES, backbone="resnet50", output_stride=32, multi_grid=None, weights=source)
    assert isinstance(model.get_layer("caffe_input_adapter"), CaffeInputAdapter)
    features = keras.Model(model.input, resnet_endpoints(model)["stage4"])
    rgb = np.random.default_rng(5).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    ours = features(rgb / 127.5 - 1.0).numpy()
    reference = source(keras.applications.resnet.preprocess_input(rgb.copy())).numpy()
    scale = max(1.0, float(np.abs(reference).max()))
    assert np.abs(ours - reference).max() / scale < 1e-4


def test_bad_arguments():
    with pytest.raises(ValueError, match="backbone must be one of"):
        build_deeplabv3(3, backbone="resnet152")
    with pytest.raises(ValueError, match="Pretrained weights exist"):
        build_deeplabv3(3, backbone="resnet18", weights="imagenet")
    with pytest.raises(ValueError, match="output_stride"):
        build_deeplabv3(3, backbone="resnet18", output_stride=4)
    with pytest.raises(ValueError, match="rates"):
        build_aspp((None, None, 8), rates=(6, 6, 12))
