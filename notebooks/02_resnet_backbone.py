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
# 4. explain multi-grid rates in the last stage;
# 5. load ImageNet weights into the from-scratch backbone, and prove that the copy is exact.
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
# is best, the unit only has to push `F` to zero, and gradients flow back through the `+ x` path
# unchanged.
#
# The course's units are built exactly like this. Set the scale (gamma) of the last BatchNorm of a
# basic unit to zero and the unit *is* the identity on non-negative inputs, whatever its convolution
# weights are:

# %%
inputs = keras.Input((8, 8, 16))
unit = keras.Model(inputs, basic_unit(inputs, 16, strides=1, rate=1, name="demo", project=False))
bn = unit.get_layer("demo_bn2")
gamma, beta, mean, var = bn.get_weights()
bn.set_weights([np.zeros_like(gamma), beta, mean, var])

x = np.abs(np.random.default_rng(0).normal(size=(1, 8, 8, 16))).astype("float32")  # after a ReLU
print("unit(x) == x:", np.allclose(unit(x), x, atol=1e-6))
print("layers:", [layer.name for layer in unit.layers[1:]])


# %% [markdown]
# ## 2. Basic and bottleneck units
#
# ResNet-18/34 use **basic** units: two 3x3 convolutions. ResNet-50/101 use **bottleneck** units:
# a 1x1 convolution squeezes the channels by 4, a 3x3 works on the thin tensor, a 1x1 expands again.
# At the same width (256 channels in and out) the bottleneck is far cheaper:


# %%
def unit_model(kind, channels, filters):
    inputs = keras.Input((56, 56, channels))
    fn = basic_unit if kind == "basic" else bottleneck_unit
    return keras.Model(inputs, fn(inputs, filters, strides=1, rate=1, name=kind, project=False))


basic = unit_model("basic", 256, 256)
bottleneck = unit_model("bottleneck", 256, 64)
table = PrettyTable(["unit", "convolutions", "parameters"])
for name, model in [("basic, 256 ch", basic), ("bottleneck, 256 -> 64 -> 256", bottleneck)]:
    convs = [
        f"{lyr.kernel_size[0]}x{lyr.kernel_size[1]}x{lyr.filters}"
        for lyr in model.layers
        if isinstance(lyr, keras.layers.Conv2D)
    ]
    table.add_row([name, ", ".join(convs), f"{model.count_params():,}"])
print(table)

# %% [markdown]
# ## 3. ResNet-18/34/50/101: parameters
#
# The backbones without their classification head (`include_top=False`), next to
# `keras.applications` (built with `weights=None`: nothing is downloaded), and the complete DeepLabV3
# models next to the parameter counts quoted in the talk (which used its own DeepLab implementation
# on Cityscapes; we use 19 classes).

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
# from the Keras conversion and are redundant before a BatchNorm). The complete models
# are within a fraction of a percent of the talk's. The slides do not show the talk's head, so the
# small remaining gap comes from details such as the number of classes or which convolutions carry a bias. The ResNet-18 DeepLab has more than its backbone's 11M parameters because ASPP
# alone adds about 4M.
#
# ## 4. Feature-map sizes per stage
#
# The ResNet table in the talk lists the output sizes for a 224x224 input: 112 after `conv1`,
# 56 after the pooling and `conv2_x`, then 28, 14 and 7. `model_report` runs the graph symbolically
# (nothing is computed) and reads the same sizes, along with multiply-accumulates (GMACs; the
# table's "FLOPs" count the same thing) and the theoretical receptive field.

# %%
reports = {depth: model_report(model, (224, 224, 3)) for depth, model in deeplabs.items()}
table = PrettyTable(
    ["depth", "stem", "stage1 (conv2_x)", "stage2 (conv3_x)", "stage3 (conv4_x)", "stage4 (conv5_x)", "backbone GMACs"]
)
for depth, rep in reports.items():
    backbone_gmacs = sum(lyr.macs for lyr in rep.layers if lyr.name.startswith(BACKBONE_PREFIXES)) / 1e9
    table.add_row(
        [depth]
        + ["x".join(map(str, rep.stages[s])) for s in ("stem", "stage1", "stage2", "stage3", "stage4")]
        + [f"{backbone_gmacs:.1f}"]
    )
