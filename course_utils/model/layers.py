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


@keras.saving.register_keras_serializable(package="course_utils")
class ResizeLike(keras.layers.Layer):
    """Resize ``x`` to the spatial size of ``reference`` (read at run time).

    Called as ``ResizeLike()([x, reference])`` with NHWC tensors. The target
    height and width are taken from ``keras.ops.shape(reference)`` when the
    graph runs, so the layer works for ``(None, None, C)`` inputs of any size,
    unlike a fixed ``UpSampling2D(size=...)``. Bilinear interpolation uses
    half-pixel centres (``align_corners=False``), TensorFlow's default.

    Args:
        interpolation: ``"bilinear"`` (default) or any method accepted by
            :func:`keras.ops.image.resize`.
        **kwargs: standard layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, inputs):
        x, reference = inputs
        size = ops.shape(reference)[1:3]
        if keras.backend.backend() == "tensorflow":
            # keras.ops.image.resize needs a static size; the TensorFlow op
            # accepts a size tensor, which is what makes None x None work.
            import tensorflow as tf

            y = tf.image.resize(x, size, method=self.interpolation)
            return ops.cast(y, x.dtype)
        return ops.image.resize(x, size, interpolation=self.interpolation)

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
