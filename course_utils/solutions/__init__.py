"""Deprecated (one release): the solutions live in :mod:`course_utils.exercises.solutions`."""

__import__("course_utils")._moved(__name__, "course_utils.exercises.solutions")
