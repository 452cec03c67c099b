"""The prepared dataset format and the tf.data input pipeline.

A prepared dataset is a folder::

    <root>/dataset.json                 name, classes, palette, ignore_index, image_size, counts
    <root>/<split>/images/<id>.png      RGB
    <root>/<split>/labels/<id>.png      uint8 class ids in [0, num_classes) or 255 (void)

written by ``data_scripts/*.py`` (see :mod:`course_utils.datasets`).
:func:`make_dataset` turns a split into a ``tf.data.Dataset`` of
``(image float32 [B, H, W, 3] in [-1, 1], label int32 [B, H, W])``; the void
label 255 is kept (losses and metrics ignore it). Labels are never
interpolated: they are resized with nearest neighbour, cropped, padded with 255
and flipped, so their values always stay in ``{0..C-1, 255}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .datasets.common import DATASET_JSON, IGNORE_INDEX, read_image, read_label

DATASET_ENV = "COURSE_DATASET"
#: Preference order of the "auto" dataset choice.
AUTO_ORDER = ("cityscapes", "idd", "camvid", "minidrive")
PREPARE_COMMANDS = {
    "minidrive": "python data_scripts/make_minidrive.py --out {out}",
    "camvid": "python data_scripts/get_camvid.py --out {out}",
    "idd": "python data_scripts/prepare_idd.py --root IDD_ROOT --out {out}",
    "cityscapes": "python data_scripts/prepare_cityscapes.py --root CITYSCAPES_ROOT --out {out}",
}
DEFAULT_MINIDRIVE_SIZE = (240, 480)
MINIDRIVE_SEED = 2024
#: Largest decoded split (bytes) that make_dataset keeps in memory by default.
CACHE_BUDGET_BYTES = 1 << 30

__all__ = [
    "DatasetInfo",
    "load_info",
    "list_pairs",
    "held_out_split",
    "normalize_image",
    "denormalize_image",
    "make_dataset",
    "read_image",
    "read_label",
    "class_frequencies",
    "class_weights",
    "find_dataset",
    "ensure_minidrive",
    "ensure_camvid",
    "network_reachable",
]


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


def _fix_hint(root: Path) -> str:
    """The command that prepares ``root``; never one that would write over existing files.

    A folder that already holds files (e.g. a raw download) is a source, not an
    output: the hint then prepares into ``data_dir()/<name>`` (reading it as
    ``--source`` for CamVid) instead of suggesting ``--out <that folder>``.
    """
    name = root.name.split("-")[0].lower()
    cmd = PREPARE_COMMANDS.get(name)
    if not cmd:
        return "Prepare a dataset with one of the scripts in data_scripts/ (e.g. make_minidrive.py)."
    try:
        occupied = root.exists() and (not root.is_dir() or any(root.iterdir()))
    except OSError:
        occupied = True
    if not occupied:
        return f"Prepare it with `{cmd.format(out=root)}`."
    out = config.data_dir() / name
    if out.resolve() == root.resolve() or out.exists():
        out = config.data_dir() / f"{name}-prepared"
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


def normalize_image(x):
    """Map RGB values in 0..255 (uint8 or float, NumPy or tensor) to float32 in [-1, 1]."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np.asarray(x, np.float32) / 127.5 - 1.0
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 127.5 - 1.0


