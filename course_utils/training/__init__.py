"""The machinery of a training run, one concern per module (the orchestrator is :mod:`course_utils.train`).

- :mod:`~course_utils.training.config`      ``TrainConfig``: everything a run needs besides the dataset and the folder
- :mod:`~course_utils.training.inputs`      the training and validation pipelines of a run
- :mod:`~course_utils.training.recipes`     the recipe table, the optimizer and its learning-rate schedule
- :mod:`~course_utils.training.callbacks`   the recipes' callbacks (crash-safe checkpoint, history, backup, NaN guard)
- :mod:`~course_utils.training.validation`  native-resolution validation and precise BatchNorm statistics
- :mod:`~course_utils.training.precision`   dtype policy, ``tf.distribute`` strategy, synchronized BatchNorm
- :mod:`~course_utils.training.runs`        run folders: never destroy a finished run, resume only a matching one

Import the modules themselves (``from course_utils.training import callbacks``); this package re-exports nothing.
"""
