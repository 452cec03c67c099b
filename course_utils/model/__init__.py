"""DeepLabV3 from scratch in Keras 3: ResNet backbones, ASPP, DeepLabV3(+), reports.

- :mod:`~course_utils.model.resnet`: ``build_resnet`` (18/34/50/101, output
  stride 8/16/32, multi-grid), ``resnet_endpoints``, ``load_keras_applications_weights``
- :mod:`~course_utils.model.aspp`: ``aspp`` (inside a graph), ``build_aspp`` (a model)
- :mod:`~course_utils.model.deeplab`: ``build_deeplabv3`` (logits, V3+ decoder)
- :mod:`~course_utils.model.unet`: ``build_unet`` (a small U-Net, for comparison)
- :mod:`~course_utils.model.report`: ``model_report``, ``format_report``
- :mod:`~course_utils.model.layers`: ``ResizeLike``, ``CaffeInputAdapter``
"""

from course_utils.model.aspp import aspp, build_aspp
from course_utils.model.deeplab import BACKBONES, build_deeplabv3, default_aspp_rates
from course_utils.model.layers import CaffeInputAdapter, ResizeLike
from course_utils.model.report import ModelReport, format_report, model_report
from course_utils.model.resnet import (
    build_resnet,
    keras_applications_name,
    load_keras_applications_weights,
    multi_grid_rates,
    resnet_endpoints,
    stage_strides_and_rates,
)
from course_utils.model.unet import build_unet

__all__ = [
    "BACKBONES",
    "CaffeInputAdapter",
    "ModelReport",
    "ResizeLike",
    "aspp",
    "build_aspp",
    "build_deeplabv3",
    "build_resnet",
    "build_unet",
    "default_aspp_rates",
    "format_report",
    "keras_applications_name",
    "load_keras_applications_weights",
    "model_report",
    "multi_grid_rates",
    "resnet_endpoints",
    "stage_strides_and_rates",
]
