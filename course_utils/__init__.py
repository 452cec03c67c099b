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
