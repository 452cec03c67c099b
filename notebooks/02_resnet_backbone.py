# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The ResNet backbone, from classification to dense prediction
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/02_resnet_backbone.ipynb)
#
# DeepLabV3 does not start from nothing: its feature extractor is a ResNet, the network that won
# ImageNet 2015. This notebook builds ResNet-18/34/50/101 with `course_utils.model`, checks them
# against the literature and `keras.applications`, and then performs DeepLab's surgery: replace the
# last strides by dilation so that the network keeps a 16x (or 8x) smaller map instead of 32x.
#
# **Learning objectives.** After this notebook you can
#
# 1. explain residual learning and the basic and bottleneck units;
# 2. count the parameters of a ResNet and relate them to published numbers;
# 3. follow the feature-map size through the stages, and explain what output stride 32, 16 and 8
#    cost in compute, memory and receptive field;
# 4. explain multi-grid rates in the last stage, and what they become in the course's ResNet-18;
# 5. load ImageNet weights into the from-scratch backbone, prove that the copy is exact, and feed
#    the weights the inputs they were trained on (the Caffe convention).
#
# **Prerequisites.** `01_atrous_convolution.ipynb`; the Keras functional API.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
# %matplotlib inline
import keras
import matplotlib.pyplot as plt
import numpy as np
from prettytable import PrettyTable

from course_utils import exercises
from course_utils.config import get_profile
from course_utils.exercises import nb02 as ex
from course_utils.model import (
    build_deeplabv3,
    build_resnet,
    format_report,
    load_keras_applications_weights,
    model_report,
    multi_grid_rates,
    stage_strides_and_rates,
)
from course_utils.model.resnet import basic_unit, bottleneck_unit, dilate_keras_applications_resnet
from course_utils.notebook import in_colab

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
height, width = profile.image_size
print(
    f"profile {profile.name}: backbone {profile.backbone}, crops {height}x{width}, "
    f"output stride {profile.output_stride}, multi-grid {profile.multi_grid}"
)

# %% [markdown]
# ## 1. Residual learning
#
# Stacking more plain layers eventually makes a network *worse*, even on its training set: the
# optimiser struggles to make many layers behave like the identity when that is what the problem
# needs. He et al. let each unit learn a *residual* instead: `y = ReLU(F(x) + x)`. If the identity
# is best, the unit only has to push `F` to zero, and the `+ x` path gives gradients a short way
# back. (Not a perfectly clean one: in these "v1" units the ReLU after the addition still gates the
# gradient wherever `F(x) + x` is negative. He et al.'s follow-up, "Identity mappings in deep
# residual networks", 2016, moves BatchNorm and ReLU before the convolutions so that the identity
# path carries the gradient unchanged. The ImageNet weights DeepLab uses are v1.)
#
# The course's units are built exactly like this. Set the scale (gamma) of the last BatchNorm of a
# basic unit to zero, with its offset (beta) at zero as a freshly built BatchNorm has it, and the
# residual branch outputs zeros: the unit *is* the identity on non-negative inputs, whatever its
# convolution weights are. Zeroing gamma alone is not enough: a non-zero beta makes the branch add a
# constant. Initialising the last gamma of every unit to zero ("zero-gamma", Goyal et al. 2017,
# *Accurate, large minibatch SGD*) uses exactly this, so that a deep ResNet starts as a shallow one:

# %%
inputs = keras.Input((8, 8, 16))
unit = keras.Model(inputs, basic_unit(inputs, 16, strides=1, rate=1, name="demo", project=False))
bn = unit.get_layer("demo_bn2")
gamma, beta, mean, var = bn.get_weights()
bn.set_weights([np.zeros_like(gamma), beta, mean, var])

x = np.abs(np.random.default_rng(0).normal(size=(1, 8, 8, 16))).astype("float32")  # after a ReLU
print("beta is zero at initialisation:", bool(np.all(beta == 0)))
print("gamma = 0, beta = 0:   unit(x) == x:", np.allclose(unit(x), x, atol=1e-6))
bn.set_weights([np.zeros_like(gamma), np.full_like(beta, 0.1), mean, var])
print("gamma = 0, beta = 0.1: unit(x) == x:", np.allclose(unit(x), x, atol=1e-6))
print("layers:", [layer.name for layer in unit.layers[1:]])


