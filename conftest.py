"""Test harness shared by the unit tests and the notebook tests (nbval).

- Every kernel nbval starts inherits this process's environment, so setting
  ``COURSE_PROFILE=smoke`` here makes each notebook run in the smoke profile,
  and ``COURSE_DATASET=minidrive`` keeps the "auto" dataset choice on the
  offline dataset the stored outputs were made with.
- TensorFlow writes log noise to stderr that differs between machines; stderr is
  never compared (only stdout, results and displayed data are).
- ``make test`` runs the suite on several processes (pytest-xdist, ``--dist
  loadgroup``): each test module stays on one process, and the notebooks run on
  one process in their order (07-09 reuse the run notebook 06 trains), together
  with the tests that write into the checkout's ``data/`` and ``runs/`` folders.
"""

from __future__ import annotations

import os

import pytest

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


# Tests that write into the checkout's data/ or runs/ folders, as the notebooks do: never beside them.
_SHARED_FOLDER_MODULES = ("test_foundation.py",)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """Put the notebooks, in order, and the tests sharing their folders into one xdist group.

    The group is the longest stretch of the suite, so it is moved to the front:
    its process starts on it at once while the other processes share the rest.
    """
    grouped = [it for it in items if it.path.suffix == ".ipynb" or it.path.name in _SHARED_FOLDER_MODULES]
    for item in grouped:
        item.add_marker(pytest.mark.xdist_group("checkout-folders"))
    chosen = set(map(id, grouped))
    items[:] = grouped + [it for it in items if id(it) not in chosen]


def pytest_collection_finish(session):
    """Refuse to run the notebooks split over processes (a pytest-xdist that lost the groups)."""
    if getattr(session.config.option, "loadgroup", False) and any(
        it.path.suffix == ".ipynb" and "@" not in it.nodeid for it in session.items
    ):
        raise pytest.UsageError(
            "pytest-xdist did not keep the notebooks in one group (pytest 9.2 or later with pytest-xdist 3.8?): "
            "install the versions pyproject.toml names (pip install -e '.[dev]') or run `make test PARALLEL=`."
        )
