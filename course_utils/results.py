"""Let a notebook hand its headline numbers to the course runner.

``tools/run_notebooks.py`` executes every notebook and prints one results table.
A notebook contributes to that table by calling :func:`publish`; outside the
runner (in JupyterLab, Colab or under nbval) ``publish`` does nothing visible.

Example::

    from course_utils.results import publish
    publish(test_miou=0.41, images_per_s=12.5)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS_ENV = "COURSE_RESULTS_FILE"


def publish(**values: float | int | str) -> None:
    """Record named values for the runner's table (a no-op outside the runner).

    Values are written as one JSON line to the file named by the environment
    variable ``COURSE_RESULTS_FILE``. Floats are rounded to 4 decimals.
    """
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    clean = {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in values.items()}
    with Path(target).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(clean) + "\n")


def read_published(path: str | os.PathLike) -> dict[str, float | int | str]:
    """Merge every line :func:`publish` wrote to ``path`` (later values win)."""
    merged: dict[str, float | int | str] = {}
    p = Path(path)
    if p.is_file():
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                merged.update(json.loads(line))
    return merged
