"""Exercise checkers accept right answers and reject wrong ones with a hint."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import atrous, checks


def test_check_equal_and_close(capsys):
    checks.check_equal(5, 5)
    assert capsys.readouterr().out.strip() == "Correct!"
    with pytest.raises(checks.ExerciseError, match="Hint: think"):
        checks.check_equal(4, 5, hint="think")
    with pytest.raises(checks.ExerciseError, match="empty"):
        checks.check_equal(None, 5)
    checks.check_close([0.1, 0.2], np.array([0.1, 0.2 + 1e-9]))
    with pytest.raises(checks.ExerciseError, match="shape"):
        checks.check_close([1, 2], [1, 2, 3])
    with pytest.raises(checks.ExerciseError, match="differs"):
        checks.check_close([1, 2], [1, 2.5])


def test_check_atrous_conv1d(capsys):
    checks.check_atrous_conv1d(atrous.atrous_conv1d)
    assert "Correct!" in capsys.readouterr().out

    def no_padding_offset(x, kernel, rate):  # a typical mistake: centring ignored
        padded = np.pad(np.asarray(x, float), (0, (len(kernel) - 1) * rate))
        return np.array([sum(kernel[k] * padded[i + k * rate] for k in range(len(kernel))) for i in range(len(x))])

    with pytest.raises(checks.ExerciseError, match="Wrong result"):
        checks.check_atrous_conv1d(no_padding_offset)
    with pytest.raises(checks.ExerciseError, match="raised"):
        checks.check_atrous_conv1d(lambda x, k, r: 1 / 0)


def test_check_receptive_field_and_gridding(capsys):
    layers = [(3, 1, 1), (3, 2, 1), (3, 1, 2)]
    checks.check_receptive_field(atrous.receptive_field(layers), layers)
    with pytest.raises(checks.ExerciseError):
        checks.check_receptive_field(atrous.receptive_field(layers) + 1, layers)
    checks.check_no_gridding([1, 2, 4])
    assert "every pixel seen" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="holes"):
        checks.check_no_gridding([2, 4, 8])
    with pytest.raises(checks.ExerciseError, match="at least 3 layers"):
        checks.check_no_gridding([1, 2])
    with pytest.raises(checks.ExerciseError, match="at least 31x31"):
        checks.check_no_gridding([1, 2, 4], min_field=31)


def test_check_param_count_and_shape():
    layer = keras.layers.Conv2D(8, 3)
    layer.build((None, 5, 5, 4))
    checks.check_param_count(3 * 3 * 4 * 8 + 8, layer)
    with pytest.raises(checks.ExerciseError, match="parameter count"):
        checks.check_param_count(3 * 3 * 4 * 8, layer, hint="bias")
    checks.check_output_shape([4, 8], (4, 8))
    with pytest.raises(checks.ExerciseError):
        checks.check_output_shape((8, 4), (4, 8))
