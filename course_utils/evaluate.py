"""Evaluation: whole splits, test-time augmentation and tiled inference.

- :func:`predict_image` turns one image into class probabilities, optionally
  averaging the softmax over several scales and a horizontal flip (test-time
  augmentation, as in the DeepLabV3 paper's multi-scale + flip inference) and
  optionally sliding overlapping tiles over a large image so that memory stays
  bounded by the tile size, not the image size.
- :func:`evaluate_split` runs a model over a prepared split and accumulates one
  confusion matrix, from which mIoU, pixel accuracy and per-class IoU follow
  (:mod:`course_utils.metrics`).
- :func:`load_checkpoint` loads a saved ``.keras`` model with a clear error
  when the file is missing or not a model.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

try:
    import tensorflow as tf
except ImportError:  # JAX or PyTorch without TensorFlow: inference goes through course_utils.deploy.portable
    tf = None

from course_utils import metrics as M
from course_utils.deploy import portable
from course_utils.deploy.portable import tile_windows

__all__ = [
    "EvaluationResult",
    "load_checkpoint",
    "check_num_classes",
    "with_output_stride",
    "tile_windows",
    "predict_proba",
    "predict_image",
    "evaluate_split",
    "evaluate_splits",
    "scoring_kwargs",
    "sample_predictions",
    "save_results",
]


@dataclass
class EvaluationResult:
    """Scores of one model on one split."""

    split: str
    confusion_matrix: np.ndarray
    class_names: list[str]
    num_images: int
    tta_scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def per_class_iou(self) -> np.ndarray:
        """IoU per class (``nan`` where a class is absent from truth and prediction)."""
        return M.iou_per_class(self.confusion_matrix)

    @property
    def miou(self) -> float:
        """Mean IoU over the classes that occur (see :mod:`course_utils.metrics`)."""
        return M.mean_iou(self.confusion_matrix)

    @property
    def pixel_accuracy(self) -> float:
        """Share of correctly classified non-void pixels."""
        return M.pixel_accuracy(self.confusion_matrix)

    @property
    def fw_iou(self) -> float:
        """Frequency-weighted IoU."""
        return M.frequency_weighted_iou(self.confusion_matrix)

    def to_dict(self) -> dict:
        """JSON-ready summary (with the confusion matrix)."""
        out = M.summarize(self.confusion_matrix, self.class_names)
        out.update(
            split=self.split,
            num_images=self.num_images,
            tta_scales=list(self.tta_scales),
            flip=self.flip,
            confusion_matrix=self.confusion_matrix.tolist(),
            **self.extra,
        )
        return out


# ----------------------------------------------------------------------- loading


def load_checkpoint(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model for inference (not compiled).

    Raises:
        FileNotFoundError: the file does not exist (says how to make one).
        ValueError: the file exists but is not a readable Keras model.
    """
    import course_utils.model  # noqa: F401  (registers the course's custom layers)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint {path} not found. Train first (`python -m course_utils train ...` writes "
            "<run-dir>/best.keras) or pass the path of an existing .keras file."
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # zip/HDF5/deserialisation errors have many types
        raise ValueError(
            f"Checkpoint {path} could not be loaded as a Keras model ({type(err).__name__}: {err}). "
            "Pass a .keras file written by model.save() or by the course's training."
        ) from err


def with_output_stride(model: keras.Model, run_config: dict | str | os.PathLike, output_stride: int) -> keras.Model:
    """The same trained DeepLabV3 rebuilt at another output stride (e.g. train at 16, evaluate at 8).

    Changing the output stride changes only strides and dilation rates (ASPP
    rates double from 16 to 8), never the shape of a weight, so the trained
    weights are copied as they are. ``run_config`` is the run's
    ``config.json`` (or its path, or its ``"config"`` dict) that says which
    backbone, multi-grid and decoder the model has.
    """
    from course_utils.model import build_deeplabv3

    if not isinstance(run_config, dict):
        path = Path(run_config)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: rebuilding at another output stride needs the run's config.json "
                "(written by the course's training next to best.keras)."
            )
        run_config = json.loads(path.read_text())
    cfg = run_config.get("config", run_config)
    new = build_deeplabv3(
        int(_num_outputs(model) or run_config["num_classes"]),
        backbone=cfg["backbone"],
        output_stride=int(output_stride),
        multi_grid=cfg.get("multi_grid"),
        image_pooling=bool(cfg.get("image_pooling", True)),
        decoder=bool(cfg.get("decoder", False)),
        input_adapter="caffe" if cfg.get("weights") else None,
    )
    old_w, new_w = model.get_weights(), new.get_weights()
    if len(old_w) != len(new_w) or any(a.shape != b.shape for a, b in zip(old_w, new_w)):
        raise ValueError(
            "The checkpoint does not match the architecture in its config.json; rebuild it with the "
            "backbone and options it was trained with."
        )
    new.set_weights(old_w)
    return new


