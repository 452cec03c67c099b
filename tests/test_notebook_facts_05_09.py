"""Facts stated in the prose of notebooks 05, 06, 07 and 09 (and docs/results.md), checked against the library.

Each test reads a notebook's jupytext source and fails when what the prose says and what the
library does (or a stored reference run holds) disagree: precision policy, recipes, profile
settings, multi-grid, the stages output stride 8 changes, stored run figures, and
cross-references to other notebooks, documents and files.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils import data, devices, metrics, reference_runs, train
from course_utils.config import PROFILES
from course_utils.data import throughput
from course_utils.model import resnet

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {
    "05": ROOT / "notebooks" / "05_data_pipeline.py",
    "06": ROOT / "notebooks" / "06_training.py",
    "07": ROOT / "notebooks" / "07_evaluation.py",
    "09": ROOT / "notebooks" / "09_beyond.py",
}


def cells(nb: str) -> list[tuple[str, str]]:
    """The notebook's cells as ``(kind, text)``, kind ``"markdown"`` or ``"code"`` (the header dropped)."""
    source = NOTEBOOKS[nb].read_text()
    parts = re.split(r"^# %%(.*)$", source, flags=re.M)
    out = []
    for marker, body in zip(parts[1::2], parts[2::2]):
        out.append(("markdown" if "[markdown]" in marker else "code", body))
    return out


def prose(nb: str) -> str:
    """The markdown of a notebook, comment markers removed, lines joined with spaces."""
    lines = []
    for kind, body in cells(nb):
        if kind == "markdown":
            lines += [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()]
    return re.sub(r"\s+", " ", " ".join(lines))


def code(nb: str) -> str:
    return "\n".join(body for kind, body in cells(nb) if kind == "code")


def runs() -> dict[str, reference_runs.ReferenceRun]:
    return {name: reference_runs.load_reference_run(name) for name in reference_runs.list_reference_runs()}


# --------------------------------------------------------------------------- craft


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_no_markdown_inside_code_cells(nb):
    for kind, body in cells(nb):
        if kind == "code":
            headings = [line for line in body.splitlines() if re.match(r"^# #+ ", line)]
            assert not headings, f"notebook {nb}: markdown heading inside a code cell: {headings[0]!r}"


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_objectives_at_top_and_summary_at_end(nb):
    text = prose(nb)
    assert "Learning objectives" in text[:3000], f"notebook {nb} states no objectives near the top"
    assert "## Summary" in text, f"notebook {nb} has no summary"


# --------------------------------------------------------------------------- 05


def test_05_seed_void_story_matches_the_library():
    text = prose("05")
    assert "one more class the network had to predict" not in text
    assert "all zero" in text and "seed_one_hot" in text
    one_hot = throughput.seed_one_hot(np.array([[0, 6, 255]]), 7)
    assert one_hot.shape == (1, 3, 7)  # C outputs, no void channel
    assert one_hot[0, 2].sum() == 0 and one_hot[0, 0].sum() == 1
    assert "seed_one_hot(" in inspect.getsource(throughput.naive_batches)  # one encoding, shared
    assert "all-zero row" in prose("06")  # 06 tells the same story


def test_05_class_weight_claims():
    text = prose("05")
    assert "off by default and on in the `cpu` profile's CamVid recipe" in text
    assert train.TrainConfig().class_weighting is False
    assert PROFILES["cpu"].dataset_recipes["camvid"]["class_weighting"] is True
    # "bounded: at most 1 / ln(1.02)"; "a class holding half of all pixels keeps a weight above 1"
    assert float(data.class_weights([0.0, 1.0])[0]) == pytest.approx(1 / np.log(1.02), rel=1e-6)
    assert float(data.class_weights([0.5, 0.5])[0]) > 1
    assert "frequent ones ~2" not in text


def test_05_pipeline_lists_the_cache_and_prose_matches_outputs():
    text = prose("05")
    assert "`cache()`" in text and "CACHE_BUDGET_BYTES" in text
    from course_utils.data import pipeline

    assert hasattr(pipeline, "CACHE_BUDGET_BYTES")
    assert ".cache()" in inspect.getsource(data.make_dataset)
    assert "the gap is small" not in text
    assert "decent pixel accuracy" not in text


