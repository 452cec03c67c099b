"""Review round 2 of notebooks 00-01: atrous cost, order-independent coverage, precision reasons."""

from __future__ import annotations

import numpy as np

from course_utils import atrous
from course_utils.devices import choose_precision


def test_dense_cost_factor_is_the_square_of_the_removed_stride():
    assert atrous.dense_cost_factor(32) == 1.0
    assert atrous.dense_cost_factor(16) == 4.0
    assert atrous.dense_cost_factor(8) == 16.0


def test_coverage_does_not_depend_on_layer_order():
    for rates in [(1, 3, 9), (1, 2, 4), (2, 4, 8)]:
        fp = atrous.stack_footprint(rates)
        for perm in [rates[::-1], (rates[1], rates[0], rates[2])]:
            assert np.array_equal(atrous.stack_footprint(perm), fp)
    assert atrous.coverage_fraction(atrous.stack_footprint((3, 1, 9))) == 1.0
    assert atrous.receptive_field([(3, 1, r) for r in (3, 1, 9)]) == 27


def test_rates_1_2_4_reach_the_centre_through_one_path_only():
    # 01 says: for rates (1, 2, 4) the centre pixel has exactly one path, the rate-1 argument does not hold
    line = atrous.footprint_1d((1, 2, 4))
    assert line[len(line) // 2] == 1 and line.max() > 1
    line1 = atrous.footprint_1d((1, 1, 1))
    assert line1[len(line1) // 2] == line1.max() > 1  # rate 1: the centre has the most paths


def test_float16_reason_distinguishes_gpus_without_tensor_cores():
    policy, reason = choose_precision("gpu", compute_capability=(6, 1))
    assert policy == "mixed_float16" and "no tensor cores" in reason
    policy, reason = choose_precision("gpu", compute_capability=(7, 5))
    assert policy == "mixed_float16" and "tensor cores" in reason and "no tensor cores" not in reason