# %% [markdown]
# ## 2. Basic and bottleneck units
#
# ResNet-18/34 use **basic** units: two 3x3 convolutions. ResNet-50/101 use **bottleneck** units:
# a 1x1 convolution squeezes the channels by 4, a 3x3 works on the thin tensor, a 1x1 expands again.
# He et al.'s argument is not "a bottleneck is cheaper at the same width" (no ResNet has a wide basic
# unit) but "a 4x wider bottleneck costs about what a basic unit costs". Compare one unit of stage 3
# of each family on its 14x14 map (224x224 input): ResNet-34's basic unit on 256 channels and
# ResNet-50's bottleneck on 1024 channels. (The course's basic units have no conv biases, its
# bottlenecks do, as in `keras.applications`; section 3 explains why.)


# %%
def unit_model(kind, channels, filters):
    inputs = keras.Input((56, 56, channels))
    fn = basic_unit if kind == "basic" else bottleneck_unit
    return keras.Model(inputs, fn(inputs, filters, strides=1, rate=1, name=kind, project=False))


basic = unit_model("basic", 256, 256)
bottleneck = unit_model("bottleneck", 1024, 256)
table = PrettyTable(["unit", "convolutions", "parameters", "MMACs on 14x14"])
for name, model in [("basic, 256 ch (ResNet-34)", basic), ("bottleneck, 1024 -> 256 -> 1024 (ResNet-50)", bottleneck)]:
    convs = [
        f"{lyr.kernel_size[0]}x{lyr.kernel_size[1]}x{lyr.filters}"
        for lyr in model.layers
        if isinstance(lyr, keras.layers.Conv2D)
    ]
    mmacs = model_report(model, (14, 14, model.input_shape[-1])).gmacs * 1e3
    table.add_row([name, ", ".join(convs), f"{model.count_params():,}", f"{mmacs:.0f}"])
print(table)

# %% [markdown]
# About the same parameters and multiply-accumulates, but the bottleneck's output is 4x wider and
# it has three layers instead of two. That is how ResNet-50 is deeper than ResNet-34, with 4x wider
# stage outputs, at about the same cost (section 4 prints both backbones' GMACs).

# %% [markdown]
# ## 3. ResNet-18/34/50/101: parameters
#
# The backbones without their classification head (`include_top=False`), next to
# `keras.applications` (built with `weights=None`: nothing is downloaded), and the complete DeepLabV3
# models next to the parameter counts quoted in a talk on DeepLabV3 that the *seed notebook* (the
# original Keras DeepLabV3 notebook this course was rebuilt from) followed. The talk's model is a
# PyTorch DeepLabV3, `github.com/fregu856/deeplabv3`, with 20 output classes; we build 19.

# %%
TALK_PARAMS = {18: 15_315_028, 50: 39_049_812, 101: 58_041_940}  # "Total params" in the talk's slides
APPS = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}
BACKBONE_PREFIXES = ("stem_", "stage")  # layer names of the ResNet inside a DeepLab model

# One DeepLabV3 per depth (output stride 32, i.e. a plain ResNet inside: dilation adds no weights).
deeplabs, apps = {}, {}
table = PrettyTable(["depth", "unit", "backbone", "keras.applications", "DeepLabV3 (19 classes)", "talk", "difference"])
for depth in (18, 34, 50, 101):
    deeplabs[depth] = build_deeplabv3(19, backbone=f"resnet{depth}", output_stride=32, multi_grid=None)
    backbone_params = sum(
        lyr.count_params() for lyr in deeplabs[depth].layers if lyr.name.startswith(BACKBONE_PREFIXES)
    )
    total = deeplabs[depth].count_params()
    if depth in APPS:
        apps[depth] = APPS[depth](weights=None, include_top=False)
    app_params = apps[depth].count_params() if depth in apps else None
    talk = TALK_PARAMS.get(depth)
    table.add_row(
        [
            depth,
            "basic" if depth < 50 else "bottleneck",
            f"{backbone_params / 1e6:.2f}M",
            (f"{app_params / 1e6:.2f}M" + (" (equal)" if app_params == backbone_params else " (differs!)"))
            if app_params
            else "-",
            f"{total / 1e6:.2f}M",
            f"{talk / 1e6:.2f}M" if talk else "-",
            f"{100 * (total - talk) / talk:+.1f}%" if talk else "-",
        ]
    )
print(table)

