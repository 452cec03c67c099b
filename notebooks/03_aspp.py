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
# # 03 · Atrous Spatial Pyramid Pooling (ASPP)
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/03_aspp.ipynb)
#
# Objects in a street scene come in every size: a distant pole covers a few pixels, the road covers
# half the image. DeepLab's answer is to look at the same feature map **several times in parallel**,
# each time with a different atrous rate, and to let the network combine the views. This notebook
# builds that module and asks which rates make sense.
#
# **Learning objectives.** After this notebook you can
#
# 1. describe the five branches of DeepLabV3's ASPP and build it with `course_utils.model.build_aspp`;
# 2. show what a 3x3 filter at rate 6, 12 or 18 actually sees on a feature map, and reproduce the
#    paper's observation that at large rates it degenerates to a 1x1 filter (hence image pooling);
# 3. say what the paper's rates become on the small feature maps the course's `cpu` profile trains
#    on, and what that costs;
# 4. explain why the rates double at output stride 8;
# 5. explain why a hard-coded upsampling size breaks on other image sizes, and fix it.
#
# **Prerequisites.** `01_atrous_convolution.ipynb` (rates, receptive fields) and
# `02_resnet_backbone.ipynb` (output stride).

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
from IPython.display import display

from course_utils import atrous, exercises
from course_utils import widgets as explorers
from course_utils.config import get_profile
from course_utils.exercises import nb03 as ex
from course_utils.model import build_aspp, default_aspp_rates
from course_utils.model.layers import ResizeLike  # noqa: F401 (for exercises 4 and 5)

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
height, width = profile.image_size
feature_hw = atrous.feature_map_size((height, width), profile.output_stride)  # 'same' padding rounds up
print(
    f"profile {profile.name}: training crops {height}x{width}, output stride {profile.output_stride} "
    f"-> feature map {feature_hw[0]}x{feature_hw[1]}"
)

# %% [markdown]
# ## 1. Five parallel branches
#
# DeepLabV3's ASPP (section 3.3 of the paper) applies to the backbone's last feature map:
#
# 1. a 1x1 convolution;
# 2. three 3x3 atrous convolutions with rates 6, 12 and 18 (at output stride 16);
# 3. **image pooling**: global average pooling -> 1x1 convolution -> resize back to the map size;
#
# each as Conv -> BatchNorm -> ReLU with 256 channels, then **concatenation** and a 1x1 projection
# (Conv -> BatchNorm -> ReLU). The course adds dropout after the projection (`build_aspp`'s
# `dropout`, active only in training): the paper's ASPP has none; it comes from reference
# implementations (torchvision's `ASPP`, the TensorFlow DeepLab code). Two pieces of history explain the name and the design. *Spatial pyramid pooling* (SPP,
# He et al. 2014; PSPNet, Zhao et al. 2017) pools a feature map over grids of several sizes to mix
# context at several scales; ASPP gets several scales with atrous rates instead of pooling, and
# keeps the full resolution. DeepLab V2's ASPP let each branch predict class scores and **summed**
# them; V3 concatenates 256-channel *features* and lets the 1x1 projection learn how to mix them,
# with BatchNorm in every branch.
# `build_aspp` wraps the module in a small model; the layer names tell the branches apart.
# The input here has 64 channels to keep the model small (a ResNet-50 gives 2048, a ResNet-18 512).

# %%
module = build_aspp((None, None, 64), rates=(6, 12, 18), filters=32)
branches = {}
for layer in module.layers:
    if layer.weights:
        branch = layer.name.split("_")[1]
        branches[branch] = branches.get(branch, 0) + layer.count_params()
for branch, params in branches.items():
    print(f"{branch:>7}: {params:6d} parameters")
features = np.random.default_rng(0).normal(size=(1, *feature_hw, 64)).astype("float32")
print("input", features.shape, "-> output", tuple(module(features).shape))

# %% [markdown]
# The output keeps the feature map's size: every branch is 'same'-padded and the pooled branch is
# resized back. Only the channels change. (Exercise 3 at the end asks you to count the parameters
# of these branches by hand.)
#
# ## 2. What each rate sees
#
# The paper trains on 513x513 crops at output stride 16 (a 33x33 feature map); output stride 8, where
# the map is 65x65, is for evaluation: its validation results evaluate the OS-16-trained model at
# OS 8 (only its test-server model was also fine-tuned at OS 8, with frozen BatchNorm). The
# figures below use the 65x65 map, as the paper's Fig. 4 does. The left panel
# places the 9 taps of each rate around the centre (circles) and near a corner (squares); hollow
# markers fall outside the map, on zero padding. The right panel averages, over every position, the
# share of the 9 taps that land on real features.