def test_05_void_gradient_mechanism_and_inferred_encoding():
    text = prose("05")
    assert "a learning rate that nobody chose" not in text  # the gradient is softmax(z), not a scaled zero
    assert "`softmax(z)`" in text and "Adam" in text
    assert "inferred" in text  # the seed document has no label-encoding code
    src = code("05")
    assert "void_gradients(" in src and "check_masked_ce(" in src
    from course_utils import losses

    y = np.array([[[0, 255]]])
    z = np.array([[[[2.0, 0.0, -1.0], [2.0, 0.0, -1.0]]]], "float32")
    g = losses.void_gradients(y, z, 3)
    assert np.all(g["masked"][1][0, 0, 1] == 0) and np.all(g["seed"][1][0, 0, 1] > 0)


def test_05_throughput_times_cached_epochs_and_class_shares_are_printed():
    text, src = prose("05"), code("05")
    assert "epoch_rates(" in src and "images_per_second(" not in src
    assert "shared machine" not in text  # the cause was the timer, not the machine
    assert "Road and sky cover most" not in text and "a few percent" not in text
    assert "garbage such as 129" not in text
    assert "drops by the share" not in text and "at least" in text  # blind model: the drop is a lower bound
    assert "Eigen & Fergus" in text and "contain" in text  # median frequency simplified, and said so
    assert "grey vehicle on a grey road" not in text


# --------------------------------------------------------------------------- 06


def test_06_recipes_are_the_library_recipes():
    text = prose("06")
    assert "RECIPES" in code("06")
    assert "Two recipes" not in text and "two training recipes" not in text
    for recipe in train.RECIPES:
        assert f"**`{recipe}`**" in text, f"recipe {recipe} is not introduced in 06"
    assert train.TrainConfig().reduce_lr_factor == 0.2 and "with factor 0.2" in text  # the plateau schedule
    assert "divided by 5" in text
    assert PROFILES["cpu"].dataset_recipes["camvid"]["recipe"] == "fast"  # "the recipe of the CamVid reference run"
    assert runs()["camvid-cpu"].meta["config"]["recipe"] == "fast"


def test_06_precision_policy_as_the_library_chooses_it():
    text = prose("06")
    assert "devices.choose_precision" in text and "devices.choose_precision(" in code("06")
    assert "falls back to float32 on a CPU" not in text
    assert "only when a GPU or TPU is present" not in text
    # the rule as the prose states it
    assert devices.choose_precision("cpu", cpu_bf16=True)[0] == "mixed_bfloat16"
    assert devices.choose_precision("cpu", cpu_bf16=False)[0] == "float32"
    assert devices.choose_precision("gpu", (7, 5))[0] == "mixed_float16"
    assert devices.choose_precision("gpu", (8, 0))[0] == "mixed_bfloat16"
    assert devices.choose_precision("tpu")[0] == "mixed_bfloat16"
    assert "(the `cpu` and `gpu` profiles)" in text
    assert PROFILES["cpu"].mixed_precision == "auto" and PROFILES["gpu"].mixed_precision == "auto"
    # "The reference runs of section 6 trained in bf16 on a CPU that has AMX."
    for run in runs().values():
        assert run.meta["precision_policy"] == "mixed_bfloat16"
        assert "AMX" in run.meta["hardware"]


def test_06_profile_weights():
    text = prose("06")
    assert "the `gpu` profile starts from ImageNet weights" in text
    assert "like every run of this course" not in text
    assert PROFILES["gpu"].weights == "imagenet"
    assert PROFILES["smoke"].weights is None and PROFILES["cpu"].weights is None


def test_06_output_stride_8_removes_only_stage_3s_stride():
    text = prose("06")
    assert "removes **only stage 3's stride**" in text
    assert "removes the stride of the last **two** stages" not in text
    assert "the stages before them do not change" not in text
    os16, os8 = resnet.stage_strides_and_rates(16), resnet.stage_strides_and_rates(8)
    changed = [i for i in range(4) if os16[i] != os8[i]]
    assert changed == [2, 3]  # "8 enlarges the last two stages" (summary): stage 4 runs on stage 3's larger map
    stride_changed = [i for i in range(4) if os16[i][0] != os8[i][0]]
    assert stride_changed == [2]  # only stage 3 loses its stride
    assert os16[3][0] == 1  # stage 4 has stride 1 already at OS 16


def test_06_multi_grid_on_resnet18():
    text = prose("06")
    assert "ResNet-18 has only **two** units" in text
    assert resnet.RESNET_SPECS[18][1][3] == 2 and resnet.RESNET_SPECS[50][1][3] == 3
    rate = resnet.stage_strides_and_rates(16)[3][1]
    assert resnet.multi_grid_rates(rate, 2, (1, 2, 4)) == [rate, 2 * rate]  # the 4 is never used
    assert PROFILES["cpu"].backbone == "resnet18" and PROFILES["cpu"].multi_grid == (1, 2, 4)