# %% [markdown]
# Our backbones match `keras.applications` to the parameter (same layout: the stride sits in the first
# 1x1 of a bottleneck, as in the original Caffe ResNet, and convolutions carry a bias, as in
# `keras.applications`; the Caffe prototxts themselves have `bias_term: false`, so these biases come
# from the Keras conversion and are redundant before a BatchNorm). Basic units (ResNet-18/34) have
# no `keras.applications` counterpart and no conv biases.
#
# The small gap to the talk is not a validation, nor an error, and it can be reconciled exactly.
# One part is a counting convention: Keras counts BatchNorm's moving mean and variance as
# (non-trainable) parameters; PyTorch keeps them as buffers, which its parameter count leaves out.
# The rest are real, if small, architectural differences: the talk's backbones (torchvision) have no
# conv biases while our bottlenecks do, its ASPP convolutions have biases while ours do not, and its
# classifier has one class more. The cell adds those differences to the talk's figure:

# %%
talk_rows = PrettyTable(
    ["depth", "talk", "+ BN moving stats", "+ our conv biases", "- talk's ASPP biases", "- 1 class", "= ours?"]
)
for depth, talk in TALK_PARAMS.items():
    if depth not in deeplabs:
        continue
    m = deeplabs[depth]
    moving = sum(int(np.prod(w.shape)) for w in m.non_trainable_weights)
    convs = [lyr for lyr in m.layers if isinstance(lyr, keras.layers.Conv2D)]
    our_biases = sum(lyr.filters for lyr in convs if lyr.use_bias and lyr.name != "classifier")
    aspp_biases = sum(lyr.filters for lyr in convs if lyr.name.startswith("aspp"))
    per_class = m.get_layer("classifier").kernel.shape[2] + 1
    rebuilt = talk + moving + our_biases - aspp_biases - per_class
    talk_rows.add_row(
        [
            depth,
            f"{talk:,}",
            f"{moving:,}",
            f"{our_biases:,}",
            f"{aspp_biases:,}",
            f"{per_class:,}",
            rebuilt == m.count_params(),
        ]
    )
print(talk_rows)

# %% [markdown]
# The ResNet-18 DeepLab has many more parameters than its backbone because ASPP's 3x3 branches
# on 512 channels are large (the table's two columns give the difference).
#
# The counts usually quoted for the classification networks (He et al., torchvision) include the
# 1000-class fully connected head and leave out BatchNorm's moving statistics. Add the head to our
# trainable backbone parameters and compare with torchvision's counts:

# %%
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160}  # with the FC head
published = PrettyTable(["depth", "our trainable backbone + FC head", "torchvision", "difference"])
for depth, model in deeplabs.items():
    trainable = sum(
        sum(int(np.prod(w.shape)) for w in lyr.trainable_weights)
        for lyr in model.layers
        if lyr.name.startswith(BACKBONE_PREFIXES)
    )
    channels = model_report(model, (224, 224, 3)).stages["stage4"][-1]
    with_head = trainable + channels * 1000 + 1000
    published.add_row(
        [depth, f"{with_head:,}", f"{TORCHVISION_PARAMS[depth]:,}", f"{with_head - TORCHVISION_PARAMS[depth]:+,}"]
    )
print(published)

# %% [markdown]
# ResNet-18/34 agree to the parameter; for ResNet-50/101 the whole difference is the conv biases
# of the `keras.applications` layout (the previous table's "+ our conv biases" column).
#
# ## 4. Feature-map sizes per stage
#
# The ResNet table in the talk lists the output sizes for a 224x224 input: 112 after `conv1`,
# 56 after the pooling and `conv2_x`, then 28, 14 and 7. `model_report` runs the graph symbolically
# (nothing is computed) and reads the same sizes, along with multiply-accumulates (GMACs) and the
# theoretical receptive field.

# %%
reports = {depth: model_report(model, (224, 224, 3)) for depth, model in deeplabs.items()}
HE_TABLE_FLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6}  # "FLOPs" row of He et al.'s Table 1 (x 10^9)
table = PrettyTable(
    [
        "depth",
        "stem",
        "stage1 (conv2_x)",
        "stage2 (conv3_x)",
        "stage3 (conv4_x)",
        "stage4 (conv5_x)",
        "backbone GMACs",
        "He et al. FLOPs",
    ]
)
for depth, rep in reports.items():
    backbone_gmacs = sum(lyr.macs for lyr in rep.layers if lyr.name.startswith(BACKBONE_PREFIXES)) / 1e9
    table.add_row(
        [depth]
        + ["x".join(map(str, rep.stages[s])) for s in ("stem", "stage1", "stage2", "stage3", "stage4")]
        + [f"{backbone_gmacs:.2f}", HE_TABLE_FLOPS[depth]]
    )
