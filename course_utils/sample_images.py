"""Deprecated (one release): the painted scene lives in :mod:`course_utils.data.sample_images`."""

__import__("course_utils")._moved(__name__, "course_utils.data.sample_images")
