"""A trained model outside the TensorFlow training path: other file formats and other Keras backends.

- :mod:`~course_utils.deploy.export`    ``.keras``, SavedModel, ONNX and LiteRT files, each checked against Keras
- :mod:`~course_utils.deploy.portable`  inference and evaluation under JAX or PyTorch (no ``tf.function``, no ``tf.data``)

Import the modules themselves (``from course_utils.deploy import export``); this package re-exports nothing.
"""
