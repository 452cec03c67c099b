"""Data parallel training with keras.distribution on JAX: two processes train as one process does.

The pytest process runs Keras on TensorFlow, so the JAX runs are subprocesses
(``course_utils.training.parallel.compare_runs``): the CPU is split into devices with
``XLA_FLAGS=--xla_force_host_platform_device_count``, and two processes join
through ``keras.distribution.initialize`` on a local coordinator (gloo
collectives). Skipped where JAX is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from course_utils.training import parallel


def test_plan_splits_the_global_batch_and_scales_the_learning_rate():
    p = parallel.plan(global_batch=16, replicas=4, processes=2, base_lr=0.01, base_batch=8)
    assert (p.per_replica, p.per_process, p.learning_rate) == (4, 8, 0.02)
    assert "synchronised" in p.describe() and "per replica      4 images" in p.describe()
    assert parallel.plan(8, 2).learning_rate == 1e-3  # no base batch: no scaling


def test_uneven_splits_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"global batch of 10 does not split over 4 replicas: use a multiple of 4"):
        parallel.per_replica_batch(10, 4)
    with pytest.raises(ValueError, match="do not split over"):
        parallel.plan(8, replicas=3, processes=2)


def test_process_share_gives_each_process_its_rows_of_every_global_batch():
    batches = np.arange(3 * 4).reshape(3, 4)  # 3 steps of a global batch of 4 (sample ids)
    p0, p1 = (parallel.process_share(batches, pid, 2) for pid in (0, 1))
    assert p0.tolist() == [0, 1, 4, 5, 8, 9] and p1.tolist() == [2, 3, 6, 7, 10, 11]
    # fed with batch_size 2, step k of the two processes together is global batch k
    for k in range(3):
        assert sorted([*p0[2 * k : 2 * k + 2], *p1[2 * k : 2 * k + 2]]) == batches[k].tolist()


def test_keras_distribution_needs_the_jax_backend():
    with pytest.raises(RuntimeError, match="needs the JAX backend"):
        parallel.use_data_parallel()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install 'jax[cpu]')")
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    result = parallel.compare_runs(tmp_path, steps=3, global_batch=4)
    runs = result["runs"]
    assert runs["one device"]["devices"] == 1
    assert runs["2 devices, 1 process"]["devices"] == 2 and runs["2 devices, 1 process"]["processes"] == 1
    assert runs["2 processes (process 0)"]["processes"] == 2 and runs["2 processes (process 1)"]["devices"] == 2
    assert len(runs["one device"]["losses"]) == 3
    assert runs["one device"]["losses"][0] != runs["one device"]["losses"][-1]  # it trained
    for name, diff in result["max_abs_diff"].items():
        # the weights include BatchNorm's moving mean and variance: they equal the one-device run's, the
        # statistics of all 4 images of each step, not of the 2 a process or a device holds
        assert diff["losses"] < 1e-5 and diff["weights"] < 1e-5, (name, diff)