print(table)
fc_gmacs = {d: model_report(m, (224, 224, 3)).stages["stage4"][-1] * 1000 / 1e9 for d, m in deeplabs.items()}
print("a 1000-class FC head would add", {d: f"{g:.4f}" for d, g in fc_gmacs.items()}, "GMACs")

# %% [markdown]
# The He et al. table's "FLOPs" are multiply-adds of the classification network on a 224x224 image,
# the same convention as `model_report`'s MACs (hardware FLOPs count a multiply-add as two), and the
# same input as this table. The FC head adds almost nothing. What is left is the table's single
# decimal, which is within 0.1 of our counts but is not a consistent rounding (some values are cut
# off, others rounded). The layout matters more than that: torchvision's ResNet-50 puts the stride in
# the 3x3 convolution instead of the first 1x1, runs that 3x3 on a 4x larger map and costs noticeably
# more (about 4.1 GMACs) for the same parameters.
#
# ## 5. From classification to dense prediction: output stride
#
# After five halvings a 224x224 image is a 7x7 map: fine for "is there a car?", far too coarse for
# "which pixels are car?". DeepLab removes the stride of the last stage (output stride 16) or of the
# last two (output stride 8) and dilates every later 3x3 convolution by the factor it removed, so
# each kernel keeps its field of view (notebook 01, section 4). The paper calls the last stage
# *block4*: it is the course's `stage4`, the He et al. table's `conv5_x`.
#
# **Predict before you run.** At output stride 8, which stages lose their stride, and what rate does
# stage 4 get? Write it down, then compare with the plan the library prints:

# %%
for os_ in (32, 16, 8):
    plan = stage_strides_and_rates(os_)
    print(f"OS {os_:2d}: " + ", ".join(f"stage{s} stride {st} rate {r}" for s, (st, r) in enumerate(plan, start=1)))
    plain = stage_strides_and_rates(32)
    print(
        "        stages whose stride became dilation:",
        [s for s, (p, q) in enumerate(zip(plain, plan), start=1) if p != q],
    )

# %% [markdown]
# What those strides mean on an image: each cell of the grid is one position of the last feature
# map, and everything the network says about the pixels inside a cell comes from that one position.

# %%
from course_utils.data.sample_images import street_scene
from course_utils.plotting import plot_feature_grids

display_image = street_scene(256, 512)
fig = plot_feature_grids(display_image, (32, 16, 8))
plt.show()

# %% [markdown]
# One deviation from notebook 01's rule ("remove the stride, dilate every *later* kernel"). In a
# bottleneck unit the stride sits in a 1x1 convolution, so every 3x3 of the dilated stage is a
# later kernel and gets the rate: exactly the rule. In a basic unit (ResNet-18/34) the stride sat
# in the unit's first 3x3, and the library dilates that convolution too (section 6 prints it for
# `stage4_unit1_conv1`). The faithful conversion of a pretrained network gives that formerly strided
# convolution the *previous* rate instead, and only the later kernels the new one: that is what
# torchvision's `Bottleneck` does with its `previous_dilation` (its `BasicBlock` refuses dilation
# altogether, and TF-slim has no basic-unit ResNet v1). The course trains its basic backbones from
# scratch (there are no ImageNet weights for them in `keras.applications`), so there is nothing to
# preserve: the difference widens the field of that one layer, and it means a dilated ResNet-18 is
# *not* the plain one computed densely. Section 7 measures both.
# %% [markdown]
# **Predict before you run.** Going from OS 16 to OS 8 leaves the stem and stages 1-2 alone, makes
# stage 3's map 4x larger and stage 4's 4x larger again. Will the whole backbone cost about 4x the
# MACs of OS 16, less, or more? Write a number down, then read the table.
#
# What it costs, for the profile's backbone at a 512x512 crop (the paper's 513x513, rounded so that
# the strides divide it; symbolic: nothing is run). The last row is OS 16 *without* multi-grid, to
# separate what the strides change from what multi-grid changes. Activation memory is the float32
# size of every layer output for one image during the forward pass, a proxy for what training needs
# to keep.

