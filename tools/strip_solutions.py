"""Write student copies of the notebooks without their solutions section.

Exercises are cells the student fills in, and the solutions are not part of a
notebook's run: each notebook ends with a section tagged ``solutions`` that says
where they are (``course_utils/exercises/solutions/``). For a hand-out without it::

    python tools/strip_solutions.py --out handout/

Cells tagged ``solutions`` are removed and all outputs are cleared. Collapsed
solution code cells (cell metadata ``jupyter.source_hidden``, the older layout)
are still blanked to ``# your solution``. Each notebook is read from its jupytext
script ``NN_name.py`` when there is one, else from the ``.ipynb``; the copy is an
``.ipynb``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_TAG = "solutions"


def is_solution(cell) -> bool:
    """A collapsed code cell is a solution cell (older layout)."""
    return cell.cell_type == "code" and bool(cell.metadata.get("jupyter", {}).get("source_hidden"))


def is_solutions_section(cell) -> bool:
    """A cell of the solutions section at the end of a notebook."""
    return SOLUTIONS_TAG in cell.metadata.get("tags", [])


def strip(nb) -> int:
    """Remove the solutions section, blank collapsed solution cells, clear outputs; return how many cells went."""
    kept = [cell for cell in nb.cells if not is_solutions_section(cell)]
    removed = len(nb.cells) - len(kept)
    nb.cells = kept
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_solution(cell):
            cell.source = "# your solution"
            cell.metadata.pop("jupyter", None)
            removed += 1
        cell.outputs = []
        cell.execution_count = None
    nb.metadata.pop("jupytext", None)  # a hand-out copy is not paired with a script
    return removed


def read(path: Path):
    """The notebook of ``path`` (``.ipynb`` or ``.py``), from its jupytext script when there is one."""
    script = path.with_suffix(".py")
    if script.is_file():
        import jupytext

        return jupytext.read(script)
    return nbformat.read(path.with_suffix(".ipynb"), as_version=4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the student copies")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = read(path)
        n = strip(nb)
        name = path.with_suffix(".ipynb").name
        nbformat.write(nb, args.out / name)
        print(f"{name}: {n} solution cell(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
