"""Atrous (dilated) convolution, written out so it can be read.

Everything here is plain NumPy and deliberately loop-based where the loop *is*
the lesson. The tests check each function against TensorFlow
(:func:`tf.nn.atrous_conv2d`, Keras ``Conv2D(dilation_rate=...)``) so the
readable version and the fast version provably agree.

Conventions (the same as TensorFlow's):

* convolution means **cross-correlation** (the kernel is not flipped);
* ``'same'`` padding: the output has the input's size; for an effective kernel
  of size ``e`` the input is padded by ``(e - 1) // 2`` before and the rest
  after (so an even kernel has its extra row/column of padding at the end);
* a *rate* ``r`` puts ``r - 1`` zeros between neighbouring kernel taps.

Main functions:

* :func:`atrous_conv2d` - the NumPy reference convolution;
* :func:`dilate_kernel`, :func:`effective_kernel_size` - the zero-inserted kernel;
* :func:`receptive_field`, :func:`receptive_field_steps` - receptive field of a stack;
* :func:`valid_weight_fraction`, :func:`valid_weight_counts` - why ASPP needs image pooling;
* :func:`stack_footprint`, :func:`footprint_1d`, :func:`coverage_fraction` - the gridding artifact;
* :func:`subsample_then_convolve` - signal decimation, for comparison with atrous convolution;
* :func:`gradient_footprint`, :func:`effective_receptive_field` - the *effective* receptive field;
* :func:`feature_map_size` - the size of a backbone's feature map ('same' padding rounds up).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Layer = tuple[int, int, int]
"""A layer of a convolution stack as ``(kernel, stride, rate)``."""


def _check_rate(rate: int) -> int:
    if int(rate) != rate or rate < 1:
        raise ValueError(
            f"The dilation rate must be an integer >= 1, got {rate!r} (rate 1 is an ordinary convolution)."
        )
    return int(rate)


def effective_kernel_size(k: int, rate: int) -> int:
    """Size covered by a ``k``-tap kernel with dilation ``rate``: ``k + (k - 1)(rate - 1)``.

    >>> effective_kernel_size(3, 2)
    5
    """
    rate = _check_rate(rate)
    if int(k) != k or k < 1:
        raise ValueError(f"The kernel size must be an integer >= 1, got {k!r}.")
    return int(k + (k - 1) * (rate - 1))


def dilate_kernel(kernel: np.ndarray, rate: int) -> np.ndarray:
    """Return the zero-inserted kernel that an atrous convolution effectively applies.

    A ``(kh, kw)`` kernel becomes ``(effective_kernel_size(kh, rate),
    effective_kernel_size(kw, rate))`` with the original taps at every
    ``rate``-th position and zeros ("holes", *trous* in French) in between.
    Works for 1-D kernels too.
    """
    rate = _check_rate(rate)
    kernel = np.asarray(kernel)
    if kernel.ndim not in (1, 2):
        raise ValueError(f"dilate_kernel expects a 1-D or 2-D kernel, got shape {kernel.shape}.")
    shape = tuple(effective_kernel_size(s, rate) for s in kernel.shape)
    out = np.zeros(shape, dtype=kernel.dtype)
    out[tuple(slice(None, None, rate) for _ in shape)] = kernel
    return out


def _same_padding(effective: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding for stride 1: (before, after)."""
    total = effective - 1
    return total // 2, total - total // 2


def atrous_conv1d(x: np.ndarray, kernel: np.ndarray, rate: int) -> np.ndarray:
    """1-D atrous cross-correlation with 'same' padding (the 1-D version of :func:`atrous_conv2d`).

    ``y[i] = sum_k kernel[k] * x[i + k * rate - pad]`` where ``pad`` is the
    'same' padding before the signal.
    """
    rate = _check_rate(rate)
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != 1 or kernel.ndim != 1:
        raise ValueError(f"atrous_conv1d expects 1-D x and kernel, got shapes {x.shape} and {kernel.shape}.")
    before, after = _same_padding(effective_kernel_size(len(kernel), rate))
    padded = np.pad(x, (before, after))
    y = np.zeros_like(x)
    for i in range(len(x)):
        for k in range(len(kernel)):
            y[i] += kernel[k] * padded[i + k * rate]
    return y


