"""Dataset builders and preparers that all write the course's prepared format.

- :mod:`.minidrive`   procedural offline road scenes (7 IDD level-1 classes)
- :mod:`.camvid`      CamVid, SegNet split (11 classes)
- :mod:`.idd`         Indian Driving Dataset at level 1 (7 classes)
- :mod:`.cityscapes`  Cityscapes fine annotations (19 train ids)
- :mod:`.writer`      validation and atomic writing shared by all of them (reading: :mod:`course_utils.data.format`)
- :mod:`.registry`    which prepared dataset a run uses (``find_dataset``), preparing MiniDrive/CamVid on the spot
"""

from .camvid import CAMVID_CLASSES, CAMVID_PALETTE, prepare_camvid
from .cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, prepare_cityscapes
from .idd import IDD_LEVEL1_CLASSES, IDD_LEVEL1_PALETTE, prepare_idd
from .minidrive import MINIDRIVE_CLASSES, MINIDRIVE_PALETTE, build_minidrive, generate_scene
from .registry import ensure_camvid, ensure_minidrive, find_dataset, network_reachable
from .writer import atomic_output

__all__ = [
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
    "ensure_camvid",
    "ensure_minidrive",
    "find_dataset",
    "network_reachable",
    "generate_scene",
    "prepare_camvid",
    "prepare_cityscapes",
    "prepare_idd",
]
