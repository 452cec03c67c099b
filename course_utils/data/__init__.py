"""The teaching core's data layer: the prepared dataset format, the input pipelines and class statistics.

Declared API (the names notebooks use as ``data.<name>``); each lives in one module:

- :mod:`~course_utils.data.format`    ``dataset.json``, image/label pairs, ``IGNORE_INDEX``, read/write
- :mod:`~course_utils.data.pipeline`  the ``tf.data`` pipeline (``make_dataset``), normalisation
- :mod:`~course_utils.data.augment`   the label-safe augmentation specification (NumPy) shared by both pipelines
- :mod:`~course_utils.data.pydataset` the ``keras.utils.PyDataset`` pipeline for JAX / PyTorch (no TensorFlow)
- :mod:`~course_utils.data.stats`     class frequencies and class weights

Which dataset to use (``find_dataset``, ``ensure_minidrive``) is :mod:`course_utils.datasets.registry`.
"""

from course_utils.data.format import (
    DATASET_JSON,
    IGNORE_INDEX,
    DatasetInfo,
    held_out_split,
    list_pairs,
    load_info,
    read_image,
    read_label,
    write_png,
)
from course_utils.data.pipeline import denormalize_image, make_dataset, normalize_image
from course_utils.data.stats import class_frequencies, class_weights

__all__ = [
    "DATASET_JSON",
    "IGNORE_INDEX",
    "DatasetInfo",
    "load_info",
    "list_pairs",
    "held_out_split",
    "read_image",
    "read_label",
    "write_png",
    "normalize_image",
    "denormalize_image",
    "make_dataset",
    "class_frequencies",
    "class_weights",
]
