"""Checkers of notebook 09 (beyond DeepLabV3); the worked solutions are :mod:`course_utils.exercises.solutions.nb09`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course_utils.exercises.core import (
    ExerciseError,
    check_close,
    check_equal,
    correct,
    is_empty,
    not_attempted,
    stub_result,
)

__all__ = ["check_decoder_stride", "check_colorize", "check_export_difference", "head_report", "check_head_macs"]


def check_decoder_stride(answer: int, model) -> bool:
    """Check the output stride of the low-level features a DeepLabV3+ decoder uses."""
    layer = model.get_layer("decoder_low_conv")
    in_h = model.input_shape[1]
    feat_h = layer.input.shape[1]
    if in_h is None or feat_h is None:
        raise ExerciseError("Build the model with a fixed input_shape (e.g. (64, 128, 3)) for this check.")
    return check_equal(
        answer,
        int(round(in_h / feat_h)),
        what="output stride",
        hint="compare the input height with the height of the decoder's low-level input (stage 1).",
    )


def check_colorize(fn: Callable[[np.ndarray, Sequence[Sequence[int]]], np.ndarray], palette, seed: int = 0) -> bool:
    """Check ``fn(ids, palette) -> RGB uint8`` against :func:`course_utils.plotting.colorize` (void is black)."""
    from course_utils.plotting import colorize

    rng = np.random.default_rng(seed)
    n = len(palette)
    ids = rng.integers(0, n, size=(5, 7))
    ids_void = ids.copy()
    ids_void[0, :] = 255
    for case in (ids, ids_void):
        got = stub_result(fn, case, palette)
        if got is None:
            return not_attempted("replace `raise NotImplementedError` with your code and return the RGB image")
        got = np.asarray(got)
        want = colorize(case, palette)
        if got.shape != want.shape or not np.array_equal(got.astype(np.int64), want.astype(np.int64)):
            raise ExerciseError(
                "The colours differ from the palette lookup (or the shape is wrong: expected "
                f"{want.shape}).\nHint: np.asarray(palette, np.uint8)[ids]; paint 255 black."
            )
    return correct()


def check_export_difference(answer: float, model, exported_dir, image: np.ndarray) -> bool:
    """Check the largest absolute logit difference between a Keras model and its exported SavedModel."""
    import tensorflow as tf

    if is_empty(answer):
        return not_attempted("set `max_difference` (it is still None)")
    reloaded = tf.saved_model.load(str(exported_dir))
    x = np.asarray(image, np.float32)[None]
    diff = float(np.max(np.abs(np.asarray(reloaded.serve(x)) - np.asarray(model(x, training=False)))))
    ok = check_close(
        float(answer),
        diff,
        rtol=1e-3,
        atol=1e-6,
        what="largest difference",
        hint="np.max(np.abs(reloaded.serve(x) - model(x))) for one image batch x",
    )
    if diff > 1e-3:
        raise ExerciseError(f"The exported model differs from the Keras model by {diff:.3g}: export it again.")
    return ok


def head_report(feature_hw: Sequence[int], num_classes: int, channels: int = 256, factor: int = 16, seed_order=True):
    """:func:`course_utils.model.model_report` of a classifier head on a ``channels``-deep feature map.

    ``seed_order=True``: the seed's head, bilinear upsampling by ``factor`` first, then the 1x1
    classifier at full resolution; ``False``: the course's, the 1x1 classifier on the feature map, then
    the upsampling of ``num_classes`` channels.
    """
    import keras

    from course_utils.model import model_report

    inputs = keras.Input((int(feature_hw[0]), int(feature_hw[1]), channels))
    up = keras.layers.UpSampling2D(factor, interpolation="bilinear", name="upsample")
    conv = keras.layers.Conv2D(num_classes, 1, name="classifier")
    outputs = conv(up(inputs)) if seed_order else up(conv(inputs))
    name = "seed_head" if seed_order else "course_head"
    return model_report(keras.Model(inputs, outputs, name=name), (int(feature_hw[0]), int(feature_hw[1]), channels))


def check_head_macs(answer: int, feature_hw: Sequence[int], num_classes: int, channels: int = 256, factor: int = 16):
    """Check the multiply-accumulates of the seed's head (upsample, then the 1x1 classifier at full resolution)."""
    if is_empty(answer):
        return not_attempted("set `answer_4` (it is still None)")
    seed = head_report(feature_hw, num_classes, channels, factor, seed_order=True).macs
    course = head_report(feature_hw, num_classes, channels, factor, seed_order=False).macs
    if int(answer) == course:
        raise ExerciseError(
            "That is the course's head, whose classifier runs on the small feature map.\n"
            "Hint: after the upsampling the 1x1 convolution runs at every pixel of the image."
        )
    ok = check_equal(
        int(answer),
        seed,
        what="number of multiply-accumulates",
        hint="(factor x H) x (factor x W) positions, each a 1x1 convolution of `channels` inputs to "
        "`num_classes` outputs (the bias is not a multiply-accumulate).",
    )
    print(
        f"the course's order needs {course:,}: {seed // max(course, 1)}x fewer, for the same logits (bilinear upsampling and a 1x1 convolution are both linear, so they commute)."
    )
    return ok