def atrous_conv2d(x: np.ndarray, kernel: np.ndarray, rate: int) -> np.ndarray:
    """Atrous 2-D cross-correlation of one single-channel image, 'same' padding.

    The readable reference for ``tf.nn.atrous_conv2d(x[None, :, :, None],
    kernel[:, :, None, None], rate, "SAME")[0, :, :, 0]``::

        y[i, j] = sum_{a, b} kernel[a, b] * x_padded[i + a * rate, j + b * rate]

    Args:
        x: image of shape ``(H, W)``.
        kernel: filter of shape ``(kh, kw)`` (odd or even sizes).
        rate: dilation rate, an integer >= 1.

    Returns:
        ``float64`` array of shape ``(H, W)``.
    """
    rate = _check_rate(rate)
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != 2 or kernel.ndim != 2:
        raise ValueError(
            f"atrous_conv2d expects a single-channel image (H, W) and a kernel (kh, kw), "
            f"got shapes {x.shape} and {kernel.shape}; pick one channel with x[..., c]."
        )
    kh, kw = kernel.shape
    top, bottom = _same_padding(effective_kernel_size(kh, rate))
    left, right = _same_padding(effective_kernel_size(kw, rate))
    padded = np.pad(x, ((top, bottom), (left, right)))
    height, width = x.shape
    y = np.zeros((height, width))
    # Loop over the (few) kernel taps; each tap adds a shifted copy of the image.
    for a in range(kh):
        for b in range(kw):
            y += kernel[a, b] * padded[a * rate : a * rate + height, b * rate : b * rate + width]
    return y


def receptive_field_steps(layers: Iterable[Layer]) -> list[dict[str, int]]:
    """Receptive field after each layer of a stack of ``(kernel, stride, rate)`` layers.

    The classic recurrence: with ``jump`` the distance in input pixels between
    neighbouring positions of the current feature map (the product of strides
    so far), each layer adds ``(effective_kernel - 1) * jump`` to the receptive
    field, then multiplies ``jump`` by its stride.

    Returns:
        One dict per layer with keys ``kernel``, ``stride``, ``rate``,
        ``effective_kernel``, ``receptive_field`` and ``jump`` (the output
        stride after that layer).
    """
    rf, jump = 1, 1
    steps = []
    for index, layer in enumerate(layers):
        try:
            kernel, stride, rate = (int(v) for v in layer)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Layer {index} must be a (kernel, stride, rate) triple of integers, got {layer!r}."
            ) from exc
        if stride < 1:
            raise ValueError(f"Layer {index}: stride must be >= 1, got {stride}.")
        effective = effective_kernel_size(kernel, rate)
        rf += (effective - 1) * jump
        jump *= stride
        steps.append(
            {
                "kernel": kernel,
                "stride": stride,
                "rate": rate,
                "effective_kernel": effective,
                "receptive_field": rf,
                "jump": jump,
            }
        )
    return steps


def receptive_field(layers: Iterable[Layer]) -> int:
    """Receptive field (in input pixels, per side) of a stack of ``(kernel, stride, rate)`` layers.

    >>> receptive_field([(3, 1, 1), (3, 1, 1)])
    5
    >>> receptive_field([(3, 1, 2)] * 3)
    13
    """
    steps = receptive_field_steps(layers)
    return steps[-1]["receptive_field"] if steps else 1


def _tap_offsets(kernel: int, rate: int) -> np.ndarray:
    """Offsets (in pixels) of the taps of a 'same'-padded dilated kernel from the output position."""
    before, _ = _same_padding(effective_kernel_size(kernel, rate))
    return np.arange(kernel) * rate - before


