"""Deprecated (one release): the checkers live in :mod:`course_utils.exercises` (one module per notebook)."""

__import__("course_utils")._moved(
    __name__, *(["course_utils.exercises.core"] + [f"course_utils.exercises.nb{n:02d}" for n in range(5)])
)