# %%
depth = int(profile.backbone.removeprefix("resnet"))
crop = (512, 512, 3)
os_models = {
    os_: build_resnet(depth, output_stride=os_, multi_grid=profile.multi_grid if os_ < 32 else None)
    for os_ in (32, 16, 8)
}
os_reports = {os_: model_report(m, crop) for os_, m in os_models.items()}
no_grid16 = model_report(build_resnet(depth, output_stride=16, multi_grid=None, name="no multi-grid"), crop)
print(format_report([*os_reports.values(), no_grid16], title=f"{profile.backbone} at {crop[0]}x{crop[1]}"))


def activation_mb(rep):
    return sum(float(np.prod(layer.output_shape[1:])) for layer in rep.layers) * 4 / 2**20


for os_, rep in os_reports.items():
    print(
        f"OS {os_:2d}: stage4 {rep.stages['stage4'][0]}x{rep.stages['stage4'][1]}, "
        f"{rep.gmacs / os_reports[32].gmacs:.1f}x the GMACs of OS 32, activations {activation_mb(rep):,.0f} MB"
    )
print(f"OS 8 / OS 16: {os_reports[8].gmacs / os_reports[16].gmacs:.1f}x the GMACs")
rf = {os_: rep.receptive_field for os_, rep in os_reports.items()}
print(
    f"receptive field: OS 32 {rf[32]:.0f}; OS 16 without multi-grid {no_grid16.receptive_field:.0f} "
    f"(+{no_grid16.receptive_field - rf[32]:.0f}); with multi-grid {profile.multi_grid} {rf[16]:.0f} "
    f"(+{rf[16] - no_grid16.receptive_field:.0f} more); OS 8 {rf[8]:.0f}"
)

# %% [markdown]
# The parameters are identical (dilation adds no weights), but every layer after a removed stride
# now runs on a larger map: at OS 16 stage 4's map is 4x larger (2x per side); at OS 8 stage 3's
# is 4x and stage 4's 16x larger. The prediction: OS 8 costs less than 4x OS 16 (the printed ratio),
# because the stem and stages 1-2 cost the same at both strides and only the late stages grow. How
# much less depends on the backbone: ResNet-50/101 have most of their units in stage 3 (section 6
# prints the units per stage), so more of their cost grows and their ratio differs from a
# ResNet-18's.
#
# The receptive field: removing strides alone barely changes it, because each removed stride is
# replaced by a rate that keeps every kernel's field of view in the image (the OS-16 row without
# multi-grid). In a basic unit the formerly strided conv1 is dilated as well (the deviation above),
# which widens it a little. Most of the growth comes from multi-grid: it multiplies the rates of the
# later units of stage 4 (section 6), i.e. it is a different, wider network, not a by-product of
# the output stride.
#
# That cost is why DeepLabV3 trains at OS 16. The paper's validation results at OS 8 come from
# *evaluating* the OS-16-trained model at OS 8 (same weights, rates doubled): it is better, and more
# expensive. The extra fine-tuning at OS 8 with frozen BatchNorm was for its test-server submission,
# not for those validation numbers (notebook 08 reads them the same way).
#
# ## 6. Multi-grid
#
# DeepLabV3 also varies the rate *within* the last stage: the paper's unit rates
# Multi_Grid = (1, 2, 4) multiply the stage's rate unit by unit. That needs three units, and
# ResNet-50/101 have three in their last stage. (As notebook 01 showed, these rates do not fix
# gridding: that is not their purpose.) Build both backbones symbolically and read the rates back
# from their layers:

# %%
for name, depth_ in [("ResNet-50", 50), (profile.backbone, int(profile.backbone.removeprefix("resnet")))]:
    net = build_resnet(depth_, output_stride=profile.output_stride, multi_grid=profile.multi_grid)
    stage4 = [
        layer
        for layer in net.layers
        if layer.name.startswith("stage4") and isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)
    ]
    units = len({lyr.name.split("_")[1] for lyr in stage4})
    rate = stage_strides_and_rates(profile.output_stride)[3][1]
    print(
        f"{name}: {units} units in stage 4, multi_grid {profile.multi_grid} -> rates {multi_grid_rates(rate, units, profile.multi_grid)}"
    )
    for layer in stage4:
        print(f"  {layer.name:>22}: dilation {layer.dilation_rate}, strides {layer.strides}")

