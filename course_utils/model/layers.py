"""Small serialisable Keras layers used by the course models.

Both layers are registered with :func:`keras.saving.register_keras_serializable`
under the package name ``"course_utils"``, so a model that uses them saves to
and loads from a ``.keras`` file without ``custom_objects``.
"""

from __future__ import annotations

import keras
from keras import ops

# Per-channel means of the ImageNet training set in BGR order, 0-255 scale:
# the "caffe" preprocessing that keras.applications ResNet50/101 weights expect.
CAFFE_BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)


INTERPOLATIONS = ("bilinear", "nearest")


def interpolation_matrix(out_size, in_size, interpolation: str = "bilinear", dtype: str = "float32"):
    """The ``[out_size, in_size]`` matrix that resizes one axis (half-pixel centres).

    Output sample ``o`` reads the input at ``s = (o + 0.5) * in_size / out_size - 0.5``
    clipped to ``[0, in_size - 1]``. Bilinear weights are the "tent"
    ``max(0, 1 - |s - i|)`` (the two neighbours of ``s``); nearest picks input
    ``min(floor((o + 0.5) * in_size / out_size), in_size - 1)``. These are the
    conventions of ``tf.image.resize`` (``antialias=False``), so resizing with
    the matrices gives the same values. Sizes may be Python ints or scalar
    tensors known only at run time; only ``keras.ops`` is used.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    o = ops.cast(ops.arange(out_size), "float32")
    i = ops.cast(ops.arange(in_size), "float32")
    n_in = ops.cast(in_size, "float32")
    scale = n_in / ops.cast(out_size, "float32")
    if interpolation == "bilinear":
        s = ops.clip((o + 0.5) * scale - 0.5, 0.0, n_in - 1.0)
        weights = ops.relu(1.0 - ops.abs(s[:, None] - i[None, :]))
    else:
        s = ops.minimum(ops.floor((o + 0.5) * scale), n_in - 1.0)
        weights = ops.cast(ops.equal(s[:, None], i[None, :]), "float32")
    return ops.cast(weights, dtype)


def resize_images(x, size, interpolation: str = "bilinear"):
    """Resize NHWC ``x`` to ``size = (height, width)`` (ints or run-time scalars).

    Two small matrix products (rows, then columns) with
    :func:`interpolation_matrix`, computed in ``x``'s dtype. Unlike
    ``keras.ops.image.resize`` it accepts sizes known only at run time, and
    unlike ``tf.image.resize`` it is plain ``keras.ops``: it runs on every
    backend and its gradient (two more matrix products) stays in one dtype, so
    XLA compiles it under ``mixed_float16`` and ``mixed_bfloat16``.
    """
    rows = interpolation_matrix(size[0], ops.shape(x)[1], interpolation, x.dtype)
    cols = interpolation_matrix(size[1], ops.shape(x)[2], interpolation, x.dtype)
    y = ops.einsum("oh,bhwc->bowc", rows, x)
    return ops.einsum("pw,bowc->bopc", cols, y)


@keras.saving.register_keras_serializable(package="course_utils")
class ResizeLike(keras.layers.Layer):
    """Resize ``x`` to the spatial size of ``reference`` (read at run time).

    Called as ``ResizeLike()([x, reference])`` with NHWC tensors. The target
    height and width are taken from ``keras.ops.shape(reference)`` when the
    graph runs, so the layer works for ``(None, None, C)`` inputs of any size,
    unlike a fixed ``UpSampling2D(size=...)``. Bilinear interpolation uses
    half-pixel centres (``align_corners=False``), TensorFlow's default; see
    :func:`resize_images` (backend-agnostic, any dtype policy, XLA-safe).

    Args:
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        **kwargs: standard layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"ResizeLike: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
        self.interpolation = interpolation

    def call(self, inputs):
        x, reference = inputs
        return resize_images(x, ops.shape(reference)[1:3], self.interpolation)

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])

    def get_config(self) -> dict:
        config = super().get_config()
        config["interpolation"] = self.interpolation
        return config


@keras.saving.register_keras_serializable(package="course_utils")
class CaffeInputAdapter(keras.layers.Layer):
    """Convert course inputs (RGB in ``[-1, 1]``) to Caffe-style inputs.

    The ImageNet weights of ``keras.applications.ResNet50/101`` were trained on
    images preprocessed the "caffe" way: BGR channel order, 0-255 scale, and the
    per-channel ImageNet mean subtracted (``keras.applications.resnet.
    preprocess_input``). The course feeds every model RGB images normalised to
    ``[-1, 1]`` (``x / 127.5 - 1``). This layer undoes the course normalisation
    and applies the Caffe one, so pretrained weights see what they expect:

    ``y = flip_rgb_to_bgr((x + 1) * 127.5) - CAFFE_BGR_MEAN``

    It has no weights and is never trained.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)

    def call(self, inputs):
        x = (inputs + 1.0) * 127.5
        x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=x.dtype)
        return x - mean

    def compute_output_shape(self, input_shape):
        return input_shape
