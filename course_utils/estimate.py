"""Deprecated (one release): the estimate lives in :mod:`course_utils.model.estimate`."""

__import__("course_utils")._moved(__name__, "course_utils.model.estimate")
