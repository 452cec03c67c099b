"""Deprecated (one release): the model export lives in :mod:`course_utils.deploy.export`."""

__import__("course_utils")._moved(__name__, "course_utils.deploy.export")
