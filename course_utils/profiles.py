"""Deprecated (one release): the run profiles live in :mod:`course_utils.config`."""

__import__("course_utils")._moved(__name__, "course_utils.config")
