"""Library functions behind the evidence of notebooks 02 and 03 (review round 2)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import atrous
from course_utils.model.resnet import dense_equivalence_error
from course_utils.plotting import plot_feature_grids
from course_utils.sample_images import street_scene


@pytest.mark.parametrize("fields", [None, {"rate 6: 208 px": 208}])
def test_plot_feature_grids_is_a_pyplot_figure(fields):
    """plt.show() in a notebook only displays figures registered with pyplot."""
    plt.close("all")
    fig = plot_feature_grids(street_scene(64, 128), (32, 16), fields=fields)
    assert fig.number in plt.get_fignums()
    assert len(fig.axes) == 2 + (1 if fields else 0)
    plt.close(fig)


def test_off_centre_taps_get_no_gradient_on_a_small_map():
    grads = atrous.tap_weight_gradients(8, 18)
    assert grads.shape == (3, 3)
    assert grads[1, 1] > 0
    off_centre = grads.copy()
    off_centre[1, 1] = 0
    assert np.all(off_centre == 0)


def test_taps_on_one_axis_and_large_maps():
    wide = atrous.tap_weight_gradients((8, 30), 12)  # 8 rows: vertical taps out; 30 columns: horizontal in
    assert np.all(wide[[0, 2]] == 0) and np.all(wide[1] > 0)
    assert np.all(atrous.tap_weight_gradients(33, 18) > 0)  # the paper's map: every tap learns somewhere


def test_bottleneck_dilation_is_the_dense_plain_network():
    err = dense_equivalence_error(50, output_stride=16, input_hw=(128, 128))
    assert err["max_abs_error"] <= 1e-5 * err["scale"]


def test_basic_unit_dilation_is_not_the_dense_plain_network():
    """The library dilates a basic unit's formerly strided conv1: not the same function (notebook 02, section 5)."""
    err = dense_equivalence_error(18, output_stride=16, input_hw=(128, 128))
    assert err["interior_max_abs_error"] > 1e-3 * err["scale"]


def test_nb03_exercise_1_solution_is_the_33x33_answer():
    from course_utils.exercises.updates_a import all_centre_rate
    from course_utils.solutions import nb03

    assert (
        nb03.answer_1
        == all_centre_rate(33)
        == min(r for r in range(1, 200) if atrous.valid_weight_counts(33, r) == {1: 1.0})
    )
