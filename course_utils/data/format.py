"""The prepared dataset format: ``dataset.json``, image/label pairs, reading and writing them.

A prepared dataset is a folder::

    <root>/dataset.json                 name, classes, palette, ignore_index, image_size, counts
    <root>/<split>/images/<id>.png      RGB
    <root>/<split>/labels/<id>.png      uint8 class ids in [0, num_classes) or 255 (void)

written by ``data_scripts/*.py`` (see :mod:`course_utils.datasets`). Every
layer above reads it through this module; the void id :data:`IGNORE_INDEX`
lives here (losses, metrics and augmentation ignore it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from course_utils.config import DATASETS, data_dir

IGNORE_INDEX = 255
DATASET_JSON = "dataset.json"
FORMAT_VERSION = 1


class BadPairError(ValueError):
    """One image/label pair cannot be used (unreadable, wrong size, bad label values...)."""


# --------------------------------------------------------------------------- reading


def _decode(path: Path, flags: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"File not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    array = cv2.imdecode(data, flags) if data.size else None
    if array is None:
        raise BadPairError(
            f"Cannot decode {path}: the file is empty, truncated or not an image. "
            "Replace it with a readable image (for a dataset: re-download or re-extract it, "
            "or let the preparation script leave the pair out with --skip-bad)."
        )
    return array


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Raises:
        FileNotFoundError: the file does not exist.
        BadPairError: (a ``ValueError``) the file is unreadable or truncated.
    """
    bgr = _decode(Path(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label(path: str | os.PathLike) -> np.ndarray:
    """Read a single-channel label PNG as a ``uint8`` array of shape ``(H, W)``.

    Raises:
        FileNotFoundError: the file does not exist.
        BadPairError: the file is unreadable/truncated, not single-channel or not 8-bit.
    """
    path = Path(path)
    label = _decode(path, cv2.IMREAD_UNCHANGED)
    if label.ndim != 2:
        raise BadPairError(
            f"Label {path} has shape {label.shape}: labels must be single-channel images of "
            "class ids (not colour-coded masks)."
        )
    if label.dtype != np.uint8:
        if label.dtype == np.uint16 and label.max(initial=0) <= 255:
            label = label.astype(np.uint8)  # the same ids stored in 16 bits
        elif label.dtype == np.uint16:
            raise BadPairError(
                f"Label {path} holds the value {int(label.max())}, which is neither a class id nor void (255): "
                "store the class ids 0..C-1 and 255 for void (8 or 16 bits), or prepare the dataset again."
            )
        else:
            raise BadPairError(f"Label {path} has dtype {label.dtype}; expected 8-bit class ids.")
    return label


# --------------------------------------------------------------------------- writing


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an RGB ``(H, W, 3)`` or single-channel ``(H, W)`` ``uint8`` array as PNG."""
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_png expects uint8, got {array.dtype} for {path}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 only fails on impossible input
        raise OSError(f"Could not encode {path}")
    buf.tofile(str(path))


@dataclass(frozen=True)
class DatasetInfo:
    """What ``dataset.json`` says about a prepared dataset."""

    name: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    image_size: tuple[int, int] | None = None
    counts: dict | None = None
    source: str = ""
    root: Path | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes (void excluded)."""
        return len(self.classes)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tag_png(path: str | os.PathLike, key: str, value: str) -> None:
    """Add a ``tEXt`` chunk ``key=value`` right after the header of the PNG at ``path`` (rewrites it)."""
    import struct
    import zlib

    path = Path(path)
    raw = path.read_bytes()
    if not (raw.startswith(_PNG_SIGNATURE) and raw[12:16] == b"IHDR"):
        raise ValueError(f"{path} is not a PNG file; cannot tag it.")
    body = b"tEXt" + key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    end_of_header = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    path.write_bytes(raw[:end_of_header] + chunk + raw[end_of_header:])


def png_text(path: str | os.PathLike) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG file as ``{key: value}`` (empty for another format or an unreadable file)."""
    import struct

    try:
        raw = Path(path).read_bytes()
    except OSError:
        return {}
    if not raw.startswith(_PNG_SIGNATURE):
        return {}
    found, pos = {}, 8
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        kind, data = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + length]
        if kind == b"tEXt" and b"\0" in data:
            key, value = data.split(b"\0", 1)
            found[key.decode("latin-1")] = value.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return found


def _fix_hint(root: Path) -> str:
    """The command that prepares ``root``; never one that would write over existing files.

    A folder that already holds files (e.g. a raw download) is a source, not an
    output: the hint then prepares into ``data_dir()/<name>`` (reading it as
    ``--source`` for CamVid) instead of suggesting ``--out <that folder>``.
    """
    name = root.name.split("-")[0].lower()
    cmd = DATASETS.get(name)
    if not cmd:
        return "Prepare a dataset with one of the scripts in data_scripts/ (e.g. make_minidrive.py)."
    try:
        occupied = root.exists() and (not root.is_dir() or any(root.iterdir()))
    except OSError:
        occupied = True
    if not occupied:
        return f"Prepare it with `{cmd.format(out=root)}`."
    out = data_dir() / name
    if out.resolve() == root.resolve() or out.exists():
        out = data_dir() / f"{name}-prepared"
    if name == "camvid" and (root / "train").is_dir() and (root / "trainannot").is_dir():
        cmd = cmd.replace("--out", f"--source {root} --out")
        return f"{root} looks like a raw CamVid copy; prepare it into a new folder with `{cmd.format(out=out)}`."
    return f"Prepare it into a new folder (not {root}, which holds other files): `{cmd.format(out=out)}`."


def load_info(root: str | os.PathLike) -> DatasetInfo:
    """Read ``<root>/dataset.json``.

    Raises:
        FileNotFoundError: no ``dataset.json`` (names the script that makes one).
        ValueError: the file is not valid JSON or misses fields.
    """
    root = Path(root).expanduser()
    meta_path = root / DATASET_JSON
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: {root} is not a prepared dataset. {_fix_hint(root)}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        classes = tuple(str(c) for c in meta["classes"])
        palette = tuple(tuple(int(v) for v in rgb) for rgb in meta["palette"])
        size = meta.get("image_size")
        info = DatasetInfo(
            name=str(meta["name"]),
            classes=classes,
            palette=palette,
            ignore_index=int(meta.get("ignore_index", IGNORE_INDEX)),
            image_size=(int(size[0]), int(size[1])) if size else None,
            counts={str(k): int(v) for k, v in meta.get("counts", {}).items()},
            source=str(meta.get("source", "")),
            root=root.resolve(),
        )
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise ValueError(
            f"{meta_path} is invalid ({err!r}). Delete the folder and prepare it again: {_fix_hint(root)}"
        ) from err
    if not classes or len(palette) != len(classes) or any(len(c) != 3 for c in palette):
        raise ValueError(
            f"{meta_path} is invalid: {len(classes)} classes but {len(palette)} RGB colours. {_fix_hint(root)}"
        )
    return info


def held_out_split(root: str | os.PathLike) -> str:
    """The split that held-out scores are reported on: ``"test"`` where the dataset has one, else ``"val"``.

    A dataset prepared from a source without a test split (a CamVid copy with
    train and val only) is scored on val; the notebooks print which split they used.
    """
    counts = load_info(root).counts or {}
    if counts:
        return "test" if counts.get("test") else "val"
    return "test" if (Path(root).expanduser() / "test" / "images").is_dir() else "val"


def list_pairs(root: str | os.PathLike, split: str) -> list[tuple[Path, Path]]:
    """Validated ``(image, label)`` paths of a split, sorted by id.

    Raises:
        FileNotFoundError: the split folder or its images/labels folder is missing.
        ValueError: an image without a label or the reverse, or an empty split.
    """
    root = Path(root).expanduser()
    split_dir = root / split
    img_dir, lbl_dir = split_dir / "images", split_dir / "labels"
    for d in (img_dir, lbl_dir):
        if not d.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise FileNotFoundError(
                f"Missing folder {d}. Splits present in {root}: {present or 'none'}. {_fix_hint(root)}"
            )
    images = {p.stem: p for p in img_dir.glob("*.png")}
    labels = {p.stem: p for p in lbl_dir.glob("*.png")}
    if set(images) != set(labels):
        only_i, only_l = sorted(set(images) - set(labels)), sorted(set(labels) - set(images))
        msg = []
        if only_i:
            msg.append(f"{len(only_i)} image(s) without a label, e.g. {images[only_i[0]]}")
        if only_l:
            msg.append(f"{len(only_l)} label(s) without an image, e.g. {labels[only_l[0]]}")
        raise ValueError(
            f"Split {split!r} of {root} is inconsistent: "
            + "; ".join(msg)
            + f". Prepare the dataset again. {_fix_hint(root)}"
        )
    if not images:
        raise ValueError(f"Split {split!r} of {root} is empty (no PNG in {img_dir}). {_fix_hint(root)}")
    return [(images[k], labels[k]) for k in sorted(images)]