# %%
display(explorers.aspp_rate_figure((6, 12, 18), feature_size=65))

# %% [markdown]
# ## 3. Why image pooling: the 3x3 filter degenerates
#
# The DeepLabV3 paper (Fig. 4) counts, for each rate, how many of the 9 weights are valid at each
# position of the 65x65 map. As the rate approaches the map size, more and more positions keep only
# the centre weight: the 3x3 filter has become a 1x1 filter and sees no context at all. The remedy is
# to hand the module the context explicitly: global average pooling summarises the whole image.

# %%
rates = np.arange(1, 70)
shares = {n: [atrous.valid_weight_counts(65, r).get(n, 0.0) for r in rates] for n in (9, 4, 1)}
fig, ax = plt.subplots(figsize=(6, 3.2))
for n, label in [(9, "all 9 weights valid"), (4, "4 valid"), (1, "only the centre (1x1)")]:
    ax.plot(rates, shares[n], label=label)
ax.set_xlabel("atrous rate on a 65x65 feature map")
ax.set_ylabel("share of positions")
ax.legend()
plt.show()

for r in (6, 12, 18, 24, 36, 48, 64, 65):
    print(
        f"rate {r:2d}: mean valid weights {100 * atrous.valid_weight_fraction(65, r):5.1f}%, "
        f"positions with only the centre weight {100 * atrous.valid_weight_counts(65, r).get(1, 0.0):5.1f}%"
    )

# %% [markdown]
# ### The model the `cpu` profile trains is not the paper's
#
# The paper chose rates 6, 12, 18 for its 33x33 training map (513x513 crops at output stride 16),
# not for the 65x65 map above. First that baseline and the `gpu` profile's map, then the same
# arithmetic on the maps the course's `cpu` profile actually trains on (its crops, per dataset,
# divided by the output stride and rounded up, as the backbone does):

# %%
from course_utils.training.config import TrainConfig


def print_rates(label, fmap, rates):
    print(f"{label}: map {fmap[0]}x{fmap[1]}")
    for r in rates:
        print(
            f"   rate {r:2d}: mean valid weights {100 * atrous.valid_weight_fraction(fmap, r):5.1f}%, "
            f"positions where only the centre tap is valid {100 * atrous.valid_weight_counts(fmap, r).get(1, 0.0):5.1f}%"
        )


print_rates("paper, 513x513 crops at OS 16", atrous.feature_map_size((513, 513), 16), default_aspp_rates(16))
gpu = TrainConfig.from_profile("gpu")
print_rates(
    f"gpu profile, {gpu.image_size[0]}x{gpu.image_size[1]} crops at OS {gpu.output_stride}",
    atrous.feature_map_size(gpu.image_size, gpu.output_stride),
    default_aspp_rates(gpu.output_stride),
)
cpu_maps = {}
for dataset in ("minidrive", "camvid"):
    config = TrainConfig.from_profile("cpu", dataset=dataset)
    cpu_maps[dataset] = atrous.feature_map_size(config.image_size, config.output_stride)
    print(
        f"cpu profile, {dataset}: crops {config.image_size[0]}x{config.image_size[1]} -> map {cpu_maps[dataset][0]}x{cpu_maps[dataset][1]}"
    )
    for r in default_aspp_rates(config.output_stride):
        centre_only = atrous.valid_weight_counts(cpu_maps[dataset], r).get(1, 0.0)
        print(
            f"   rate {r:2d}: mean valid weights {100 * atrous.valid_weight_fraction(cpu_maps[dataset], r):5.1f}%, "
            f"positions where only the centre tap is valid {100 * centre_only:5.1f}%"
        )
print(f"this notebook's own {profile.name} map: {feature_hw[0]}x{feature_hw[1]}")

