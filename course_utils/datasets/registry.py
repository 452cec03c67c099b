"""Which prepared dataset a run uses, and preparing MiniDrive or CamVid on the spot when it is missing.

The list of datasets (with the command that prepares each) is
:data:`course_utils.config.DATASETS`; this module finds one of them under
:func:`course_utils.config.data_dir` or prepares it.
"""

from __future__ import annotations

import os
from pathlib import Path

from course_utils.config import DATASETS, data_dir, get_profile
from course_utils.data.format import DATASET_JSON, load_info

DATASET_ENV = "COURSE_DATASET"
DEFAULT_MINIDRIVE_SIZE = (240, 480)
MINIDRIVE_SEED = 2024


def _is_prepared(root: Path) -> bool:
    try:
        load_info(root)
        return True
    except (FileNotFoundError, ValueError):
        return False


def _say_if_damaged(root: Path, log=print) -> None:
    """One line when "auto" skips ``root`` because its ``dataset.json`` is damaged: the file and the repair."""
    meta = root / DATASET_JSON
    if not meta.is_file():
        return
    try:
        load_info(root)
    except (FileNotFoundError, ValueError) as err:
        name = root.name.split("-")[0].lower()
        command = DATASETS.get(name, "python data_scripts/<script>.py --out {out}").format(out=root)
        reason = " ".join(str(err).split())[:160]
        log(
            f"Skipping {root}: {meta} is damaged ({reason}). To repair it, move the folder away "
            f"(mv {root} {root}.damaged) and run `{command}`."
        )


def ensure_minidrive(profile=None, root: str | os.PathLike | None = None) -> Path:
    """The MiniDrive dataset sized by the run profile, built on the spot if missing.

    The folder is ``data_dir()/minidrive-<profile name>`` (or ``root``); scene
    counts come from ``profile.minidrive_counts`` and the size from
    ``profile.eval_size`` (240x480 when that is ``None``). An existing folder
    with matching counts and size is reused; anything else is rebuilt.
    """
    from course_utils.datasets.minidrive import build_minidrive

    profile = profile or get_profile()
    size = tuple(profile.eval_size) if profile.eval_size else DEFAULT_MINIDRIVE_SIZE
    train, val, test = (int(n) for n in profile.minidrive_counts)
    root = Path(root) if root is not None else data_dir() / f"minidrive-{profile.name}"
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

    from course_utils.datasets import camvid

    root = Path(root) if root is not None else data_dir() / "camvid"
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


def _given_folder(name: str) -> Path:
    """The folder a dataset path names; a symbolic link leading nowhere (a loop, a missing target) is refused."""
    root = Path(name).expanduser()
    if root.is_symlink() and not root.exists():
        raise ValueError(
            f"Dataset {name!r} is a symbolic link that leads nowhere (a loop or a missing target): "
            "pass the real folder of a prepared dataset."
        )
    return root


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
    name = (name or "auto").strip()
    if name.lower() == "auto":  # a notebook's DATASET = "auto" defers to the environment's choice
        name = os.environ.get(DATASET_ENV, "").strip() or "auto"
    base = data_dir()
    key = name.lower()
    if key == "auto":
        for candidate in DATASETS:
            if candidate != "minidrive" and _is_prepared(base / candidate):
                return (base / candidate).resolve()
            _say_if_damaged(base / candidate, log)
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
                f"(once online, re-run or `{DATASETS['camvid'].format(out=base / 'camvid')}`)."
            )
        elif wanted is not None:
            raise ValueError(
                f"Profile {profile.name!r} names auto_dataset={wanted!r}; only 'camvid' can be downloaded."
            )
        if _is_prepared(base / "minidrive"):
            return (base / "minidrive").resolve()
        return ensure_minidrive(profile)
    if key in DATASETS:
        root = base / key
        if _is_prepared(root):
            return root.resolve()
        if key == "minidrive":
            return ensure_minidrive(profile)
        if key == "camvid" and (os.environ.get(CAMVID_SOURCE_ENV, "").strip() or network_reachable()):
            return ensure_camvid(root, log=log)
        raise FileNotFoundError(
            f"Dataset {name!r} is not prepared: {root / DATASET_JSON} does not exist. Run "
            f"`{DATASETS[key].format(out=root)}` (or set {DATASET_ENV}=auto)."
        )
    root = _given_folder(name)
    if root.is_dir():
        load_info(root)  # clear error when it is not a prepared dataset
        return root.resolve()
    raise ValueError(
        f"Unknown dataset {name!r} (from the argument or {DATASET_ENV}): use 'auto', one of "
        f"{', '.join(DATASETS)}, or the path of a prepared folder."
    )
