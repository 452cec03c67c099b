"""Test harness shared by the unit tests and the notebook tests (nbval).

- Every kernel nbval starts inherits this process's environment, so setting
  ``COURSE_PROFILE=smoke`` here makes each notebook run in the smoke profile,
  and ``COURSE_DATASET=minidrive`` keeps the "auto" dataset choice on the
  offline dataset the stored outputs were made with.
- TensorFlow writes log noise to stderr that differs between machines; stderr is
  never compared (only stdout, results and displayed data are).
"""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
# Stored outputs were made on MiniDrive; a real dataset prepared on this machine must not change them.
os.environ.setdefault("COURSE_DATASET", "minidrive")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYTHONHASHSEED", "0")


def pytest_collectstart(collector):
    """Skip comparing stderr (and volatile rich outputs) in notebooks."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr", "application/javascript")