def _valid_taps_1d(feature_size: int, rate: int, kernel: int) -> np.ndarray:
    """Number of taps inside ``[0, feature_size)`` for every output position of a 1-D map."""
    positions = np.arange(feature_size)[:, None] + _tap_offsets(kernel, rate)[None, :]
    return ((positions >= 0) & (positions < feature_size)).sum(axis=1)


def _map_size(feature_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(feature_size, (tuple, list)):
        height, width = (int(v) for v in feature_size)
    else:
        height = width = int(feature_size)
    if height < 1 or width < 1:
        raise ValueError(f"feature_size must be positive (an int or a (height, width) pair), got {feature_size!r}.")
    return height, width


def valid_weight_counts(feature_size: int | tuple[int, int], rate: int, kernel: int = 3) -> dict[int, float]:
    """Distribution of the number of valid taps of a ``kernel x kernel`` atrous filter.

    For every position of a ``feature_size x feature_size`` map (or a
    ``(height, width)`` map), with 'same' padding, count how many of the
    ``kernel**2`` taps land inside the map rather than on the zero padding.
    Returns ``{count: fraction of positions}``. This is Fig. 4 of the
    DeepLabV3 paper: on a 65x65 map, as the rate grows the share of positions
    where only the centre tap is valid (count 1) rises to 100 %.
    """
    rate = _check_rate(rate)
    height, width = _map_size(feature_size)
    rows = _valid_taps_1d(height, rate, kernel)
    cols = _valid_taps_1d(width, rate, kernel)
    counts = (rows[:, None] * cols[None, :]).ravel()
    values, numbers = np.unique(counts, return_counts=True)
    return {int(v): float(n) / counts.size for v, n in zip(values, numbers)}


def valid_weight_fraction(feature_size: int | tuple[int, int], rate: int, kernel: int = 3) -> float:
    """Mean fraction of a ``kernel x kernel`` atrous filter's taps that fall inside the map.

    Averaged over every output position of a ``feature_size x feature_size``
    (or ``(height, width)``) map with 'same' padding. 1.0 means every tap
    always sees real features; ``1 / kernel**2`` means only the centre tap
    does, i.e. the 3x3 filter has degenerated into a 1x1 filter (the reason
    ASPP adds image pooling).
    """
    counts = valid_weight_counts(feature_size, rate, kernel)
    return float(sum(count * share for count, share in counts.items()) / kernel**2)


def footprint_1d(rates: Sequence[int], kernel: int = 3) -> np.ndarray:
    """Number of paths from each input position to one output of a 1-D stack of dilated all-ones kernels.

    The full convolution of the zero-inserted kernels: its length is the
    stack's receptive field, and zeros are inputs the output never sees.
    """
    if not rates:
        raise ValueError("A footprint needs at least one rate, e.g. (2, 2, 2).")
    field = np.ones(1, dtype=np.int64)
    for rate in rates:
        field = np.convolve(field, dilate_kernel(np.ones(kernel, dtype=np.int64), rate))
    return field


def stack_footprint(rates: Sequence[int], kernel: int = 3) -> np.ndarray:
    """Which input pixels one output pixel of a stack of dilated convolutions depends on.

    For ``len(rates)`` stacked ``kernel x kernel`` convolutions with all-ones
    weights, stride 1 and the given rates, entry ``[i, j]`` counts the paths
    from input pixel ``(i, j)`` to the output pixel. The array has the size of
    the receptive field. Zeros are input pixels the output never sees: the
    *gridding* artifact of rates with a common factor, such as ``(2, 2, 2)``
    or DeepLabV3's multi-grid rates at output stride 16, ``(2, 4, 8)``; rates
    that start at 1 and, sorted ascending, never exceed the field built so far
    (hybrid dilated convolution, e.g. ``(1, 2, 4)`` or ``(1, 3, 9)``) leave no
    zeros. Coverage does not depend on the order of the layers (a sum does not
    depend on the order of its terms): ``(3, 1, 9)`` covers what ``(1, 3, 9)``
    covers. (A square all-ones kernel is separable, so the 2-D footprint is the
    outer product of the 1-D one.)
    """
    line = footprint_1d(rates, kernel)
    return np.outer(line, line)


def coverage_fraction(footprint: np.ndarray) -> float:
    """Share of the pixels inside a footprint's bounding box that the output actually sees."""
    footprint = np.asarray(footprint)
    return float(np.count_nonzero(footprint)) / footprint.size


def subsample_then_convolve(x: np.ndarray, kernel: np.ndarray, factor: int) -> np.ndarray:
    """The "signal decimation" path: subsample by ``factor``, then convolve at low resolution.

    The result has ``ceil(H / factor) x ceil(W / factor)`` pixels and equals
    ``atrous_conv2d(x, kernel, factor)[::factor, ::factor]``: atrous convolution
    computes the same responses, plus all the ones in between.
    """
    factor = _check_rate(factor)
    x = np.asarray(x, dtype=np.float64)
    return atrous_conv2d(x[::factor, ::factor], kernel, 1)


def gradient_footprint(rates: Sequence[int], kernel: int = 3, weights: str = "ones", seed: int = 0) -> np.ndarray:
    """Gradient magnitude ``|d out / d input|`` of the centre output of a linear stack of dilated convolutions.

    The stack is ``len(rates)`` single-channel ``kernel x kernel`` convolutions
    with stride 1 and no bias. Back-propagating a unit gradient from one output
    pixel through a convolution is a convolution with the same (dilated)
    kernel, so the input gradient is the full convolution of the zero-inserted
    kernels. The array has the size of the theoretical receptive field.

    Args:
        rates: dilation rate of each layer, e.g. ``[1] * 10``.
        kernel: kernel size of every layer.
        weights: ``"ones"`` (every tap 1: the gradient counts paths, as
            :func:`stack_footprint` does) or ``"random"`` (Gaussian taps drawn
            with ``seed``, one kernel per layer, as in an untrained network).
        seed: seed of the random taps.

    Returns:
        ``float64`` array of ``|gradient|`` values, shape ``(rf, rf)``.
    """
    if not rates:
        raise ValueError("A gradient footprint needs at least one rate, e.g. [1, 1, 1].")
    if weights not in ("ones", "random"):
        raise ValueError(f"weights must be 'ones' or 'random', got {weights!r}.")
    rng = np.random.default_rng(seed)
    grad = np.ones((1, 1))
    for rate in rates:
        taps = np.ones((kernel, kernel)) if weights == "ones" else rng.normal(size=(kernel, kernel))
        dilated = dilate_kernel(taps, rate)
        out = np.zeros((grad.shape[0] + dilated.shape[0] - 1, grad.shape[1] + dilated.shape[1] - 1))
        for a, b in zip(*np.nonzero(dilated)):  # full 2-D convolution, one shifted copy per tap
            out[a : a + grad.shape[0], b : b + grad.shape[1]] += dilated[a, b] * grad
        grad = out
    return np.abs(grad)


def effective_receptive_field(gradient: np.ndarray, mass: float = 0.9) -> int:
    """Side of the smallest centred square that holds ``mass`` of the total gradient magnitude.

    The *theoretical* receptive field is the box of every input pixel with a
    non-zero gradient; Luo et al. ("Understanding the effective receptive field
    in deep convolutional neural networks", 2016) showed that the gradient is
    concentrated near the centre, roughly a Gaussian whose width grows like the
    square root of the depth while the box grows linearly. This is one way to
    put a number on that: ``effective_receptive_field(g, 0.9)`` is the side of
    the centred square holding 90 % of ``sum(|g|)``.

    >>> effective_receptive_field(np.ones((5, 5)), mass=1.0)
    5
    """
    g = np.abs(np.asarray(gradient, dtype=np.float64))
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] % 2 == 0:
        raise ValueError(f"effective_receptive_field expects a square array of odd side, got shape {g.shape}.")
    if not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1], got {mass}.")
    total = g.sum()
    if total == 0:
        raise ValueError("The gradient is zero everywhere: no receptive field to measure.")
    centre = g.shape[0] // 2
    for half in range(centre + 1):
        window = g[centre - half : centre + half + 1, centre - half : centre + half + 1]
        if window.sum() >= mass * total * (1 - 1e-12):
            return 2 * half + 1
    return g.shape[0]  # pragma: no cover - the whole array holds all the mass


