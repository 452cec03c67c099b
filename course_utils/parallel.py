"""Deprecated (one release): data-parallel training lives in :mod:`course_utils.training.parallel`."""

__import__("course_utils")._moved(__name__, "course_utils.training.parallel")