# %% [markdown]
# ResNet-18 has fewer units in its last stage than the grid has entries (ResNet-18:
# two basic units, four 3x3 convolutions), so the library uses the first entries of the grid and
# drops the rest (`multi_grid_rates`). ResNet-34 is deeper, but not in its last stage:

# %%
from course_utils.model.resnet import RESNET_SPECS

for depth_, (kind, units_per_stage) in RESNET_SPECS.items():
    print(
        f"ResNet-{depth_}: {kind} units per stage {units_per_stage}, stage 4 grid {multi_grid_rates(1, units_per_stage[3], profile.multi_grid)}"
    )

# %% [markdown]
# Only ResNet-18 truncates the grid. **The model the `cpu` and `smoke` profiles train is therefore
# not the paper's**: its multi-grid is truncated, and notebook 03 shows that its ASPP is also partly
# degenerate on the small maps those profiles train on. The `gpu` profile's ResNet-50 gets the
# paper's three rates.
#
# ### Exercise (in place): write the output-stride plan
# Write `my_plan(output_stride, units, multi_grid)` that returns, for the four stages, one list per
# stage of `(stride, rate)` pairs, one pair per unit, without calling the library: the stem leaves
# the map at stride 4; stage 1 has stride 1, stages 2-4 stride 2 unless the map has already reached
# `output_stride`, in which case the stage keeps stride 1 and the rate doubles (and stays doubled
# for later stages); only a stage's first unit strides; in the last stage unit `i` multiplies the
# rate by `multi_grid[i]` (fewer units: use the first entries; `None`: all 1). `units` is e.g.
# `(2, 2, 2, 2)` for ResNet-18. The check compares it with the library on ResNet-18/50/101 at
# output strides 32, 16 and 8.


# %%
def my_plan(output_stride, units, multi_grid):
    # a list of 4 stages, each a list of (stride, rate) per unit
    raise NotImplementedError


# %%
from course_utils.exercises import updates_a

updates_a.check_output_stride_plan(my_plan)

# %% [markdown]
# ## 7. ImageNet weights, and proof that the copy is exact
#
# Training a ResNet-50 from scratch on a few thousand street images works poorly; DeepLab starts from
# ImageNet weights. `keras.applications.ResNet50` can download them (about 95 MB, once; Colab does
# this in seconds). `load_keras_applications_weights` copies them layer by layer into our backbone,
# matching names and checking every shape. On Colab the next cell downloads them; elsewhere set
# `DOWNLOAD_IMAGENET = True` to do the same (the course never downloads by itself).

# %%
# NBVAL_IGNORE_OUTPUT
DOWNLOAD_IMAGENET = in_colab()
ours = build_resnet(50)
if DOWNLOAD_IMAGENET:
    try:
        print("copied", load_keras_applications_weights(ours, "imagenet"), "layers of ImageNet weights")
    except RuntimeError as err:  # offline: the message says what to do instead
        print(err)
else:
    print("ImageNet download not requested (set DOWNLOAD_IMAGENET = True to fetch the weights once).")

# A local weights file that does not exist gives a clear message, not a deep traceback:
try:
    load_keras_applications_weights(ours, "resnet50_notop.h5")
except FileNotFoundError as err:
    print(err)

# %% [markdown]
# Whether or not the download worked, we can prove offline that the copy is exact: give a
# `keras.applications.ResNet50` **random** weights, copy them into our ResNet-50 and compare the
# outputs on the same input. A freshly built network has random kernels but every BatchNorm at
# gamma 1, beta 0, mean 0, variance 1 and every bias at 0: a copy that skipped or swapped those
# tensors would still pass. So randomise them first
# (`course_utils.model.resnet.randomize_batchnorm_and_biases`). Then do it again for the dilated
# backbone (output stride 16): a `keras.applications` model rebuilt with the same dilation must agree
# too.

# %%
from course_utils.model.resnet import randomize_batchnorm_and_biases

source = apps[50]  # keras.applications.ResNet50(weights=None): random init, no download
print("randomised:", randomize_batchnorm_and_biases(source, seed=0))
print("layers copied:", load_keras_applications_weights(ours, source))
x = np.random.default_rng(1).normal(size=(1, height, width, 3)).astype("float32")
reference, mine = source(x).numpy(), ours(x).numpy()
print("output shapes:", reference.shape, mine.shape)
print("identical outputs (OS 32):", np.allclose(reference, mine, rtol=1e-4, atol=1e-4 * np.abs(reference).max()))