def _num_outputs(model) -> int | None:
    shape = getattr(model, "output_shape", None)
    if isinstance(shape, (tuple, list)) and shape and isinstance(shape[-1], int):
        return int(shape[-1])
    return None


def check_num_classes(model, num_classes: int, dataset_root: str | os.PathLike) -> None:
    """Raise a clear ``ValueError`` when the model's output channels differ from the dataset's classes."""
    n = _num_outputs(model)
    if n is not None and n != num_classes:
        raise ValueError(
            f"The model predicts {n} classes but {Path(dataset_root) / 'dataset.json'} has {num_classes}: "
            "evaluate it on the dataset it was trained on, or train a model for this dataset."
        )


# -------------------------------------------------------------------- inference

_PROB_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prob_fn(model) -> Callable[[tf.Tensor], tf.Tensor]:
    """``images -> softmax probabilities`` (a traced function for Keras models, cached)."""
    if isinstance(model, keras.Model) and keras.backend.backend() != "tensorflow":
        return _eager_prob_fn(model)
    if isinstance(model, keras.Model):
        fn = _PROB_FNS.get(model)
        if fn is None:
            fn = tf.function(
                lambda x: tf.nn.softmax(tf.cast(model(x, training=False), tf.float32), -1), reduce_retracing=True
            )
            _PROB_FNS[model] = fn
        return fn
    return lambda x: tf.nn.softmax(tf.cast(model(x), tf.float32), -1)


def _eager_prob_fn(model) -> Callable[[tf.Tensor], tf.Tensor]:
    """``images -> softmax probabilities`` for a Keras model of another backend (JAX, PyTorch).

    A ``tf.function`` cannot trace such a model: the batch goes to the model as
    a NumPy array, and the float32 softmax comes back as a TensorFlow tensor, so
    the rest of the evaluation is the same code on every backend.
    """
    ops = keras.ops

    def fn(x):
        logits = model(np.asarray(x, np.float32), training=False)
        return tf.convert_to_tensor(ops.convert_to_numpy(ops.softmax(ops.cast(logits, "float32"), axis=-1)))

    return fn


def _probs_tiled(fn, images: tf.Tensor, tile_size: tuple[int, int], overlap: float) -> tf.Tensor:
    """Average the probabilities of overlapping tiles (memory bounded by one tile)."""
    h, w = int(images.shape[1]), int(images.shape[2])
    th, tw = min(tile_size[0], h), min(tile_size[1], w)
    total = None
    count = np.zeros((1, h, w, 1), np.float32)
    for y in tile_windows(h, th, overlap):
        for x in tile_windows(w, tw, overlap):
            p = fn(images[:, y : y + th, x : x + tw, :]).numpy()
            if total is None:
                total = np.zeros((images.shape[0], h, w, p.shape[-1]), np.float32)
            total[:, y : y + th, x : x + tw] += p
            count[:, y : y + th, x : x + tw] += 1.0
    return tf.convert_to_tensor(total / count)


def predict_proba(
    model,
    images,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    tile_size: tuple[int, int] | None = None,
    overlap: float = 0.25,
) -> np.ndarray:
    """Class probabilities ``[B, H, W, C]`` for a batch of normalised images ``[B, H, W, 3]``.

    For each scale ``s`` the batch is resized to ``round(s * H), round(s * W)``
    (bilinear), run (tile by tile when ``tile_size`` is set and the scaled
    image is larger), turned into probabilities with a softmax, and resized
    back; with ``flip`` the mirrored batch is run too and its output mirrored
    back. The result is the mean of all these probability maps, copied to the
    host as a NumPy array (evaluation keeps them on the device instead, see
    :func:`evaluate_split`). Under a backend other than TensorFlow:
    :func:`course_utils.deploy.portable.predict_proba`.
    """
    if portable.uses_portable_path():
        return portable.predict_proba(model, images, scales, flip, tile_size, overlap)
    return _predict_proba_tensor(model, images, scales, flip, tile_size, overlap).numpy()


