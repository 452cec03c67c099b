"""The facts notebooks 00-04 state in prose agree with the library.

The prose of a notebook cannot print; where it states a setting, a number or a
behaviour of the library, a test here checks it against the library, so that a
change to ``course_utils`` that makes a notebook wrong fails ``make test``
instead of drifting silently. The tests read the jupytext sources
(``notebooks/NN_name.py``), never the executed ``.ipynb``.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import atrous
from course_utils.model import default_aspp_rates, multi_grid_rates, stage_strides_and_rates
from course_utils.model.resnet import RESNET_SPECS
from course_utils.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COVERED = ("00", "01", "02", "03", "04")


@cache
def source(number: str) -> str:
    (path,) = NOTEBOOKS.glob(f"{number}_*.py")
    return path.read_text(encoding="utf-8")


@cache
def prose(number: str) -> str:
    """The markdown cells of a notebook, comment markers removed, lines joined by spaces."""
    text, in_markdown = [], False
    for line in source(number).splitlines():
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line
            continue
        if in_markdown:
            text.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return re.sub(r"\s+", " ", " ".join(text))


def before_exercises(number: str) -> str:
    """The source up to the exercises at the end (exercises placed in sections stay in)."""
    return source(number).split("## Exercises")[0]


# ----------------------------------------------------------------- cross-references


@pytest.mark.parametrize("number", COVERED)
def test_notebook_references_exist(number):
    text = source(number)
    for ref in set(re.findall(r"\b(\d\d_[a-z0-9_]+)\.ipynb", text)):
        assert (NOTEBOOKS / f"{ref}.py").is_file(), f"notebook {number} refers to {ref}.ipynb, which does not exist"
    for ref in set(re.findall(r"[Nn]otebooks? (\d\d)\b", text)):
        assert list(NOTEBOOKS.glob(f"{ref}_*.py")), f"notebook {number} refers to notebook {ref}, which does not exist"


@pytest.mark.parametrize("number", COVERED)
def test_paths_named_in_prose_exist(number):
    for path in set(re.findall(r"`((?:course_utils|docs|data_scripts|tests)/[\w/.-]+\.(?:py|md))`", source(number))):
        assert (ROOT / path).is_file(), f"notebook {number} names {path}, which does not exist"


@pytest.mark.parametrize("number", COVERED)
def test_dotted_library_names_in_prose_resolve(number):
    for name in set(re.findall(r"`(course_utils(?:\.\w+)+)", prose(number))):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):  # longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"notebook {number} names {name}, but {attr!r} does not exist"
                obj = getattr(obj, attr)
            break
        else:  # pragma: no cover - course_utils itself always imports
            pytest.fail(f"notebook {number} names {name}, which cannot be imported")


def test_cross_notebook_claims_hold():
    # 00: the recipe comment points to the experiments behind it
    assert "docs/results.md" in (ROOT / "course_utils" / "config.py").read_text(encoding="utf-8")
    assert (ROOT / "docs" / "results.md").is_file()
    # 02 -> 06: notebook 06 relies on the Caffe adapter that 02 teaches
    assert "CaffeInputAdapter" in source("06") and "CaffeInputAdapter" in prose("02")
    # 03 -> 07, 08, 09: test-time augmentation, ablations, "your own image"
    assert "test-time" in source("07").lower()
    assert "ablation" in source("08").lower()
    assert "own image" in source("09").lower()
    # 04 -> 01: the effective receptive field is taught in 01, section 3
    section3 = source("01").split("## 3.")[1].split("## 4.")[0]
    assert "effective receptive field" in section3.lower() and "notebook 01, section 3" in prose("04")
    # 01 -> 02: 02 shows what multi-grid becomes in ResNet-18
    assert "multi_grid_rates" in source("02")


# ----------------------------------------------------------------- 00: profiles, recipes, precision


def test_00_profiles_are_not_only_sizes():
    text = prose("00")
    assert "only sizes change" not in text
    assert "dataset recipe" in text and "TrainConfig.from_profile(profile, dataset=...)" in text
    cpu, cpu_camvid = TrainConfig.from_profile("cpu"), TrainConfig.from_profile("cpu", dataset="camvid")
    gpu = TrainConfig.from_profile("gpu")
    assert cpu.backbone != gpu.backbone  # backbone differs between profiles
    assert (cpu_camvid.image_size, cpu_camvid.epochs, cpu_camvid.recipe) != (cpu.image_size, cpu.epochs, cpu.recipe)
    assert cpu_camvid.input_scale < 1  # "halves the frames first" / "shrinks every frame"
    assert cpu_camvid.class_weighting  # "class weights"


def test_00_weights_claims():
    # "ResNet-18 has none there, which is why the cpu rows train from scratch whatever the profile asks"
    assert not hasattr(keras.applications, "ResNet18")
    for dataset in ("minidrive", "camvid"):
        assert TrainConfig.from_profile("cpu", dataset=dataset).weights is None
        assert TrainConfig.from_profile("gpu", dataset=dataset).weights == "imagenet"
    # even a cpu profile that asked for ImageNet weights trains ResNet-18 from scratch
    from course_utils.profiles import PROFILES

    assert TrainConfig.from_profile(PROFILES["cpu"].replace(weights="imagenet")).weights is None


def test_00_precision_policy_claims():
    from course_utils.devices import choose_precision

    text = prose("00")
    assert "bf16" in text and "AMX or AVX512-BF16" in text and "compute capability 8.0" in text
    assert choose_precision("cpu", cpu_bf16=True)[0] == "mixed_bfloat16"
    assert choose_precision("cpu", cpu_bf16=False)[0] == "float32"
    assert choose_precision("gpu", compute_capability=(8, 0))[0] == "mixed_bfloat16"
    assert choose_precision("gpu", compute_capability=(7, 5))[0] == "mixed_float16"
    for profile in ("cpu", "gpu"):
        assert TrainConfig.from_profile(profile).mixed_precision == "auto"


def test_00_reference_gallery_and_its_reading():
    from course_utils.reference_runs import load_reference_run

    run = load_reference_run("camvid-cpu")
    assert run.gallery_png.is_file()
    assert run.meta["config"]["weights"] is None and "no GPU" in run.meta["hardware"]  # "from scratch on two CPU cores"
    assert "2 cores" in run.meta["hardware"]
    iou = run.splits["val"]["per_class_iou"]
    large, thin = ("road", "sky", "building"), ("pole", "sign-symbol", "pedestrian")
    assert min(iou[c] for c in large) > max(iou[c] for c in thin), (
        "00 says large classes come out better than thin ones"
    )
    assert "camvid-cpu" in source("00") and "/work" not in source("00")


def test_00_epoch_is_a_whole_number_of_batches():
    from course_utils.datasets.camvid import CAMVID_EXPECTED
    from course_utils.estimate import estimate_training_time

    config = TrainConfig.from_profile("gpu")
    estimate = estimate_training_time(config, 11, CAMVID_EXPECTED["train"], CAMVID_EXPECTED["val"], (360, 480))
    assert estimate.train_images_per_epoch > CAMVID_EXPECTED["train"]  # "more training images than the split"
    assert estimate.train_images_per_epoch % config.batch_size == 0


# ----------------------------------------------------------------- 01: rates, gridding, effective field


def test_01_multi_grid_and_gridding_claims():
    text = prose("01")
    assert "unit rates 2, 4, 8" not in text
    assert "Multi_Grid = (1, 2, 4)" in text and "rates 2, 4, 8" in text
    stage4_rate = stage_strides_and_rates(16)[3][1]
    assert multi_grid_rates(stage4_rate, 3, (1, 2, 4)) == [2, 4, 8]
    coverage = {r: atrous.coverage_fraction(atrous.stack_footprint(r)) for r in [(2, 2, 2), (2, 4, 8), (1, 2, 4)]}
    assert coverage[(1, 2, 4)] == 1.0 and coverage[(2, 2, 2)] < 1 and coverage[(2, 4, 8)] < 1  # "only (1, 2, 4)"
    assert "grid on their own" in text and "not a gridding fix" in text


def test_01_effective_field_grows_like_a_square_root():
    # "Write down whether the effective field of 16 layers is about 4 times that of 4 layers, or closer to 2"
    for weights in ("ones", "random"):
        erf = {
            n: atrous.effective_receptive_field(atrous.gradient_footprint([1] * n, weights=weights, seed=n))
            for n in (4, 16)
        }
        assert abs(erf[16] / erf[4] - 2) < abs(erf[16] / erf[4] - 4)


def test_01_exercise_answers_are_not_printed_before_the_exercises():
    body = before_exercises("01")
    assert "(3, 1, 1), (3, 1, 2)]" not in body.split("stacks = {")[1].split("}")[0]  # exercise 2's stack
    assert "range(1, 7)" not in body  # exercise 1: the effective size at rate 6
    assert "kernel[k] * padded" not in source("01")  # exercise 3's stub does not give the formula


# ----------------------------------------------------------------- 02: output stride, multi-grid, units


def test_02_output_stride_changes_the_last_stages():
    plain = stage_strides_and_rates(32)

    def changed(os_):
        return [s for s, (p, q) in enumerate(zip(plain, stage_strides_and_rates(os_)), start=1) if p != q]

    assert changed(16) == [4] and changed(8) == [3, 4]
    text = prose("02")
    assert "the last two (output stride 8)" in text and "stages 3 and 4" in text
    assert "at OS 8 stage 3's is 4x and stage 4's 16x larger" in text


def test_02_multi_grid_on_resnet18_and_resnet50():
    text = prose("02")
    assert RESNET_SPECS[50][1][3] == 3 and RESNET_SPECS[101][1][3] == 3  # "ResNet-50/101 have three"
    assert RESNET_SPECS[18][0] == "basic" and RESNET_SPECS[18][1][3] == 2  # "ResNet-18: two basic units"
    assert "ResNet-18: two basic units, four 3x3 convolutions" in text
    assert multi_grid_rates(2, 2, (1, 2, 4)) == [2, 4]  # "uses the first entries of the grid"
    assert "is therefore not the paper's" in text
    assert (
        TrainConfig.from_profile("cpu").backbone == "resnet18"
        and TrainConfig.from_profile("smoke").backbone == "resnet18"
    )
    assert TrainConfig.from_profile("gpu").backbone == "resnet50"


def test_02_basic_unit_first_conv_is_dilated():
    from course_utils.model import build_resnet

    model = build_resnet(18, output_stride=16)
    assert model.get_layer("stage4_unit1_conv1").dilation_rate == (2, 2)
    assert "stage4_unit1_conv1" in prose("02")


def test_02_caffe_adapter_claims():
    from course_utils.model import CaffeInputAdapter

    rgb = np.random.default_rng(0).integers(0, 256, size=(1, 2, 2, 3)).astype("float32")
    adapted = CaffeInputAdapter()(rgb / 127.5 - 1.0)
    np.testing.assert_allclose(adapted, keras.applications.resnet.preprocess_input(rgb.copy()), atol=1e-3)
    text = prose("02")
    assert "BGR" in text and "mean subtracted" in text.replace("**", "")
    assert 'build_resnet(..., input_adapter="caffe")' in text


def test_02_randomises_before_the_copy_proof():
    text = source("02")
    assert text.index("randomize_batchnorm_and_biases(source") < text.index(
        "load_keras_applications_weights(ours, source)"
    )


def test_02_exercise_1_answer_is_not_printed():
    body = before_exercises("02")
    assert 'unit_model("bottleneck", 256, 64)' not in body


# ----------------------------------------------------------------- 03: map size, degenerate ASPP


def test_03_paper_rates_and_map_sizes():
    assert default_aspp_rates(16) == (6, 12, 18) and default_aspp_rates(8) == (12, 24, 36)
    assert atrous.feature_map_size((513, 513), 16) == (33, 33)  # "a 33x33 feature map"
    assert atrous.feature_map_size((513, 513), 8) == (65, 65)  # "the map is 65x65"
    text = prose("03")
    assert "rates 6, 12 and 18" in text and "33x33" in text and "65x65" in text
    assert "height // profile.output_stride" not in source("03")  # the map is rounded up


def test_03_cpu_profile_aspp_is_degenerate():
    text = prose("03")
    assert "rate-18 branch is a 1x1 convolution at every position, and the rate-12 branch at most of them" in text
    for dataset in ("minidrive", "camvid"):
        config = TrainConfig.from_profile("cpu", dataset=dataset)
        fmap = atrous.feature_map_size(config.image_size, config.output_stride)
        rates = default_aspp_rates(config.output_stride)
        assert atrous.valid_weight_counts(fmap, rates[2]) == {1: 1.0}
        assert atrous.valid_weight_counts(fmap, rates[1]).get(1, 0.0) > 0.5
        assert atrous.valid_weight_counts(fmap, rates[0]).get(1, 0.0) == 0.0  # "the rate-6 branch carries the context"


def test_03_dropout_and_concatenation():
    import inspect

    from course_utils.model import build_aspp

    assert inspect.signature(build_aspp).parameters["dropout"].default > 0
    model = build_aspp((None, None, 8), rates=(1, 2, 3), filters=4)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Concatenate", "Dropout"} <= kinds and "Add" not in kinds
    assert "dropout" in prose("03").split("## 2.")[0]  # section 1 describes it


def test_03_exercise_answers_are_not_printed_before_they_are_asked():
    text = source("03")
    ex2 = text.index("answer_2 = None")
    assert ex2 < text.index("for os_ in (16, 8):")  # the rates at OS 8 are printed after the exercise
    assert "valid_weight_counts(33, r)" in text  # exercise 1 asks about the 33x33 map
    printed_rates = re.search(r"for r in \(([\d, ]+)\):\n    print\(\n        f\"rate", text)
    assert printed_rates is None or "33" not in printed_rates.group(1).split(", ")  # not printed for a 33x33 map


# ----------------------------------------------------------------- 04: the seed's head, exercises


def test_04_seed_head_does_not_commute_but_a_linear_1x1_does():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(1, 3, 4, 16)).astype("float32")
    up = keras.layers.UpSampling2D(4, interpolation="bilinear")
    linear = keras.layers.Conv2D(5, 1)
    hidden = keras.layers.Conv2D(8, 1, activation="relu")
    classifier = keras.layers.Conv2D(5, 1)
    np.testing.assert_allclose(up(linear(f)), linear(up(f)), atol=1e-5)
    assert not np.allclose(up(classifier(hidden(f))), classifier(hidden(up(f))), atol=1e-4)
    text = prose("04")
    assert "`UpSampling2D(16)` -> `Conv2D(64, 1, relu)` -> `Conv2D(n_classes, 1, relu)`" in text
    assert "single linear 1x1" in text and "a different function" in text


def test_04_exercise_answers_are_not_printed():
    body = before_exercises("04")
    assert "(100, 72)" not in body  # exercise 1's input size
    assert "plus.count_params() - model.count_params()" not in body  # exercise 3's count
    assert "profile.describe()" not in source("04")  # the bugs 5-6 padding is gone


def test_04_unet_prose_is_not_tied_to_one_profile():
    text = prose("04")
    for stale in ("2.4x", "half the parameters", "DeepLab: 3 %", "dominates medical imaging"):
        assert stale not in text


def test_03_rate_18_field_is_larger_than_the_papers_crop():
    assert "the rate-18 field is larger than the crop itself" in prose("03")
    assert atrous.effective_kernel_size(3, default_aspp_rates(16)[2]) * 16 > 513
    assert atrous.effective_kernel_size(3, default_aspp_rates(16)[1]) * 16 < 513


def test_new_in_place_exercises_are_wired():
    assert "updates_a.check_optimizer_steps(" in source("00")
    assert "updates_a.check_output_stride_plan(my_plan)" in source("02")


def test_00_gpu_profile_is_about_half_an_hour_estimated():
    from course_utils.datasets.camvid import CAMVID_EXPECTED
    from course_utils.estimate import estimate_training_time

    assert "about half an hour (**estimated**)" in prose("00")
    estimate = estimate_training_time(
        TrainConfig.from_profile("gpu", dataset="camvid"),
        11,
        CAMVID_EXPECTED["train"],
        CAMVID_EXPECTED["val"],
        (360, 480),
    )
    assert 20 <= estimate.total_minutes <= 45


# ----------------------------------------------------------------- review round 2 (fix0001): 00 and 01


def test_00_fcn_variants_and_reference_failures():
    from course_utils.reference_runs import load_reference_run

    text = prose("00")
    assert "FCN-32s" in text and "FCN-16s" in text and "skip connections" in text
    run = load_reference_run("camvid-cpu")
    val = run.splits["val"]
    iou = val["per_class_iou"]
    assert min(iou.values()) < 0.01  # "the worst class has an IoU of about zero"
    assert "IoU of about zero" in text
    # "chosen by its mIoU on the same validation split": the best of several epochs, scored on val
    assert run.meta["checkpoint"] == "best.keras" and run.meta["best_epoch"] <= run.meta["epochs"]
    assert "val" in run.splits and "same validation split" in source("00")
    # "The mIoU printed above is far below the pixel accuracy"
    assert val["miou"] < val["pixel_accuracy"] - 0.2


def test_00_cpu_time_is_from_bf16_hardware_and_float32_is_about_twice():
    from course_utils.reference_runs import load_reference_run

    run = load_reference_run("camvid-cpu")
    assert run.meta["precision_policy"] == "mixed_bfloat16" and "BF16" in run.meta["hardware"]
    assert "expect about twice as long on a CPU that trains in float32" in prose("00")
    assert "(2.0x)" in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert "under an hour (CamVid)" not in prose("00")


def test_00_float16_rule_separates_tensor_core_gpus():
    from course_utils.devices import choose_precision

    text = prose("00")
    assert "compute capability 7.x" in text and "below 7.0 there are no tensor cores" in text
    assert choose_precision("gpu", compute_capability=(6, 0))[0] == "mixed_float16"
    assert "no tensor cores" in choose_precision("gpu", compute_capability=(6, 0))[1]


def test_00_shrink_versus_crop_answer():
    config = TrainConfig.from_profile("cpu", dataset="camvid")
    text = prose("00")
    assert "the feature map is the same size either way" in text
    assert "the same 12x15" not in text  # printed, not typed
    assert config.input_scale < 1  # a feature cell covers more of the street
    assert config.scale_range[1] > 1  # "a zoomed-in crop shows only part of the shrunken frame"
    assert "The crops are not whole scenes" in text
    assert "rates degenerate" in text  # agrees with notebook 03
    assert "degenerate" in prose("03")


def test_00_exercise_texts_agree_with_the_notebook():
    src = source("00")
    assert "Active profile:" not in src  # no cell prints such a line
    assert "topped up" in src.split("### Exercise 2")[1].split("### Exercise 3")[0]
    assert "profile.steps_per_epoch" in src
    assert "11, 367, 101" not in src  # magic numbers replaced by CAMVID_CLASSES and CAMVID_EXPECTED
    for word in ("XLA", "Poly schedule", "Class weighting", "loss scaling", "AMX, AVX512-BF16", "Recipe"):
        assert word in prose("00"), word
    assert "void pixels" in prose("00").lower()


def test_01_effective_field_argument_is_for_rate_1_only():
    text = prose("01")
    assert "That argument is for rate 1 only" in text and "centre by exactly one" in text
    line = atrous.footprint_1d((1, 2, 4))
    assert line[len(line) // 2] == 1  # the centre: one path (all centre taps)
    layers = [(3, 1, r) for r in (1, 2, 4)]
    # "whose effective field is as large as the theoretical one"
    assert atrous.effective_receptive_field(atrous.gradient_footprint([1, 2, 4])) == atrous.receptive_field(layers)


def test_01_gridding_wording_and_order_independent_rule():
    text = prose("01")
    assert "checkerboard" not in text.lower() and "one pixel in four" in text
    fp = atrous.stack_footprint((2, 2))
    assert np.count_nonzero(fp[::2, ::2]) == fp[::2, ::2].size and np.count_nonzero(fp) == fp[::2, ::2].size
    assert "Sorted ascending" in text and "(3, 1, 9) covers its 27x27 field like (1, 3, 9)" in text
    for rates in [(3, 1, 9), (1, 3, 9)]:
        assert atrous.coverage_fraction(atrous.stack_footprint(rates)) == 1.0
        assert atrous.receptive_field([(3, 1, r) for r in rates]) == 27
    doc = atrous.stack_footprint.__doc__
    assert "absent for\n    multi-grid" not in doc and "(2, 4, 8)" in doc


def test_01_resnet_gridding_and_decimation_claims():
    text = prose("01")
    assert "holes are filled anyway" not in text
    assert "input footprint" in text and "feature level" in text and "DRN" in text
    assert "differ only in resolution" not in text
    assert "two lines of opposite sign" in text and "CRF" in text and "decoder" in text
    assert "keeps the previous rate" in text and "notebook 02 dilates the first 3x3" in text
    assert text.count("Notebook 02 performs this surgery") == 1
    assert atrous.dense_cost_factor(16) == 4 and atrous.dense_cost_factor(8) == 16  # "the square of the factor"
    assert "square of the factor" in text
    # notebook 02 does dilate the first 3x3 of the basic units (see test_02_basic_unit_first_conv_is_dilated)


def test_01_predictions_and_new_exercise_are_checked():
    src = source("01")
    assert "updates_a.check_erf_growth_prediction(erf_guess)" in src
    assert "updates_a.check_full_coverage_prediction(full_coverage, candidates)" in src
    assert "updates_a.check_rate_after_removed_stride(answer_5)" in src
    assert 'plt.rcParams["figure.dpi"] = 72' not in src


# ----------------------------------------------------------------- 02 and 03 after review round 2


def test_02_only_resnet18_truncates_the_multi_grid():
    text = prose("02")
    assert "ResNet-18 and ResNet-34 have fewer units" not in text
    assert "Only ResNet-18 truncates the grid" in text
    grid = (1, 2, 4)
    truncated = [d for d, (_, units) in RESNET_SPECS.items() if units[3] < len(grid)]
    assert truncated == [18]


def test_02_dilating_the_strided_conv_is_cited_correctly():
    text = prose("02")
    assert "torchvision and TF-slim give that first convolution" not in text
    assert "`previous_dilation`" in text and "`BasicBlock` refuses dilation" in text


def test_02_bottleneck_costs_about_a_narrower_basic_unit():
    from course_utils.model import model_report
    from course_utils.model.resnet import basic_unit, bottleneck_unit

    text = prose("02")
    assert "far cheaper" not in text and "a 4x wider bottleneck costs about what a basic unit costs" in text
    assert 'unit_model("basic", 256, 256)' in source("02")

    def unit(fn, channels, filters):
        inputs = keras.Input((14, 14, channels))
        return keras.Model(inputs, fn(inputs, filters, strides=1, rate=1, name="u", project=False))

    basic, bottleneck = unit(basic_unit, 256, 256), unit(bottleneck_unit, 1024, 256)
    assert abs(basic.count_params() / bottleneck.count_params() - 1) < 0.1  # "about the same parameters"
    macs = [model_report(m, (14, 14, m.input_shape[-1])).macs for m in (basic, bottleneck)]
    assert abs(macs[0] / macs[1] - 1) < 0.1  # "and multiply-accumulates"


def test_02_talk_gap_is_one_convention_and_real_differences():
    text = prose("02")
    assert "two counting conventions" not in text and "One part is a counting convention" in text
    assert "Goyal et al. 2017" in text and "Zeroing gamma alone is not enough" in text


def test_02_backbones_match_torchvision_counts_with_an_fc_head():
    from course_utils.model import build_resnet

    assert "ResNet-18/34 agree to the parameter" in prose("02")
    torchvision = {18: 11_689_512, 34: 21_797_672}
    for depth, expected in torchvision.items():
        model = build_resnet(depth)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert trainable + 512 * 1000 + 1000 == expected


def test_02_macs_are_the_he_table_flops_to_one_decimal():
    from course_utils.model import build_resnet, model_report

    assert "within 0.1 of our counts" in prose("02")
    he_table = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6}
    for depth, flops in he_table.items():
        assert abs(model_report(build_resnet(depth), (224, 224, 3)).gmacs - flops) < 0.1


def test_02_output_stride_cost_and_receptive_field_claims():
    from course_utils.model import build_resnet, model_report

    text = prose("02")
    assert "OS 8 costs less than 4x OS 16" in text
    assert "Most of the growth comes from multi-grid" in text
    crop = (512, 512, 3)
    for depth in (18, 50):
        gmacs = {
            os_: model_report(build_resnet(depth, output_stride=os_, multi_grid=None), crop).gmacs for os_ in (16, 8)
        }
        assert gmacs[8] < 4 * gmacs[16]
    rf = {
        key: model_report(build_resnet(18, output_stride=os_, multi_grid=grid), crop).receptive_field
        for key, os_, grid in [("32", 32, None), ("16 plain", 16, None), ("16 grid", 16, (1, 2, 4))]
    }
    assert rf["16 plain"] - rf["32"] < rf["16 grid"] - rf["16 plain"]


def test_02_os8_is_an_evaluation_of_the_os16_model():
    text = prose("02")
    assert "trains at OS 16 and evaluates, when it can afford it, at OS 8" not in text
    assert "*evaluating* the OS-16-trained model at OS 8" in text


def test_02_dense_equivalence_claims():
    text = prose("02")
    assert "For ResNet-50 the two agree to float precision" in text and "For ResNet-18 they do not" in text
    assert "dense_equivalence_error(" in source("02")  # tested in tests/test_backbone_aspp_evidence.py


def test_03_gpu_profile_is_closer_to_the_paper_not_equal():
    text = prose("03")
    assert "closer to the paper than the `cpu` profile, not equal to it" in text
    gpu = TrainConfig.from_profile("gpu")
    gpu_map = atrous.feature_map_size(gpu.image_size, gpu.output_stride)
    paper_map = atrous.feature_map_size((513, 513), 16)
    r18 = default_aspp_rates(16)[2]
    assert atrous.valid_weight_fraction(gpu_map, r18) < atrous.valid_weight_fraction(paper_map, r18) < 0.5
    assert atrous.valid_weight_counts(gpu_map, r18).get(1, 0.0) > atrous.valid_weight_counts(paper_map, r18).get(1, 0.0)


def test_03_zero_gradient_and_weight_decay_claims():
    text = prose("03")
    assert "which add no weight decay" in text and "whose distinguishing features are largely inactive" not in text
    for dataset in ("minidrive", "camvid"):
        config = TrainConfig.from_profile("cpu", dataset=dataset)
        assert config.recipe in ("seed", "fast")  # only the paper recipe adds L2 weight decay (course_utils.train)
        grads = atrous.tap_weight_gradients(atrous.feature_map_size(config.image_size, config.output_stride), 18)
        assert grads[1, 1] > 0 and np.count_nonzero(grads) == 1


def test_03_dropout_is_not_the_papers_and_tap_spans_agree():
    text = prose("03")
    assert "the paper's ASPP has none" in text
    assert "`2 * rate * output_stride`" in text
    spans = {os_: [2 * r * os_ for r in default_aspp_rates(os_)] for os_ in (16, 8)}
    assert spans[16] == spans[8]
    assert "*seed notebook*" in text and "*seed notebook*" in prose("02")


def test_03_os8_is_for_evaluation_as_in_02():
    text = prose("03")
    assert "is for a final fine-tuning phase with frozen BatchNorm and for evaluation" not in text
    assert "evaluate the OS-16-trained model at OS 8" in text


def test_04_review_round_2_claims():
    text, src = prose("04"), source("04")
    from course_utils.model import build_deeplabv3

    model = build_deeplabv3(7, backbone="resnet18", output_stride=16)
    assert len(model.layers) < 100 and "more than a hundred layers" not in text
    assert "len(model.layers)" in src  # the count is printed, not typed
    assert "bought nothing" not in text and "no new information" in text
    assert "every set of ImageNet weights" not in text and "ResNet-v2" in text
    assert "traces the graph" not in text and "eager" in text  # the timing gap: per-layer eager overhead
    assert "prediction is noise" not in text and "meaningless" in text
    assert "U-Net spends it at high resolution" not in text
    assert "section 6 of this notebook" in text
    assert "design argument" in text
    assert "9*304*256" not in src  # exercise 3's hint no longer gives the formula
    assert "updates_a.check_shape_trace(trace_1, model8, (90, 75))" in src
    assert "scale_range" in src  # the trained run's recipe caveat is printed from its meta
    # the crop demo uses an odd size, not one divisible by 16
    assert "generate_scene(np.random.default_rng(profile.seed), 90, 75)" in src
    # section 7 and bug 1 are separate markdown cells
    assert re.search(r"notebook 05\.\n\n# %% \[markdown\]\n# ### Bug 1", src)
