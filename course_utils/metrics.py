"""Segmentation metrics: the confusion matrix and everything computed from it.

Every score in the course comes from one ``num_classes x num_classes`` confusion
matrix ``cm`` whose rows are ground-truth classes and columns predicted classes
(the layout of :func:`sklearn.metrics.confusion_matrix`). Pixels labelled with the
``ignore_index`` (255, "void") never enter it.

From ``cm``:

- IoU of class ``c`` = ``cm[c, c] / (row_c + col_c - cm[c, c])``
  (true positives over the union of "is c" and "predicted c");
- **mean IoU** averages the per-class IoU over the classes that occur, in the
  ground truth *or* in the prediction. A class absent from both has a union of
  0 and an undefined IoU (``nan``); it is left out of the mean. This is the
  convention of ``keras.metrics.MeanIoU`` (which averages over classes with a
  non-zero denominator) and of the PASCAL VOC / Cityscapes evaluation scripts
  when they are run on a subset. A class that occurs only in the prediction
  has IoU 0 and *does* count;
- pixel accuracy = trace / total;
- frequency-weighted IoU weights each class's IoU by its ground-truth share.

:class:`StreamingMeanIoU` is the same computation as a Keras metric that
accumulates the confusion matrix batch by batch, so ``model.fit`` reports
``miou`` / ``val_miou`` over the *whole* epoch rather than an average of
per-batch scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from course_utils.data.format import IGNORE_INDEX

__all__ = [
    "boundary_error_rates",
    "IGNORE_INDEX",
    "confusion_matrix",
    "confusion_counts",
    "label_range_error",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
    "frequency_weighted_iou",
    "summarize",
    "StreamingMeanIoU",
    "precision_recall",
    "effective_label_stride",
    "epoch_to_epoch_noise",
]


def confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    ignore_index: int | None = IGNORE_INDEX,
) -> np.ndarray:
    """Confusion matrix of integer label maps (rows: truth, columns: prediction).

    Args:
        y_true: ground-truth class ids of any shape; ``ignore_index`` marks void.
        y_pred: predicted class ids, same shape as ``y_true``. (Pass
            ``logits.argmax(-1)`` for a model output.)
        num_classes: number of classes ``C``.
        ignore_index: label value left out of the matrix (``None``: none).

    Returns:
        ``int64`` array ``[C, C]``; ``cm[i, j]`` counts pixels of class ``i``
        predicted as ``j``.

    Raises:
        ValueError: when the shapes differ, or a label or prediction lies
            outside ``[0, C)`` (other than ``ignore_index`` in the labels).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"confusion_matrix: labels {y_true.shape} and predictions {y_pred.shape} must have the same "
            "shape; for a model output pass logits.argmax(-1) and labels without a channel axis."
        )
    if num_classes < 1:
        raise ValueError(f"confusion_matrix: num_classes must be >= 1, got {num_classes}.")
    t = y_true.reshape(-1).astype(np.int64)
    p = y_pred.reshape(-1).astype(np.int64)
    if ignore_index is not None:
        keep = t != ignore_index
        t, p = t[keep], p[keep]
    if t.size:
        bad_t = (t < 0) | (t >= num_classes)
        if bad_t.any():
            raise label_range_error(int(t[bad_t][0]), num_classes, ignore_index)
        bad_p = (p < 0) | (p >= num_classes)
        if bad_p.any():
            raise ValueError(
                f"confusion_matrix: predicted class {int(p[bad_p][0])} is outside [0, {num_classes}); "
                "the model has more outputs than the dataset has classes."
            )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def label_range_error(value: int, num_classes: int, ignore_index: int | None) -> ValueError:
    """The error of a label outside ``[0, C)`` that is not void (the NumPy and the device path say the same)."""
    return ValueError(
        f"confusion_matrix: label value {value} is outside [0, {num_classes}) and is not "
        f"the ignore index {ignore_index}; map unknown labels to {IGNORE_INDEX} or fix num_classes."
    )