def test_06_validation_loss_below_training_loss_is_explained():
    text = prose("06")
    assert "**weighted** mean" in text and "**unweighted** mean" in text
    from course_utils.plotting import load_history

    camvid = runs()["camvid-cpu"]
    assert camvid.meta["config"]["class_weighting"] is True
    h = load_history(camvid.history_csv)
    assert all(v < t for v, t in zip(h["val_loss"], h["loss"]))  # "lies below the training loss"
    assert runs()["minidrive-cpu"].meta["config"]["class_weighting"] is False  # "On MiniDrive, without class weights"


def test_06_bn_section_is_markdown_and_weight_decay_recipe():
    headings = [line for kind, body in cells("06") if kind == "markdown" for line in body.splitlines()]
    assert "# ## 8. BatchNorm: the statistics inference uses" in headings
    assert "# ## 7. Long runs: the command line" in headings
    # the recipe table prints weight decay only for `paper`: the only recipe whose L2 term train.py adds
    from course_utils.config import RECIPES

    assert "RECIPES[config.recipe].l2_loss and config.weight_decay" in inspect.getsource(train)
    assert [name for name, recipe in RECIPES.items() if recipe.l2_loss] == ["paper"]


# --------------------------------------------------------------------------- 07


def test_07_tta_claims_follow_the_stored_runs():
    text = prose("07")
    for stale in ("1-2 points", "a point or two", "typically adds"):
        assert stale not in text
    assert "list_reference_runs()" in code("07") and 'meta["tta"]' in code("07")
    # the sign is a hypothesis, and the summary no longer says TTA "helped" (a gain below any noise test)
    assert "helped the run trained with random scales" not in text
    assert "A **hypothesis**, not a finding" in text and "paired bootstrap" in text
    for name, run in runs().items():
        lo, hi = run.meta["config"]["scale_range"]
        gain = run.meta["tta"]["gain"]
        assert (gain > 0) == (hi > lo), f"{name}: TTA gain {gain:+.3f} with training scales {lo}-{hi}"


def test_07_effective_stride_and_pole():
    text = prose("07")
    assert "(32 for the CamVid run" in text
    cfg = runs()["camvid-cpu"].meta["config"]
    assert metrics.effective_label_stride(cfg["output_stride"], cfg["input_scale"]) == 32
    cm = runs()["camvid-cpu"].confusion_matrix("val")
    classes = runs()["camvid-cpu"].meta["classes"]
    assert metrics.iou_per_class(cm)[classes.index("pole")] < 0.01  # "The class with IoU 0"


def test_07_class_weights_trade_precision_for_recall():
    text = prose("07")
    # a hypothesis next to the coarse grid, with notebook 08's experiment named
    assert "class weights bought the rare classes recall with precision" not in text
    assert "The weights bought recall with precision." not in text
    assert "The coarse logit grid" in text and '"no class weights" row' in text
    from course_utils import ablations

    assert "no class weights" in str(ablations.ABLATIONS)  # the row notebook 08 runs
    run = runs()["camvid-cpu"]
    assert run.meta["config"]["class_weighting"] is True
    cm = run.confusion_matrix("val")
    precision, recall = metrics.precision_recall(cm)
    iou = metrics.iou_per_class(cm)
    rare = [c for c in range(len(cm)) if cm[c].sum() / cm.sum() < 0.03 and iou[c] > 0.01]
    assert rare and all(precision[c] < recall[c] for c in rare)


def test_07_selection_caveat_is_backed_by_the_history():
    from course_utils.plotting import load_history

    run = runs()["camvid-cpu"]
    h = load_history(run.history_csv)
    assert int(np.argmax(h["val_miou"])) + 1 == run.meta["best_epoch"]
    assert h["val_miou"][-1] < max(h["val_miou"])  # "Its last epoch" is below the reported best
    assert "usually well above mIoU" in prose("07") and "always far above" not in prose("07")


# --------------------------------------------------------------------------- 09


def test_09_seed_head_does_not_commute():
    text = prose("09")
    assert "does **not** commute" in text
    assert "they **commute**: the logits are the same" not in text
    assert "UpSampling2D(16)`, then `Conv2D(64, 1, relu)`, then `Conv2D(7, 1, relu)`" in text
    from course_utils.exercises import updates_b as exercise_updates_b

    src = inspect.getsource(exercise_updates_b.seed_head_model)
    assert 'Conv2D(hidden, 1, activation="relu"' in src and "UpSampling2D(factor" in src


