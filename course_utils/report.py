"""Deprecated (one release): the tables live in :mod:`course_utils.tables`, the machine status in :mod:`course_utils.devices`."""

__import__("course_utils")._moved(__name__, "course_utils.tables", "course_utils.devices")
