"""IDD (Indian Driving Dataset) segmentation release at level 1: 7 classes + void.

Layout of the official release::

    leftImg8bit/<split>/<seq>/<id>_leftImg8bit.png
    gtFine/<split>/<seq>/<id>_gtFine_polygons.json
    gtFine/<split>/<seq>/<id>_gtFine_labellevel1Ids.png   (after the official createLabels step)

Level-1 ids follow the ``level1Id`` column of the official label table
(``anue_labels.py`` of the IDD tools), which groups the 35 fine labels into the
7 categories the course uses:

==  ==================  ==========================================================
0   drivable            road, parking, drivable fallback
1   non-drivable        sidewalk, rail track, non-drivable fallback
2   living things       person, animal, rider
3   vehicles            motorcycle, bicycle, autorickshaw, car, truck, bus, caravan,
                        trailer, train, vehicle fallback
4   road-side objects   curb, wall, fence, guard rail, billboard, traffic sign,
                        traffic light, pole, polegroup, obs-str-bar-fallback
5   far objects         building, bridge, tunnel, vegetation
6   sky                 sky, fallback background
255 void                unlabeled, ego vehicle, rectification border, out of roi,
                        license plate
==  ==================  ==========================================================

Rasterising ``*_polygons.json`` follows the official ``json2labelImg`` rules
and gives its exact pixels (Pillow's ``ImageDraw.polygon``, as the official tool
uses): the canvas starts as ``unlabeled`` (void, 255), polygons are filled in file
order so later polygons overwrite earlier ones, deleted objects are skipped,
an unknown label ending in ``group`` falls back to its base label, and the
label ``fallback background`` maps to sky (its level-1 id is 6). An unknown label
is an error (the official tool only prints a warning).

IDD's test labels are private, so the prepared ``test`` split is an optional
seeded fraction of the official train split (``test_fraction``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from course_utils.data.format import IGNORE_INDEX, BadPairError, read_label
from course_utils.datasets.writer import (
    PrepareResult,
    SourcePair,
    check_out_apart,
    list_files,
    match_pairs,
    require_dir,
    write_prepared,
)

from .minidrive import MINIDRIVE_PALETTE

IDD_LEVEL1_CLASSES: tuple[str, ...] = (
    "drivable",
    "non-drivable",
    "living things",
    "vehicles",
    "road-side objects",
    "far objects",
    "sky",
)
IDD_LEVEL1_PALETTE: tuple[tuple[int, int, int], ...] = MINIDRIVE_PALETTE

#: Official IDD fine label name -> level-1 id (255 = void).
IDD_NAME_TO_LEVEL1: dict[str, int] = {
    "road": 0,
    "parking": 0,
    "drivable fallback": 0,
    "sidewalk": 1,
    "rail track": 1,
    "non-drivable fallback": 1,
    "person": 2,
    "animal": 2,
    "rider": 2,
    "motorcycle": 3,
    "bicycle": 3,
    "autorickshaw": 3,
    "car": 3,
    "truck": 3,
    "bus": 3,
    "caravan": 3,
    "trailer": 3,
    "train": 3,
    "vehicle fallback": 3,
    "curb": 4,
    "wall": 4,
    "fence": 4,
    "guard rail": 4,
    "billboard": 4,
    "traffic sign": 4,
    "traffic light": 4,
    "pole": 4,
    "polegroup": 4,
    "obs-str-bar-fallback": 4,
    "building": 5,
    "bridge": 5,
    "tunnel": 5,
    "vegetation": 5,
    "sky": 6,
    "fallback background": 6,
    "unlabeled": IGNORE_INDEX,
    "ego vehicle": IGNORE_INDEX,
    "rectification border": IGNORE_INDEX,
    "out of roi": IGNORE_INDEX,
    "license plate": IGNORE_INDEX,
}
IMAGE_SUFFIX = "_leftImg8bit.png"
LEVEL1_SUFFIX = "_gtFine_labellevel1Ids.png"
POLYGON_SUFFIX = "_gtFine_polygons.json"


def level1_id(name: str, where: str = "") -> int:
    """Level-1 id of an IDD label name (``...group`` names fall back to their base label)."""
    if name not in IDD_NAME_TO_LEVEL1 and name.endswith("group"):
        name = name[: -len("group")]
    if name not in IDD_NAME_TO_LEVEL1:
        raise BadPairError(
            f"Unknown IDD label {name!r} in {where}. Known labels: {', '.join(sorted(IDD_NAME_TO_LEVEL1))}."
        )
    return IDD_NAME_TO_LEVEL1[name]


def _polygon_points(obj: dict, where: str) -> list[tuple[float, float]]:
    """The ``[x, y]`` points of one object, exactly as stored (ints or floats, unrounded)."""
    points = obj.get("polygon")
    try:
        pts = [(p[0], p[1]) for p in points]
        valid = bool(pts) and all(
            len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p) for p in points
        )
    except (TypeError, IndexError, KeyError):
        valid = False
    if not valid:
        raise BadPairError(f"{where} has an invalid polygon (need a list of [x, y] numbers); re-extract the file.")
    _check_finite(pts, obj, where)
    return pts


def _check_finite(points: list[tuple[float, float]], obj: dict, where: str) -> None:
    """Refuse NaN or infinite coordinates (Python's JSON reader accepts ``NaN`` and ``Infinity``)."""
    import math

    bad = next((p for p in points if not all(math.isfinite(v) for v in p)), None)
    if bad is not None:
        raise BadPairError(
            f"{where}, label {obj.get('label')!r}, has a non-finite polygon point {list(bad)}: the file is "
            "damaged; re-extract it (or pass --skip-bad to leave the image out)."
        )


def rasterize_polygons(path: str | os.PathLike) -> np.ndarray:
    """Rasterise an IDD ``*_gtFine_polygons.json`` file to level-1 ids (uint8, 255 void).

    Same pixels as the official ``json2labelImg`` (``createLabelImage`` with the
    ``level1Id`` encoding): a Pillow ``"L"`` canvas filled with ``unlabeled``
    (255), every object that is not ``deleted`` drawn with
    ``ImageDraw.polygon(points, fill=level1Id)`` in file order (later objects
    over earlier ones), void labels (ego vehicle, out of roi, ...) drawn as 255
    like any other, ``...group`` names mapped to their base label. Points are
    passed to Pillow unrounded, as the official tool does, so Pillow's own
    edge rule decides every border pixel.
    """
    from PIL import Image, ImageDraw

    path = Path(path)
    try:
        ann = json.loads(path.read_text(encoding="utf-8"))
        h, w = int(ann["imgHeight"]), int(ann["imgWidth"])
        objects = list(ann["objects"])
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise BadPairError(
            f"Cannot read polygons from {path}: {err!r}. Expected the IDD json with "
            "imgHeight, imgWidth and objects (re-extract the file)."
        ) from err
    canvas = Image.new("L", (w, h), IGNORE_INDEX)
    drawer = ImageDraw.Draw(canvas)
    for k, obj in enumerate(objects):
        if obj.get("deleted"):
            continue
        where = f"{path} (object {k})"
        value = level1_id(str(obj.get("label")), where)
        drawer.polygon(_polygon_points(obj, where), fill=value)
    return np.asarray(canvas, dtype=np.uint8).copy()


def _idd_label(pair: SourcePair) -> np.ndarray:
    if pair.label.name.endswith(".json"):
        return rasterize_polygons(pair.label)
    return read_label(pair.label)


def find_idd_pairs(root: Path, split: str, skip_bad: bool, excluded: list[str]) -> list[SourcePair]:
    """Pair IDD images with their level-1 PNG (preferred) or polygon json."""
    fix = "Pass --root the IDD folder that holds leftImg8bit/ and gtFine/."
    img_dir = require_dir(root / "leftImg8bit" / split, f"IDD {split} images", fix)
    gt_dir = require_dir(root / "gtFine" / split, f"IDD {split} labels", fix)
    labels = list_files(gt_dir, POLYGON_SUFFIX)
    labels.update(list_files(gt_dir, LEVEL1_SUFFIX))  # the PNG wins where both exist
    return match_pairs(
        list_files(img_dir, IMAGE_SUFFIX), labels, f"IDD {split} ({img_dir} vs {gt_dir})", skip_bad, excluded
    )


def prepare_idd(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: tuple[int, int] | None = (240, 480),
    test_fraction: float = 0.0,
    seed: int = 0,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> PrepareResult:
    """Convert the IDD segmentation release to the prepared format at level 1.

    Args:
        root: IDD folder with ``leftImg8bit/`` and ``gtFine/`` (train and val).
        out: output folder.
        size: ``(H, W)`` for every image (IDD mixes 1920x1080 and 1280x720 frames,
            so a common size is needed); labels use nearest neighbour.
        test_fraction: fraction of the official train split moved (seeded) to a
            ``test`` split, since the official test labels are private.
        seed: seed of that split.
    """
    root = Path(root)
    check_out_apart(out, root, "--root")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    excluded: list[str] = []
    splits = {s: find_idd_pairs(root, s, skip_bad, excluded) for s in ("train", "val")}
    if test_fraction > 0:
        train = splits["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        n_test = int(round(test_fraction * len(train)))
        if n_test == 0 or n_test == len(train):
            raise ValueError(f"test_fraction={test_fraction} of {len(train)} train images leaves an empty split.")
        test_idx = set(order[:n_test].tolist())
        splits["test"] = [p for i, p in enumerate(train) if i in test_idx]
        splits["train"] = [p for i, p in enumerate(train) if i not in test_idx]
    return write_prepared(
        out,
        name="idd",
        classes=IDD_LEVEL1_CLASSES,
        palette=IDD_LEVEL1_PALETTE,
        splits=splits,
        load_label=_idd_label,
        size=size,
        source=f"IDD segmentation, level-1 ids ({root.name})",
        skip_bad=skip_bad,
        excluded=excluded,
        overwrite=overwrite,
        progress=progress,
        notes=(
            f"test = seeded {test_fraction:.0%} of the official train split (seed {seed})"
            if test_fraction > 0
            else "IDD test labels are private: train and val only."
        ),
    )
