"""Cityscapes fine annotations: ``*_gtFine_labelIds.png`` to the 19 train ids (+255).

Layout of the official release::

    leftImg8bit/<split>/<city>/<id>_leftImg8bit.png
    gtFine/<split>/<city>/<id>_gtFine_labelIds.png

The official label table (``cityscapesscripts/helpers/labels.py``) is written
out below as ``CITYSCAPES_ID_TO_TRAIN_ID``; every id without a train id (and
the license plate, -1) becomes void 255. Only train and val are prepared: the
public test labels are placeholders.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from course_utils.data.format import BadPairError, read_label
from course_utils.datasets.writer import (
    PrepareResult,
    SourcePair,
    check_out_apart,
    list_files,
    match_pairs,
    require_dir,
    write_prepared,
)

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)
#: Official Cityscapes label id -> train id (ids 0..33; all others are void).
CITYSCAPES_ID_TO_TRAIN_ID: dict[int, int] = {
    0: 255,  # unlabeled
    1: 255,  # ego vehicle
    2: 255,  # rectification border
    3: 255,  # out of roi
    4: 255,  # static
    5: 255,  # dynamic
    6: 255,  # ground
    7: 0,  # road
    8: 1,  # sidewalk
    9: 255,  # parking
    10: 255,  # rail track
    11: 2,  # building
    12: 3,  # wall
    13: 4,  # fence
    14: 255,  # guard rail
    15: 255,  # bridge
    16: 255,  # tunnel
    17: 5,  # pole
    18: 255,  # polegroup
    19: 6,  # traffic light
    20: 7,  # traffic sign
    21: 8,  # vegetation
    22: 9,  # terrain
    23: 10,  # sky
    24: 11,  # person
    25: 12,  # rider
    26: 13,  # car
    27: 14,  # truck
    28: 15,  # bus
    29: 255,  # caravan
    30: 255,  # trailer
    31: 16,  # train
    32: 17,  # motorcycle
    33: 18,  # bicycle
}
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


def _lookup_table() -> np.ndarray:
    lut = np.full(256, 255, np.uint8)
    for k, v in CITYSCAPES_ID_TO_TRAIN_ID.items():
        lut[k] = v
    return lut


_LUT = _lookup_table()


def label_ids_to_train_ids(label_ids: np.ndarray, where: str | Path = "label") -> np.ndarray:
    """Map Cityscapes label ids (0..33) to train ids (0..18, 255 void).

    Raises:
        BadPairError: for values above 33 (not a ``labelIds`` image, e.g. a
            ``color`` or ``instanceIds`` file).
    """
    label_ids = np.asarray(label_ids)
    if label_ids.size and int(label_ids.max()) > 33:
        raise BadPairError(
            f"{where} holds value {int(label_ids.max())} > 33: it is not a Cityscapes *_gtFine_labelIds.png file."
        )
    return _LUT[label_ids]


def find_cityscapes_pairs(root: Path, split: str, skip_bad: bool, excluded: list[str]) -> list[SourcePair]:
    """Pair Cityscapes images with their ``labelIds`` files."""
    fix = "Pass --root the Cityscapes folder that holds leftImg8bit/ and gtFine/."
    img_dir = require_dir(root / "leftImg8bit" / split, f"Cityscapes {split} images", fix)
    gt_dir = require_dir(root / "gtFine" / split, f"Cityscapes {split} labels", fix)
    return match_pairs(
        list_files(img_dir, IMAGE_SUFFIX),
        list_files(gt_dir, LABEL_SUFFIX),
        f"Cityscapes {split} ({img_dir} vs {gt_dir})",
        skip_bad,
        excluded,
    )


def prepare_cityscapes(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> PrepareResult:
    """Convert Cityscapes (train and val, fine annotations) to the prepared format."""
    root = Path(root)
    check_out_apart(out, root, "--root")
    excluded: list[str] = []
    splits = {s: find_cityscapes_pairs(root, s, skip_bad, excluded) for s in ("train", "val")}
    return write_prepared(
        out,
        name="cityscapes",
        classes=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        splits=splits,
        load_label=lambda p: label_ids_to_train_ids(read_label(p.label), p.label),
        size=size,
        source=f"Cityscapes gtFine ({root.name})",
        skip_bad=skip_bad,
        excluded=excluded,
        overwrite=overwrite,
        progress=progress,
        notes="19 train ids; the public test labels are placeholders, so train and val only.",
    )