def test_09_camvid_input_scale_is_printed_not_typed():
    assert 'dataset_recipes["camvid"]["input_scale"]' in code("09")
    assert "+106 %" not in prose("09")
    if "under an hour" in prose("09"):  # the stored CamVid run's wall time
        assert runs()["camvid-cpu"].meta["wall_seconds"] < 3600


# --------------------------------------------------------------------------- stored figures quoted in prose

# figures from outside the library (the seed notebook, the papers, published tables) that prose may type
EXTERNAL = {
    "0.575",  # the seed's test mIoU (seed notebook)
    "0.598",  # the seed's val mIoU range after epoch 5 (seed notebook's log)
    "0.623",
    "0.09",  # the seed's train-val gap
    "0.0005",  # the seed's min_lr (seed notebook)
    "0.007",  # the paper's base learning rate on PASCAL VOC
    "0.001",
    "0.9",  # momentum / poly power (paper)
    "0.99",  # Keras' BatchNorm momentum
    "0.9997",  # the paper's BatchNorm momentum
    "0.2",  # the plateau factor: checked against TrainConfig in test_06_recipes_are_the_library_recipes
    "0.5",  # a scale in prose or a command line
    "0.75",
}


def stored_figures() -> set[str]:
    out = set()
    for run in runs().values():
        values = [
            run.miou("val"),
            run.splits["val"]["pixel_accuracy"],
            run.meta["tta"]["miou"],
            run.meta["tta"]["gain"],
        ]
        values += [run.meta["colour_baseline"]["miou"], run.meta["colour_baseline"]["pixel_accuracy"]]
        values += [v for v in run.splits["val"]["per_class_iou"].values() if v is not None]
        for v in values:
            out |= {f"{v:.3f}", f"{v:.2f}", f"{abs(v):.3f}"}
    return out


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_decimal_figures_in_prose_are_stored_or_external(nb):
    allowed = EXTERNAL | stored_figures()
    unknown = sorted(set(re.findall(r"(?<![\d.])0\.\d+", prose(nb))) - allowed)
    assert not unknown, f"notebook {nb} types {unknown}: print them from the library, or list their source"


def test_docs_results_quotes_the_stored_camvid_run():
    text = (ROOT / "docs" / "results.md").read_text()
    run = runs()["camvid-cpu"]
    from course_utils.plotting import load_history

    h = load_history(run.history_csv)
    m = re.search(r"val mIoU (0\.\d+)\*\* \(best epoch, (\d+) of (\d+); the last epoch (0\.\d+)\)", text)
    assert m, "docs/results.md no longer states the camvid-cpu headline in the tested form"
    assert m.group(1) == f"{run.miou('val'):.3f}"
    assert int(m.group(2)) == run.meta["best_epoch"] and int(m.group(3)) == run.meta["epochs"]
    assert m.group(4) == f"{h['val_miou'][-1]:.3f}"
    # FC-DenseNet103 trained from scratch; the stored weight_decay of non-paper runs is not applied
    assert re.search(r"FC-DenseNet103 66\.9\s+trained \*\*from scratch\*\*", text)
    for run in runs().values():
        if run.meta["config"]["recipe"] != "paper" and run.meta["config"]["weight_decay"]:
            assert "**not used**" in text and f"`{run.name}`" in text


# --------------------------------------------------------------------------- cross-references


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS))
def test_cross_references_exist(nb):
    source = NOTEBOOKS[nb].read_text()
    for ref in set(re.findall(r"\b(\d\d_[a-z0-9_]+)\.ipynb", source)):
        assert (ROOT / "notebooks" / f"{ref}.py").is_file(), f"notebook {nb} points to missing {ref}.ipynb"
    for ref in set(re.findall(r"\b((?:docs|course_utils|data_scripts|benchmarks|tools)/[\w./-]+\.(?:md|py))", source)):
        assert (ROOT / ref).is_file(), f"notebook {nb} points to missing {ref}"
    for number in set(re.findall(r"[Nn]otebooks? (\d\d)\b", source)):
        assert list((ROOT / "notebooks").glob(f"{number}_*.py")), f"notebook {nb} points to missing notebook {number}"
    import importlib

    modules = ("data", "train", "experiments", "metrics", "validation", "losses", "throughput", "devices")
    modules += ("evaluate", "reference_runs", "plotting", "baselines", "exercises.updates_b")
    for module, name in set(re.findall(r"`(?:course_utils\.)?(" + "|".join(modules) + r")\.(\w+)", source)):
        assert hasattr(importlib.import_module(f"course_utils.{module}"), name), (
            f"notebook {nb} names {module}.{name}, which does not exist"
        )


