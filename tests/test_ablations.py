"""The CamVid ablation study: the rows' command lines, their costs, and the noise verdict on stored runs."""

from __future__ import annotations

import json
import shlex

import pytest

from course_utils import ablations as A
from course_utils.cli import build_parser
from course_utils.profiles import get_profile
from course_utils.train import TrainConfig


def _parsed_train_options(ablation: A.Ablation):
    command = A.store_command(ablation)
    train_args = shlex.split(shlex.split(command)[-1])
    return build_parser().parse_args(["train", "--dataset", "camvid", *train_args])


def test_every_row_is_one_change_the_command_line_can_make():
    names = [a.name for a in A.ABLATIONS]
    assert len(names) == len(set(names)) >= 8
    assert sum(a.is_baseline for a in A.ABLATIONS) == 3  # three seeds of the baseline: the noise band
    for ablation in A.ABLATIONS:
        assert len(ablation.overrides) <= 1
        args = _parsed_train_options(ablation)
        assert args.epochs == A.ABLATION_EPOCHS and args.profile == "cpu"
        TrainConfig.from_profile("cpu", dataset="camvid", **ablation.overrides)  # a valid config


@pytest.mark.parametrize(
    "name, attribute, value",
    [
        ("output stride 8", "output_stride", 8),
        ("V3+ decoder", "decoder", True),
        ("no class weights", "class_weighting", False),  # the TrainConfig field (cli dest)
        ("no multi-grid", "multi_grid", [1]),
        ("no image pooling", "image_pooling", False),
        ("baseline, 2nd seed", "seed", 7),
        ("original notebook's recipe", "recipe", "seed"),
    ],
)
def test_the_command_line_sets_what_the_row_changes(name, attribute, value):
    ablation = next(a for a in A.ABLATIONS if a.name == name)
    assert getattr(_parsed_train_options(ablation), attribute) == value


def test_unknown_override_is_refused():
    with pytest.raises(ValueError, match="bn_momentum"):
        A.train_arguments({"bn_momentum": 0.9})


def test_costs_before_training():
    rows = {r["name"]: r for r in A.cost_rows(get_profile("cpu"))}
    base = rows["baseline"]
    # the cpu recipe sees CamVid at half size: 180x240, a 12x15 map at OS 16 (rounded up at every stride)
    assert base["input"] == (180, 240) and base["map"] == (12, 15)
    # ResNet-18 has two units in stage 4: multi-grid (1, 2, 4) acts as (1, 2) on rate 2
    assert base["stage4_rates"] == (2, 4) and rows["no multi-grid"]["stage4_rates"] == (2, 2)
    os8 = rows["output stride 8"]
    assert os8["map"] == (23, 30) and os8["aspp_rates"] == (12, 24, 36) and os8["stage4_rates"] == (4, 8)
    assert os8["params"] == base["params"] and os8["gmacs"] > 2.5 * base["gmacs"]
    # the image-pooling branch: a 512->256 1x1 conv, its BatchNorm, and 256 more inputs to the projection
    assert base["params"] - rows["no image pooling"]["params"] == 512 * 256 + 4 * 256 + 256 * 256
    assert rows["V3+ decoder"]["params"] > base["params"]


def _fake_run(folder, name, miou, classes=("sky", "pole")):
    run = folder / name
    run.mkdir(parents=True)
    meta = {
        "command": "python -m course_utils train ...",
        "hardware": "test",
        "classes": list(classes),
        "wall_seconds": 600.0,
        "extra": {"machine_state": "idle"},
        "tta": {"gain": 0.01},
        # the format store_reference_run writes: per-class IoU by class name
        "splits": {"val": {"miou": miou, "per_class_iou": {"sky": miou + 0.1, "pole": miou - 0.1}}},
    }
    (run / "run.json").write_text(json.dumps(meta))


def test_noise_threshold_from_the_baseline_seeds():
    assert A.noise_threshold([0.5]) is None
    # s = 0.01 for (0.49, 0.50, 0.51); one run against the mean of three: s * sqrt(4/3), times 2
    assert A.noise_threshold([0.49, 0.50, 0.51]) == pytest.approx(2 * 0.01 * (4 / 3) ** 0.5)


