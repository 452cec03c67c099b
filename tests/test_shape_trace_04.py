"""The shape trace of notebook 04: ``model.report.stage_trace`` and ``exercise_updates_a.check_shape_trace``."""

from __future__ import annotations

import pytest

from course_utils.checks import ExerciseError
from course_utils.exercises import updates_a as ex
from course_utils.model import build_deeplabv3
from course_utils.model.report import stage_trace


@pytest.fixture(scope="module")
def model8():
    return build_deeplabv3(7, backbone="resnet18", output_stride=8, multi_grid=(1, 2, 4))


def test_stage_trace_on_an_odd_input(model8):
    trace = stage_trace(model8, (90, 75, 3))
    assert trace["stem"] == (4, 1, (23, 19))  # 90x75 -> 45x38 (conv) -> 23x19 (pool): ceil each time
    assert trace["stage2"] == (8, 1, (12, 10))
    assert trace["stage3"] == (8, 2, (12, 10)) and trace["stage4"] == (8, 4, (12, 10))
    assert trace["aspp"] == (8, (12, 24, 36), (12, 10))
    assert trace["logits"] == (90, 75)


def test_shape_trace_check(model8, capsys):
    ex.check_shape_trace(None, model8, (90, 75))
    assert "Not attempted" in capsys.readouterr().out
    blank = {k: (None, None, None) for k in ex.TRACE_KEYS[:-1]} | {"logits": None}
    ex.check_shape_trace(blank, model8, (90, 75))
    assert "Not attempted" in capsys.readouterr().out
    answer = ex.solution_shape_trace(model8, (90, 75))
    ex.check_shape_trace(answer, model8, (90, 75))
    assert "Correct" in capsys.readouterr().out
    floor = dict(answer, stem=(4, 1, (22, 18)))
    with pytest.raises(ExerciseError, match="ceil"):
        ex.check_shape_trace(floor, model8, (90, 75))
    os16 = dict(answer, stage4=(16, 1, (6, 5)))
    with pytest.raises(ExerciseError, match="output stride"):
        ex.check_shape_trace(os16, model8, (90, 75))
    with pytest.raises(ExerciseError, match="ResizeLike"):
        ex.check_shape_trace(dict(answer, logits=(12, 10)), model8, (90, 75))