def feature_map_size(image_size: Sequence[int], output_stride: int) -> tuple[int, int]:
    """(height, width) of the feature map a ResNet at ``output_stride`` gives for ``image_size``.

    Every strided layer of the backbone is 'same'-padded (or padded like the
    ResNet stem), so each halving rounds *up*: the map is
    ``ceil(H / output_stride) x ceil(W / output_stride)``, e.g. 8x15 for a
    120x240 crop at output stride 16, not the 7x15 of ``120 // 16``.

    >>> feature_map_size((120, 240), 16)
    (8, 15)
    """
    stride = int(output_stride)
    if stride < 1:
        raise ValueError(f"output_stride must be >= 1, got {output_stride!r}.")
    height, width = (int(v) for v in image_size[:2])
    return -(-height // stride), -(-width // stride)


def dense_cost_factor(output_stride: int, reference_stride: int = 32) -> float:
    """How many times more compute and activation memory a layer needs at ``output_stride`` than at ``reference_stride``.

    Removing a stride and dilating the later layers keeps their weights but
    not their cost: every layer after the removed stride runs on a map
    ``reference_stride / output_stride`` times larger per side, so its
    multiply-accumulates and activations grow with the square of that factor.
    """
    if output_stride <= 0 or reference_stride <= 0:
        raise ValueError("output strides must be positive")
    return (reference_stride / output_stride) ** 2


def tap_weight_gradients(
    feature_size: int | tuple[int, int], rate: int, channels: int = 8, batch: int = 2, seed: int = 0
) -> np.ndarray:
    """Gradient magnitude of each of the 9 taps of a 3x3 atrous convolution, after one backward pass.

    Builds a Keras ``Conv2D(channels, 3, dilation_rate=rate, padding="same",
    use_bias=False)``, runs it on a random batch of ``feature_size`` maps,
    takes the loss ``sum(output * g)`` for a random ``g`` (any loss gives the
    same zero pattern) and returns, for each tap, the largest ``|dL/dw|`` over
    its input and output channels. A tap that reads the zero padding at every
    position of the map multiplies zeros, so its gradient is exactly 0: plain
    SGD or Adam never moves that weight (weight decay, if the recipe uses it,
    still shrinks it towards zero; it never learns from data).

    Args:
        feature_size: side of a square map, or ``(height, width)``.
        rate: atrous rate of the 3x3 convolution.
        channels: input and output channels of the convolution.
        batch: number of random maps in the batch.
        seed: seed of the inputs, the upstream gradient and the weights.

    Returns:
        ``(3, 3)`` array of ``max |dL/dw|`` per tap (row: vertical offset
        ``-rate, 0, +rate``; column: horizontal offset).
    """
    import keras
    import tensorflow as tf

    rows, cols = _map_size(feature_size)
    rng = np.random.default_rng(seed)
    conv = keras.layers.Conv2D(
        channels,
        3,
        dilation_rate=_check_rate(rate),
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.GlorotNormal(seed=seed),
    )
    x = tf.constant(rng.normal(size=(batch, rows, cols, channels)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(batch, rows, cols, channels)).astype("float32"))
    conv.build(x.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(conv(x) * upstream)
    (grad,) = tape.gradient(loss, [conv.kernel])
    return np.abs(np.asarray(grad)).max(axis=(2, 3))
