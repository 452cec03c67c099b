"""Dataset preparers: fixture trees in each official layout, exact outputs, bad input, atomicity."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from course_utils.data.format import BadPairError, read_image, read_label, write_png
from course_utils.datasets import camvid, cityscapes, idd, minidrive
from course_utils.datasets import writer as common

REPO = Path(__file__).resolve().parent.parent


def load_script(name: str):
    """Import data_scripts/<name>.py as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rand_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def prepared_label(root: Path, split: str, id_: str) -> np.ndarray:
    return read_label(root / split / "labels" / f"{id_}.png")


# --------------------------------------------------------------------------- common


def test_read_image_is_rgb_and_errors_are_clear(tmp_path):
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0] = 200  # red
    write_png(tmp_path / "a.png", img)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), img)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadPairError, match="trunc.png.*truncated"):
        read_image(tmp_path / "trunc.png")
    with pytest.raises(BadPairError, match="single-channel"):
        read_label(tmp_path / "a.png")


def test_resize_pair_uses_nearest_for_labels():
    label = np.zeros((10, 10), np.uint8)
    label[:, 5:] = 6
    label[0, 0] = 255
    image = rand_image(10, 10)
    img2, lbl2 = common.resize_pair(image, label, (23, 17))
    assert img2.shape == (23, 17, 3) and lbl2.shape == (23, 17)
    assert set(np.unique(lbl2)) <= {0, 6, 255}
    img3, lbl3 = common.resize_pair(image, label, (5, 5))
    assert set(np.unique(lbl3)) <= {0, 6, 255}


