"""Worked solutions of the notebooks' exercises, one module per notebook (``nb01`` ... ``nb05``).

They are deliberately *not* part of a notebook's top-to-bottom run: a student fills in the
exercise cells, and the checkers say "Not attempted yet" until then. ``tests/test_solutions.py``
proves that every solution here passes its checker. To look at one in a notebook::

    from course_utils.exercises.solutions import show
    show("01", "my_atrous_conv1d")
"""

from __future__ import annotations

import importlib
import inspect


def show(notebook: str, name: str | None = None) -> None:
    """Print the source of one solution (``name``) or of all of them for a notebook (``"01"``)."""
    module = importlib.import_module(f"course_utils.exercises.solutions.nb{notebook}")
    print(inspect.getsource(getattr(module, name) if name else module))
