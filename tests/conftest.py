"""Fixtures shared by the unit tests.

``tiny_dataset(train, val, test, height, width, seed)`` builds a small prepared MiniDrive
once per pytest session for each set of arguments and returns its folder. Treat it as
read-only: a test that changes files copies it first (``shutil.copytree``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Callable[..., Path]:
    """A factory of tiny prepared MiniDrive datasets, cached per argument set for the session."""
    from course_utils.datasets.minidrive import build_minidrive

    built: dict[tuple, Path] = {}

    def make(train: int = 8, val: int = 4, test: int = 4, height: int = 32, width: int = 64, seed: int = 3) -> Path:
        key = (train, val, test, height, width, seed)
        if key not in built:
            folder = tmp_path_factory.mktemp("tiny-minidrive") / "minidrive"
            built[key] = build_minidrive(folder, train, val, test, height, width, seed=seed)
        return built[key]

    return make
