"""Deprecated (one release): validation lives in :mod:`course_utils.training.validation`."""

__import__("course_utils")._moved(__name__, "course_utils.training.validation")