ours16 = build_resnet(50, output_stride=16, multi_grid=(1, 2, 4))
load_keras_applications_weights(ours16, source)
reference16 = dilate_keras_applications_resnet(source, output_stride=16, multi_grid=(1, 2, 4))(x).numpy()
mine16 = ours16(x).numpy()
print("output shapes at OS 16:", reference16.shape, mine16.shape)
print("identical outputs (OS 16):", np.allclose(reference16, mine16, rtol=1e-4, atol=1e-4 * np.abs(reference16).max()))

# %% [markdown]
# That second check proves the *copy*: the reference was dilated with the course's own rule, so a
# wrong rule would be wrong on both sides. The claim of section 5 is stronger: with the strides
# removed and the rates raised, the network computes the plain network's features *densely*, i.e.
# the OS-16 map, taken every second position, is the OS-32 map. Test that directly, with the same
# random weights in both and without multi-grid (which changes the rates, so the network):
# `dense_equivalence_error` returns the largest difference after subsampling, next to the size of
# the outputs.

# %%
from course_utils.model.resnet import dense_equivalence_error

for depth_ in (50, 18):
    err = dense_equivalence_error(depth_, output_stride=16, input_hw=(128, 128))
    print(
        f"ResNet-{depth_}: OS 16 subsampled x2 vs OS 32: largest difference {err['max_abs_error']:.3g} "
        f"(interior {err['interior_max_abs_error']:.3g}), outputs up to {err['scale']:.3g}"
    )

# %% [markdown]
# For ResNet-50 the two agree to float precision: dilation is the strided network computed densely.
# For ResNet-18 they do not, even in the interior: the library dilates the formerly strided first
# convolution of `stage4_unit1` (section 5), which changes what that layer reads. For a backbone
# trained from scratch that is a different but equally valid network; for pretrained basic units it
# would be a bug.

# %% [markdown]
# ### Feeding ImageNet weights the inputs they expect
#
# Exact weights are not enough: the `keras.applications` ResNet weights were trained on images
# preprocessed the **Caffe** way (`keras.applications.resnet.preprocess_input`): channels in
# **BGR** order, pixel values 0-255 (**no scaling**), and the per-channel ImageNet **mean
# subtracted**. The course feeds every model RGB in `[-1, 1]` (`course_utils.data.normalize_image`).
# `CaffeInputAdapter` (`course_utils.model.layers`, put in front of the backbone by
# `build_resnet(..., input_adapter="caffe")`, and by `build_deeplabv3` when it loads ImageNet
# weights) converts one into the other inside the model. It agrees with Keras' own preprocessing:

# %%
from course_utils.model import CaffeInputAdapter

rgb = np.random.default_rng(2).integers(0, 256, size=(1, 4, 4, 3)).astype("float32")
course_input = rgb / 127.5 - 1.0  # what the course's data pipeline produces
adapted = CaffeInputAdapter()(course_input).numpy()
expected = keras.applications.resnet.preprocess_input(rgb.copy())
print("adapter == keras.applications.resnet.preprocess_input:", np.allclose(adapted, expected, atol=1e-3))
print("one pixel  RGB", rgb[0, 0, 0], "-> Caffe BGR minus mean", adapted[0, 0, 0].round(2))

# %% [markdown]
# Forget the adapter and the pretrained filters see inputs on the wrong scale and in the wrong
# channel order: the network still trains, but starts far from what ImageNet taught it. Notebook 06
# relies on this when it fine-tunes from ImageNet.
# %% [markdown]
# ## Summary
#
# * A residual unit computes `ReLU(F(x) + x)`: the identity is cheap to learn and the sum gives the
#   gradient a short path (gated by the final ReLU in these v1 units).
# * Basic units (ResNet-18/34) use two 3x3 convolutions; bottlenecks (ResNet-50/101) squeeze with
#   1x1 convolutions, so a 4x wider bottleneck costs about what a basic unit costs: ResNet-50 is
#   deeper and wider than ResNet-34 at about the same compute.
# * Our backbones match `keras.applications` exactly (parameters and, with copied weights and
#   randomised BatchNorm statistics and biases, outputs); the gap to the talk's counts (BN moving
#   statistics, conv biases, one class) is reconciled to the parameter.
# * ImageNet weights need Caffe inputs (BGR, 0-255, mean subtracted): `CaffeInputAdapter`.
# * Output stride 16 drops the stride of stage 4 (block4), output stride 8 that of stages 3 and 4,
#   and dilates instead: same parameters, larger late feature maps, more compute and activation
#   memory (section 5 prints how much, for this profile's backbone). For bottleneck backbones the
#   dilated network is exactly the plain one computed densely (section 7). DeepLabV3 trains at
#   OS 16 and, for its best validation numbers, evaluates the same model at OS 8.
# * Multi-grid gives the units of the last stage rates `rate x (1, 2, 4)`: three units in
#   ResNet-50/101; ResNet-18's two-unit stage 4 gets a truncated grid.
#
# Next: `03_aspp.ipynb` adds the multi-scale head.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: parameters of a bottleneck unit
# Count by hand the parameters of a bottleneck unit with 256 input channels and `filters=64`
# (1x1 to 64, 3x3 to 64, 1x1 to 256; no projection shortcut). Every convolution has a bias here
# (the `keras.applications` layout; the original Caffe ResNet has none) and every BatchNorm has 4
# numbers per channel. Set `answer_1`.

