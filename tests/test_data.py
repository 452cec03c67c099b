"""course_utils.data: prepared format, tf.data pipeline, statistics, dataset choice, colour baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from course_utils import config, data
from course_utils.data.format import write_png
from course_utils.datasets import registry
from course_utils.datasets.minidrive import build_minidrive
from course_utils.datasets.writer import write_dataset_json

C = 7


def make_prepared(root: Path, n: int = 6, h: int = 32, w: int = 48, split: str = "train") -> Path:
    """A tiny prepared dataset whose image brightness encodes the label: white = 6, black = 0.

    Left part of each image is class 6 (white), the rest class 0 (black), with a
    void (255) block; the split point varies per image, so flips are visible.
    """
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    (root / split / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label = np.zeros((h, w), np.uint8)
        label[:, : 8 + 3 * i] = 6
        label[h - 6 :, w - 6 :] = 255
        image = np.where(label[..., None] == 6, 255, 0).astype(np.uint8).repeat(3, axis=2)
        write_png(root / split / "images" / f"{i:03d}.png", image)
        write_png(root / split / "labels" / f"{i:03d}.png", label)
    counts = {s.name: len(list((s / "labels").glob("*.png"))) for s in root.iterdir() if (s / "labels").is_dir()}
    write_dataset_json(
        root,
        name="toy",
        classes=[f"c{k}" for k in range(C)],
        palette=[(k, k, k) for k in range(C)],
        image_size=(h, w),
        counts=counts,
        source="test",
    )
    return root


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = make_prepared(tmp_path_factory.mktemp("toy"))
    make_prepared(root, n=3, split="val")
    return root


# --------------------------------------------------------------------------- format


def test_load_info_and_errors(toy, tmp_path):
    info = data.load_info(toy)
    assert info.name == "toy" and info.num_classes == C and info.ignore_index == 255
    assert info.image_size == (32, 48) and info.counts == {"train": 6, "val": 3}
    assert info.palette[3] == (3, 3, 3) and info.root == toy.resolve()
    with pytest.raises(dataclasses_frozen_error()):
        info.name = "x"
    with pytest.raises(FileNotFoundError, match=r"dataset.json.*make_minidrive.py"):
        data.load_info(tmp_path / "minidrive")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "dataset.json").write_text("{oops")
    with pytest.raises(ValueError, match="dataset.json is invalid"):
        data.load_info(tmp_path / "bad")
    (tmp_path / "bad" / "dataset.json").write_text(
        json.dumps({"name": "x", "classes": ["a", "b"], "palette": [[0, 0, 0]]})
    )
    with pytest.raises(ValueError, match="2 classes but 1"):
        data.load_info(tmp_path / "bad")


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_list_pairs_and_errors(toy, tmp_path):
    pairs = data.list_pairs(toy, "train")
    assert [p[0].stem for p in pairs] == [f"{i:03d}" for i in range(6)]
    assert all(a.stem == b.stem and a.parent.name == "images" and b.parent.name == "labels" for a, b in pairs)
    with pytest.raises(FileNotFoundError, match=r"test.*Splits present.*train"):
        data.list_pairs(toy, "test")
    root = make_prepared(tmp_path / "ds", n=2)
    write_png(root / "train" / "images" / "zzz.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="without a label.*zzz.png"):
        data.list_pairs(root, "train")
    (root / "train" / "images" / "zzz.png").unlink()
    (root / "train" / "images" / "000.png").unlink()
    with pytest.raises(ValueError, match="without an image.*000.png"):
        data.list_pairs(root, "train")
    (root / "train" / "labels" / "000.png").unlink()
    (root / "train" / "images" / "001.png").unlink()
    (root / "train" / "labels" / "001.png").unlink()
    with pytest.raises(ValueError, match="empty"):
        data.list_pairs(root, "train")


def test_normalize_roundtrip():
    x = np.array([[0, 127, 128, 255]], np.uint8)
    y = data.normalize_image(x)
    assert y.dtype == np.float32 and y.min() == -1.0 and y.max() == 1.0
    np.testing.assert_array_equal(data.denormalize_image(y), x)
    import tensorflow as tf

    t = data.normalize_image(tf.constant(x))
    np.testing.assert_allclose(t.numpy(), y)


def test_read_helpers(toy, tmp_path):
    img, lbl = data.list_pairs(toy, "train")[0]
    assert data.read_image(img).shape == (32, 48, 3)
    assert data.read_label(lbl).dtype == np.uint8
    (tmp_path / "t.png").write_bytes(img.read_bytes()[:30])
    with pytest.raises(ValueError, match="t.png.*truncated"):
        data.read_image(tmp_path / "t.png")


# --------------------------------------------------------------------------- pipeline


def test_make_dataset_training_shapes_and_label_safety(toy):
    ds = data.make_dataset(toy, "train", batch_size=2, training=True, image_size=(24, 40), seed=3, repeat=True)
    checked = 0
    for image, label in ds.take(12):
        assert image.shape == (2, 24, 40, 3) and image.dtype.name == "float32"
        assert label.shape == (2, 24, 40) and label.dtype.name == "int32"
        img, lbl = image.numpy(), label.numpy()
        assert img.min() >= -1.0 and img.max() <= 1.0
        # labels never interpolated: only the original values 0, 6 and void 255 occur
        assert set(np.unique(lbl)) <= {0, 6, 255}
        # image and label stay aligned through scale, crop and flip: clearly white
        # pixels are class 6 and clearly black ones class 0 (jitter is light)
        grey = img.mean(-1)
        assert (lbl[grey > 0.6] == 6).all()
        assert np.isin(lbl[grey < -0.6], [0, 255]).all()
        checked += int((grey > 0.6).sum() + (grey < -0.6).sum())
    assert checked > 1000


def test_make_dataset_pads_with_void_when_scaled_down(toy):
    ds = data.make_dataset(
        toy, "train", batch_size=6, training=True, image_size=(64, 96), scale_range=(0.5, 0.5), seed=0
    )
    image, label = next(iter(ds))
    lbl = label.numpy()
    # a 32x48 image scaled by 0.5 is 16x24: at least 64*96 - 16*24 pixels per crop are padding
    assert ((lbl == 255).sum(axis=(1, 2)) >= 64 * 96 - 16 * 24).all()
    # padding is normalised mid grey (lightly jittered); only the image's own 3x3 void
    # block (6x6 before scaling, plus bilinear edges) may be bright or dark
    strong = (lbl == 255) & (np.abs(image.numpy()).max(-1) > 0.45)
    assert (strong.sum(axis=(1, 2)) <= 4 * 4).all()


def test_make_dataset_is_deterministic_for_a_seed(toy):
    def first(seed):
        ds = data.make_dataset(toy, "train", 3, True, image_size=(24, 40), seed=seed)
        return [(x.numpy(), y.numpy()) for x, y in ds]

    a, b, c = first(11), first(11), first(12)
    assert len(a) == 2  # 6 images, batch 3, drop_remainder
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))


def test_make_dataset_eval_native_resized_and_max_images(toy):
    ds = data.make_dataset(toy, "val", batch_size=2, training=False)
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert [b[0].shape for b in batches] == [(2, 32, 48, 3), (1, 32, 48, 3)]  # no drop in eval
    img, lbl = batches[0]
    ref = data.read_label(data.list_pairs(toy, "val")[0][1])
    np.testing.assert_array_equal(lbl[0], ref)  # no augmentation, same order
    np.testing.assert_allclose(img[0], data.normalize_image(data.read_image(data.list_pairs(toy, "val")[0][0])))
    ds = data.make_dataset(toy, "val", batch_size=4, training=False, image_size=(20, 30), max_images=2)
    ((x, y),) = list(ds)
    assert x.shape == (2, 20, 30, 3) and y.shape == (2, 20, 30)
    assert set(np.unique(y.numpy())) <= {0, 6, 255}


def test_make_dataset_errors(toy):
    with pytest.raises(ValueError, match="fewer than batch_size"):
        data.make_dataset(toy, "val", batch_size=8, training=True)
    with pytest.raises(ValueError, match="scale_range"):
        data.make_dataset(toy, "train", 2, True, scale_range=(2.0, 1.0))
    with pytest.raises(FileNotFoundError, match="test"):
        data.make_dataset(toy, "test", 2, False)


# --------------------------------------------------------------------------- statistics


def test_class_frequencies_and_weights(toy, tmp_path):
    freq = data.class_frequencies(toy, "train")
    expected = np.zeros(C, np.int64)
    for _, lbl in data.list_pairs(toy, "train"):
        lab = data.read_label(lbl)
        for k in range(C):
            expected[k] += int((lab == k).sum())
    np.testing.assert_array_equal(freq, expected)
    assert freq[1:6].sum() == 0 and freq.sum() == 6 * (32 * 48 - 36)

    counts = np.array([700, 200, 100, 0])
    w = data.class_weights(counts, "inverse_log")
    np.testing.assert_allclose(w, 1 / np.log(1.02 + counts / 1000), rtol=1e-6)
    assert w[3] == pytest.approx(1 / np.log(1.02))
    m = data.class_weights(counts, "median")
    np.testing.assert_allclose(m, [0.2 / 0.7, 1.0, 2.0, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="Unknown class weight method"):
        data.class_weights(counts, "bogus")
    with pytest.raises(ValueError, match="non-negative"):
        data.class_weights([0, 0], "median")

    root = make_prepared(tmp_path / "bad", n=1)
    write_png(root / "train" / "labels" / "000.png", np.full((32, 48), 9, np.uint8))
    with pytest.raises(ValueError, match="000.png.*class id 9"):
        data.class_frequencies(root, "train")


# --------------------------------------------------------------------------- dataset choice


def test_find_dataset_preference_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.delenv("COURSE_DATASET", raising=False)
    # nothing prepared: auto builds MiniDrive for the profile
    got = registry.find_dataset()
    assert got == (tmp_path / "minidrive-smoke").resolve()
    make_prepared(tmp_path / "camvid", n=1)
    make_prepared(tmp_path / "idd", n=1)
    assert registry.find_dataset() == (tmp_path / "idd").resolve()
    assert registry.find_dataset("camvid") == (tmp_path / "camvid").resolve()
    monkeypatch.setenv("COURSE_DATASET", "camvid")
    assert registry.find_dataset() == (tmp_path / "camvid").resolve()
    with pytest.raises(FileNotFoundError, match=r"cityscapes.*prepare_cityscapes.py"):
        registry.find_dataset("cityscapes")
    assert registry.find_dataset(str(tmp_path / "idd")) == (tmp_path / "idd").resolve()
    with pytest.raises(ValueError, match="Unknown dataset 'nope'"):
        registry.find_dataset("nope")
    assert registry.find_dataset("minidrive") == (tmp_path / "minidrive-smoke").resolve()


def test_ensure_minidrive_reuse_and_rebuild(tmp_path):
    # (its speed is measured by benchmarks, not asserted here: a loaded machine is not a failure)
    smoke = config.get_profile("smoke")
    root = registry.ensure_minidrive(smoke, root=tmp_path / "md")
    info = data.load_info(root)
    assert info.image_size == smoke.eval_size
    assert info.counts == dict(zip(("train", "val", "test"), smoke.minidrive_counts))
    stamp = (root / "dataset.json").stat().st_mtime_ns
    assert registry.ensure_minidrive(smoke, root=root) == root and (root / "dataset.json").stat().st_mtime_ns == stamp
    bigger = smoke.replace(minidrive_counts=(4, 2, 2), eval_size=None)
    registry.ensure_minidrive(bigger, root=root)
    info = data.load_info(root)
    assert info.counts == {"train": 4, "val": 2, "test": 2} and info.image_size == (240, 480)


# --------------------------------------------------------------------------- colour baseline


def test_colour_baseline_is_poor_on_minidrive(tmp_path):
    from sklearn.metrics import confusion_matrix

    from course_utils import baselines

    root = build_minidrive(tmp_path / "md", train=40, val=10, test=0, height=60, width=120, seed=1)
    clf = baselines.fit_colour_baseline(root, max_pixels=30_000, seed=0)
    cm = np.zeros((C, C), np.int64)
    for img, lbl in data.list_pairs(root, "val"):
        y = data.read_label(lbl).ravel()
        p = baselines.predict_colour_baseline(clf, data.read_image(img))
        assert p.shape == (60, 120) and p.dtype == np.uint8
        keep = y != 255
        cm += confusion_matrix(y[keep], p.ravel()[keep], labels=list(range(C)))
    iou = np.diag(cm) / np.maximum(cm.sum(0) + cm.sum(1) - np.diag(cm), 1)
    miou = iou.mean()
    # better than chance (it learns something: the sky and the road are often told apart)...
    assert iou.max() > 0.3
    # ...but far from what a network using shape and context reaches
    assert miou < 0.35, miou
    # the library's evaluation gives the same confusion matrix (sklearn as the reference)
    np.testing.assert_array_equal(baselines.evaluate_colour_baseline(clf, root, "val"), cm)


def test_make_dataset_training_without_augmentation_is_identity_at_native_size(toy):
    ds = data.make_dataset(toy, "train", batch_size=3, training=True, augment=False, shuffle=False)
    image, label = next(iter(ds))
    for k, (img_path, lbl_path) in enumerate(data.list_pairs(toy, "train")[:3]):
        np.testing.assert_array_equal(label.numpy()[k], data.read_label(lbl_path))
        np.testing.assert_allclose(image.numpy()[k], data.normalize_image(data.read_image(img_path)), atol=1e-5)


def test_input_pipeline_benchmark_runs_small(capsys):
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "input_pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_input_pipeline", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--images", "6", "--height", "24", "--width", "48", "--batch-size", "2", "--batches", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("generator", "make_dataset, cache=False", "make_dataset (default cache)"):
        assert row in out


def test_seed_style_generator_one_hot(toy):
    from course_utils.experiments import naive_batches

    images, onehot = next(naive_batches(toy, "train", 2, (32, 48)))
    assert images.shape == (2, 32, 48, 3) and onehot.shape == (2, 32, 48, C)
    sums = onehot.sum(-1)
    assert set(np.unique(sums)) == {0.0, 1.0}  # void pixels have an all-zero row
    assert set(np.unique(onehot.argmax(-1)[sums == 1])) <= {0, 6}


def test_explicit_auto_defers_to_course_dataset(tmp_path, monkeypatch):
    """A notebook's DATASET = "auto" follows COURSE_DATASET (how the tests pin stored outputs to MiniDrive)."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    make_prepared(tmp_path / "camvid", n=1)
    make_prepared(tmp_path / "minidrive", n=1)
    monkeypatch.delenv("COURSE_DATASET", raising=False)
    assert registry.find_dataset("auto") == (tmp_path / "camvid").resolve()
    monkeypatch.setenv("COURSE_DATASET", "minidrive")
    assert registry.find_dataset("auto") == (tmp_path / "minidrive").resolve()
    assert registry.find_dataset("camvid") == (tmp_path / "camvid").resolve()  # a name still wins


def test_held_out_split_is_test_where_prepared_else_val(tmp_path):
    root = make_prepared(tmp_path / "ds", n=1)
    make_prepared(root, n=1, split="val")
    assert data.held_out_split(root) == "val"  # train and val only, as the local CamVid copy
    make_prepared(root, n=1, split="test")
    assert data.held_out_split(root) == "test"
