"""A deterministic, street-like sample image for the concept notebooks.

The concept notebooks need "a real-looking image" to convolve: edges at many
orientations, thin structures, flat regions and texture. Nothing is
downloaded: :func:`street_scene` paints one procedurally with NumPy (sky,
buildings with windows, a road in perspective with lane markings, a car, a
pole, trees and a little sensor noise), identical on every machine for a
given seed and size.
"""

from __future__ import annotations

import numpy as np


def _fill_polygon(mask_shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean mask of a convex polygon given by vertex coordinates (pixel units)."""
    height, width = mask_shape
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    inside = np.ones(mask_shape, dtype=bool)
    n = len(xs)
    area = sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))
    sign = 1.0 if area > 0 else -1.0
    for i in range(n):
        x0, y0, x1, y1 = xs[i], ys[i], xs[(i + 1) % n], ys[(i + 1) % n]
        inside &= sign * ((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)) >= 0
    return inside


def street_scene(height: int = 128, width: int = 256, seed: int = 0) -> np.ndarray:
    """Paint a street scene as a ``(height, width, 3)`` uint8 RGB image.

    Args:
        height: image height in pixels (>= 16).
        width: image width in pixels (>= 16).
        seed: the same seed and size always give the same image.
    """
    if height < 16 or width < 16:
        raise ValueError(f"street_scene needs at least 16x16 pixels, got {height}x{width}.")
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    horizon = int(0.45 * h)

    # Sky: a vertical gradient.
    t = (yy / max(horizon, 1))[..., None]
    img[:] = (1 - t) * np.array([110, 160, 230]) + t * np.array([200, 220, 240])

    # Buildings: blocks of random height and colour with a window grid.
    x = 0
    while x < w:
        bw = int(rng.integers(w // 10, w // 5))
        top = int(rng.integers(int(0.08 * h), int(0.35 * h)))
        colour = rng.uniform(90, 200, size=3)
        img[top:horizon, x : x + bw] = colour
        win = max(2, h // 40)
        for wy in range(top + win, horizon - win, 3 * win):
            for wx in range(x + win, x + bw - win, 3 * win):
                lit = rng.random() < 0.3
                img[wy : wy + win, wx : wx + win] = (240, 230, 150) if lit else colour * 0.45
        x += bw + int(rng.integers(0, max(1, w // 40)))

    # Pavement and road below the horizon; the road is a trapezoid in perspective.
    img[horizon:] = (150, 145, 140)
    cx = 0.5 * w
    road = _fill_polygon(
        (h, w), np.array([cx - 0.04 * w, cx + 0.04 * w, 1.1 * w, -0.1 * w]), np.array([horizon, horizon, h, h])
    )
    img[road] = (80, 80, 85)
    # Dashed centre line, narrowing with distance.
    depth = (yy - horizon) / max(h - horizon, 1)
    dashes = (
        (np.abs(xx - cx) < 0.5 + 2.5 * depth)
        & (np.sin(18 * np.sqrt(np.clip(depth, 0, 1)) * np.pi) > 0)
        & (yy > horizon + 2)
    )
    img[dashes] = (235, 235, 220)

    # Trees: dark green discs on the left pavement.
    for _ in range(3):
        tx = rng.uniform(0.02, 0.25) * w
        ty = horizon + rng.uniform(-0.12, 0.0) * h
        r = rng.uniform(0.05, 0.09) * h
        disc = (xx - tx) ** 2 + (yy - ty) ** 2 < r**2
        img[disc] = rng.uniform([20, 80, 20], [60, 130, 50])
        img[int(ty) : int(ty + 0.15 * h), int(tx) - 1 : int(tx) + 1] = (90, 60, 30)

    # A pole: a thin structure, one or two pixels wide.
    px = int(0.8 * w)
    img[int(0.2 * h) : int(0.75 * h), px : px + max(1, w // 128)] = (50, 50, 50)

    # A car: a red body with a darker cabin and two black wheels.
    car_w, car_h = int(0.22 * w), int(0.12 * h)
    x0, y0 = int(0.55 * w), int(0.68 * h)
    img[y0 : y0 + car_h, x0 : x0 + car_w] = (190, 30, 35)
    img[y0 - car_h // 2 : y0, x0 + car_w // 5 : x0 + 4 * car_w // 5] = (120, 20, 25)
    img[y0 - car_h // 2 + 2 : y0 - 1, x0 + car_w // 5 + 2 : x0 + 4 * car_w // 5 - 2] = (150, 190, 210)
    for wx in (x0 + car_w // 5, x0 + 4 * car_w // 5):
        wheel = (xx - wx) ** 2 + (yy - (y0 + car_h)) ** 2 < (0.045 * h) ** 2
        img[wheel] = (15, 15, 15)

    img += rng.normal(0.0, 2.0, size=img.shape)  # a little sensor noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance (ITU-R BT.601) of an RGB uint8 image as float64 in ``[0, 1]``."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"to_gray expects an (H, W, 3) RGB image, got shape {image.shape}.")
    return (image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255.0