def confusion_counts(labels, scores, num_classes: int, ignore_index: int | None = IGNORE_INDEX, weights=None):
    """One batch's confusion counts on the device (``keras.ops``): the core under the streaming metric and evaluation.

    :func:`confusion_matrix` is the same count written in NumPy for reading; this one
    runs inside a compiled step, so only the ``C x C`` counts need to reach the host.

    Args:
        labels: int class ids ``[B, H, W]`` (``ignore_index`` marks void).
        scores: ``[B, H, W, C]`` probabilities or logits (the arg-max is taken), or class ids shaped like ``labels``.
        num_classes: ``C``.
        ignore_index: the void label (``None``: none).
        weights: optional per-pixel weights shaped like ``labels``; the counts are then their sums.

    Returns:
        ``(counts, bad, bad_value)``: ``[C, C]`` counts (rows: truth, columns: prediction; int32, or
        the weights' dtype), the number of non-void labels outside ``[0, C)`` (left out of the counts)
        and the largest such label (``-1`` when there is none). Predictions outside ``[0, C)`` are left out.
    """
    c = int(num_classes)
    labels = ops.convert_to_tensor(labels)
    scores = ops.convert_to_tensor(scores)
    if len(scores.shape) == len(labels.shape) + 1:
        scores = ops.argmax(scores, axis=-1)
    t = ops.reshape(ops.cast(labels, "int32"), (-1,))
    p = ops.reshape(ops.cast(scores, "int32"), (-1,))
    keep = ops.ones_like(t, dtype="bool") if ignore_index is None else ops.not_equal(t, ignore_index)
    in_range = ops.logical_and(ops.greater_equal(t, 0), ops.less(t, c))
    bad = ops.logical_and(keep, ops.logical_not(in_range))
    valid = ops.logical_and(ops.logical_and(keep, in_range), ops.logical_and(ops.greater_equal(p, 0), ops.less(p, c)))
    index = ops.where(valid, t * c + p, c * c)  # one overflow bin for everything left out
    if weights is None:
        counts = ops.cast(ops.bincount(index, minlength=c * c + 1)[: c * c], "int32")
    else:
        w = ops.reshape(ops.convert_to_tensor(weights), (-1,))
        w = ops.where(valid, w, ops.zeros_like(w))
        counts = ops.segment_sum(w, index, num_segments=c * c + 1)[: c * c]
    bad_count = ops.sum(ops.cast(bad, "int32"))
    bad_value = ops.max(ops.where(bad, t, -1))
    return ops.reshape(counts, (c, c)), bad_count, bad_value


def _check_cm(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"Expected a square confusion matrix, got shape {cm.shape}.")
    return cm


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU; ``nan`` for a class absent from both truth and prediction."""
    cm = _check_cm(cm)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU over the classes that occur (``nan`` IoUs excluded; see module doc).

    Returns ``nan`` for an empty matrix (every pixel void).
    """
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(cm: np.ndarray) -> float:
    """Share of non-void pixels classified correctly (``nan`` when there are none)."""
    cm = _check_cm(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else float("nan")


def frequency_weighted_iou(cm: np.ndarray) -> float:
    """IoU averaged with each class weighted by its share of ground-truth pixels."""
    cm = _check_cm(cm)
    total = cm.sum()
    if total == 0:
        return float("nan")
    freq = cm.sum(axis=1) / total
    iou = np.nan_to_num(iou_per_class(cm), nan=0.0)
    return float((freq * iou).sum())


def summarize(cm: np.ndarray, class_names: list[str] | None = None) -> dict:
    """All scores of one confusion matrix as a JSON-ready dict."""
    iou = iou_per_class(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(iou))]
    return {
        "miou": mean_iou(cm),
        "pixel_accuracy": pixel_accuracy(cm),
        "fw_iou": frequency_weighted_iou(cm),
        "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
    }