def test_stored_rows_mark_differences_within_the_seed_noise(tmp_path):
    assert A.stored_rows(folder=tmp_path) == []
    _fake_run(tmp_path, "camvid-abl-baseline", 0.49)
    _fake_run(tmp_path, "camvid-abl-baseline-2nd-seed", 0.50)
    _fake_run(tmp_path, "camvid-abl-baseline-3rd-seed", 0.51)
    _fake_run(tmp_path, "camvid-abl-output-stride-8", 0.56)
    _fake_run(tmp_path, "camvid-abl-no-image-pooling", 0.485)
    rows = {r["name"]: r for r in A.stored_rows(folder=tmp_path)}
    assert set(rows) == {"baseline", "baseline, 2nd seed", "baseline, 3rd seed", "output stride 8", "no image pooling"}
    assert rows["output stride 8"]["noise"] == pytest.approx(A.noise_threshold([0.49, 0.50, 0.51]))
    assert rows["output stride 8"]["delta"] == pytest.approx(0.06) and not rows["output stride 8"]["within_noise"]
    assert rows["no image pooling"]["delta"] == pytest.approx(-0.015) and rows["no image pooling"]["within_noise"]
    assert rows["output stride 8"]["per_class"]["pole"] == pytest.approx(0.46)
    table = A.study_table(list(rows.values()), classes=("pole",)).get_string()
    assert "within noise" in table and "better" in table


def test_one_baseline_gives_no_verdict(tmp_path):
    _fake_run(tmp_path, "camvid-abl-baseline", 0.50)
    _fake_run(tmp_path, "camvid-abl-v3-decoder", 0.55)
    rows = {r["name"]: r for r in A.stored_rows(folder=tmp_path)}
    assert rows["V3+ decoder"]["noise"] is None and rows["V3+ decoder"]["within_noise"] is None


def test_store_tool_trains_scores_and_records_in_one_command(tmp_path):
    import importlib.util
    from pathlib import Path

    from course_utils.datasets.minidrive import build_minidrive

    spec = importlib.util.spec_from_file_location(
        "store_reference_run", Path(__file__).resolve().parent.parent / "tools" / "store_reference_run.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = build_minidrive(tmp_path / "minidrive", 8, 4, 2, 48, 64, seed=3)
    common = ["--dataset", str(root), "--out", str(tmp_path / "refs"), "--tta-scales", "1.0"]
    train = "--profile smoke --epochs 1 --steps-per-epoch 1 --batch-size 2 --image-size 32 32 --verbose 0"

    # a training that fails stores nothing
    bad = tool.main([*common, "--name", "bad", "--description", "d", "--train", train + " --backbone resnet7"])
    assert bad != 0 and not (tmp_path / "refs" / "bad").exists()

    name = A.run_name(A.ABLATIONS[0], "minidrive")
    rc = tool.main(
        [*common, "--name", name, "--description", "a tiny row", "--run-dir", str(tmp_path / "run")]
        + ["--note", "ablation=baseline", "--train", train]
    )
    assert rc == 0
    meta = json.loads((tmp_path / "refs" / name / "run.json").read_text())
    assert meta["command"].startswith(f"python -m course_utils train --dataset {root} --profile smoke --epochs 1")
    assert "--run-dir" not in meta["command"] and meta["wall_seconds"] > 0
    assert meta["extra"]["ablation"] == "baseline"
    assert meta["extra"]["machine_state"] in ("idle", "shared")
    assert meta["extra"]["store_command"].startswith("python tools/store_reference_run.py ")
    assert 0.0 <= meta["splits"]["val"]["miou"] <= 1.0
    # the study reads what the tool wrote (per-class IoU by name) and prints it
    (row,) = A.stored_rows("minidrive", folder=tmp_path / "refs")
    assert row["baseline"] and set(row["per_class"]) == set(meta["classes"]) and row["noise"] is None
    assert "baseline" in A.study_table([row], classes=meta["classes"][:2]).get_string()


def test_results_page_lists_every_row_with_its_exact_command():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "results.md").read_text()
    for ablation in A.ABLATIONS:
        assert A.store_command(ablation) in text, f"docs/results.md lacks the command of {ablation.name!r}"
    stored = A.stored_rows()
    if not stored:  # the page must not describe runs that were not stored
        assert "No row has been run yet" in text
