"""IDD polygons are rasterised pixel for pixel as the official ``json2labelImg`` does.

The reference below is written independently of ``course_utils``: a Pillow
``"L"`` image filled with 255, every non-deleted object drawn with
``ImageDraw.polygon`` in file order, exactly the official ``createLabelImage``
recipe. The fixtures have overlapping, concave, float-coordinate, sliver and
out-of-frame polygons, where scan-line rules differ between libraries
(``cv2.fillPoly`` agreed on only 95-98 % of the pixels).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from course_utils.data.format import BadPairError
from course_utils.datasets import idd

LEVEL1 = {"road": 0, "sidewalk": 1, "person": 2, "car": 3, "pole": 4, "building": 5, "sky": 6, "ego vehicle": 255}


def reference(ann: dict) -> np.ndarray:
    img = Image.new("L", (ann["imgWidth"], ann["imgHeight"]), 255)
    draw = ImageDraw.Draw(img)
    for obj in ann["objects"]:
        if obj.get("deleted"):
            continue
        label = obj["label"]
        if label not in LEVEL1 and label.endswith("group"):
            label = label[: -len("group")]
        draw.polygon([tuple(p) for p in obj["polygon"]], fill=LEVEL1[label])
    return np.asarray(img)


def star(cx, cy, r_out, r_in, n=5, phase=0.3):
    pts = []
    for i in range(2 * n):
        r = r_out if i % 2 == 0 else r_in
        a = phase + np.pi * i / n
        pts.append([round(cx + r * np.cos(a), 2), round(cy + r * np.sin(a), 2)])
    return pts


def random_objects(seed: int, h: int, w: int, n: int = 40) -> list[dict]:
    rng = np.random.default_rng(seed)
    names = list(LEVEL1) + ["persongroup", "cargroup"]
    objects = []
    for k in range(n):
        m = int(rng.integers(3, 12))
        cx, cy = rng.uniform(-10, w + 10), rng.uniform(-10, h + 10)
        pts = [[float(cx + rng.normal(0, w / 6)), float(cy + rng.normal(0, h / 6))] for _ in range(m)]
        if k % 3 == 0:
            pts = [[int(round(x)), int(round(y))] for x, y in pts]
        objects.append({"label": names[k % len(names)], "polygon": pts, "deleted": int(k % 7 == 3)})
    return objects


FIXTURES = {
    "overlap_concave": {
        "imgHeight": 60,
        "imgWidth": 90,
        "objects": [
            {"label": "sky", "polygon": [[0, 0], [89, 0], [89, 25], [0, 25]], "deleted": 0},
            {"label": "road", "polygon": [[0, 59], [30.4, 30.6], [60.5, 30.2], [89, 59]], "deleted": 0},
            # concave "U" over the road
            {
                "label": "building",
                "polygon": [[10, 10], [40, 10], [40, 45], [30, 45], [30, 20], [20, 20], [20, 45], [10, 45]],
                "deleted": 0,
            },
            {"label": "car", "polygon": star(60, 35, 18, 7), "deleted": 0},
            {"label": "person", "polygon": star(62, 36, 9, 3, n=7), "deleted": 1},  # deleted: not drawn
            {"label": "polegroup", "polygon": [[70.5, 5.5], [71.5, 5.5], [71.5, 55.5], [70.5, 55.5]], "deleted": 0},
            {"label": "sidewalk", "polygon": [[-5, 50], [95, 52], [95, 70], [-5, 70]], "deleted": 0},  # off-frame
            {"label": "ego vehicle", "polygon": [[0, 57], [89, 57], [89, 59], [0, 59]], "deleted": 0},
            {"label": "car", "polygon": [[5, 5], [6, 5]], "deleted": 0},  # a degenerate sliver
        ],
    },
    "random_a": {"imgHeight": 72, "imgWidth": 128, "objects": random_objects(1, 72, 128)},
    "random_b": {"imgHeight": 50, "imgWidth": 50, "objects": random_objects(2, 50, 50, n=60)},
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_rasterise_equals_pillow_reference(tmp_path, name):
    ann = FIXTURES[name]
    path = tmp_path / f"{name}_gtFine_polygons.json"
    path.write_text(json.dumps(ann))
    ours = idd.rasterize_polygons(path)
    ref = reference(ann)
    assert ours.dtype == np.uint8 and ours.shape == (ann["imgHeight"], ann["imgWidth"])
    np.testing.assert_array_equal(ours, ref)
    assert set(np.unique(ours)) <= set(range(7)) | {255}


def test_fixtures_are_where_cv2_differs():
    """The fixtures are not trivial: a cv2.fillPoly rasterisation disagrees with the reference on them."""
    ann = FIXTURES["overlap_concave"]
    label = np.full((ann["imgHeight"], ann["imgWidth"]), 255, np.uint8)
    for obj in ann["objects"]:
        if not obj["deleted"]:
            name = obj["label"][:-5] if obj["label"].endswith("group") else obj["label"]
            cv2.fillPoly(label, [np.round(np.asarray(obj["polygon"], float)).astype(np.int32)], LEVEL1[name])
    assert (label != reference(ann)).mean() > 0.005


def test_later_objects_win_and_deleted_ones_do_not_draw(tmp_path):
    square = [[2, 2], [7, 2], [7, 7], [2, 7]]
    ann = {
        "imgHeight": 10,
        "imgWidth": 10,
        "objects": [
            {"label": "road", "polygon": square, "deleted": 0},
            {"label": "car", "polygon": square, "deleted": 0},
            {"label": "sky", "polygon": square, "deleted": 1},
        ],
    }
    path = tmp_path / "x_gtFine_polygons.json"
    path.write_text(json.dumps(ann))
    lbl = idd.rasterize_polygons(path)
    assert (lbl[2:8, 2:8] == 3).all() and (lbl == 255).sum() == 100 - 36


@pytest.mark.parametrize("polygon", [[], [[1, 2, 3]], "nope", [[1, "a"]], None])
def test_invalid_polygon_is_a_one_line_error(tmp_path, polygon):
    path = tmp_path / "bad_gtFine_polygons.json"
    path.write_text(json.dumps({"imgHeight": 5, "imgWidth": 5, "objects": [{"label": "road", "polygon": polygon}]}))
    with pytest.raises(BadPairError, match=r"bad_gtFine_polygons.json \(object 0\) has an invalid polygon"):
        idd.rasterize_polygons(path)
