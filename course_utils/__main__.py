"""``python -m course_utils``: the command line (:mod:`course_utils.cli`)."""

import sys

from course_utils.cli import main

sys.exit(main())