# %% [markdown]
# Even the paper's own map loses a good part of the rate-18 taps to padding; the `gpu` profile's
# smaller, non-square map loses more, with a share of positions where rate 18 is already a 1x1
# filter: it is closer to the paper than the `cpu` profile, not equal to it. On the `cpu` maps the
# rate-18 branch is a 1x1 convolution at every position, and the rate-12 branch at most of them: two
# of the three atrous branches see little or no context. Worse, a tap that falls on the zero padding
# at every position of every training map multiplies zeros, so its weight **gets no gradient**. One
# backward pass through a 3x3 convolution at rate 18 shows it (`atrous.tap_weight_gradients`: the
# largest |gradient| of each of the 9 taps):
#
# %%
np.set_printoptions(precision=2, suppress=True)
for label, fmap in [*cpu_maps.items(), ("paper", atrous.feature_map_size((513, 513), 16))]:
    print(f"{label}, map {fmap[0]}x{fmap[1]}, rate 18, |dL/dw| per tap:\n{atrous.tap_weight_gradients(fmap, 18)}")
for dataset in cpu_maps:
    print(f"cpu profile, {dataset}: recipe {TrainConfig.from_profile('cpu', dataset=dataset).recipe!r}")

# %% [markdown]
# With no gradient, SGD or Adam never move those weights: they keep their initial values under the
# `seed` and `fast` recipes, which add no weight decay; the `paper` recipe's L2 weight decay
# (`course_utils.train`) would only shrink them towards zero. Either way they learn nothing from the
# data. Evaluate the model later on a larger map (multi-scale test-time augmentation in notebook 07,
# "your own image" in notebook 09) and those untrained weights suddenly see real features.
#
# That does not make the `cpu` model a plain network: image pooling, the rate-6 branch and the
# 1x1 branch still work, and ResNet-18's truncated multi-grid (notebook 02) still uses rates 2 and 4
# in stage 4. What it lacks is the large-rate context the paper's rates 12 and 18 provide. The
# `gpu` profile's larger maps (and ResNet-50's three multi-grid units) are closer to the paper.
#
# One remedy is to scale the rates with the map, keeping the paper's ratio of rate to map size
# (`build_deeplabv3(..., aspp_rates=...)` accepts any rates). Whether that helps on this data is an
# experiment, not a certainty: it is the kind of question notebook 08's ablations answer. (Exercise 1
# at the end asks when a 3x3 filter becomes a 1x1 filter on the paper's 33x33 map.)

# %%
paper_map = atrous.feature_map_size((513, 513), 16)[0]
for dataset, fmap in cpu_maps.items():
    scaled = tuple(max(1, round(r * min(fmap) / paper_map)) for r in default_aspp_rates(16))
    shares = [f"{100 * atrous.valid_weight_fraction(fmap, r):.0f}%" for r in scaled]
    print(f"{dataset}: map {fmap[0]}x{fmap[1]}, rates scaled to the map {scaled}, mean valid weights {shares}")

# %% [markdown]
# ## 4. Rates double at output stride 8
#
# A rate is measured in feature-map pixels. One feature-map pixel is `output_stride` input pixels,
# so the field of view of a branch in the *image* is `effective_kernel_size(3, rate) x output_stride`.
# At output stride 8 the map is twice as large as at 16.
#
# ### Exercise 2 (predict, then run): rates at output stride 8
# A model uses rates (6, 12, 18) at output stride 16. Which rates give the same fields of view in the
# image at output stride 8? Set `answer_2` to a tuple *before* running the cell after the check,
# which prints the answer.

# %%
answer_2 = None  # three rates

# %%
exercises.check_equal(answer_2, default_aspp_rates(8), hint="The map is twice as large at OS 8.")

# %%
crop = 513
for os_ in (16, 8):
    size = (crop - 1) // os_ + 1
    rates_os = default_aspp_rates(os_)
    fields = [atrous.effective_kernel_size(3, r) * os_ for r in rates_os]
    print(f"OS {os_:2d}: {size}x{size} map, rates {rates_os} -> fields in the image {fields} pixels")

# %% [markdown]
# The two rows do not agree to the pixel, although the rates double exactly. The outer taps of a
# branch lie `2 * rate * output_stride` image pixels apart, the same at both strides; the printed
# field adds one feature-map cell (`output_stride` pixels) for the width of the tap itself, and
# that cell is twice as wide at output stride 16:

# %%
for os_ in (16, 8):
    spans = [2 * r * os_ for r in default_aspp_rates(os_)]
    print(f"OS {os_:2d}: outer taps {spans} image pixels apart, + one cell of {os_} pixels")