def _count_dtype() -> str:
    """float64 where the backend has it (JAX has it only with ``jax_enable_x64``)."""
    if keras.backend.backend() == "jax":
        import jax

        return "float64" if jax.config.jax_enable_x64 else "float32"
    return "float64"


@keras.saving.register_keras_serializable(package="course_utils")
class StreamingMeanIoU(keras.metrics.Metric):
    """Mean IoU accumulated over an epoch from logits (or probabilities) and int labels.

    ``y_true``: integer labels ``[B, H, W]`` (or ``[B, H, W, 1]``) with
    ``ignore_index`` for void. ``y_pred``: scores ``[B, H, W, C]`` (logits or
    probabilities: the arg-max is the same) or already class ids ``[B, H, W]``.

    The state is a ``C x C`` confusion matrix; :meth:`result` returns the mean
    IoU over classes with a non-zero union, exactly as :func:`mean_iou` does for
    the same matrix and as ``keras.metrics.MeanIoU(ignore_class=255)`` does for
    the same inputs (the mean over an empty matrix is 0, like Keras, so the
    training log never shows ``nan``).

    Labels outside ``[0, C)`` other than ``ignore_index`` are dropped (a compiled
    graph cannot raise); use :func:`confusion_matrix` to check a dataset.

    Written with ``keras.ops`` only (every backend). The counts are float64,
    except under JAX without ``jax_enable_x64`` where they are float32 (exact up
    to 2**24 pixels per cell, then a relative error of about 1e-7: no visible
    change in an IoU).
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = IGNORE_INDEX,
        name: str = "miou",
        from_logits: bool = True,
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.from_logits = bool(from_logits)
        self.total_cm = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype=_count_dtype(),
            name="total_confusion_matrix",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch to the confusion matrix (:func:`confusion_counts`)."""
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == 4 and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, axis=-1)
        state_dtype = self.total_cm.dtype
        weights = ops.ones(ops.shape(y_true), state_dtype)
        if sample_weight is not None:
            sw = ops.cast(ops.convert_to_tensor(sample_weight), state_dtype)
            sw = ops.reshape(sw, tuple(ops.shape(sw)) + (1,) * (len(y_true.shape) - len(sw.shape)))
            weights = weights * ops.broadcast_to(sw, ops.shape(y_true))
        counts, _, _ = confusion_counts(y_true, y_pred, self.num_classes, self.ignore_index, weights=weights)
        self.total_cm.assign_add(counts)

    def result(self):
        """Mean IoU over classes with a non-zero union (0 when the matrix is empty)."""
        cm = ops.convert_to_tensor(self.total_cm)
        tp = ops.diagonal(cm)
        union = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - tp
        present = union > 0
        iou = ops.where(present, tp / ops.where(present, union, ops.ones_like(union)), ops.zeros_like(union))
        n = ops.sum(ops.cast(present, cm.dtype))
        return ops.cast(ops.divide_no_nan(ops.sum(iou), n), "float32")

    def confusion(self) -> np.ndarray:
        """The accumulated confusion matrix as an ``int64`` NumPy array."""
        return np.rint(keras.ops.convert_to_numpy(self.total_cm)).astype(np.int64)

    def reset_state(self):
        """Zero the confusion matrix (Keras calls this at each epoch start)."""
        self.total_cm.assign(ops.zeros(self.total_cm.shape, self.total_cm.dtype))

    def get_config(self) -> dict:
        """Constructor arguments, so saved models reload with this metric."""
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "name": self.name,
            "from_logits": self.from_logits,
            "dtype": self.dtype,
        }


