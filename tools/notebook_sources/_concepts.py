"""Cell helpers shared by the generators of the concept notebooks (01-04).

Each ``nbXX_*.py`` script next to this file writes one notebook with nbformat;
execute and store it afterwards with ``python tools/run_notebooks.py --store``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat import v4

from course_utils.environment import COURSE_GIT_URL, colab_badge

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def md(text: str):
    return v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str, hidden: bool = False):
    cell = v4.new_code_cell(textwrap.dedent(text).strip())
    if hidden:
        cell.metadata["jupyter"] = {"source_hidden": True}
    return cell


def solution(text: str, title: str = "Solution"):
    """A "Solution" heading and a collapsed code cell holding the solution."""
    return [
        md(f"#### {title}\n\nThe cell below is collapsed: try the exercise yourself first, then expand it to compare."),
        code(text, hidden=True),
    ]


def colab_cell():
    return code(
        f"""
        import sys

        if "google.colab" in sys.modules:  # on Colab, install the course library first
            %pip install -q "git+{COURSE_GIT_URL}"
        """
    )


def header(filename: str, title: str, body: str):
    return md(f"# {title}\n\n{colab_badge(filename)}\n\n{textwrap.dedent(body).strip()}")


def write(filename: str, cells: list) -> Path:
    nb = v4.new_notebook()
    nb.cells = []
    for cell in cells:
        nb.cells.extend(cell if isinstance(cell, list) else [cell])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    path = NOTEBOOKS / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
