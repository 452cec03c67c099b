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
    assert "docs/results.md" in (ROOT / "course_utils" / "profiles.py").read_text(encoding="utf-8")
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
    from course_utils.hardware import choose_precision

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
    assert "exercise_updates_a.check_optimizer_steps(" in source("00")
    assert "exercise_updates_a.check_output_stride_plan(my_plan)" in source("02")


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
    assert "exercise_updates_a.check_shape_trace(trace_1, model8, (90, 75))" in src
    assert "scale_range" in src  # the trained run's recipe caveat is printed from its meta
    # the crop demo uses an odd size, not one divisible by 16
    assert "generate_scene(np.random.default_rng(profile.seed), 90, 75)" in src
    # section 7 and bug 1 are separate markdown cells
    assert re.search(r"notebook 05\.\n\n# %% \[markdown\]\n# ### Bug 1", src)
