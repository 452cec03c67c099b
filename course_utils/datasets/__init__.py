"""Dataset builders and preparers that all write the course's prepared format.

- :mod:`.minidrive`   procedural offline road scenes (7 IDD level-1 classes)
- :mod:`.camvid`      CamVid, SegNet split (11 classes)
- :mod:`.idd`         Indian Driving Dataset at level 1 (7 classes)
- :mod:`.cityscapes`  Cityscapes fine annotations (19 train ids)
- :mod:`.common`      reading, validation, atomic writing shared by all of them
"""

from .camvid import CAMVID_CLASSES, CAMVID_PALETTE, prepare_camvid
from .cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, prepare_cityscapes
from .common import BadPairError, atomic_output, read_image, read_label, write_png
from .idd import IDD_LEVEL1_CLASSES, IDD_LEVEL1_PALETTE, prepare_idd
from .minidrive import MINIDRIVE_CLASSES, MINIDRIVE_PALETTE, build_minidrive, generate_scene

__all__ = [
    "BadPairError",
    "CAMVID_CLASSES",
    "CAMVID_PALETTE",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_PALETTE",
    "IDD_LEVEL1_CLASSES",
    "IDD_LEVEL1_PALETTE",
    "MINIDRIVE_CLASSES",
    "MINIDRIVE_PALETTE",
    "atomic_output",
    "build_minidrive",
    "generate_scene",
    "prepare_camvid",
    "prepare_cityscapes",
    "prepare_idd",
    "read_image",
    "read_label",
    "write_png",
]