def boundary_error_rates(
    labels: Sequence[np.ndarray], predictions: Sequence[np.ndarray], width: int = 3, ignore_index: int = 255
) -> tuple[float, float, float]:
    """Error rates near label boundaries and away from them.

    A pixel is in the boundary band when a different label value (class or
    void) lies within ``width`` pixels of it. Void pixels are never scored.

    Returns:
        ``(error rate in the band, error rate elsewhere, share of scored pixels in the band)``.
    """
    import cv2

    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}.")
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    wrong_band = n_band = wrong_inner = n_inner = 0
    for label, pred in zip(labels, predictions):
        label = np.asarray(label)
        pred = np.asarray(pred)
        if label.shape != pred.shape:
            raise ValueError(f"label {label.shape} and prediction {pred.shape} differ in size.")
        lab8 = label.astype(np.uint8)
        band = cv2.dilate(lab8, kernel) != cv2.erode(lab8, kernel)
        scored = label != ignore_index
        wrong = (pred != label) & scored
        wrong_band += int((wrong & band).sum())
        n_band += int((scored & band).sum())
        wrong_inner += int((wrong & ~band).sum())
        n_inner += int((scored & ~band).sum())
    total = n_band + n_inner
    if total == 0:
        raise ValueError("No scored (non-void) pixels in the given labels.")
    rate = lambda w, n: (w / n) if n else float("nan")  # noqa: E731
    return rate(wrong_band, n_band), rate(wrong_inner, n_inner), n_band / total


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall of a confusion matrix (rows truth, columns prediction).

    Recall of class ``c`` is ``cm[c, c] / cm[c, :].sum()``: the share of its true pixels found
    (the diagonal of the row-normalised matrix). Precision is ``cm[c, c] / cm[:, c].sum()``: the
    share of the pixels predicted as ``c`` that are ``c`` (the diagonal of the column-normalised
    matrix). IoU is at most the smaller of the two. A class never present in the truth has an
    undefined recall, one never predicted an undefined precision: both are ``nan``.

    >>> p, r = precision_recall(np.array([[8, 2], [6, 4]]))
    >>> p.round(3).tolist(), r.round(3).tolist()
    ([0.571, 0.667], [0.8, 0.4])
    """
    cm = _check_cm(cm).astype(np.float64)
    tp = np.diag(cm)
    predicted, true = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), np.nan)
        recall = np.where(true > 0, tp / np.maximum(true, 1), np.nan)
    return precision, recall


def effective_label_stride(output_stride: int, input_scale: float = 1.0) -> float:
    """Label pixels per logit cell (along one axis) when the model sees images scaled by ``input_scale``.

    The logits of a network of output stride ``OS`` lie on a grid ``OS`` times coarser than
    its *input*. When the input is the image resized by ``input_scale`` and the logits are
    scored against labels at the image's own resolution, one logit cell covers
    ``OS / input_scale`` label pixels: output stride 16 at half size is a stride of 32
    against the labels.

    >>> effective_label_stride(16, 0.5)
    32.0
    """
    if output_stride < 1 or not input_scale > 0:
        raise ValueError(f"need output_stride >= 1 and input_scale > 0, got {output_stride}, {input_scale}.")
    return float(output_stride) / float(input_scale)


def epoch_to_epoch_noise(values: Sequence[float], last: int = 8) -> float:
    """A run's own noise: the median absolute change between consecutive epochs over the last ``last``.

    Near the end of a run the score should barely move; what it still moves from one epoch to the
    next is a first look at how noisy the score is. It is not the noise that decides between two
    trainings: it mixes trend with noise, shrinks as the learning rate goes to 0 and says nothing
    about the seed. For that use the seed-to-seed spread, :func:`course_utils.ablations.noise_threshold`.

    >>> epoch_to_epoch_noise([0.1, 0.5, 0.52, 0.50, 0.53], last=3)
    0.02
    """
    tail = np.asarray(values, dtype=np.float64)[-(last + 1) :] if last >= 1 else np.asarray([])
    if tail.size < 2:
        raise ValueError(f"need at least two epochs (and last >= 1), got {len(values)} values, last={last}.")
    return float(np.round(np.median(np.abs(np.diff(tail))), 12))
