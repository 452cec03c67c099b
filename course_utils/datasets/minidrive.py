"""MiniDrive: procedural road scenes with the 7 IDD level-1 classes, built offline in seconds.

Every scene is a perspective road view: a vanishing point on the horizon, a road
trapezoid with lane marks (drivable), sidewalks and terrain (non-drivable),
people and animals (living things), cars, trucks and two-wheelers (vehicles),
poles, signs, fences and barriers (road-side objects), buildings and trees on
the horizon (far objects) and a sky with a gradient and clouds.

The scenes are deliberately *not* separable by colour: class colours overlap
(grey cars on a grey road, green terrain next to green trees, grey overcast sky
over grey buildings, clothes in any colour), every surface gets texture noise,
and a random lighting change, tint and shadow is applied to the whole picture.
A per-pixel colour classifier therefore does poorly (see
:mod:`course_utils.baselines`) while a network that uses context and shape does
well. Some pixels are void (255): an ego-vehicle bonnet at the bottom of some
scenes and unlabelled blobs, as in real datasets.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from course_utils.data.format import IGNORE_INDEX, write_png
from course_utils.datasets.writer import atomic_output, write_dataset_json

MINIDRIVE_CLASSES: tuple[str, ...] = (
    "drivable",
    "non-drivable",
    "living things",
    "vehicles",
    "road-side objects",
    "far objects",
    "sky",
)
#: Display colours (RGB) of the 7 classes (the IDD level-1 colours of the course).
MINIDRIVE_PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128),
    (244, 35, 232),
    (220, 20, 60),
    (0, 0, 142),
    (220, 220, 0),
    (70, 70, 70),
    (70, 130, 180),
)
DRIVABLE, NON_DRIVABLE, LIVING, VEHICLE, ROADSIDE, FAR, SKY = range(7)


def _rgb(rng: np.random.Generator, base: tuple[int, int, int], spread: int = 25) -> tuple[int, int, int]:
    """A random colour near ``base`` (clipped to 0..255)."""
    c = np.clip(np.asarray(base) + rng.integers(-spread, spread + 1, 3), 0, 255)
    return tuple(int(v) for v in c)


def _grey(rng: np.random.Generator, lo: int = 70, hi: int = 170) -> tuple[int, int, int]:
    g = int(rng.integers(lo, hi))
    return _rgb(rng, (g, g, g), 8)


# Colour families shared by several classes (the point of the dataset).
_GREENS = [(70, 110, 40), (95, 130, 55), (60, 90, 45), (120, 140, 70)]
_BROWNS = [(120, 100, 70), (140, 115, 85), (100, 85, 60), (160, 140, 110)]
_ANY = [
    (200, 40, 40),
    (40, 60, 160),
    (230, 230, 230),
    (30, 30, 30),
    (200, 180, 60),
    (120, 120, 125),
    (90, 120, 60),
    (150, 110, 80),
    (60, 140, 160),
]


class _Canvas:
    """Image, label and texture-amplitude canvases drawn together."""

    def __init__(self, height: int, width: int) -> None:
        self.h, self.w = height, width
        self.img = np.zeros((height, width, 3), np.uint8)
        self.lbl = np.zeros((height, width), np.uint8)
        self.amp = np.zeros((height, width), np.uint8)

    def poly(self, pts, colour, cls, amp=10) -> None:
        p = [np.round(np.asarray(pts, np.float64)).astype(np.int32)]
        cv2.fillPoly(self.img, p, colour, lineType=cv2.LINE_8)
        cv2.fillPoly(self.lbl, p, int(cls))
        cv2.fillPoly(self.amp, p, int(amp))

    def rect(self, x0, y0, x1, y1, colour, cls, amp=10) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour, cls, amp)

    def ellipse(self, cx, cy, rx, ry, colour, cls, amp=10) -> None:
        c = (int(round(cx)), int(round(cy)))
        ax = (max(1, int(round(rx))), max(1, int(round(ry))))
        cv2.ellipse(self.img, c, ax, 0, 0, 360, colour, -1)
        cv2.ellipse(self.lbl, c, ax, 0, 0, 360, int(cls), -1)
        cv2.ellipse(self.amp, c, ax, 0, 0, 360, int(amp), -1)

    def paint(self, pts, colour) -> None:
        """Draw on the image only (markings, windows: the label stays as it is)."""
        p = [np.round(np.asarray(pts, np.float64)).astype(np.int32)]
        cv2.fillPoly(self.img, p, colour)


def _lowfreq(rng: np.random.Generator, h: int, w: int, cells: int = 6) -> np.ndarray:
    """Smooth random field in about [-1, 1] (bilinear upsampling of a coarse grid)."""
    coarse = rng.uniform(-1, 1, (cells, cells * 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _draw_car(cv: _Canvas, rng, x, yb, s, colour) -> None:
    """A car (or van/truck when ``rng`` says so) standing on ground row ``yb`` at scale ``s``."""
    kind = rng.choice(["car", "car", "truck", "bike"])
    if kind == "bike":  # two-wheeler (vehicle) with its rider (living thing)
        w, h = 0.35 * s, 0.9 * s
        cv.ellipse(x - w / 2, yb - 0.12 * s, 0.12 * s, 0.12 * s, (25, 25, 25), VEHICLE, 4)
        cv.ellipse(x + w / 2, yb - 0.12 * s, 0.12 * s, 0.12 * s, (25, 25, 25), VEHICLE, 4)
        cv.rect(x - w / 2, yb - 0.35 * s, x + w / 2, yb - 0.15 * s, colour, VEHICLE, 8)
        _draw_person(cv, rng, x, yb - 0.3 * s, 0.75 * s)
        return
    if kind == "truck":
        w, h = rng.uniform(1.3, 1.8) * s, rng.uniform(1.2, 1.6) * s
    else:
        w, h = rng.uniform(1.2, 1.6) * s, rng.uniform(0.55, 0.75) * s
    x0, x1 = x - w / 2, x + w / 2
    body_top = yb - h
    cv.rect(x0, body_top + 0.3 * h, x1, yb - 0.12 * s, colour, VEHICLE, 6)
    cabin = [
        (x0 + 0.12 * w, body_top + 0.3 * h),
        (x0 + 0.22 * w, body_top),
        (x1 - 0.22 * w, body_top),
        (x1 - 0.12 * w, body_top + 0.3 * h),
    ]
    if kind == "truck":
        cabin = [(x0, body_top + 0.3 * h), (x0, body_top), (x1, body_top), (x1, body_top + 0.3 * h)]
    cv.poly(cabin, colour, VEHICLE, 6)
    glass = _rgb(rng, (55, 65, 75), 20)
    cv.paint(
        [
            (x0 + 0.2 * w, body_top + 0.28 * h),
            (x0 + 0.26 * w, body_top + 0.06 * h),
            (x1 - 0.26 * w, body_top + 0.06 * h),
            (x1 - 0.2 * w, body_top + 0.28 * h),
        ],
        glass,
    )
    # lights
    cv.paint(
        [
            (x0 + 0.05 * w, yb - 0.35 * h),
            (x0 + 0.18 * w, yb - 0.35 * h),
            (x0 + 0.18 * w, yb - 0.27 * h),
            (x0 + 0.05 * w, yb - 0.27 * h),
        ],
        (200, 40, 30),
    )
    cv.paint(
        [
            (x1 - 0.18 * w, yb - 0.35 * h),
            (x1 - 0.05 * w, yb - 0.35 * h),
            (x1 - 0.05 * w, yb - 0.27 * h),
            (x1 - 0.18 * w, yb - 0.27 * h),
        ],
        (200, 40, 30),
    )
    r = 0.14 * s
    for wx in (x0 + 0.2 * w, x1 - 0.2 * w):
        cv.ellipse(wx, yb - r, r * 0.9, r, (20, 20, 22), VEHICLE, 4)


def _draw_person(cv: _Canvas, rng, x, yb, s) -> None:
    """An upright person (legs, body, arms, head) standing on row ``yb``, about ``s`` tall."""
    shirt = _rgb(rng, _ANY[rng.integers(len(_ANY))], 30)
    trousers = _rgb(rng, _ANY[rng.integers(len(_ANY))], 30)
    skin = _rgb(rng, (150, 110, 85), 30)
    bw = 0.22 * s
    cv.poly(
        [
            (x - bw / 2, yb - 0.48 * s),
            (x - bw / 2 - 0.03 * s, yb),
            (x - 0.02 * s, yb),
            (x, yb - 0.3 * s),
            (x + 0.02 * s, yb),
            (x + bw / 2 + 0.03 * s, yb),
            (x + bw / 2, yb - 0.48 * s),
        ],
        trousers,
        LIVING,
        8,
    )
    cv.poly(
        [
            (x - bw / 2 - 0.02 * s, yb - 0.48 * s),
            (x - bw / 2, yb - 0.82 * s),
            (x + bw / 2, yb - 0.82 * s),
            (x + bw / 2 + 0.02 * s, yb - 0.48 * s),
        ],
        shirt,
        LIVING,
        8,
    )
    cv.ellipse(x, yb - 0.9 * s, 0.085 * s, 0.1 * s, skin, LIVING, 6)


def _draw_animal(cv: _Canvas, rng, x, yb, s) -> None:
    """A cow/dog-like animal: body ellipse, four legs and a head."""
    col = _rgb(rng, [(200, 195, 185), (110, 80, 60), (60, 55, 50)][rng.integers(3)], 20)
    L = rng.uniform(0.6, 1.0) * s
    for dx in (-0.35, -0.2, 0.2, 0.35):
        cv.rect(x + dx * L - 0.03 * s, yb - 0.3 * s, x + dx * L + 0.03 * s, yb, col, LIVING, 8)
    cv.ellipse(x, yb - 0.4 * s, L / 2, 0.16 * s, col, LIVING, 10)
    cv.ellipse(x + 0.55 * L * rng.choice([-1, 1]), yb - 0.52 * s, 0.1 * s, 0.08 * s, col, LIVING, 8)


def _draw_pole(cv: _Canvas, rng, x, yb, s) -> None:
    """A pole with, often, a sign or a street light."""
    colour = _grey(rng, 60, 180) if rng.random() < 0.7 else _rgb(rng, (90, 120, 60))
    w = max(1.0, 0.06 * s)
    top = yb - rng.uniform(1.8, 3.0) * s
    cv.rect(x - w / 2, top, x + w / 2, yb, colour, ROADSIDE, 5)
    r = rng.random()
    if r < 0.45:  # round or square sign
        sc = _rgb(rng, [(200, 40, 40), (40, 70, 170), (220, 200, 40), (235, 235, 235)][rng.integers(4)], 15)
        if rng.random() < 0.5:
            cv.ellipse(x, top + 0.2 * s, 0.22 * s, 0.22 * s, sc, ROADSIDE, 6)
        else:
            cv.rect(x - 0.3 * s, top, x + 0.3 * s, top + 0.35 * s, sc, ROADSIDE, 6)
    elif r < 0.7:  # street light arm
        d = rng.choice([-1, 1])
        cv.rect(min(x, x + d * 0.6 * s), top, max(x, x + d * 0.6 * s), top + w, colour, ROADSIDE, 5)


def _draw_fence(cv: _Canvas, rng, pts_bottom, s_fn, colour) -> None:
    """A fence or barrier along a ground line given by two (x, y) end points."""
    (xa, ya), (xb, yb) = pts_bottom
    ha, hb = 0.7 * s_fn(ya), 0.7 * s_fn(yb)
    if rng.random() < 0.5:  # solid barrier / wall
        cv.poly([(xa, ya), (xb, yb), (xb, yb - hb), (xa, ya - ha)], colour, ROADSIDE, 14)
        return
    n = int(rng.integers(5, 12))
    for t in np.linspace(0, 1, n):
        x, y, hh = xa + t * (xb - xa), ya + t * (yb - ya), ha + t * (hb - ha)
        w = max(1.0, 0.05 * s_fn(y))
        cv.rect(x - w / 2, y - hh, x + w / 2, y, colour, ROADSIDE, 5)
    for f in (0.35, 0.85):
        th = max(1.0, 0.06 * s_fn(ya))
        cv.poly(
            [(xa, ya - f * ha), (xb, yb - f * hb), (xb, yb - f * hb + th), (xa, ya - f * ha + th)], colour, ROADSIDE, 5
        )


def generate_scene(rng: np.random.Generator, height: int = 240, width: int = 480) -> tuple[np.ndarray, np.ndarray]:
    """Draw one random road scene.

    Args:
        rng: the random generator (a scene is a pure function of its state).
        height, width: scene size in pixels.

    Returns:
        ``(image, label)``: RGB ``uint8 (H, W, 3)`` and ``uint8 (H, W)`` with class
        ids 0..6 of :data:`MINIDRIVE_CLASSES` and 255 for void.
    """
    H, W = int(height), int(width)
    if H < 16 or W < 16:
        raise ValueError(f"MiniDrive scenes need at least 16x16 pixels, got {H}x{W}")
    cv = _Canvas(H, W)
    yh = H * rng.uniform(0.36, 0.5)  # horizon
    xv = W * rng.uniform(0.3, 0.7)  # vanishing point

    def scale(y: float) -> float:
        """Pixel size of a 1 m object standing on ground row ``y``."""
        return max(0.0, (y - yh)) / (H - yh) * 0.38 * H

    # --- sky: gradient between two colours (clear, overcast or dusk)
    mood = rng.integers(3)
    top, bottom = [
        ((60, 110, 190), (170, 200, 230)),
        ((120, 125, 130), (185, 185, 185)),
        ((90, 80, 140), (230, 160, 110)),
    ][mood]
    t = np.linspace(0, 1, int(np.ceil(yh)) + 2)[:, None, None]
    grad = (1 - t) * np.asarray(_rgb(rng, top, 20)) + t * np.asarray(_rgb(rng, bottom, 20))
    cv.img[: grad.shape[0]] = np.clip(grad, 0, 255).astype(np.uint8)[:H]
    cv.lbl[: grad.shape[0]] = SKY
    cv.amp[: grad.shape[0]] = 3
    for _ in range(int(rng.integers(0, 5))):  # clouds (still sky)
        cx, cy = rng.uniform(0, W), rng.uniform(0, yh * 0.8)
        cc = _rgb(rng, (225, 225, 228) if mood != 1 else (150, 150, 155), 15)
        for _k in range(3):
            cv.ellipse(
                cx + rng.uniform(-0.06, 0.06) * W,
                cy + rng.uniform(-0.03, 0.03) * H,
                rng.uniform(0.04, 0.1) * W,
                rng.uniform(0.02, 0.05) * H,
                cc,
                SKY,
                4,
            )

    # --- far objects on the horizon: buildings and tree lines
    x = -rng.uniform(0, 0.05) * W
    while x < W:
        bw = rng.uniform(0.04, 0.16) * W
        if rng.random() < 0.6:
            bh = rng.uniform(0.05, 0.3) * H
            col = _grey(rng, 80, 190) if rng.random() < 0.6 else _rgb(rng, _BROWNS[rng.integers(4)], 30)
            cv.rect(x, yh - bh, x + bw, yh + 2, col, FAR, 10)
            win = _rgb(rng, (40, 45, 55) if rng.random() < 0.7 else (200, 200, 150), 20)
            step = max(3.0, 0.025 * W)
            for wy in np.arange(yh - bh + step * 0.6, yh - step, step):
                for wx in np.arange(x + step * 0.5, x + bw - step * 0.6, step):
                    if rng.random() < 0.7:
                        cv.paint(
                            [
                                (wx, wy),
                                (wx + step * 0.45, wy),
                                (wx + step * 0.45, wy + step * 0.5),
                                (wx, wy + step * 0.5),
                            ],
                            win,
                        )
        else:
            col = _rgb(rng, _GREENS[rng.integers(4)], 25)
            for _k in range(int(rng.integers(2, 5))):
                cv.ellipse(
                    x + rng.uniform(0, bw),
                    yh - rng.uniform(0.02, 0.12) * H,
                    rng.uniform(0.03, 0.07) * W,
                    rng.uniform(0.04, 0.1) * H,
                    col,
                    FAR,
                    24,
                )
            cv.rect(x, yh - 0.03 * H, x + bw, yh + 2, col, FAR, 24)
        x += bw + (rng.uniform(0, 0.05) * W if rng.random() < 0.5 else 0)

    # --- ground: terrain (non-drivable) over the whole lower part
    ground = _rgb(rng, (_GREENS + _BROWNS)[rng.integers(8)], 25)
    cv.rect(0, yh, W, H, ground, NON_DRIVABLE, 26)

    # --- road trapezoid and sidewalks
    top_half = rng.uniform(0.01, 0.04) * W
    bot_half = rng.uniform(0.35, 0.7) * W
    xb = xv + rng.uniform(-0.15, 0.15) * W
    side = rng.uniform(0.15, 0.35)  # sidewalk width relative to road half width
    walk_col = _grey(rng, 100, 190) if rng.random() < 0.7 else _rgb(rng, (170, 110, 100), 25)
    for sgn in (-1, 1):
        if rng.random() < 0.75:
            cv.poly(
                [
                    (xv + sgn * top_half, yh),
                    (xv + sgn * top_half * (1 + side), yh),
                    (xb + sgn * bot_half * (1 + side), H),
                    (xb + sgn * bot_half, H),
                ],
                walk_col,
                NON_DRIVABLE,
                12,
            )
    road_col = _grey(rng, 60, 150) if rng.random() < 0.8 else _rgb(rng, _BROWNS[rng.integers(4)], 20)
    cv.poly([(xv - top_half, yh), (xv + top_half, yh), (xb + bot_half, H), (xb - bot_half, H)], road_col, DRIVABLE, 10)
    # lane marks (painted, still drivable)
    mark = (235, 235, 230) if rng.random() < 0.7 else (225, 190, 50)
    for lane in [0.0] if rng.random() < 0.5 else [-1 / 3, 1 / 3]:
        n_dash = 9
        for k in range(n_dash):
            if rng.random() < 0.15:
                continue
            t0, t1 = (k + 0.2) / n_dash, (k + 0.6) / n_dash
            t0, t1 = t0**1.8, t1**1.8  # dashes grow with nearness

            def at(tt, off, lane=lane):
                y = yh + tt * (H - yh)
                xc = xv + tt * (xb - xv)
                half = top_half + tt * (bot_half - top_half)
                return xc + lane * half + off * half, y

            wdt = 0.02
            cv.paint([at(t0, -wdt), at(t0, wdt), at(t1, wdt), at(t1, -wdt)], mark)

    def road_edge(y: float, sgn: int, extra: float = 0.0) -> float:
        tt = (y - yh) / (H - yh)
        return xv + tt * (xb - xv) + sgn * (top_half + tt * (bot_half - top_half)) * (1 + extra)

    # --- objects, drawn far to near
    objects = []
    for _ in range(int(rng.integers(1, 5))):  # vehicles on the road
        y = yh + rng.uniform(0.08, 1.0) ** 1.3 * (H - yh)
        tt = rng.uniform(-0.75, 0.75)
        xl, xr = road_edge(y, -1), road_edge(y, 1)
        col = (
            road_col
            if rng.random() < 0.3
            else (_grey(rng, 40, 220) if rng.random() < 0.5 else _rgb(rng, _ANY[rng.integers(len(_ANY))], 35))
        )
        objects.append((y, "car", (xl + xr) / 2 + tt * (xr - xl) / 2, col))
    for _ in range(int(rng.integers(0, 6))):  # people, mostly on the sidewalk
        y = yh + rng.uniform(0.1, 1.0) ** 1.2 * (H - yh)
        sgn = rng.choice([-1, 1])
        x = road_edge(y, sgn, rng.uniform(0.0, 0.4)) if rng.random() < 0.8 else road_edge(y, sgn, -rng.uniform(0, 0.9))
        objects.append((y, "person", x, None))
    if rng.random() < 0.3:
        y = yh + rng.uniform(0.2, 1.0) * (H - yh)
        objects.append((y, "animal", road_edge(y, rng.choice([-1, 1]), rng.uniform(-0.6, 0.5)), None))
    for sgn in (-1, 1):  # poles along both sides
        for _ in range(int(rng.integers(0, 4))):
            y = yh + rng.uniform(0.05, 1.0) ** 1.5 * (H - yh)
            objects.append((y, "pole", road_edge(y, sgn, side + rng.uniform(0.0, 0.2)), None))
        if rng.random() < 0.4:
            y0 = yh + rng.uniform(0.02, 0.3) * (H - yh)
            y1 = yh + rng.uniform(0.4, 1.0) * (H - yh)
            objects.append((y1, "fence", (sgn, y0, y1, side + rng.uniform(0.02, 0.5)), None))
    objects.sort(key=lambda o: o[0])
    for y, kind, x, col in objects:
        s = scale(y)
        if s < 2:
            continue
        if kind == "car":
            _draw_car(cv, rng, x, y, s, col)
        elif kind == "person":
            _draw_person(cv, rng, x, y, s * rng.uniform(0.9, 1.15))
        elif kind == "animal":
            _draw_animal(cv, rng, x, y, s)
        elif kind == "pole":
            _draw_pole(cv, rng, x, y, s)
        else:
            sgn, y0, y1, ex = x
            fcol = _grey(rng, 70, 200) if rng.random() < 0.5 else _rgb(rng, (_GREENS + _BROWNS)[rng.integers(8)], 25)
            _draw_fence(cv, rng, ((road_edge(y0, sgn, ex), y0), (road_edge(y1, sgn, ex), y1)), scale, fcol)

    # --- void: an ego-vehicle bonnet and unlabelled blobs (image content stays)
    if rng.random() < 0.3:
        hood = rng.uniform(0.05, 0.1) * H
        col = _rgb(rng, _ANY[rng.integers(len(_ANY))], 20)
        cv.poly([(0, H), (W * 0.1, H - hood), (W * 0.9, H - hood), (W, H)], col, IGNORE_INDEX, 4)
    if rng.random() < 0.3:
        cx, cy = rng.uniform(0, W), rng.uniform(yh, H)
        ax = (int(rng.uniform(0.02, 0.06) * W), int(rng.uniform(0.02, 0.06) * H))
        cv2.ellipse(cv.lbl, (int(cx), int(cy)), ax, 0, 0, 360, IGNORE_INDEX, -1)

    # --- texture, lighting, tint, shadow, noise
    img = cv.img.astype(np.float32)
    amp = cv.amp.astype(np.float32)[..., None]
    img += amp * rng.normal(0, 0.5, (H, W, 1)).astype(np.float32)  # per-surface speckle
    img += amp * 0.8 * _lowfreq(rng, H, W, int(rng.integers(4, 12)))[..., None]  # blotches
    gain = rng.uniform(0.6, 1.25)
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    light = 1 + 0.25 * _lowfreq(rng, H, W, 3)[..., None]
    img = img * gain * tint * light
    if rng.random() < 0.5:  # a cast shadow across the road
        shadow = np.zeros((H, W), np.uint8)
        y0 = rng.uniform(yh, H)
        pts = np.array(
            [
                (0, y0),
                (W, y0 + rng.uniform(-0.2, 0.2) * H),
                (W, y0 + rng.uniform(0.1, 0.4) * H),
                (0, y0 + rng.uniform(0.1, 0.4) * H),
            ]
        )
        cv2.fillPoly(shadow, [pts.round().astype(np.int32)], 1)
        img *= np.where(shadow[..., None] > 0, rng.uniform(0.45, 0.75), 1.0).astype(np.float32)
    img += rng.normal(0, rng.uniform(2, 10), (H, W, 3)).astype(np.float32)
    image = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    return image, cv.lbl.copy()


def build_minidrive(
    out: str | os.PathLike,
    train: int = 200,
    val: int = 50,
    test: int = 50,
    height: int = 240,
    width: int = 480,
    seed: int = 0,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Generate a MiniDrive dataset in the prepared format (atomically).

    Scene ``i`` of split ``s`` depends only on ``(seed, s, i)``, so the same
    arguments always give the same files, and growing a split keeps its first
    scenes.

    Args:
        out: output folder (must not exist unless ``overwrite``).
        train, val, test: scenes per split (a split with 0 scenes is not written).
        height, width: scene size.
        seed: base random seed.
        overwrite: replace an existing ``out``.
        progress: show a tqdm progress bar.

    Returns:
        The dataset folder.
    """
    from tqdm.auto import tqdm

    counts = {s: int(n) for s, n in (("train", train), ("val", val), ("test", test)) if int(n) > 0}
    if not counts:
        raise ValueError("MiniDrive needs at least one scene in some split (got 0 everywhere).")
    if any(int(n) < 0 for n in (train, val, test)):
        raise ValueError(f"Scene counts must be >= 0, got train={train} val={val} test={test}")
    if int(height) < 16 or int(width) < 16:
        raise ValueError(f"MiniDrive scenes need at least 16x16 pixels, got {height}x{width}; pass a larger size.")
    out = Path(out)
    with atomic_output(out, overwrite=overwrite, kind="minidrive") as tmp:
        for split, n in counts.items():
            for i in tqdm(range(n), desc=f"minidrive {split}", unit="img", disable=not progress):
                rng = np.random.default_rng([int(seed), {"train": 0, "val": 1, "test": 2}[split], i])
                image, label = generate_scene(rng, height, width)
                write_png(tmp / split / "images" / f"{split}_{i:05d}.png", image)
                write_png(tmp / split / "labels" / f"{split}_{i:05d}.png", label)
        write_dataset_json(
            tmp,
            name="minidrive",
            classes=MINIDRIVE_CLASSES,
            palette=MINIDRIVE_PALETTE,
            image_size=(height, width),
            counts=counts,
            source=f"procedural (seed={seed})",
            notes="Procedural road scenes with the 7 IDD level-1 classes; 255 is void.",
        )
    return out.expanduser().absolute()
