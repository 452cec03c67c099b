"""Shared pieces of every dataset preparer: reading, validating and writing pairs.

Every preparer (MiniDrive, CamVid, IDD, Cityscapes) ends in the same prepared
format::

    <out>/dataset.json
    <out>/<split>/images/<id>.png     RGB
    <out>/<split>/labels/<id>.png     uint8 class ids, 255 = void

The output is always built in a temporary sibling folder and renamed into place
at the very end (:func:`atomic_output`), so an interrupted run never leaves a
half-written dataset behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IGNORE_INDEX = 255
DATASET_JSON = "dataset.json"
SPLITS = ("train", "val", "test")
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
            label = label.astype(np.uint8)
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


def resize_pair(image: np.ndarray, label: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area/linear) and its label (nearest neighbour, always) to ``(H, W)``."""
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return image, label
    h, w = int(size[0]), int(size[1])
    shrinking = h * w < image.shape[0] * image.shape[1]
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    label = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
    return image, label


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to ``out`` on success.

    On any exception (including ``KeyboardInterrupt``) the temporary folder is
    removed and ``out`` is left exactly as it was. When ``out`` already exists it
    is replaced only with ``overwrite=True``; if another process finished the
    same ``out`` first, that result is kept and this one discarded.

    Yields:
        The temporary folder to write into.
    """
    out = Path(out).expanduser().absolute()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists. Choose another --out or pass --overwrite.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        if overwrite:
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
        else:  # someone else finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return
    try:
        os.replace(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.exists() and old is not None:
            os.replace(old, out)
            old = None
        if not out.exists():
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class SourcePair:
    """One source image and its label file, identified by ``id`` (the output file stem)."""

    id: str
    image: Path
    label: Path


def match_pairs(
    images: dict[str, Path],
    labels: dict[str, Path],
    where: str,
    skip_bad: bool = False,
    excluded: list[str] | None = None,
) -> list[SourcePair]:
    """Pair images and labels by id; unmatched files are an error (or listed with ``skip_bad``)."""
    only_img = sorted(set(images) - set(labels))
    only_lbl = sorted(set(labels) - set(images))
    if (only_img or only_lbl) and not skip_bad:
        parts = []
        if only_img:
            parts.append(f"{len(only_img)} image(s) without a label, e.g. {images[only_img[0]]}")
        if only_lbl:
            parts.append(f"{len(only_lbl)} label(s) without an image, e.g. {labels[only_lbl[0]]}")
        raise ValueError(
            f"Unmatched files in {where}: "
            + "; ".join(parts)
            + ". Restore the missing files or pass --skip-bad to leave them out."
        )
    if excluded is not None:
        excluded += [f"{images[i]}: no label" for i in only_img]
        excluded += [f"{labels[i]}: no image" for i in only_lbl]
    return [SourcePair(i, images[i], labels[i]) for i in sorted(set(images) & set(labels))]


def check_label_values(label: np.ndarray, num_classes: int, path: Path | str) -> None:
    """Raise :class:`BadPairError` if ``label`` holds values outside ``{0..C-1, 255}``."""
    values = np.unique(label)
    bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
    if bad.size:
        raise BadPairError(
            f"Label {path} holds values {bad.tolist()[:10]} outside the class set "
            f"0..{num_classes - 1} (and 255 for void). Check that it is a class-id label of this dataset."
        )


@dataclass
class PrepareResult:
    """What a preparer wrote: counts per split and the pairs left out with ``--skip-bad``."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)