print(table)

# %% [markdown]
# Compare with the table's FLOPs: 1.8, 3.6, 3.8 and 7.6 x 10^9 for ResNet-18/34/50/101.
#
# ## 5. From classification to dense prediction: output stride
#
# After five halvings a 224x224 image is a 7x7 map: fine for "is there a car?", far too coarse for
# "which pixels are car?". DeepLab removes the stride of the last stage (output stride 16) or of the
# last two (output stride 8) and dilates every later 3x3 convolution by the factor it removed, so
# each kernel keeps its field of view (notebook 01, section 4):

# %%
for os_ in (32, 16, 8):
    plan = stage_strides_and_rates(os_)
    print(f"OS {os_:2d}: " + ", ".join(f"stage{s} stride {st} rate {r}" for s, (st, r) in enumerate(plan, start=1)))

# %% [markdown]
# What it costs, for the profile's backbone at a 512x512 crop (the paper's 513x513, rounded so that the strides divide it) (symbolic: nothing is run).
# Activation memory is the float32 size of every layer output for one image during the forward pass,
# a proxy for what training needs to keep.

# %%
depth = int(profile.backbone.removeprefix("resnet"))
crop = (512, 512, 3)
os_models = {
    os_: build_resnet(depth, output_stride=os_, multi_grid=profile.multi_grid if os_ < 32 else None)
    for os_ in (32, 16, 8)
}
os_reports = {os_: model_report(m, crop) for os_, m in os_models.items()}
print(format_report(list(os_reports.values()), title=f"{profile.backbone} at {crop[0]}x{crop[1]}"))


def activation_mb(rep):
    return sum(float(np.prod(layer.output_shape[1:])) for layer in rep.layers) * 4 / 2**20


for os_, rep in os_reports.items():
    print(
        f"OS {os_:2d}: stage4 {rep.stages['stage4'][0]}x{rep.stages['stage4'][1]}, "
        f"{rep.gmacs / os_reports[32].gmacs:.1f}x the GMACs of OS 32, activations {activation_mb(rep):,.0f} MB"
    )

# %% [markdown]
# The parameters are identical (dilation adds no weights), but every layer after the removed stride
# now runs on a 4x (OS 16) or 16x (OS 8) larger map. That is why DeepLabV3 trains at OS 16 and
# evaluates, when it can afford it, at OS 8.
#
# ## 6. Multi-grid
#
# DeepLabV3 also varies the rate *within* the last stage: unit rates (1, 2, 4) multiply the stage's
# rate, so at OS 16 the three units use rates 2, 4, 8 (notebook 01 showed why mixed rates avoid
# gridding). Read them back from the layers of the built model:

# %%
backbone = os_models[profile.output_stride]  # built above with the profile's multi-grid
stage4 = [
    layer
    for layer in backbone.layers
    if layer.name.startswith("stage4") and isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)
]
for layer in stage4:
    print(f"{layer.name:>22}: dilation {layer.dilation_rate}, strides {layer.strides}")
rate = stage_strides_and_rates(profile.output_stride)[3][1]
print("multi_grid_rates:", multi_grid_rates(rate, len({lyr.name.split("_")[1] for lyr in stage4}), profile.multi_grid))

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
# outputs on the same input. Then do it again for the dilated backbone (output stride 16): a
# `keras.applications` model rebuilt with the same dilation must agree too.

# %%
source = apps[50]  # keras.applications.ResNet50(weights=None): random init, no download
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
# ## Summary
#
# * A residual unit computes `ReLU(F(x) + x)`: the identity is free, gradients flow through the sum.
# * Basic units (ResNet-18/34) use two 3x3 convolutions; bottlenecks (ResNet-50/101) squeeze with
#   1x1 convolutions and are much cheaper at the same width.
# * Our backbones match `keras.applications` exactly (parameters and, with copied weights, outputs).
# * Output stride 16 or 8 replaces the last strides by dilation: same parameters, 4x or 16x larger
#   late feature maps. Going from 16 to 8 costs about 3x the compute but only about 1.7x the
#   activation memory, because the early stages do not change.
# * Multi-grid gives the units of the last stage rates `rate x (1, 2, 4)`.
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