# %%
answer_1 = None  # your answer

# %%
exercises.check_param_count(
    answer_1, unit_model("bottleneck", 256, 64), hint="Weights k*k*C_in*C_out plus C_out biases per convolution."
)

# %% [markdown]
# ### Exercise 2: feature-map size
# A 480x640 image goes through a ResNet at output stride 8. What is the (height, width) of the
# stage-4 feature map? Set `answer_2` to a tuple.

# %%
answer_2 = None  # (height, width)

# %%
expected = model_report(build_resnet(18, output_stride=8), (480, 640, 3)).stages["stage4"][:2]
exercises.check_output_shape(answer_2, expected, hint="Output stride = input size / feature-map size.")

# %% [markdown]
# ### Exercise 3: multi-grid at output stride 8
# At output stride 8 the last stage has rate 4. With multi-grid (1, 2, 4), which rates do the three
# units of ResNet-50's last stage use? Set `answer_3` to a tuple.

# %%
answer_3 = None  # three rates

# %%
stage4_rate = stage_strides_and_rates(8)[3][1]
exercises.check_equal(
    answer_3,
    tuple(multi_grid_rates(stage4_rate, 3, (1, 2, 4))),
    hint="Multiply the stage's rate by each multi-grid entry.",
)

# %% [markdown]
# ### Exercise 4: write a dilated bottleneck unit
# Write `my_bottleneck_unit(x, filters, strides, rate, name, project)` with Keras layers
# (`keras.layers.Conv2D`, `BatchNormalization`, `ReLU`, `Add`), without calling the library's
# `bottleneck_unit`:
#
# * the **shortcut** is `x` itself, or, with `project=True`, a 1x1 convolution to `4 * filters`
#   channels with stride `strides`, followed by BatchNorm;
# * the **residual branch** is Conv -> BN -> ReLU three times: a 1x1 convolution to `filters` with
#   stride `strides` (the Caffe layout of section 2), a 3x3 convolution to `filters` with
#   `dilation_rate=rate` and `padding="same"`, and a 1x1 convolution to `4 * filters` whose
#   BatchNorm is *not* followed by a ReLU;
# * **add** shortcut and branch, then a ReLU.
#
# Convolutions keep their bias; BatchNorm uses `epsilon=1.001e-5` (as `keras.applications`). Name
# the layers with weights `{name}_conv1`, `{name}_bn1`, `{name}_conv2`, `{name}_bn2`,
# `{name}_conv3`, `{name}_bn3` and, with a projection, `{name}_shortcut_conv`,
# `{name}_shortcut_bn`: the check finds them by name, copies the library's weights into them, and
# compares the outputs layer by layer on three units (with stride 2, with rate 2, and an identity
# shortcut with rate 4), so it can tell you the first layer that computes something else.


# %%
def my_bottleneck_unit(x, filters, strides, rate, name, project):
    # shortcut; three Conv -> BN (-> ReLU) steps; Add; ReLU. Return the output tensor.
    raise NotImplementedError


# %%
ex.check_bottleneck_unit(my_bottleneck_unit)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb02.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("02")  # all of this notebook's solutions; show("02", "my_bottleneck_unit") for one
# ```
#
# The in-place exercise of section 6 (the output-stride plan) is solved by
# `course_utils.exercises.updates_a.output_stride_plan`.
