"""The backend-agnostic inference path (course_utils.deploy.portable) gives what the TensorFlow path gives.

Both run here under TensorFlow (the portable path is what JAX and PyTorch
take; tests/test_all_backends.py runs it there).
"""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import evaluate
from course_utils.datasets.minidrive import build_minidrive
from course_utils.deploy import portable
from course_utils.model import build_deeplabv3


@pytest.fixture(scope="module")
def model():
    return build_deeplabv3(7, backbone="resnet18", aspp_filters=16, output_stride=16)


def test_probabilities_match_the_tensorflow_path(model):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 40, 56, 3)).astype("float32")
    for kwargs in ({}, {"scales": (0.75, 1.0), "flip": True}, {"tile_size": (32, 32)}):
        expected = evaluate.predict_proba(model, x, **kwargs)
        got = portable.predict_proba(model, x, **kwargs)
        assert got.shape == expected.shape == (2, 40, 56, 7)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_split_scores_match_the_tensorflow_path(model, tmp_path):
    root = build_minidrive(tmp_path / "minidrive", 2, 3, 0, 32, 64, seed=3)
    expected = evaluate.evaluate_split(model, root, "val", batch_size=2)
    cm, n = portable.confusion_on_split(model, root, "val", batch_size=2)
    assert n == expected.num_images == 3
    np.testing.assert_array_equal(cm, expected.confusion_matrix)


def test_the_portable_path_is_taken_off_tensorflow_only():
    assert portable.uses_portable_path() is False  # this process runs Keras on TensorFlow
