"""Write student copies of the notebooks without the solution cells.

Solutions sit in collapsed code cells (cell metadata ``jupyter.source_hidden``)
right below each exercise, so that the stored notebooks, and the tests, prove
them right. For a hand-out without them::

    python tools/strip_solutions.py --out handout/

Each solution cell is replaced by an empty code cell (``# your solution``) and
all outputs are cleared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def is_solution(cell) -> bool:
    """A collapsed code cell is a solution cell."""
    return cell.cell_type == "code" and bool(cell.metadata.get("jupyter", {}).get("source_hidden"))


def strip(nb) -> int:
    """Blank the solution cells and clear outputs in place; return how many were removed."""
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_solution(cell):
            cell.source = "# your solution"
            cell.metadata.pop("jupyter", None)
            removed += 1
        cell.outputs = []
        cell.execution_count = None
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the student copies")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        n = strip(nb)
        nbformat.write(nb, args.out / path.name)
        print(f"{path.name}: {n} solution cell(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
