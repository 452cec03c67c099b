"""Run profiles, the results hand-off, the environment checks and the notebook runner."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import config, devices, environment, results

ROOT = Path(__file__).resolve().parent.parent


def test_profiles_are_frozen_and_ordered_by_size():
    smoke, cpu, gpu = (config.get_profile(n) for n in config.PROFILE_NAMES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.batch_size = 99  # type: ignore[misc]
    area = lambda p: p.image_size[0] * p.image_size[1]  # noqa: E731
    assert area(smoke) < area(cpu) < area(gpu)
    assert sum(smoke.minidrive_counts) < sum(cpu.minidrive_counts) < sum(gpu.minidrive_counts)
    # The gpu profile is the paper configuration on CamVid frames: R50, OS16, multi-grid (1, 2, 4), 360x480.
    assert (gpu.backbone, gpu.output_stride, gpu.multi_grid, gpu.image_size) == ("resnet50", 16, (1, 2, 4), (360, 480))
    assert gpu.mixed_precision and gpu.jit_compile
    assert smoke.replace(batch_size=2).batch_size == 2 and smoke.batch_size != 2


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, " CPU ")
    assert config.get_profile().name == "cpu"
    monkeypatch.setenv(config.PROFILE_ENV, "turbo")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        config.get_profile()


def test_default_profile_follows_the_gpu(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    monkeypatch.setattr(devices, "tensorflow_sees_gpu", lambda: True)
    assert config.get_profile().name == "gpu"
    monkeypatch.setattr(devices, "tensorflow_sees_gpu", lambda: False)
    assert config.get_profile().name == "cpu"


def test_data_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    assert config.data_dir() == tmp_path.resolve()
    monkeypatch.delenv(config.DATA_ENV)
    assert config.data_dir() == ROOT / "data"


def test_publish_is_silent_outside_the_runner_and_merges_inside(monkeypatch, tmp_path):
    monkeypatch.delenv(results.RESULTS_ENV, raising=False)
    results.publish(a=1.0)  # no file, no error
    target = tmp_path / "r.jsonl"
    monkeypatch.setenv(results.RESULTS_ENV, str(target))
    results.publish(miou=0.123456789, name="x")
    results.publish(miou=0.5)
    assert results.read_published(target) == {"miou": 0.5, "name": "x"}
    assert json.loads(target.read_text().splitlines()[0])["miou"] == 0.1235


def test_environment_checks(tmp_path):
    checks = environment.check_versions()
    assert [c.name for c in checks] == ["Python", "TensorFlow", "Keras"]
    assert all(c.ok for c in checks), [str(c) for c in checks]
    import tensorflow as tf

    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert ("no GPU visible" in devices.gpu_description()) != has_gpu
    (tmp_path / "camvid").mkdir()
    (tmp_path / "camvid" / "dataset.json").write_text("{}")
    found = environment.available_datasets(tmp_path)
    assert found["camvid"] and not found["minidrive"]
    badge = environment.colab_badge("01_atrous_convolution.ipynb")
    assert "colab.research.google.com/github/" in badge and badge.endswith("notebooks/01_atrous_convolution.ipynb)")


def _write_notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


def test_runner_stores_outputs_and_reports_failures(tmp_path):
    good = tmp_path / "01_good.ipynb"
    bad = tmp_path / "02_bad.ipynb"
    _write_notebook(
        good,
        [
            "import os; print(os.environ['COURSE_PROFILE'])",
            "from course_utils.results import publish; publish(score=0.25)",
            # notebook 07's keys: the closing line names the split it scored
            "publish(test_miou=0.5, colour_baseline_test_miou=0.2, held_out='val')",
        ],
    )
    _write_notebook(bad, ["raise RuntimeError('boom')"])
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--store", *map(str, a)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    ok = run(good)
    assert ok.returncode == 0, ok.stderr
    assert "score=0.25" in ok.stdout and "1 passed, 0 failed" in ok.stdout
    stored = nbformat.read(good, as_version=4)
    assert "DeepLabV3 val mIoU 0.500 against 0.200 for the per-pixel colour baseline" in ok.stdout
    assert [c.execution_count for c in stored.cells] == [1, 2, 3]
    assert stored.cells[0].outputs[0]["text"] == "smoke\n"
    failed = run(bad)
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "boom" in failed.stdout
    assert nbformat.read(bad, as_version=4).cells[0].outputs == []  # a failed run is not stored


def test_strip_solutions_blanks_hidden_cells(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import strip_solutions

    nb = nbformat.v4.new_notebook()
    exercise = nbformat.v4.new_code_cell("x = 1")
    answer = nbformat.v4.new_code_cell("x = 42\nassert x == 42")
    answer.metadata["jupyter"] = {"source_hidden": True}
    answer.outputs = [nbformat.v4.new_output("stream", text="Correct!\n")]
    nb.cells = [exercise, answer]
    src = tmp_path / "01_x.ipynb"
    nbformat.write(nb, src)
    assert strip_solutions.main(["--out", str(tmp_path / "out"), str(src)]) == 0
    out = nbformat.read(tmp_path / "out" / "01_x.ipynb", as_version=4)
    assert [c.source for c in out.cells] == ["x = 1", "# your solution"]
    assert out.cells[1].outputs == []


def test_strip_solutions_drops_the_solutions_section_of_every_notebook(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import strip_solutions

    assert strip_solutions.main(["--out", str(tmp_path)]) == 0
    for path in sorted((ROOT / "notebooks").glob("0[0-5]_*.ipynb")):
        stored = nbformat.read(path, as_version=4)
        out = nbformat.read(tmp_path / path.name, as_version=4)
        assert any(strip_solutions.is_solutions_section(c) for c in stored.cells), path.name
        assert not any(strip_solutions.is_solutions_section(c) for c in out.cells), path.name
        assert len(out.cells) < len(stored.cells)
        assert all(c.outputs == [] for c in out.cells if c.cell_type == "code")
        assert "solutions import show" not in "".join(c.source for c in out.cells)


def test_runner_builds_a_notebook_from_its_script(tmp_path):
    script = tmp_path / "01_script.py"
    script.write_text("# %% [markdown]\n# A title\n\n# %%\nprint(6 * 7)\n")
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--store", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    stored = nbformat.read(tmp_path / "01_script.ipynb", as_version=4)
    assert [c.cell_type for c in stored.cells] == ["markdown", "code"]
    assert stored.cells[1].outputs[0]["text"] == "42\n"


def test_notebook_scripts_and_stored_notebooks_agree():
    """Each .ipynb holds exactly the cells of its paired jupytext script (re-store with `make notebooks`)."""
    import jupytext

    scripts = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(scripts) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))) >= 10
    for script in scripts:
        source = jupytext.read(script)
        stored = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
        assert [(c.cell_type, c.source) for c in source.cells] == [(c.cell_type, c.source) for c in stored.cells], (
            f"{script.name} and its .ipynb differ: run `make notebooks NB={script.name[:2]}`"
        )
