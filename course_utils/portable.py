"""Deprecated (one release): backend-portable evaluation lives in :mod:`course_utils.deploy.portable`."""

__import__("course_utils")._moved(__name__, "course_utils.deploy.portable")