def convert_pair(
    pair: SourcePair,
    load_label: Callable[[SourcePair], np.ndarray],
    num_classes: int,
    size: tuple[int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read, convert, validate and resize one pair (raises :class:`BadPairError`)."""
    image = read_image(pair.image)
    label = load_label(pair)
    if image.shape[:2] != label.shape[:2]:
        raise BadPairError(
            f"Size mismatch: image {pair.image} is {image.shape[1]}x{image.shape[0]} but label "
            f"{pair.label} is {label.shape[1]}x{label.shape[0]} (width x height). "
            "They must come from the same frame."
        )
    check_label_values(label, num_classes, pair.label)
    return resize_pair(image, label, size)


def write_prepared(
    out: str | os.PathLike,
    *,
    name: str,
    classes: Sequence[str],
    palette: Sequence[Sequence[int]],
    splits: dict[str, list[SourcePair]],
    load_label: Callable[[SourcePair], np.ndarray],
    size: tuple[int, int] | None,
    source: str,
    skip_bad: bool = False,
    excluded: list[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    notes: str = "",
) -> PrepareResult:
    """Convert every pair of every split into the prepared format, atomically.

    Args:
        out: output folder (must not exist unless ``overwrite``).
        name, classes, palette, source, notes: written to ``dataset.json``.
        splits: split name -> source pairs (each split must be non-empty).
        load_label: reads one pair's label as ``uint8`` class ids (255 void).
        size: ``(H, W)`` to resize to, or ``None`` to keep the native size (all
            pairs must then share one size).
        skip_bad: leave out pairs that fail (listed in the result and in
            ``dataset.json``) instead of stopping at the first one.
        excluded: pairs already excluded earlier (e.g. unmatched files).
        progress: show a tqdm bar per split.
    """
    from tqdm.auto import tqdm

    result = PrepareResult(root=Path(out).expanduser().absolute(), excluded=list(excluded or []))
    for split, pairs in splits.items():
        if not pairs:
            raise ValueError(f"Split {split!r} of {name} is empty: no image/label pairs were found.")
    image_size = tuple(size) if size is not None else None
    with atomic_output(out, overwrite=overwrite) as tmp:
        for split, pairs in splits.items():
            (tmp / split / "images").mkdir(parents=True)
            (tmp / split / "labels").mkdir(parents=True)
            count = 0
            for pair in tqdm(pairs, desc=f"{name} {split}", unit="img", disable=not progress):
                try:
                    image, label = convert_pair(pair, load_label, len(classes), size)
                    if image_size is None:
                        image_size = tuple(image.shape[:2])
                    elif tuple(image.shape[:2]) != image_size:
                        raise BadPairError(
                            f"{pair.image} is {image.shape[1]}x{image.shape[0]} but earlier images are "
                            f"{image_size[1]}x{image_size[0]} (width x height). Pass --height and "
                            "--width to resize everything to one size."
                        )
                except (BadPairError, FileNotFoundError) as err:
                    if not skip_bad:
                        raise
                    result.excluded.append(str(err))
                    continue
                write_png(tmp / split / "images" / f"{pair.id}.png", image)
                write_png(tmp / split / "labels" / f"{pair.id}.png", label)
                count += 1
            if count == 0:
                raise ValueError(f"Split {split!r} of {name} is empty after leaving out bad pairs.")
            result.counts[split] = count
        write_dataset_json(
            tmp,
            name=name,
            classes=classes,
            palette=palette,
            image_size=image_size,
            counts=result.counts,
            source=source,
            excluded=result.excluded,
            notes=notes,
        )
    return result


def write_dataset_json(
    root: Path,
    *,
    name: str,
    classes: Sequence[str],
    palette: Sequence[Sequence[int]],
    image_size: Sequence[int] | None,
    counts: dict[str, int],
    source: str,
    excluded: Iterable[str] = (),
    notes: str = "",
) -> None:
    """Write ``dataset.json`` (the description :func:`course_utils.data.load_info` reads)."""
    if len(classes) != len(palette):
        raise ValueError(f"{len(classes)} classes but {len(palette)} palette colours")
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "classes": list(classes),
        "palette": [[int(c) for c in rgb] for rgb in palette],
        "ignore_index": IGNORE_INDEX,
        "image_size": [int(image_size[0]), int(image_size[1])] if image_size else None,
        "counts": {k: int(v) for k, v in counts.items()},
        "source": source,
        "excluded": list(excluded),
        "notes": notes,
    }
    (Path(root) / DATASET_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def list_files(folder: Path, suffix: str, recursive: bool = True) -> dict[str, Path]:
    """Map ``stem-without-suffix -> path`` for files ending in ``suffix`` under ``folder``."""
    pattern = f"**/*{suffix}" if recursive else f"*{suffix}"
    found: dict[str, Path] = {}
    for p in sorted(folder.glob(pattern)):
        if p.is_file():
            key = p.name[: -len(suffix)]
            if key in found:
                raise ValueError(f"Duplicate id {key!r}: {found[key]} and {p}")
            found[key] = p
    return found


def require_dir(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a folder, else raise a ``FileNotFoundError`` naming the fix."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"Missing {what}: {path} is not a folder. {fix}")
    return Path(path)


# --------------------------------------------------------------------------- command lines

#: Errors a preparation script reports as one line (exit status 2) instead of a traceback.
CLI_ERRORS = (ConnectionError, ValueError, FileNotFoundError, FileExistsError)


def add_prepare_arguments(parser, default_size: tuple[int, int] | None = None) -> None:
    """Add the options every preparation script shares: output size, --skip-bad, --overwrite."""
    hint = f" (default {default_size[0]}x{default_size[1]})" if default_size else " (default: keep the size)"
    parser.add_argument(
        "--height",
        type=int,
        default=default_size[0] if default_size else None,
        help="output height; labels are resized with nearest neighbour" + hint,
    )
    parser.add_argument(
        "--width",
        type=int,
        default=default_size[1] if default_size else None,
        help="output width; labels are resized with nearest neighbour" + hint,
    )
    parser.add_argument("--skip-bad", action="store_true", help="leave out bad pairs and list them")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def size_from_args(parser, args) -> tuple[int, int] | None:
    """The ``(height, width)`` the arguments ask for, or ``None``; both or neither must be given."""
    if (args.height is None) != (args.width is None):
        parser.error("give both --height and --width, or neither")
    return (args.height, args.width) if args.height else None


def run_preparation(name: str, prepare: Callable[[], PrepareResult]) -> int:
    """Run ``prepare()``, print excluded pairs and counts; one-line error and status 2 on bad input."""
    import sys

    try:
        result = prepare()
    except CLI_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for item in result.excluded:
        print(f"excluded: {item}")
    print(f"{name} written to {result.root}: {result.counts}")
    return 0