# %% [markdown]
# The three fields at output stride 16, drawn on a 513x513 street scene (the paper's crop size): the
# rate-18 field is larger than the crop itself, so near the borders most of its taps read padding
# (section 3).

# %%
from course_utils.data.sample_images import street_scene
from course_utils.plotting import plot_feature_grids

fields16 = {
    f"rate {r}: {atrous.effective_kernel_size(3, r) * 16} px": atrous.effective_kernel_size(3, r) * 16
    for r in default_aspp_rates(16)
}
fig = plot_feature_grids(street_scene(crop, crop), (16,), fields=fields16)
plt.show()

# %% [markdown]
# ### Try it: choose the rates
#
# Three sliders set the rates of the three 3x3 branches; the readout gives each branch's mean share of
# valid weights on a 65x65 map (the static figure in section 2 shows the paper's rates).

# %%
# NBVAL_IGNORE_OUTPUT
display(explorers.aspp_rate_explorer(feature_size=65))


# %% [markdown]
# ## 5. A fixed upsampling size fits one image size only
#
# The *seed notebook* (the original Keras DeepLabV3 notebook this course was rebuilt from; it
# followed a talk on DeepLabV3 built on the PyTorch code `github.com/fregu856/deeplabv3`, whose
# parameter counts notebook 02 reconciles) resized the pooled branch with `UpSampling2D(size=(15, 30))`: it assumed 240x480
# inputs, whose feature map at output stride 16 is 15x30. Rebuild that branch and feed it the feature
# map of another image size.


# %%
def seed_style_pooling(channels):
    inputs = keras.Input((None, None, channels))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(inputs)
    pooled = keras.layers.Conv2D(8, 1)(pooled)
    upsampled = keras.layers.UpSampling2D(size=(15, 30), interpolation="bilinear")(pooled)
    return keras.Model(inputs, [upsampled, inputs])


seed_branch = seed_style_pooling(8)
for image_hw in dict.fromkeys([(240, 480), (height, width), (256, 512)]):  # the seed's size, then others
    fmap = np.zeros((1, *atrous.feature_map_size(image_hw, 16), 8), "float32")
    upsampled, _ = seed_branch(fmap)
    try:
        keras.layers.Concatenate()([upsampled, fmap])
        outcome = "concatenation works"
    except Exception as err:  # TensorFlow refuses to concatenate maps of different sizes
        outcome = f"concatenation fails ({type(err).__name__})"
    print(
        f"image {image_hw[0]}x{image_hw[1]}: feature map {fmap.shape[1:3]}, "
        f"pooled branch {tuple(upsampled.shape[1:3])} -> {outcome}"
    )

# %% [markdown]
# The course's ASPP reads the target size when the graph runs (`ResizeLike`, a resize to the shape of
# a reference tensor), so one model runs on any image size (exercise 4 at the end asks you to write
# such a resize, exercise 5 the whole module):

# %%
for image_hw in [(240, 480), (height, width), (100, 72)]:
    fmap = np.zeros((1, *atrous.feature_map_size(image_hw, 16), 64), "float32")
    out = module(fmap)
    print(f"image {image_hw[0]}x{image_hw[1]}: feature map {fmap.shape[1:3]} -> ASPP output {tuple(out.shape[1:3])}")

# %% [markdown]
# ## Summary
#
# * ASPP looks at one feature map through a 1x1 convolution, three 3x3 atrous convolutions
#   (rates 6, 12, 18 at OS 16) and a global image-pooling branch, concatenates their features and
#   fuses them with a 1x1 convolution (the course adds dropout, as reference implementations do);
#   V2 summed per-branch class scores instead.
# * As the rate approaches the map size, taps fall on the padding until the 3x3 filter is a 1x1
#   filter. Image pooling supplies the global context instead.
# * The paper chose its rates for a 33x33 map; the `gpu` profile's map is smaller. On the small maps
#   of the `cpu` profile the paper's rates 12 and 18 are mostly or entirely 1x1 filters, and their
#   off-centre weights get exactly zero gradient: the model trained there is not the paper's. Rates
#   scaled to the map are one remedy.
# * Rates are in feature-map pixels: they double when the output stride halves.
# * Sizes must be read from the tensors at run time: `UpSampling2D((15, 30))` works for one input size.
#
# Next: `04_deeplabv3_model.ipynb` puts backbone, ASPP and classifier together.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: when is a 3x3 filter a 1x1 filter?
# On the paper's 33x33 training map (513x513 crops at output stride 16), what is the smallest rate
# at which **every** position keeps only the centre weight? Reason it out (section 3 showed the
# 65x65 case as a curve), then set `answer_1`.

