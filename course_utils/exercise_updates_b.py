"""Deprecated (one release): the exercise checkers lives in :mod:`course_utils.exercises.updates_b`."""

__import__("course_utils")._moved(__name__, "course_utils.exercises.updates_b")
