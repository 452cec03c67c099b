"""The readable NumPy atrous convolution and receptive-field helpers agree with TensorFlow/Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import atrous


def _tf_atrous(x: np.ndarray, kernel: np.ndarray, rate: int) -> np.ndarray:
    value = tf.constant(x[None, :, :, None], tf.float64)
    filters = tf.constant(kernel[:, :, None, None], tf.float64)
    return tf.nn.atrous_conv2d(value, filters, rate, "SAME")[0, :, :, 0].numpy()


@pytest.mark.parametrize("rate", [1, 2, 3, 4])
def test_atrous_conv2d_matches_tensorflow(rate):
    rng = np.random.default_rng(rate)
    for _ in range(4):
        h, w = rng.integers(5, 20, size=2)
        kh, kw = rng.integers(1, 6, size=2)  # odd and even sizes
        x, k = rng.normal(size=(h, w)), rng.normal(size=(kh, kw))
        np.testing.assert_allclose(atrous.atrous_conv2d(x, k, rate), _tf_atrous(x, k, rate), atol=1e-10)


def test_atrous_conv1d_is_the_2d_version_on_a_row():
    rng = np.random.default_rng(0)
    for n, k, rate in [(9, 3, 2), (12, 2, 3), (7, 4, 1)]:
        x, kernel = rng.normal(size=n), rng.normal(size=k)
        np.testing.assert_allclose(
            atrous.atrous_conv1d(x, kernel, rate), atrous.atrous_conv2d(x[None], kernel[None], rate)[0]
        )


def test_dilated_kernel_is_what_atrous_applies():
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(11, 13)), rng.normal(size=(3, 3))
    big = atrous.dilate_kernel(k, 2)
    assert big.shape == (5, 5)
    assert np.count_nonzero(big) == 9 and big[1].sum() == 0 and big[:, 3].sum() == 0
    np.testing.assert_allclose(atrous.atrous_conv2d(x, k, 2), atrous.atrous_conv2d(x, big, 1))


def test_effective_kernel_size_and_bad_input():
    assert [atrous.effective_kernel_size(3, r) for r in (1, 2, 3, 6)] == [3, 5, 7, 13]
    assert atrous.effective_kernel_size(1, 5) == 1
    with pytest.raises(ValueError, match="rate"):
        atrous.effective_kernel_size(3, 0)
    with pytest.raises(ValueError, match="single-channel"):
        atrous.atrous_conv2d(np.zeros((4, 4, 3)), np.ones((3, 3)), 1)


def test_receptive_field_known_values():
    assert atrous.receptive_field([(3, 1, 1)] * 2) == 5
    assert atrous.receptive_field([(3, 1, 2)] * 3) == 13
    assert atrous.receptive_field([(7, 2, 1), (3, 2, 1)]) == 11  # ResNet stem: conv 7x7/2 + pool 3x3/2
    assert atrous.receptive_field([]) == 1
    steps = atrous.receptive_field_steps([(3, 2, 1), (3, 1, 2)])
    assert [s["receptive_field"] for s in steps] == [3, 11] and steps[-1]["jump"] == 2
    with pytest.raises(ValueError, match="Layer 0"):
        atrous.receptive_field([(3, 1)])


@pytest.mark.parametrize("layers", [[(3, 1, 2)] * 3, [(3, 1, 1), (3, 2, 1), (3, 1, 2)], [(5, 2, 1), (3, 1, 3)]])
def test_receptive_field_matches_keras_gradient(layers):
    """Measure the field empirically: which input pixels get a gradient from the centre output."""
    size = 41
    inputs = keras.Input((size, size, 1))
    x = inputs
    for kernel, stride, rate in layers:
        x = keras.layers.Conv2D(
            1, kernel, strides=stride, dilation_rate=rate, padding="same", kernel_initializer="ones", use_bias=False
        )(x)
    model = keras.Model(inputs, x)
    image = tf.Variable(tf.zeros((1, size, size, 1)))
    with tf.GradientTape() as tape:
        out = model(image)
        centre = out[0, out.shape[1] // 2, out.shape[2] // 2, 0]
    grad = tape.gradient(centre, image)[0, :, :, 0].numpy()
    rows, cols = np.nonzero(grad)
    measured = rows.max() - rows.min() + 1
    assert measured == cols.max() - cols.min() + 1 == atrous.receptive_field(layers)


def test_valid_weight_fraction_degenerates_to_centre_tap():
    assert atrous.valid_weight_fraction(65, 65) == pytest.approx(1 / 9)
    assert atrous.valid_weight_counts(65, 65) == {1: 1.0}
    fractions = [atrous.valid_weight_fraction(65, r) for r in range(1, 66)]
    assert all(a > b for a, b in zip(fractions, fractions[1:]))  # monotone in the rate
    # Brute force on a small map: count taps inside for every position.
    size, rate = 9, 3
    inside = 0
    for i in range(size):
        for j in range(size):
            for di in (-rate, 0, rate):
                for dj in (-rate, 0, rate):
                    inside += 0 <= i + di < size and 0 <= j + dj < size
    assert atrous.valid_weight_fraction(size, rate) == pytest.approx(inside / (9 * size * size))
    assert sum(atrous.valid_weight_counts(size, rate).values()) == pytest.approx(1.0)


def test_gridding_footprint():
    same = atrous.stack_footprint((2, 2, 2))
    assert same.shape == (13, 13)
    assert same[1::2, :].sum() == 0 and same[:, 1::2].sum() == 0  # odd offsets never seen
    assert atrous.coverage_fraction(same) == pytest.approx(49 / 169)
    multi = atrous.stack_footprint((1, 2, 4))
    assert multi.shape == (15, 15) and atrous.coverage_fraction(multi) == 1.0
    # The footprint is the impulse response of the all-ones stack (NumPy reference).
    field = np.zeros((31, 31))
    field[15, 15] = 1
    for r in (1, 2, 4):
        field = atrous.atrous_conv2d(field, np.ones((3, 3)), r)
    np.testing.assert_array_equal(field[8:23, 8:23], multi)


def test_subsample_then_convolve_equals_sparse_atrous_output():
    rng = np.random.default_rng(2)
    for h, w, factor in [(16, 16, 2), (13, 17, 3), (20, 9, 4)]:
        x, k = rng.normal(size=(h, w)), rng.normal(size=(3, 3))
        low = atrous.subsample_then_convolve(x, k, factor)
        assert low.shape == (-(-h // factor), -(-w // factor))
        np.testing.assert_allclose(low, atrous.atrous_conv2d(x, k, factor)[::factor, ::factor])


def test_valid_weight_fraction_rectangular_map():
    # A 4x8 map (a 64x128 crop at output stride 16): rows and columns count separately.
    h_only = atrous.valid_weight_counts((4, 8), 6)
    assert set(h_only) == {1, 2} and h_only[2] == pytest.approx(4 / 8) and sum(h_only.values()) == pytest.approx(1.0)
    assert atrous.valid_weight_fraction((5, 5), 2) == atrous.valid_weight_fraction(5, 2)
    assert atrous.valid_weight_fraction((4, 8), 8) == pytest.approx(1 / 9)
    with pytest.raises(ValueError, match="feature_size"):
        atrous.valid_weight_fraction((0, 4), 2)


@pytest.mark.parametrize("weights", ["ones", "random"])
def test_gradient_footprint_matches_tensorflow_gradient(weights):
    rates = [1, 2, 3]
    expected = atrous.gradient_footprint(rates, weights=weights, seed=3)
    rng = np.random.default_rng(3)
    kernels = [np.ones((3, 3)) if weights == "ones" else rng.normal(size=(3, 3)) for _ in rates]
    size = 2 * expected.shape[0] + 1
    probe = tf.Variable(tf.zeros((1, size, size, 1), tf.float64))
    with tf.GradientTape() as tape:
        y = probe
        for k, r in zip(kernels, rates):
            y = tf.nn.convolution(y, tf.constant(k[:, :, None, None]), padding="SAME", dilations=r)
        centre = y[0, size // 2, size // 2, 0]
    grad = np.abs(tape.gradient(centre, probe)[0, :, :, 0].numpy())
    half = expected.shape[0] // 2
    np.testing.assert_allclose(
        grad[size // 2 - half : size // 2 + half + 1, size // 2 - half : size // 2 + half + 1], expected
    )
    assert grad.sum() == pytest.approx(expected.sum())  # nothing outside the theoretical box


def test_gradient_footprint_with_ones_counts_paths():
    np.testing.assert_array_equal(atrous.gradient_footprint([1, 2, 4]), atrous.stack_footprint([1, 2, 4]))
    with pytest.raises(ValueError):
        atrous.gradient_footprint([])
    with pytest.raises(ValueError):
        atrous.gradient_footprint([1], weights="zeros")


def test_effective_receptive_field_grows_slower_than_the_theoretical_one():
    assert atrous.effective_receptive_field(np.ones((7, 7)), mass=1.0) == 7
    single = np.zeros((7, 7))
    single[3, 3] = 1.0
    assert atrous.effective_receptive_field(single) == 1
    erf = {n: atrous.effective_receptive_field(atrous.gradient_footprint([1] * n)) for n in (4, 16)}
    trf = {n: atrous.receptive_field([(3, 1, 1)] * n) for n in (4, 16)}
    assert erf[4] <= trf[4] and erf[16] < trf[16]
    assert erf[16] / erf[4] < trf[16] / trf[4]  # the effective field grows more slowly
    with pytest.raises(ValueError):
        atrous.effective_receptive_field(np.ones((4, 4)))
    with pytest.raises(ValueError):
        atrous.effective_receptive_field(np.zeros((3, 3)))


@pytest.mark.parametrize("size", [(120, 240), (180, 240), (97, 131), (64, 128)])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_feature_map_size_is_the_backbones(size, output_stride):
    from course_utils.model import build_resnet

    model = build_resnet(18, output_stride=output_stride)
    shape = model.compute_output_shape((1, *size, 3))
    assert atrous.feature_map_size(size, output_stride) == tuple(shape[1:3])
