"""course_utils: the small library behind the *DeepLabV3 from scratch* course.

Modules (import them directly, e.g. ``from course_utils import data``):

- ``profiles``  run profiles (smoke / cpu / gpu) read from ``COURSE_PROFILE``
- ``paths``     where datasets and runs live
- ``atrous``    a readable NumPy atrous convolution and receptive-field helpers
- ``data``      the prepared dataset format and the tf.data input pipeline
- ``datasets``  builders/preparers for MiniDrive, CamVid, IDD and Cityscapes
- ``model``     ResNet-18/34/50/101, ASPP, DeepLabV3 and V3+ in Keras 3
- ``metrics``   confusion matrix, IoU, mIoU and a streaming Keras metric
- ``train``     losses, recipes, callbacks and the training loop
- ``evaluate``  evaluation, test-time augmentation, tiled inference
- ``plotting``  figures used across the notebooks
- ``report``    tables and system status
- ``widgets``   ipywidgets explorers for the concept notebooks
- ``checks``    exercise checkers used by the notebooks
- ``sample_images`` a painted street scene for the concept notebooks
- ``baselines`` the per-pixel colour classifier baseline
- ``environment`` version, GPU and dataset checks (00_setup)
- ``results``   headline numbers a notebook hands to the course runner
"""

__version__ = "0.1.0"


def _moved(old: str, *new: str) -> None:
    """Make module ``old`` an alias of ``new`` (one module) or a view of several, with a DeprecationWarning.

    Old module paths that saved notebooks import stay for one release as two-line shims
    calling this; the course's own code imports the new homes.
    """
    import importlib
    import sys
    import warnings

    warnings.warn(
        f"{old} has moved to {' / '.join(new)}; import it from there (the old path goes in the next release).",
        DeprecationWarning,
        stacklevel=3,
    )
    targets = [importlib.import_module(name) for name in new]
    if len(targets) == 1:
        sys.modules[old] = targets[0]
        return

    def __getattr__(name: str):
        for target in targets:
            if hasattr(target, name):
                return getattr(target, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it has moved to {' / '.join(new)})")

    sys.modules[old].__getattr__ = __getattr__  # type: ignore[method-assign]


def _moved_names(old: str, names: dict[str, str]):
    """A module ``__getattr__`` that serves names moved out of module ``old`` (``{name: "module:attr"}``) for one release."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        import importlib
        import warnings

        module, _, attr = names[name].partition(":")
        warnings.warn(
            f"{old}.{name} has moved to {module}.{attr}; use it from there.", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(module), attr)

    return __getattr__
