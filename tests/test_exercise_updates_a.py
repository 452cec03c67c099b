"""The new exercises of notebooks 00 and 02: solutions pass, wrong answers get a useful hint."""

from __future__ import annotations

import pytest

from course_utils.checks import ExerciseError
from course_utils.exercises import updates_a as ex
from course_utils.train import TrainConfig


def test_optimizer_steps_solution_passes(capsys):
    config = TrainConfig.from_profile("cpu", dataset="camvid")
    answer = ex.optimizer_steps(367, config.batch_size, config.epochs, config.steps_per_epoch)
    assert ex.check_optimizer_steps(answer, config, 367) is None
    assert "Correct!" in capsys.readouterr().out


def test_optimizer_steps_untouched_and_wrong(capsys):
    config = TrainConfig.from_profile("cpu", dataset="camvid")
    assert ex.check_optimizer_steps(None, config, 367) is None
    assert "Not attempted yet" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="round the batches per epoch up"):
        ex.check_optimizer_steps(config.epochs * (367 // config.batch_size), config, 367)
    with pytest.raises(ExerciseError, match="That is one epoch"):
        ex.check_optimizer_steps(-(-367 // config.batch_size), config, 367)
    profile_epochs = TrainConfig.from_profile("cpu").epochs
    with pytest.raises(ExerciseError, match="effective"):
        ex.check_optimizer_steps(profile_epochs * -(-367 // config.batch_size), config, 367)


def test_optimizer_steps_respects_steps_per_epoch():
    assert ex.optimizer_steps(1000, 4, 3, steps_per_epoch=2) == 6


@pytest.mark.parametrize("case", ex.PLAN_CASES)
def test_output_stride_plan_solution_equals_the_library(case):
    assert ex.output_stride_plan(*case) == ex._library_plan(*case)


def test_output_stride_plan_checker(capsys):
    assert ex.check_output_stride_plan(ex.output_stride_plan) is None
    assert "Correct!" in capsys.readouterr().out

    def stub(output_stride, units, multi_grid):
        raise NotImplementedError

    ex.check_output_stride_plan(stub)
    assert "Not attempted yet" in capsys.readouterr().out

    def no_multi_grid(output_stride, units, multi_grid):
        return ex.output_stride_plan(output_stride, units, None)

    with pytest.raises(ExerciseError, match="stage 4: rates"):
        ex.check_output_stride_plan(no_multi_grid)

    def every_unit_strides(output_stride, units, multi_grid):
        plan = ex.output_stride_plan(output_stride, units, multi_grid)
        return [[(stage[0][0], r) for _, r in stage] for stage in plan]

    with pytest.raises(ExerciseError, match="strides"):
        ex.check_output_stride_plan(every_unit_strides)

    def wrong_shape(output_stride, units, multi_grid):
        return [[(1, 1)]] * 4

    with pytest.raises(ExerciseError, match="4 stages"):
        ex.check_output_stride_plan(wrong_shape)


@pytest.mark.parametrize("size", [5, 33, 65])
def test_all_centre_rate_is_the_smallest_such_rate(size):
    from course_utils import atrous

    smallest = min(r for r in range(1, 200) if atrous.valid_weight_counts(size, r) == {1: 1.0})
    assert ex.all_centre_rate(size) == smallest


def test_nb03_exercise_1_solution_passes_the_notebooks_check():
    from course_utils import atrous, checks

    smallest = min(r for r in range(1, 200) if atrous.valid_weight_counts(33, r) == {1: 1.0})  # as in notebook 03
    assert checks.check_equal(ex.NB03_ANSWER_1, smallest)


# ----------------------------------------------------------------- notebook 01


def test_erf_growth_prediction(capsys):
    assert ex.check_erf_growth_prediction(None) is None
    assert "Not attempted yet" in capsys.readouterr().out
    assert ex.check_erf_growth_prediction(2) is None
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="square root"):
        ex.check_erf_growth_prediction(4)
    with pytest.raises(ExerciseError, match="neither 2 nor 4"):
        ex.check_erf_growth_prediction(3)


def test_full_coverage_prediction(capsys):
    candidates = [(2, 2, 2), (2, 4, 8), (1, 2, 4)]
    assert ex.check_full_coverage_prediction(None, candidates) is None
    assert "Not attempted yet" in capsys.readouterr().out
    assert ex.check_full_coverage_prediction([(1, 2, 4)], candidates) is None
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="first rate must be 1"):
        ex.check_full_coverage_prediction([(1, 2, 4), (2, 4, 8)], candidates)
    with pytest.raises(ExerciseError, match="list of rate tuples"):
        ex.check_full_coverage_prediction([3], candidates)


def test_rate_after_removed_stride(capsys):
    from course_utils import atrous

    rate = ex.rate_after_removed_stride()
    assert rate == ex.STEM_AND_CONV[1][1]  # the removed stride: DeepLab's conversion rule
    changed = [(7, 2, 1), (3, 1, 1), (3, 1, rate)]
    assert atrous.receptive_field(changed) == atrous.receptive_field(ex.STEM_AND_CONV)
    assert ex.check_rate_after_removed_stride(None) is None
    assert "Not attempted yet" in capsys.readouterr().out
    assert ex.check_rate_after_removed_stride(rate) is None
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="twice as many"):
        ex.check_rate_after_removed_stride(1)


def test_pooling_branch_with_a_hand_written_resize_passes():
    from course_utils import checks

    assert checks.check_pooling_branch(ex.pooling_branch_own_resize)
