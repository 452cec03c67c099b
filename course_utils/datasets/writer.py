"""Shared pieces of every dataset preparer: validating and writing pairs (reading: :mod:`course_utils.data.format`).

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

from course_utils import safe_io
from course_utils.data.format import (
    _PNG_SIGNATURE,
    DATASET_JSON,
    FORMAT_VERSION,
    IGNORE_INDEX,
    BadPairError,
    read_image,
    read_label,
    write_png,
)


def resize_pair(image: np.ndarray, label: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area/linear) and its label (nearest neighbour, always) to ``(H, W)``."""
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return image, label
    h, w = int(size[0]), int(size[1])
    shrinking = h * w < image.shape[0] * image.shape[1]
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    label = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
    return image, label


def recover_interrupted(out: str | os.PathLike) -> None:
    """Tidy what a killed preparation of ``out`` left next to it.

    ``.<name>.partial-<pid>-*`` folders of processes that no longer run are
    deleted. A ``.<name>.old-*`` folder is the previous dataset set aside for a
    replacement: it is deleted when ``out`` exists, and renamed back to ``out``
    when the kill came between the two renames (so nothing is lost).
    """
    out = Path(out).expanduser().absolute()
    parent = out.parent
    if not parent.is_dir():
        return
    for p in sorted(parent.glob(f".{out.name}.partial-*")):
        pid = p.name.rsplit(".partial-", 1)[1].split("-")[0]
        if not pid.isdigit() or not safe_io.pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
    for p in sorted(parent.glob(f".{out.name}.old-*")):
        pid = p.name.rsplit(".old-", 1)[1].split("-")[0]
        if pid.isdigit() and safe_io.pid_alive(int(pid)):
            continue
        if not out.exists() and (p / DATASET_JSON).is_file():
            os.replace(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def check_replaceable(out: str | os.PathLike, kind: str | None = None) -> None:
    """Refuse to replace ``out`` unless it is a prepared dataset (of ``kind``) or an empty folder.

    Raises:
        FileExistsError: ``out`` holds anything else (its content is not ours to delete).
    """
    out = Path(out).expanduser().absolute()
    if not out.exists():
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    meta = out / DATASET_JSON
    name = None
    if meta.is_file():
        try:
            name = json.loads(meta.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            name = None
    if not meta.is_file() or (kind is not None and name != kind):
        what = f"a prepared {kind} dataset" if kind else "a prepared dataset"
        found = f"a {name} dataset" if name else f"no readable {DATASET_JSON}"
        raise FileExistsError(
            f"Refusing to replace {out}: --overwrite only replaces {what}, and it holds {found}. "
            "Choose another --out (or delete that folder yourself if it is really disposable)."
        )


def resolve_path(path: str | os.PathLike, option: str) -> Path:
    """``Path(path).resolve()``, with a symbolic link loop as one clear ``ValueError`` naming the option.

    Raises:
        ValueError: ``path`` (or a folder on the way to it) is a link that points back to itself.
    """
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as err:  # Python < 3.13: RuntimeError("Symlink loop from ...")
        raise ValueError(
            f"{option} {path} is a symbolic link loop (it leads back to itself, {err}): pass the real folder."
        ) from None


def check_out_apart(out: str | os.PathLike, source: str | os.PathLike, option: str = "--source") -> None:
    """Refuse an output folder equal to, inside, or containing the source folder.

    Raises:
        ValueError: one line naming both folders.
    """
    o = resolve_path(out, "--out")
    s = resolve_path(source, option)
    if o == s or s in o.parents or o in s.parents:
        rel = "is" if o == s else ("is inside" if s in o.parents else "contains")
        raise ValueError(
            f"--out {o} {rel} {option} {s}: the output is replaced as a whole, so it must be a separate "
            f"folder. Choose an --out outside {s}, e.g. data/<name>."
        )


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike, overwrite: bool = False, kind: str | None = None) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to ``out`` on success.

    On any exception (including ``KeyboardInterrupt``) the temporary folder is
    removed and ``out`` is left exactly as it was. When ``out`` already exists it
    is replaced only with ``overwrite=True``, and only when it is a prepared
    dataset (of ``kind`` when given, see :func:`check_replaceable`) or an empty
    folder; if another process finished the same ``out`` first, that result is
    kept and this one discarded. Leftovers of killed runs are tidied first
    (:func:`recover_interrupted`).

    Yields:
        The temporary folder to write into.
    """
    out = Path(out).expanduser().absolute()
    recover_interrupted(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder. Choose another --out.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists. Choose another --out or pass --overwrite.")
    if overwrite:
        check_replaceable(out, kind)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except (FileExistsError, NotADirectoryError) as err:
        raise FileExistsError(
            f"Cannot create {out}: a parent of it is a file ({err.filename}). Choose another --out."
        ) from err
    except PermissionError as err:
        raise PermissionError(
            f"Cannot create {out}: permission denied in {err.filename}. Choose a writable --out."
        ) from err
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        if overwrite:
            old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
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


CHECK_CACHE = ".pairs-checked.json"


def _check_pair(root: Path, lbl: Path, img: Path, num_classes: int) -> None:
    label = read_label(lbl)
    values = np.flatnonzero(np.bincount(label.ravel(), minlength=256))
    bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
    if bad.size:
        raise BadPairError(
            f"Label {lbl} holds class ids {bad.tolist()[:10]} but {root / DATASET_JSON} lists {num_classes} "
            f"classes (ids 0..{num_classes - 1}, 255 void): prepare the dataset again, or fix its classes."
        )
    if not img.is_file():
        raise FileNotFoundError(f"Label {lbl} has no image {img}: prepare the dataset again.")
    h, w = _png_size(img)
    if (h, w) != label.shape:
        raise BadPairError(
            f"Image {img} is {w}x{h} but its label {lbl} is "
            f"{label.shape[1]}x{label.shape[0]} (width x height): prepare the dataset again."
        )


_PNG_END = b"IEND\xaeB`\x82"


def _png_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of a complete PNG without decoding its pixels (a truncated file has no IEND).

    Other formats are decoded in full. Raises :class:`BadPairError` for an
    unreadable or truncated file.
    """
    raw = Path(path).read_bytes()
    if raw.startswith(_PNG_SIGNATURE) and raw[12:16] == b"IHDR":
        if not raw.rstrip(b"\0").endswith(_PNG_END):
            raise BadPairError(
                f"Cannot decode {path}: the file is truncated (no PNG end marker). Prepare the dataset again."
            )
        return int.from_bytes(raw[20:24], "big"), int.from_bytes(raw[16:20], "big")
    return tuple(read_image(path).shape[:2])  # type: ignore[return-value]


def check_prepared(root: str | os.PathLike, splits: Sequence[str], num_classes: int) -> int:
    """Check every pair of ``splits`` once: decodable PNGs, matching sizes, class ids in range.

    Catches what would otherwise stop training inside TensorFlow with a long
    traceback: a truncated PNG, a label value outside ``{0..C-1, 255}`` (also
    what a ``dataset.json`` with the wrong class count looks like), an image
    and label of different sizes. Results are cached in ``<root>/.pairs-checked.json``
    by file size and modification time, so later runs only look at changed
    files (the cache is skipped silently on a read-only dataset).

    Returns:
        The number of pairs that were actually decoded (0 when all were cached).

    Raises:
        BadPairError, FileNotFoundError: one line naming the file and the fix.
    """
    root = Path(root)
    cache_path = root / CHECK_CACHE
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
        if cache.get("num_classes") != num_classes:
            cache = {}
    except (OSError, ValueError):
        cache = {}
    seen = dict(cache.get("files", {}))
    checked = 0
    for split in splits:
        lbl_dir = root / split / "labels"
        if not lbl_dir.is_dir():
            continue
        for lbl in sorted(lbl_dir.glob("*.png")):
            img = root / split / "images" / lbl.name
            key = f"{split}/{lbl.name}"
            try:
                st_l, st_i = lbl.stat(), img.stat()
                sig = [st_l.st_size, st_l.st_mtime_ns, st_i.st_size, st_i.st_mtime_ns]
            except OSError:
                sig = None
            if sig is not None and seen.get(key) == sig:
                continue
            _check_pair(root, lbl, img, num_classes)
            seen[key] = sig
            checked += 1
    if checked:
        try:
            tmp = root / f".{CHECK_CACHE}.tmp-{os.getpid()}"
            tmp.write_text(json.dumps({"num_classes": num_classes, "files": seen}), encoding="utf-8")
            os.replace(tmp, cache_path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()  # a read-only dataset: check again next time
    return checked


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
    with atomic_output(out, overwrite=overwrite, kind=name) as tmp:
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


# --------------------------------------------------------------------------- sizes that fit

#: Bytes per pixel a generated or prepared scene needs at least (RGB, label, float32 working copies).
SCENE_BYTES_PER_PIXEL = 32
#: Bytes per pixel a DeepLabV3 forward and backward pass needs at least (activations of every layer).
MODEL_BYTES_PER_PIXEL = 1024
#: Bytes per pixel of a forward pass alone (inference keeps few activations alive at once).
INFERENCE_BYTES_PER_PIXEL = 256


def physical_memory() -> int:
    """Bytes of physical memory of this machine (``0`` where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 0


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_size_fits(
    size: Sequence[int],
    what: str,
    batch: int = 1,
    bytes_per_pixel: int = MODEL_BYTES_PER_PIXEL,
    memory: int | None = None,
) -> None:
    """Refuse, up front, a ``(height, width)`` whose batch cannot fit in this machine's memory.

    The need is a lower bound: ``batch * height * width * bytes_per_pixel``.

    Raises:
        ValueError: one line with the memory the size would need, the memory
            there is, and the largest square side that fits.
    """
    h, w = (int(v) for v in size)
    memory = physical_memory() if memory is None else int(memory)
    need = max(1, int(batch)) * h * w * int(bytes_per_pixel)
    if memory and need > memory:
        side = int((memory / (max(1, int(batch)) * bytes_per_pixel)) ** 0.5)
        raise ValueError(
            f"{what} {h} x {w} would need at least {_gib(need)} of memory"
            f"{f' for a batch of {batch}' if batch > 1 else ''} (this machine has {_gib(memory)}): "
            f"choose a smaller size, at most about {side} x {side} pixels."
        )