# --------------------------------------------------------------------------- round-2 review of 06 and 07


def _results_md() -> str:
    return (ROOT / "docs" / "results.md").read_text()


def test_06_07_noise_rule_is_notebook_08s():
    from course_utils import ablations

    for nb in ("06", "07"):
        assert "ablations.noise_threshold" in prose(nb), f"notebook {nb} does not name notebook 08's noise rule"
    text7 = prose("07")
    assert "lower bound" not in text7 and "two runs with different seeds differ by at least as much" not in text7
    assert "is the floor under any conclusion" not in prose("06")
    # "two standard deviations of that spread": the rule's default factor
    assert inspect.signature(ablations.noise_threshold).parameters["factor"].default == 2.0
    # 07 no longer prints a yes/no verdict of the TTA gain against the epoch-to-epoch change
    assert "than the epoch-to-epoch noise" not in code("07")


def test_06_nan_guard_demo_has_the_run_folder():
    assert "callbacks.NaNGuard(run_dir)" in code("06")
    assert "_flatten_layers" not in code("06")


def test_06_callback_listing_is_complete():
    import tempfile

    text = prose("06")
    cfgs = [train.TrainConfig.from_profile("smoke", recipe=r, tensorboard=False) for r in ("seed", "paper")]
    with tempfile.TemporaryDirectory() as tmp:
        names = {type(cb).__name__ for cfg in cfgs for cb in train.make_callbacks(cfg, Path(tmp), None)}
    for name in names:
        assert f"`{name}`" in text, f"notebook 06 prints callback {name} without explaining it"
    assert "`TensorBoard`" in text and "turns it off" in text


def test_06_bf16_figures_are_the_documented_ones():
    from course_utils.training import evidence as training_evidence

    text = _results_md()
    for setting, (t32, t16) in training_evidence.BF16_SPEEDUPS.items():
        assert f"| {setting} | {t32} s | {t16} s |" in text, setting
    os8 = training_evidence.BF16_SPEEDUPS["OS 8, 180x240"]
    assert os8[1] >= os8[0]  # "none at output stride 8"
    assert "several times faster" not in prose("06")
    assert "training_evidence.BF16_SPEEDUPS" in code("06")


def test_06_stale_bn_history_is_the_documented_one():
    from course_utils.training import evidence as training_evidence

    h = training_evidence.STALE_BN_HISTORY
    text = re.sub(r"\s+", " ", _results_md())
    loss = [f"{v:g}" for v in h["val_loss"]]
    assert f"`val_loss` {', '.join(loss[:-1])} and {loss[-1]}" in text
    assert "`val_miou` went " + ", ".join(f"{v:g}" for v in h["val_miou"]) in text
    assert "**staged** demonstration" in prose("06")


def test_06_paper_claims():
    text = prose("06")
    assert "reference implementation" in text and "left-right flips" in text  # weight decay is not the paper's
    assert "test-server submission" in text  # the OS-8 frozen-BN fine-tune
    assert "then fine-tune at output stride 8 with frozen BatchNorm" not in text
    assert "**inferred**" in text  # the seed's one-hot encoding is not in the seed document
    assert "FC-DenseNet103" in text and "ReLU on its logits" in text
    assert "TrainConfig.from_profile(profile, dataset=...)" in text
    assert "learning rate 0" in text and "training_evidence.steps_at_rate_zero(" in code("06")
    assert "**made up**" in text  # exercise 5's curves are synthetic


def test_07_review_claims():
    text = prose("07")
    assert "Every analysis is run twice" not in text
    assert "is typical" not in text
    assert "FC-DenseNet103" in text and "validation split usually scores above the test split" in text
    assert "SEED_PER_BATCH_VS_ACCUMULATED" in code("07")
    from course_utils.training import evidence as training_evidence

    seed = training_evidence.SEED_PER_BATCH_VS_ACCUMULATED
    assert seed["accumulated_val_miou"] == 0.5655  # the seed table 07 prints
    assert "0.5655" in code("07")
    assert f"{seed['keras_per_batch_best_val_miou']:.3f}" in EXTERNAL  # 06's per-batch plateau quote


def test_docs_results_noise_and_class_weight_claims():
    text = re.sub(r"\s+", " ", _results_md())
    assert "noise of about 0.02" not in text and "noise (about 0.02" not in text
    assert "ablations.noise_threshold" in text
    assert "so the recipe keeps them" not in text