def test_atomic_output_leaves_nothing_on_interrupt(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        with common.atomic_output(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise KeyboardInterrupt
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- MiniDrive


def test_generate_scene_is_deterministic_and_valid():
    a_img, a_lbl = minidrive.generate_scene(np.random.default_rng(7), 120, 240)
    b_img, b_lbl = minidrive.generate_scene(np.random.default_rng(7), 120, 240)
    c_img, _ = minidrive.generate_scene(np.random.default_rng(8), 120, 240)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lbl, b_lbl)
    assert not np.array_equal(a_img, c_img)
    assert a_img.shape == (120, 240, 3) and a_img.dtype == np.uint8
    assert a_lbl.shape == (120, 240) and a_lbl.dtype == np.uint8
    assert set(np.unique(a_lbl)) <= set(range(7)) | {255}
    # sky on top, road at the bottom centre region, non-drivable present
    assert a_lbl[0, :].tolist().count(minidrive.SKY) > 200


def test_minidrive_scenes_cover_all_classes_and_some_void():
    seen = np.zeros(256, np.int64)
    for i in range(40):
        _, lbl = minidrive.generate_scene(np.random.default_rng([1, 0, i]), 96, 192)
        seen += np.bincount(lbl.ravel(), minlength=256)
    assert (seen[:7] > 0).all(), seen[:7]
    assert seen[255] > 0
    assert seen[8:255].sum() == 0


def test_build_minidrive_is_deterministic_and_atomic(tmp_path, monkeypatch):
    a = minidrive.build_minidrive(tmp_path / "a", 3, 2, 1, 48, 96, seed=5)
    b = minidrive.build_minidrive(tmp_path / "b", 3, 2, 1, 48, 96, seed=5)
    meta = json.loads((a / "dataset.json").read_text())
    assert meta["counts"] == {"train": 3, "val": 2, "test": 1}
    assert meta["image_size"] == [48, 96] and meta["classes"] == list(minidrive.MINIDRIVE_CLASSES)
    for split, n in meta["counts"].items():
        files = sorted(p.name for p in (a / split / "images").iterdir())
        assert len(files) == n
        for f in files:
            assert (a / split / "images" / f).read_bytes() == (b / split / "images" / f).read_bytes()
            assert (a / split / "labels" / f).read_bytes() == (b / split / "labels" / f).read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        minidrive.build_minidrive(a, 1, 1, 1, 48, 96)

    # interrupt the third write: no dataset and no temporary folder is left behind
    calls = {"n": 0}
    real = minidrive.write_png

    def flaky(path, array):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(path, array)

    monkeypatch.setattr(minidrive, "write_png", flaky)
    with pytest.raises(KeyboardInterrupt):
        minidrive.build_minidrive(tmp_path / "c", 3, 2, 1, 48, 96)
    assert not (tmp_path / "c").exists()
    # an interrupted overwrite keeps the old dataset intact
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        minidrive.build_minidrive(a, 5, 1, 1, 48, 96, overwrite=True)
    assert json.loads((a / "dataset.json").read_text())["counts"]["train"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_make_minidrive_cli(tmp_path, capsys):
    mod = load_script("make_minidrive")
    rc = mod.main(
        ["--out", str(tmp_path / "m"), "--train", "2", "--val", "1", "--test", "0", "--height", "32", "--width", "64"]
    )
    assert rc == 0
    assert json.loads((tmp_path / "m" / "dataset.json").read_text())["counts"] == {"train": 2, "val": 1}
    rc = mod.main(["--out", str(tmp_path / "m"), "--train", "2"])
    assert rc == 2 and "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["make_minidrive", "get_camvid", "prepare_idd", "prepare_cityscapes"])
def test_scripts_have_help(script):
    res = subprocess.run(
        [sys.executable, str(REPO / "data_scripts" / f"{script}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    assert "--out" in res.stdout


# --------------------------------------------------------------------------- CamVid


def make_camvid_tree(root: Path, with_test: bool = False, n: int = 2, size=(12, 16)) -> None:
    splits = ["train", "val"] + (["test"] if with_test else [])
    for s_i, split in enumerate(splits):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(n):
            name = f"0001TP_{s_i}{i:03d}.png"
            write_png(root / split / name, rand_image(*size, seed=i))
            lbl = (np.arange(size[0] * size[1]) % 12).reshape(size).astype(np.uint8)  # 0..11
            write_png(root / f"{split}annot" / name, lbl)


def test_prepare_camvid_maps_void_and_reports_missing_test(tmp_path):
    src = tmp_path / "CamVid"
    make_camvid_tree(src)
    messages = []
    res = camvid.prepare_camvid(src, tmp_path / "out", log=messages.append)
    assert res.counts == {"train": 2, "val": 2}
    assert any("no test" in m for m in messages)
    src_lbl = read_label(src / "trainannot" / "0001TP_0000.png")
    out_lbl = prepared_label(tmp_path / "out", "train", "0001TP_0000")
    expected = src_lbl.copy()
    expected[src_lbl == 11] = 255
    np.testing.assert_array_equal(out_lbl, expected)
    np.testing.assert_array_equal(
        read_image(tmp_path / "out" / "train" / "images" / "0001TP_0000.png"),
        read_image(src / "train" / "0001TP_0000.png"),
    )
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["classes"] == list(camvid.CAMVID_CLASSES) and meta["image_size"] == [12, 16]


def test_prepare_camvid_with_test_and_resize(tmp_path):
    src = tmp_path / "CamVid"
    make_camvid_tree(src, with_test=True)
    res = camvid.prepare_camvid(src, tmp_path / "out", size=(24, 20), log=lambda m: None)
    assert res.counts == {"train": 2, "val": 2, "test": 2}
    lbl = prepared_label(tmp_path / "out", "test", "0001TP_2001")
    assert lbl.shape == (24, 20) and set(np.unique(lbl)) <= set(range(11)) | {255}


def test_camvid_bad_inputs(tmp_path):
    src = tmp_path / "CamVid"
    make_camvid_tree(src, n=3)
    quiet = {"log": lambda m: None}
    # label value outside the class set
    bad = np.full((12, 16), 12, np.uint8)
    write_png(src / "valannot" / "0001TP_1001.png", bad)
    with pytest.raises(BadPairError, match=r"0001TP_1001.png.*\[12\].*outside the class set"):
        camvid.prepare_camvid(src, tmp_path / "o1", **quiet)
    assert not (tmp_path / "o1").exists()
    res = camvid.prepare_camvid(src, tmp_path / "o2", skip_bad=True, **quiet)
    assert res.counts == {"train": 3, "val": 2}
    assert len(res.excluded) == 1 and "0001TP_1001" in res.excluded[0]
    assert "0001TP_1001" in json.loads((tmp_path / "o2" / "dataset.json").read_text())["excluded"][0]
    write_png(src / "valannot" / "0001TP_1001.png", np.zeros((12, 16), np.uint8))
    # size mismatch
    write_png(src / "trainannot" / "0001TP_0002.png", np.zeros((12, 17), np.uint8))
    with pytest.raises(BadPairError, match="Size mismatch.*0001TP_0002"):
        camvid.prepare_camvid(src, tmp_path / "o3", **quiet)
    write_png(src / "trainannot" / "0001TP_0002.png", np.zeros((12, 16), np.uint8))
    # truncated image
    data = (src / "train" / "0001TP_0001.png").read_bytes()
    (src / "train" / "0001TP_0001.png").write_bytes(data[:40])
    with pytest.raises(BadPairError, match="0001TP_0001.png.*truncated"):
        camvid.prepare_camvid(src, tmp_path / "o4", **quiet)
    write_png(src / "train" / "0001TP_0001.png", rand_image(12, 16))
    # image without label
    write_png(src / "train" / "extra.png", rand_image(12, 16))
    with pytest.raises(ValueError, match="without a label.*extra.png.*--skip-bad"):
        camvid.prepare_camvid(src, tmp_path / "o5", **quiet)
    (src / "train" / "extra.png").unlink()
    # label without image
    write_png(src / "valannot" / "orphan.png", np.zeros((12, 16), np.uint8))
    with pytest.raises(ValueError, match="without an image.*orphan.png"):
        camvid.prepare_camvid(src, tmp_path / "o6", **quiet)
    (src / "valannot" / "orphan.png").unlink()
    # empty split
    for p in list((src / "val").iterdir()) + list((src / "valannot").iterdir()):
        p.unlink()
    with pytest.raises(ValueError, match="'val'.*empty"):
        camvid.prepare_camvid(src, tmp_path / "o7", **quiet)
    # missing folder
    (src / "valannot").rmdir()
    with pytest.raises(FileNotFoundError, match="valannot"):
        camvid.prepare_camvid(src, tmp_path / "o8", **quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CamVid", "o2"]


def test_get_camvid_cli_with_source_and_offline_error(tmp_path, monkeypatch, capsys):
    src = tmp_path / "CamVid"
    make_camvid_tree(src)
    mod = load_script("get_camvid")
    assert mod.main(["--source", str(src), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "no test" in out and "'train': 2" in out

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(camvid.urllib.request, "urlopen", offline)
    assert mod.main(["--out", str(tmp_path / "dl")]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and "--source" in err
    assert not (tmp_path / "dl").exists()


class _FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, status: int):
        super().__init__(data)
        self.status = status
        self.headers = {"Content-Length": str(len(data))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_file_resumes_with_range_and_checks_sha(tmp_path, monkeypatch):
    payload = bytes(range(256)) * 40
    seen_ranges = []

    def fake_urlopen(request, timeout=None):
        rng = request.get_header("Range")
        seen_ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            return _FakeResponse(payload[start:], 206)
        return _FakeResponse(payload, 200)

    monkeypatch.setattr(camvid.urllib.request, "urlopen", fake_urlopen)
    dest = tmp_path / "f.zip"
    (tmp_path / "f.zip.part").write_bytes(payload[:1000])  # an earlier, interrupted run
    import hashlib

    sha = hashlib.sha256(payload).hexdigest()
    assert camvid.download_file("https://example.invalid/f.zip", dest, sha256=sha) == dest
    assert seen_ranges == ["bytes=1000-"]
    assert dest.read_bytes() == payload and not (tmp_path / "f.zip.part").exists()
    dest.unlink()
    with pytest.raises(ValueError, match="Checksum mismatch"):
        camvid.download_file("https://example.invalid/f.zip", dest, sha256="0" * 64)
    assert not dest.exists() and not (tmp_path / "f.zip.part").exists()


def _shared_camvid() -> Path | None:
    env = os.environ.get("COURSE_CAMVID_SOURCE")
    cand = Path(env) if env else REPO.parent / "shared" / "datasets" / "camvid"
    return cand if (cand / "train").is_dir() else None


@pytest.mark.skipif(_shared_camvid() is None, reason="local CamVid copy not available")
def test_prepare_real_camvid_subset(tmp_path):
    src = _shared_camvid()
    sub = tmp_path / "CamVid"
    for split in ("train", "val"):
        for d in (split, f"{split}annot"):
            (sub / d).mkdir(parents=True)
        for p in sorted((src / split).glob("*.png"))[:2]:
            (sub / split / p.name).write_bytes(p.read_bytes())
            (sub / f"{split}annot" / p.name).write_bytes((src / f"{split}annot" / p.name).read_bytes())
    res = camvid.prepare_camvid(sub, tmp_path / "out", log=lambda m: None)
    assert res.counts == {"train": 2, "val": 2}
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["image_size"] == [360, 480]
    lbl = prepared_label(tmp_path / "out", "val", sorted((sub / "val").glob("*.png"))[0].stem)
    assert set(np.unique(lbl)) <= set(range(11)) | {255}


# --------------------------------------------------------------------------- IDD


def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def make_idd_tree(root: Path, h: int = 20, w: int = 30) -> np.ndarray:
    """IDD tree: train with polygon json files, val with level1Ids PNGs. Returns the expected train label."""
    objects = [
        {"label": "road", "polygon": rect(0, 10, 29, 19), "deleted": 0},
        {"label": "sky", "polygon": rect(0, 0, 29, 4), "deleted": 0},
        {"label": "fallback background", "polygon": rect(20, 5, 29, 7), "deleted": 0},
        {"label": "car", "polygon": rect(5, 12, 10, 16), "deleted": 0},  # overwrites road
        {"label": "persongroup", "polygon": rect(12, 12, 13, 16), "deleted": 0},
        {"label": "building", "polygon": rect(0, 5, 4, 9), "deleted": 1},  # deleted: skipped
        {"label": "ego vehicle", "polygon": rect(0, 18, 29, 19), "deleted": 0},  # void over road
        {"label": "polegroup", "polygon": rect(25, 8, 26, 15), "deleted": 0},
        {"label": "sidewalk", "polygon": rect(27, 10, 29, 17), "deleted": 0},  # over the pole
    ]
    expected = np.full((h, w), 255, np.uint8)  # uncovered: unlabeled -> void
    expected[10:20, 0:30] = 0
    expected[0:5, 0:30] = 6
    expected[5:8, 20:30] = 6
    expected[12:17, 5:11] = 3
    expected[12:17, 12:14] = 2
    expected[18:20, 0:30] = 255
    expected[8:16, 25:27] = 4
    expected[10:18, 27:30] = 1
    for i, seq in enumerate(["201", "202"]):
        d = root / "leftImg8bit" / "train" / seq
        d.mkdir(parents=True)
        write_png(d / f"00{i}000_leftImg8bit.png", rand_image(h, w, i))
        g = root / "gtFine" / "train" / seq
        g.mkdir(parents=True)
        (g / f"00{i}000_gtFine_polygons.json").write_text(
            json.dumps({"imgHeight": h, "imgWidth": w, "objects": objects})
        )
    vd, vg = root / "leftImg8bit" / "val" / "300", root / "gtFine" / "val" / "300"
    vd.mkdir(parents=True)
    vg.mkdir(parents=True)
    for i in range(2):
        write_png(vd / f"90{i}_leftImg8bit.png", rand_image(h, w, 10 + i))
        lvl = np.full((h, w), 255, np.uint8)
        lvl[:, : 5 + i] = np.arange(7).repeat(1)[i]
        lvl[5:, 10:] = 5
        write_png(vg / f"90{i}_gtFine_labellevel1Ids.png", lvl)
        # a polygon file next to the PNG: the PNG wins
        (vg / f"90{i}_gtFine_polygons.json").write_text(json.dumps({"imgHeight": h, "imgWidth": w, "objects": []}))
    return expected


def test_idd_mapping_covers_the_official_level1_groups():
    assert idd.IDD_LEVEL1_CLASSES == minidrive.MINIDRIVE_CLASSES
    assert idd.level1_id("autorickshaw") == 3 and idd.level1_id("vehicle fallback") == 3
    assert idd.level1_id("fallback background") == 6 and idd.level1_id("vegetation") == 5
    assert idd.level1_id("billboard") == 4 and idd.level1_id("curb") == 4
    assert idd.level1_id("ridergroup") == 2 and idd.level1_id("license plate") == 255
    assert sorted(set(idd.IDD_NAME_TO_LEVEL1.values())) == [0, 1, 2, 3, 4, 5, 6, 255]
    with pytest.raises(BadPairError, match="Unknown IDD label 'spaceship'"):
        idd.level1_id("spaceship", "x.json")


def test_prepare_idd_polygons_and_level1_pngs_exactly(tmp_path):
    root = tmp_path / "IDD"
    expected = make_idd_tree(root)
    res = idd.prepare_idd(root, tmp_path / "out", size=None)
    assert res.counts == {"train": 2, "val": 2}
    np.testing.assert_array_equal(prepared_label(tmp_path / "out", "train", "000000"), expected)
    np.testing.assert_array_equal(prepared_label(tmp_path / "out", "train", "001000"), expected)
    np.testing.assert_array_equal(
        prepared_label(tmp_path / "out", "val", "901"),
        read_label(root / "gtFine/val/300/901_gtFine_labellevel1Ids.png"),
    )
    np.testing.assert_array_equal(
        read_image(tmp_path / "out/val/images/900.png"), read_image(root / "leftImg8bit/val/300/900_leftImg8bit.png")
    )
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["name"] == "idd" and meta["classes"] == list(idd.IDD_LEVEL1_CLASSES)


def test_prepare_idd_resize_and_test_fraction(tmp_path):
    root = tmp_path / "IDD"
    make_idd_tree(root)
    for i in range(2, 6):  # more train images for the split
        src = root / "leftImg8bit/train/201/000000_leftImg8bit.png"
        (root / f"leftImg8bit/train/201/00{i}000_leftImg8bit.png").write_bytes(src.read_bytes())
        js = root / "gtFine/train/201/000000_gtFine_polygons.json"
        (root / f"gtFine/train/201/00{i}000_gtFine_polygons.json").write_text(js.read_text())
    a = idd.prepare_idd(root, tmp_path / "a", size=(40, 50), test_fraction=0.34, seed=3)
    idd.prepare_idd(root, tmp_path / "b", size=(40, 50), test_fraction=0.34, seed=3)
    assert a.counts == {"train": 4, "val": 2, "test": 2}
    assert sorted(os.listdir(tmp_path / "a/test/labels")) == sorted(os.listdir(tmp_path / "b/test/labels"))
    assert not set(os.listdir(tmp_path / "a/test/labels")) & set(os.listdir(tmp_path / "a/train/labels"))
    lbl = prepared_label(tmp_path / "a", "val", "900")
    assert lbl.shape == (40, 50) and set(np.unique(lbl)) <= {0, 1, 5, 255}


def test_idd_bad_inputs(tmp_path, capsys):
    root = tmp_path / "IDD"
    make_idd_tree(root)
    js = root / "gtFine/train/201/000000_gtFine_polygons.json"
    good = js.read_text()
    js.write_text(
        json.dumps({"imgHeight": 20, "imgWidth": 30, "objects": [{"label": "spaceship", "polygon": rect(0, 0, 3, 3)}]})
    )
    with pytest.raises(BadPairError, match="spaceship.*000000_gtFine_polygons.json"):
        idd.prepare_idd(root, tmp_path / "o1", size=None)
    js.write_text("{not json")
    with pytest.raises(BadPairError, match="Cannot read polygons"):
        idd.prepare_idd(root, tmp_path / "o1", size=None)
    mod = load_script("prepare_idd")
    assert mod.main(["--root", str(root), "--out", str(tmp_path / "o2"), "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "excluded:" in out and "000000_gtFine_polygons.json" in out
    js.write_text(good)
    # polygons that disagree with the image size
    js.write_text(good.replace('"imgHeight": 20', '"imgHeight": 21'))
    with pytest.raises(BadPairError, match="Size mismatch"):
        idd.prepare_idd(root, tmp_path / "o3", size=None)
    js.write_text(good)
    # images of two sizes without a common --height/--width
    write_png(root / "leftImg8bit/val/300/901_leftImg8bit.png", rand_image(10, 15))
    write_png(root / "gtFine/val/300/901_gtFine_labellevel1Ids.png", np.zeros((10, 15), np.uint8))
    with pytest.raises(BadPairError, match="--height"):
        idd.prepare_idd(root, tmp_path / "o4", size=None)
    assert mod.main(["--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o5")]) == 2
    assert "leftImg8bit" in capsys.readouterr().err
    with pytest.raises(ValueError, match="test_fraction"):
        idd.prepare_idd(root, tmp_path / "o6", test_fraction=1.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IDD", "o2"]


# --------------------------------------------------------------------------- Cityscapes


def make_cityscapes_tree(root: Path, h: int = 8, w: int = 16) -> tuple[np.ndarray, np.ndarray]:
    ids = np.zeros((h, w), np.uint8)
    ids[:, 0:2] = 7  # road -> 0
    ids[:, 2:4] = 26  # car -> 13
    ids[:, 4:6] = 9  # parking -> 255
    ids[:, 6:8] = 33  # bicycle -> 18
    ids[:, 8:10] = 23  # sky -> 10
    ids[:, 10:12] = 1  # ego vehicle -> 255
    ids[:, 12:14] = 22  # terrain -> 9
    ids[:, 14:16] = 18  # polegroup -> 255
    train_ids = np.zeros_like(ids)
    for col, v in zip(range(0, 16, 2), [0, 13, 255, 18, 10, 255, 9, 255]):
        train_ids[:, col : col + 2] = v
    for split, city in (("train", "aachen"), ("val", "lindau")):
        (root / "leftImg8bit" / split / city).mkdir(parents=True)
        (root / "gtFine" / split / city).mkdir(parents=True)
        stem = f"{city}_000000_000019"
        write_png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rand_image(h, w))
        write_png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids)
        write_png(root / "gtFine" / split / city / f"{stem}_gtFine_color.png", rand_image(h, w))
    return ids, train_ids


def test_cityscapes_table_matches_the_official_train_ids():
    table = cityscapes.CITYSCAPES_ID_TO_TRAIN_ID
    assert sorted(v for v in table.values() if v != 255) == list(range(19))
    assert len(cityscapes.CITYSCAPES_CLASSES) == 19 == len(cityscapes.CITYSCAPES_PALETTE)


def test_cityscapes_table_matches_the_official_package():
    """Cross-check against ``cityscapesscripts`` (a dev dependency: pip install -e '.[dev]')."""
    official = pytest.importorskip(
        "cityscapesscripts.helpers.labels", reason="cityscapesscripts is not installed (pip install -e '.[dev]')"
    )
    table = cityscapes.CITYSCAPES_ID_TO_TRAIN_ID
    for lab in official.labels:
        if 0 <= lab.id <= 33:
            assert table[lab.id] == (lab.trainId if lab.trainId not in (-1, 255) else 255), lab.name


def test_prepare_cityscapes_exactly(tmp_path):
    root = tmp_path / "cs"
    _, train_ids = make_cityscapes_tree(root)
    res = cityscapes.prepare_cityscapes(root, tmp_path / "out")
    assert res.counts == {"train": 1, "val": 1}
    np.testing.assert_array_equal(prepared_label(tmp_path / "out", "val", "lindau_000000_000019"), train_ids)
    res = cityscapes.prepare_cityscapes(root, tmp_path / "small", size=(4, 8))
    lbl = prepared_label(tmp_path / "small", "train", "aachen_000000_000019")
    assert lbl.shape == (4, 8) and set(np.unique(lbl)) <= {0, 13, 18, 10, 9, 255}


def test_cityscapes_bad_inputs(tmp_path, capsys):
    root = tmp_path / "cs"
    ids, _ = make_cityscapes_tree(root)
    lbl_path = root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"
    write_png(lbl_path, np.full_like(ids, 40))
    with pytest.raises(BadPairError, match="40 > 33"):
        cityscapes.prepare_cityscapes(root, tmp_path / "o1")
    mod = load_script("prepare_cityscapes")
    assert mod.main(["--root", str(root), "--out", str(tmp_path / "o2")]) == 2
    assert "labelIds" in capsys.readouterr().err
    # with --skip-bad the only train pair is dropped: the split is empty, which is an error too
    assert mod.main(["--root", str(root), "--out", str(tmp_path / "o3"), "--skip-bad"]) == 2
    assert "empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cs"]
