"""Deprecated (one release): the evidence helpers live in :mod:`course_utils.training.evidence`."""

__import__("course_utils")._moved(__name__, "course_utils.training.evidence")