# %%
answer_1 = None  # your answer

# %%
smallest = min(r for r in range(1, 200) if atrous.valid_weight_counts(33, r) == {1: 1.0})
exercises.check_equal(answer_1, smallest, hint="Which rate puts the tap at +r outside the map even for position 0?")

# %% [markdown]
# (Exercise 2 sits in section 4, where the idea is taught.)
#
# %% [markdown]
# ### Exercise 3: parameters of ASPP by hand
# Count the parameters of ASPP (the five branches of section 1) on a ResNet-18 feature map (512 channels), 256 filters, rates
# (6, 12, 18), with image pooling. Convolutions have no bias; every BatchNorm has 4 numbers per
# channel (scale, offset, moving mean, moving variance). Set `answer_3`.

# %%
answer_3 = None  # your answer

# %%
exercises.check_param_count(
    answer_3,
    build_aspp((None, None, 512), rates=(6, 12, 18), filters=256),
    hint="The projection sees 5 x 256 channels; each 3x3 kernel has 9 x 512 x 256 weights.",
)

# %% [markdown]
# ### Exercise 4: an image-pooling branch for any size
# Section 5 showed a fixed upsampling size break. Write `pooling_branch(features)` that works on a functional-API tensor: global average pooling
# (keep the dimensions), a 1x1 convolution with 8 filters, then a resize back to the size of
# `features` that works for every input size. The check runs it on three sizes.
#
# Write the resize yourself rather than using the library's `ResizeLike` (imported at the top for
# exercise 5): a functional-API tensor has no concrete height and width, so the size must be read
# when the graph runs. A small `keras.layers.Layer` subclass whose `call(self, inputs)` takes
# `[pooled, features]` and returns `keras.ops.image.resize(pooled, keras.ops.shape(features)[1:3])`
# does it. (A solution: `course_utils.exercises.updates_a.pooling_branch_own_resize`.)


# %%
def pooling_branch(features):
    # pool, 1x1 convolution, resize back: return the resized tensor
    raise NotImplementedError


# %%
ex.check_pooling_branch(pooling_branch)

# %% [markdown]
# ### Exercise 5: write ASPP
# Put sections 1 and 5 together: write `my_aspp(features, rates, filters, name)` with Keras layers, without calling the library's
# `aspp`. Every branch is Conv -> BN -> ReLU with `filters` channels; convolutions have no bias
# (`use_bias=False`), BatchNorm uses `epsilon=1e-5`:
#
# 1. a 1x1 convolution, layers named `{name}_1x1_conv` and `{name}_1x1_bn`;
# 2. for each rate `r` of `rates`, a 3x3 convolution with `dilation_rate=r` and `padding="same"`:
#    `{name}_rate{r}_conv`, `{name}_rate{r}_bn`;
# 3. image pooling: your pooling branch, with BatchNorm and ReLU after its 1x1 convolution
#    (`{name}_pool_conv`, `{name}_pool_bn`, `filters` channels, no bias);
#
# then concatenate the branches **in this order** and project with a 1x1 Conv -> BN -> ReLU
# (`{name}_proj_conv`, `{name}_proj_bn`). Leave out the dropout (it does nothing at inference).
# The check copies the library's weights into your layers and compares the outputs for two sets of
# rates.


# %%
def my_aspp(features, rates, filters, name):
    # five branches, concatenation, projection: return the projected tensor
    raise NotImplementedError


# %%
ex.check_aspp_module(my_aspp)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb03.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("03")  # all of this notebook's solutions; show("03", "my_aspp") for one
# ```
#
# Exercise 1 (the 33x33 map) is also solved by `course_utils.exercises.updates_a.all_centre_rate`,
# with the reasoning in its docstring; exercise 4 with a resize written by hand by
# `course_utils.exercises.updates_a.pooling_branch_own_resize`.
#
# (The exercises are collected at the end, except exercise 2, which sits in section 4; the section
# that teaches each one points to it: exercise 1 section 3, exercise 3 section 1, exercises 4 and 5
# section 5.)