def _predict_proba_tensor(
    model,
    images,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    tile_size: tuple[int, int] | None = None,
    overlap: float = 0.25,
) -> tf.Tensor:
    """:func:`predict_proba` without the copy to the host: a float32 tensor on the model's device."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] != 3:
        raise ValueError(f"predict_proba expects images [B, H, W, 3], got shape {images.shape}.")
    if not scales:
        raise ValueError("predict_proba needs at least one scale (e.g. scales=(1.0,)).")
    fn = _prob_fn(model)
    h, w = int(images.shape[1]), int(images.shape[2])
    acc = None
    n = 0
    for s in scales:
        size = (max(1, int(round(h * float(s)))), max(1, int(round(w * float(s)))))
        scaled = images if size == (h, w) else tf.image.resize(images, size, method="bilinear")
        variants = [(scaled, False)] + ([(tf.reverse(scaled, [2]), True)] if flip else [])
        for x, flipped in variants:
            if tile_size is not None and (size[0] > tile_size[0] or size[1] > tile_size[1]):
                p = _probs_tiled(fn, x, tile_size, overlap)
            else:
                p = fn(x)
            if flipped:
                p = tf.reverse(p, [2])
            if size != (h, w):
                p = tf.image.resize(p, (h, w), method="bilinear")
            acc = p if acc is None else acc + p
            n += 1
    return acc / float(n)


def predict_image(
    model,
    image,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    tile_size: tuple[int, int] | None = None,
    overlap: float = 0.25,
    return_probs: bool = False,
) -> np.ndarray:
    """Segment one image.

    Args:
        model: a segmentation model returning logits (or any callable).
        image: ``[H, W, 3]`` normalised to ``[-1, 1]``
            (:func:`course_utils.data.normalize_image`); ``uint8`` RGB is
            normalised here.
        scales: test-time scales; probabilities are averaged (e.g.
            ``(0.75, 1.0, 1.25)``).
        flip: also average the horizontally mirrored image.
        tile_size: ``(h, w)`` of sliding windows for large images; ``None``
            runs the whole image at once.
        overlap: fraction of overlap between neighbouring tiles.
        return_probs: return probabilities ``[H, W, C]`` instead of ids.

    Returns:
        Class ids ``int32 [H, W]`` (or probabilities).
    """
    x = np.asarray(image)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"predict_image expects one RGB image [H, W, 3], got shape {x.shape}.")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 127.5 - 1.0
    if portable.uses_portable_path():
        probs = portable.predict_proba(model, x[None].astype(np.float32), scales, flip, tile_size, overlap)[0]
        return probs if return_probs else probs.argmax(-1).astype(np.int32)
    probs = _predict_proba_tensor(model, x[None].astype(np.float32), scales, flip, tile_size, overlap)[0]
    if return_probs:
        return probs.numpy()
    return tf.argmax(probs, axis=-1, output_type=tf.int32).numpy()  # argmax on the device: only ids travel


# -------------------------------------------------------------------- evaluation


_CONFUSION_FNS: dict = {}


def _confusion_fn(num_classes: int, ignore_index: int | None):
    """:func:`course_utils.metrics.confusion_counts` traced once per ``(C, ignore_index)`` (a ``tf.function``)."""
    key = (int(num_classes), ignore_index)
    fn = _CONFUSION_FNS.get(key)
    if fn is None:
        fn = tf.function(lambda y, p: M.confusion_counts(y, p, *key), reduce_retracing=True)
        _CONFUSION_FNS[key] = fn
    return fn


def _batch_confusion(labels, probs, num_classes: int, ignore_index: int | None) -> np.ndarray:
    """Host ``int64 [C, C]`` counts of one batch; argmax and counting run on the device.

    Raises the same ``ValueError`` as :func:`course_utils.metrics.confusion_matrix`
    for a label outside ``[0, C)`` that is not void.
    """
    if keras.backend.backend() == "tensorflow":
        counts, bad, bad_value = _confusion_fn(num_classes, ignore_index)(labels, probs)
    else:  # keras.ops of another backend cannot run inside a tf.function: count eagerly
        counts, bad, bad_value = (
            np.asarray(keras.ops.convert_to_numpy(v))
            for v in M.confusion_counts(np.asarray(labels), np.asarray(probs), num_classes, ignore_index)
        )
    if int(bad):
        raise M.label_range_error(int(bad_value), num_classes, ignore_index)
    return np.asarray(counts).astype(np.int64)


def evaluate_split(
    model,
    root: str | os.PathLike,
    split: str,
    batch_size: int | None = None,
    tta_scales: Sequence[float] = (1.0,),
    flip: bool = False,
    max_images: int | None = None,
    tile: tuple[int, int] | None = None,
    image_size: tuple[int, int] | None = None,
    overlap: float = 0.25,
) -> EvaluationResult:
    """Confusion matrix and scores of ``model`` on one split of a prepared dataset.

    Args:
        model: logits model (or checkpoint already loaded).
        root: prepared dataset folder.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size: images per forward pass (default: the profile's; forced to
            1 when images keep their native, possibly different, sizes).
        tta_scales, flip: test-time augmentation (see :func:`predict_proba`).
        max_images: evaluate only the first ``max_images`` images.
        tile: sliding-window size for large images (``None``: whole images).
        image_size: resize images and labels to ``(H, W)`` first (``None``:
            native size, the honest setting for reported numbers).
        overlap: tile overlap.
    """
    from course_utils import data
    from course_utils.config import get_profile
    from course_utils.datasets.writer import check_prepared

    info = data.load_info(root)
    check_num_classes(model, info.num_classes, root)
    if not info.counts or split in info.counts:
        check_prepared(root, [split], info.num_classes)  # a label value neither a class nor void: names the file
    if batch_size is None:
        batch_size = get_profile().batch_size
    if image_size is None and info.image_size is None:
        batch_size = 1
    if portable.uses_portable_path():  # a JAX or PyTorch model cannot run inside tf.data / tf.function
        cm, n = portable.confusion_on_split(
            model, root, split, batch_size, tta_scales, flip, max_images, tile, image_size, overlap
        )
        return EvaluationResult(split, cm, list(info.classes), n, tuple(float(s) for s in tta_scales), bool(flip))
    ds = data.make_dataset(root, split, batch_size, training=False, image_size=image_size, max_images=max_images)
    cm = np.zeros((info.num_classes, info.num_classes), np.int64)
    n = 0
    for images, labels in ds:
        # probabilities, argmax and the confusion update stay on the device; only C x C counts come back
        probs = _predict_proba_tensor(model, images, tta_scales, flip, tile, overlap)
        cm += _batch_confusion(labels, probs, info.num_classes, info.ignore_index)
        n += int(images.shape[0])
    return EvaluationResult(split, cm, list(info.classes), n, tuple(float(s) for s in tta_scales), bool(flip))


def scoring_kwargs(config, scales: Sequence[float] = (1.0,)) -> dict:
    """Keyword arguments of :func:`evaluate_split` that score a run's model as it was validated.

    A run with a fixed ``eval_size`` sees its images resized to it; a run with
    an ``input_scale`` sees them resized by that factor and is scored at the
    labels' native resolution. ``scales`` are test-time scales relative to that.

    Args:
        config: the run's :class:`course_utils.train.TrainConfig`.
        scales: relative test-time scales (``(1.0,)``: as in training).
    """
    if getattr(config, "eval_size", None):
        return {"image_size": tuple(config.eval_size), "tta_scales": tuple(float(s) for s in scales)}
    factor = float(getattr(config, "input_scale", 1.0) or 1.0)
    return {"tta_scales": tuple(float(s) * factor for s in scales)}


def evaluate_splits(
    model, root, splits: Sequence[str] = ("train", "val", "test"), **kwargs
) -> dict[str, EvaluationResult]:
    """:func:`evaluate_split` for each split present in the dataset (others are skipped with a note)."""
    from course_utils import data

    info = data.load_info(root)
    present = info.counts or {}
    results = {}
    for split in splits:
        if present and split not in present:
            print(f"Split {split!r} is not in {Path(root) / 'dataset.json'} (has {sorted(present)}); skipped.")
            continue
        results[split] = evaluate_split(model, root, split, **kwargs)
    return results


def sample_predictions(
    model, root: str | os.PathLike, split: str = "val", n: int = 4, image_size: tuple[int, int] | None = None, **kwargs
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``(images, labels, predictions)`` of the first ``n`` images, for :func:`plotting.plot_qualitative`.

    ``kwargs`` go to :func:`predict_proba` (``scales``, ``flip``...); ``tta_scales`` is
    accepted for ``scales``, so :func:`scoring_kwargs` can be passed as is.
    """
    from course_utils import data

    if "tta_scales" in kwargs:
        kwargs["scales"] = kwargs.pop("tta_scales")

    info = data.load_info(root)
    check_num_classes(model, info.num_classes, root)
    ds = data.make_dataset(root, split, 1, training=False, image_size=image_size, max_images=n)
    images, labels, preds = [], [], []
    for x, y in ds:
        images.append(x[0].numpy())
        labels.append(y[0].numpy())
        probs = _predict_proba_tensor(model, x, **kwargs)[0]
        preds.append(tf.argmax(probs, axis=-1, output_type=tf.int32).numpy())
    return images, labels, preds


def save_results(results: dict[str, EvaluationResult], path: str | os.PathLike, **meta) -> Path:
    """Write ``{split: result.to_dict()}`` (plus ``meta``) as JSON, atomically (never half a file)."""
    from course_utils.safe_io import atomic_write_text

    path = Path(path)
    payload = {"meta": meta, "splits": {k: v.to_dict() for k, v in results.items()}}
    atomic_write_text(path, json.dumps(payload, indent=2))
    return path
