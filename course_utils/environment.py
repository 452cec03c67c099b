"""Deprecated (one release): this module is now part of :mod:`course_utils.notebook`."""

__import__("course_utils")._moved(__name__, "course_utils.notebook")
