"""The notebooks' exercises: one checker module and one solution module per notebook.

- :mod:`~course_utils.exercises.core`       the exercise contract and the generic checkers
- :mod:`~course_utils.exercises.nb00` ... ``nb09``  the checkers of each notebook
- :mod:`~course_utils.exercises.solutions`  ``nb00`` ... ``nb09``: the worked solutions, and :func:`show`

Declared API (what a notebook calls as ``exercises.<name>``): the generic checkers of
:mod:`~course_utils.exercises.core`. A notebook imports its own checkers as
``from course_utils.exercises import nb01 as ex``.
"""

from course_utils.exercises.core import (
    CORRECT,
    NOT_ATTEMPTED,
    ExerciseError,
    check_close,
    check_equal,
    check_function,
    check_output_shape,
    check_param_count,
    compare_with_reference,
    correct,
    not_attempted,
)

__all__ = [
    "CORRECT",
    "NOT_ATTEMPTED",
    "ExerciseError",
    "check_close",
    "check_equal",
    "check_function",
    "check_output_shape",
    "check_param_count",
    "compare_with_reference",
    "correct",
    "not_attempted",
]