def denormalize_image(x) -> np.ndarray:
    """Inverse of :func:`normalize_image`: float in [-1, 1] to ``uint8`` 0..255 (for plotting)."""
    x = np.asarray(x, np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- tf.data


def _augment_train(image, label, seed, crop, scale_range, augment):
    """Random scale + crop with void padding + flip, jitter drawn (:func:`course_utils.augment.crop_tf`).

    The seven uniforms come from ``tf.random.stateless_uniform`` with ``seed``.
    """
    import tensorflow as tf

    from . import augment as aug

    u = tf.random.stateless_uniform([aug.N_UNIFORMS], seed)
    return aug.crop_tf(image, label, u, crop, scale_range, augment)


def _jitter_batch(images, labels, jitter):
    """Normalise a batch to [-1, 1] and apply its jitter (:func:`course_utils.augment.jitter_batch`)."""
    from . import augment as aug

    return aug.jitter_batch(images, jitter, aug.tf_ops()), labels


def make_dataset(
    root: str | os.PathLike,
    split: str,
    batch_size: int,
    training: bool,
    image_size: tuple[int, int] | None = None,
    shuffle: bool | None = None,
    augment: bool | None = None,
    seed: int | None = None,
    max_images: int | None = None,
    repeat: bool = False,
    scale_range: tuple[float, float] = (0.5, 2.0),
    *,
    num_parallel_calls: int | None = None,
    cache: bool | None = None,
):
    """A ``tf.data.Dataset`` of ``(image, label)`` batches from a prepared split.

    Args:
        root: prepared dataset folder.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size: images per batch.
        training: ``True``: shuffle, augment (random scale in ``scale_range`` +
            random crop to ``image_size`` with void padding, horizontal flip,
            light brightness/contrast/saturation jitter) and drop the last
            incomplete batch. ``False``: no augmentation; resize to
            ``image_size`` when given (bilinear image, nearest label), else the
            native size.
        image_size: ``(H, W)`` of crops (training; default the dataset's size)
            or of resized evaluation images.
        shuffle: override the shuffling (default: ``training``).
        augment: training only: ``False`` turns the augmentation off, so
            images are just resized to ``image_size`` (default: on).
        seed: makes shuffling and augmentation reproducible.
        max_images: use only the first ``max_images`` pairs (sorted by id).
        repeat: repeat forever (each pass reshuffles and re-augments).
        scale_range: range of the random scale factor.
        num_parallel_calls: decode/augment parallelism (default AUTOTUNE).
        cache: keep decoded images in memory after the first pass. Default:
            in training, when the split's decoded size is at most
            ``CACHE_BUDGET_BYTES`` (1 GiB).

    Returns:
        Batches of ``image float32 [B, H, W, 3]`` in [-1, 1] and
        ``label int32 [B, H, W]`` with values in ``{0..C-1, 255}``.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
    info = load_info(root)
    pairs = list_pairs(root, split)
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images}")
        pairs = pairs[:max_images]
    shuffle = training if shuffle is None else shuffle
    augment = training if augment is None else augment
    if training and image_size is None:
        if info.image_size is None:
            raise ValueError(f"{root}/dataset.json has no image_size: pass image_size=(H, W).")
        image_size = info.image_size
    if training and len(pairs) < batch_size:
        raise ValueError(
            f"Split {split!r} of {root} has {len(pairs)} images, fewer than batch_size="
            f"{batch_size}: training drops incomplete batches, so nothing would be yielded."
        )
    par = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls

    ds = tf.data.Dataset.from_tensor_slices(([str(a) for a, _ in pairs], [str(b) for _, b in pairs]))

    def decode(img_path, lbl_path):
        image = tf.io.decode_png(tf.io.read_file(img_path), channels=3)
        label = tf.io.decode_png(tf.io.read_file(lbl_path), channels=1)[..., 0]
        return image, label

    if cache is None:  # keep decoded training images in memory when they fit in the budget
        h, w = info.image_size or (0, 0)
        cache = training and len(pairs) * h * w * 4 <= CACHE_BUDGET_BYTES
    if cache:
        ds = ds.map(decode, num_parallel_calls=par).cache()
        if shuffle:
            ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    else:
        # shuffle the file names, not decoded images: a buffer of paths costs bytes, not gigabytes
        if shuffle:
            ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(decode, num_parallel_calls=par)
    if repeat:
        ds = ds.repeat()

    if training:
        crop = (int(image_size[0]), int(image_size[1]))
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))
        ds = ds.map(
            lambda pair, s: _augment_train(pair[0], pair[1], s, crop, (lo, hi), augment), num_parallel_calls=par
        )
        ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=par)
        # one XLA-compiled loop for the jitter (several full-size passes without it)
        ds = ds.map(tf.function(_jitter_batch, jit_compile=True), num_parallel_calls=par)
    else:
        size = None if image_size is None else (int(image_size[0]), int(image_size[1]))

        def prepare(image, label):
            if size is not None:
                image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
                label = tf.image.resize(label[..., None], size, method="nearest")[..., 0]
            return normalize_image(image), tf.cast(label, tf.int32)

        ds = ds.map(prepare, num_parallel_calls=par)
        ds = ds.batch(batch_size, num_parallel_calls=par)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- statistics


def class_frequencies(root: str | os.PathLike, split: str = "train", num_classes: int | None = None) -> np.ndarray:
    """Pixel count per class over a split (void excluded), ``int64`` of length ``num_classes``.

    Raises:
        ValueError: a label holds a value outside ``{0..C-1, 255}`` (names the file).
    """
    if num_classes is None:
        num_classes = load_info(root).num_classes
    counts = np.zeros(256, np.int64)
    for _, lbl in list_pairs(root, split):
        counts += np.bincount(read_label(lbl).ravel(), minlength=256)
        bad = np.flatnonzero(counts[num_classes:IGNORE_INDEX])
        if bad.size:
            raise ValueError(
                f"Label {lbl} holds class id {int(bad[0]) + num_classes} >= num_classes="
                f"{num_classes}. Prepare the dataset again."
            )
    return counts[:num_classes].copy()


def class_weights(frequencies, method: str = "inverse_log", c: float = 1.02) -> np.ndarray:
    """Per-class loss weights from pixel counts (or frequencies).

    Methods:
        ``"inverse_log"``: ``1 / ln(c + p)`` with ``p`` the class's share of
            pixels (ENet; the talk's reference code), ``c = 1.02``.
        ``"median"``: median frequency balancing, ``median(p) / p`` over the
            classes that occur (a simplification of Eigen & Fergus, who use the
            frequency among images containing the class). Absent classes get 0.

    Returns:
        ``float32`` weights, one per class.
    """
    f = np.asarray(frequencies, np.float64)
    if f.ndim != 1 or f.size == 0 or np.any(f < 0) or f.sum() <= 0:
        raise ValueError("frequencies must be a non-empty 1-D array of non-negative counts with a positive sum")
    p = f / f.sum()
    if method == "inverse_log":
        return (1.0 / np.log(c + p)).astype(np.float32)
    if method == "median":
        present = p > 0
        w = np.zeros_like(p)
        w[present] = np.median(p[present]) / p[present]
        return w.astype(np.float32)
    raise ValueError(f"Unknown class weight method {method!r}: use 'inverse_log' or 'median'.")


# --------------------------------------------------------------------------- dataset choice


def _is_prepared(root: Path) -> bool:
    try:
        load_info(root)
        return True
    except (FileNotFoundError, ValueError):
        return False


def ensure_minidrive(profile=None, root: str | os.PathLike | None = None) -> Path:
    """The MiniDrive dataset sized by the run profile, built on the spot if missing.

    The folder is ``data_dir()/minidrive-<profile name>`` (or ``root``); scene
    counts come from ``profile.minidrive_counts`` and the size from
    ``profile.eval_size`` (240x480 when that is ``None``). An existing folder
    with matching counts and size is reused; anything else is rebuilt.
    """
    from .config import get_profile
    from .datasets.minidrive import build_minidrive

    profile = profile or get_profile()
    size = tuple(profile.eval_size) if profile.eval_size else DEFAULT_MINIDRIVE_SIZE
    train, val, test = (int(n) for n in profile.minidrive_counts)
    root = Path(root) if root is not None else config.data_dir() / f"minidrive-{profile.name}"
    want = {k: v for k, v in (("train", train), ("val", val), ("test", test)) if v > 0}
    if _is_prepared(root):
        info = load_info(root)
        if (
            info.counts == want
            and info.image_size == size
            and all(len(list((root / s / "labels").glob("*.png"))) == n for s, n in want.items())
        ):
            return root.resolve()
    build_minidrive(root, train, val, test, size[0], size[1], seed=MINIDRIVE_SEED, overwrite=root.exists())
    return root.resolve()


#: A local CamVid copy in the SegNet layout that "auto" and "camvid" prepare instead of downloading.
CAMVID_SOURCE_ENV = "COURSE_CAMVID_SOURCE"
#: Host (and port) whose reachability decides whether a download is attempted.
NETWORK_PROBE = ("github.com", 443)


def network_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to :data:`NETWORK_PROBE` (GitHub, where CamVid lives) opens."""
    import socket

    try:
        with socket.create_connection(NETWORK_PROBE, timeout=timeout):
            return True
    except OSError:
        return False


def ensure_camvid(root: str | os.PathLike | None = None, source: str | os.PathLike | None = None, log=print) -> Path:
    """The prepared CamVid folder (``data_dir()/camvid`` or ``root``), prepared on the spot if missing.

    The source is ``source``, else the local copy named by ``COURSE_CAMVID_SOURCE``,
    else a download of the SegNet tutorial archive (about 200 MB; resumable, kept
    in ``<root>.download`` until the preparation succeeds). Frames keep their
    native 360x480. Says in one line what it does.

    Raises:
        ConnectionError: the download failed (offline); a re-run resumes it.
        ValueError, FileNotFoundError: the source or the archive is not CamVid.
    """
    import shutil

    from .datasets import camvid

    root = Path(root) if root is not None else config.data_dir() / "camvid"
    if _is_prepared(root):
        return root.resolve()
    source = source or os.environ.get(CAMVID_SOURCE_ENV, "").strip() or None
    if source is not None:
        log(f"Preparing CamVid from the local copy {source} into {root}.")
        camvid.prepare_camvid(source, root, overwrite=root.exists(), progress=True, log=log)
        return root.resolve()
    cache = root.parent / f"{root.name}.download"
    log(
        f"No real dataset is prepared: downloading CamVid (SegNet split, 701 road frames at 360x480, about "
        f"{camvid.CAMVID_DOWNLOAD_MB} MB, resumable) from {camvid.CAMVID_URL} into {root} (a few minutes, once)."
    )
    folder = camvid.download_camvid(cache, progress=True)
    camvid.prepare_camvid(folder, root, overwrite=root.exists(), progress=True, log=log)
    shutil.rmtree(cache, ignore_errors=True)  # the prepared copy is all the course reads
    return root.resolve()


def find_dataset(name: str | None = None, profile=None, log=print) -> Path:
    """Folder of the dataset to use; the run profile decides what "auto" may download.

    ``name`` (``None`` or ``"auto"``: the environment variable ``COURSE_DATASET``
    when it is set, else ``"auto"``) is ``"auto"``, a dataset name (``cityscapes``, ``idd``,
    ``camvid``, ``minidrive``) looked up as ``data_dir()/<name>``, or a path to a
    prepared folder.

    ``"auto"`` takes the first prepared real dataset in the order cityscapes >
    idd > camvid. When there is none and the profile names an ``auto_dataset``
    (``camvid`` in ``gpu``), that one is prepared on the spot
    (:func:`ensure_camvid`: the local copy of ``COURSE_CAMVID_SOURCE``, else a
    download when the network is reachable). Otherwise, or offline (said in one
    line), it is MiniDrive: ``data_dir()/minidrive`` when prepared, else built
    for the profile (:func:`ensure_minidrive`). IDD and Cityscapes need a
    registration and are never downloaded.

    ``"camvid"`` by name is prepared the same way when missing.

    Args:
        profile: the run profile (default: the active one).
        log: where the one-line messages go.

    Raises:
        FileNotFoundError: a named dataset is not prepared (the message gives
            the command that prepares it).
        ConnectionError: ``"camvid"`` was asked for by name and cannot be downloaded.
    """
    from .config import get_profile

    name = (name or "auto").strip()
    if name.lower() == "auto":  # a notebook's DATASET = "auto" defers to the environment's choice
        name = os.environ.get(DATASET_ENV, "").strip() or "auto"
    base = config.data_dir()
    key = name.lower()
    if key == "auto":
        for candidate in AUTO_ORDER:
            if candidate != "minidrive" and _is_prepared(base / candidate):
                return (base / candidate).resolve()
        profile = profile or get_profile()
        wanted = getattr(profile, "auto_dataset", None)
        if wanted == "camvid":
            if os.environ.get(CAMVID_SOURCE_ENV, "").strip() or network_reachable():
                try:
                    return ensure_camvid(base / "camvid", log=log)
                except ConnectionError as err:
                    reason = f"the download failed ({' '.join(str(err).split())[:160]})"
            else:
                reason = f"{NETWORK_PROBE[0]} cannot be reached (offline)"
            log(
                f"No real dataset is prepared and {reason}: using the synthetic MiniDrive scenes instead "
                f"(once online, re-run or `{PREPARE_COMMANDS['camvid'].format(out=base / 'camvid')}`)."
            )
        elif wanted is not None:
            raise ValueError(
                f"Profile {profile.name!r} names auto_dataset={wanted!r}; only 'camvid' can be downloaded."
            )
        if _is_prepared(base / "minidrive"):
            return (base / "minidrive").resolve()
        return ensure_minidrive(profile)
    if key in PREPARE_COMMANDS:
        root = base / key
        if _is_prepared(root):
            return root.resolve()
        if key == "minidrive":
            return ensure_minidrive(profile)
        if key == "camvid" and (os.environ.get(CAMVID_SOURCE_ENV, "").strip() or network_reachable()):
            return ensure_camvid(root, log=log)
        raise FileNotFoundError(
            f"Dataset {name!r} is not prepared: {root / DATASET_JSON} does not exist. Run "
            f"`{PREPARE_COMMANDS[key].format(out=root)}` (or set {DATASET_ENV}=auto)."
        )
    root = Path(name).expanduser()
    if root.is_dir():
        load_info(root)  # clear error when it is not a prepared dataset
        return root.resolve()
    raise ValueError(
        f"Unknown dataset {name!r} (from the argument or {DATASET_ENV}): use 'auto', one of "
        f"{', '.join(PREPARE_COMMANDS)}, or the path of a prepared folder."
    )
