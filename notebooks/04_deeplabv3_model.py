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
# # 04 · DeepLabV3 assembled
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/04_deeplabv3_model.ipynb)
#
# Backbone (notebook 02) + ASPP (notebook 03) + a 1x1 classifier + a resize back to the input size:
# that is DeepLabV3. This notebook assembles it, looks at it from several angles, runs it on a street
# scene, places it in the DeepLab family, and closes the loop on the seed notebook's bugs, each with
# a small experiment.
#
# **Learning objectives.** After this notebook you can
#
# 1. build DeepLabV3 with `course_utils.model.build_deeplabv3` and read its structure block by block;
# 2. run a forward pass and explain every shape from the input image to the logits;
# 3. compare the cost of output stride 8 and 16;
# 4. place DeepLab V1, V2, V3 and V3+ in context, each tied to code you used, and compare DeepLabV3
#    with a U-Net in parameters, output stride, receptive field and compute;
# 5. recognise and fix the seed notebook's bugs: ReLU before BatchNorm, ReLU before the softmax,
#    a hard-coded upsampling size, upsampling 256 channels before the classifier, notebooks
#    importing notebooks and machine-specific paths.
#
# **Prerequisites.** Notebooks 01-03.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
# %matplotlib inline
import shutil
import tempfile
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import display
from prettytable import PrettyTable

from course_utils import exercises
from course_utils import widgets as explorers
from course_utils.config import get_profile
from course_utils.data import normalize_image
from course_utils.datasets.minidrive import MINIDRIVE_CLASSES, MINIDRIVE_PALETTE, generate_scene
from course_utils.exercises import nb04 as ex
from course_utils.model import build_deeplabv3, build_unet, default_aspp_rates, format_report, model_report
from course_utils.plotting import colorize, legend_handles

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
height, width = profile.image_size
num_classes = len(MINIDRIVE_CLASSES)
print(
    f"profile {profile.name}: {profile.backbone}, output stride {profile.output_stride}, "
    f"multi-grid {profile.multi_grid}, crops {height}x{width}, {num_classes} classes"
)

# %% [markdown]
# ## 1. Assemble
#
# One call builds the whole model. The output is **logits** (no softmax, no ReLU), float32, with the
# input's height and width for any input size.

# %%
model = build_deeplabv3(
    num_classes, backbone=profile.backbone, output_stride=profile.output_stride, multi_grid=profile.multi_grid
)
report = model_report(model, (height, width, 3))
print(f"{model.name}: {model.count_params():,} parameters, output {report.output_shape}")
print(f"model.summary() would list {len(model.layers)} layers")


# %% [markdown]
# `model.summary()` lists every one of those layers (the count is printed above): useful to search, too
# long to read. Grouped by
# block (layer names start with the block name), the model reads like the paper:


# %%
def block_of(name):
    parts = name.split("_")
    if parts[0] == "aspp":
        return "aspp " + parts[1]
    return parts[0]


blocks = {}
for layer in report.layers:
    block = blocks.setdefault(block_of(layer.name), {"layers": 0, "params": 0, "shape": None, "macs": 0})
    block["layers"] += 1
    block["macs"] += layer.macs
    block["shape"] = layer.output_shape[1:]
for layer in model.layers:
    if block_of(layer.name) in blocks:
        blocks[block_of(layer.name)]["params"] += layer.count_params()

table = PrettyTable(["block", "layers", "parameters", "output", "MMACs"])
for name, b in blocks.items():
    table.add_row([name, b["layers"], f"{b['params']:,}", "x".join(map(str, b["shape"])), f"{b['macs'] / 1e6:.1f}"])
table.align["block"] = "l"
print(table)

# %% [markdown]
# ## 2. A diagram
#
# `keras.utils.plot_model` draws the full graph when `pydot` and Graphviz are installed; otherwise
# the course draws the blocks itself (the sizes come from the report above).

# %%
# NBVAL_IGNORE_OUTPUT
try:
    import pydot  # noqa: F401

    has_graphviz = shutil.which("dot") is not None
except ImportError:
    has_graphviz = False
if has_graphviz:
    display(
        keras.utils.plot_model(model, show_shapes=True, dpi=48, to_file=str(Path(tempfile.mkdtemp()) / "deeplabv3.png"))
    )
else:
    print("Graphviz not found: drawing the block diagram with matplotlib.")
display(
    explorers.deeplab_diagram(report.stages, default_aspp_rates(profile.output_stride), (height, width, 3), num_classes)
)

# %% [markdown]
# The diagram shows sizes; what it does not draw is *how* each block keeps or loses resolution. The
# stride (input pixels per feature pixel), the dilation of each stage's first 3x3 convolution and the
# ASPP rates, read from the model, and how much of each ASPP 3x3 kernel still lands on this small
# map (`atrous.valid_weight_fraction`: 1 = all 9 taps, 1/9 = only the centre, a 1x1 in disguise):

# %%
from course_utils.atrous import valid_weight_fraction
from course_utils.model.report import stage_trace

trace = stage_trace(model, (height, width, 3))
for block, (stride, dilation, hw) in ((k, v) for k, v in trace.items() if k != "logits"):
    print(f"{block:<7} stride {stride:>2}   dilation/rates {str(dilation):<12} map {hw[0]}x{hw[1]}")
print(f"logits  resized to {trace['logits'][0]}x{trace['logits'][1]}")
for rate in trace["aspp"][1]:
    print(
        f"ASPP rate {rate:>2} on the {trace['aspp'][2]} map: {valid_weight_fraction(trace['aspp'][2], rate):.2f} of the taps valid"
    )

# %% [markdown]
# Read the last lines against 1/9: where a rate is as large as the map, its branch keeps little more
# than the centre tap and acts as a 1x1 convolution (notebook 03 showed why). On a small map the
# image-pooling branch, not the large rates, is what carries the global context. At the paper's
# 513x513 crops (a 33x33 map) the same rates keep far more of their taps (notebook 03, section 3).

# %% [markdown]
# ## 3. A forward pass on a street scene
#
# MiniDrive scenes are generated on the fly (no download). The model expects RGB in `[-1, 1]`
# (`course_utils.data.normalize_image`). It is untrained, so its prediction is meaningless (smooth
# blobs from random weights, not classes); the shapes
# are the point here. Training comes later in the course (a trained model's predictions follow).

# %%
rng = np.random.default_rng(profile.seed)
scene_h, scene_w = profile.eval_size or profile.image_size
image, label = generate_scene(rng, scene_h, scene_w)
logits = model(normalize_image(image)[None], training=False)
probabilities = tf.nn.softmax(logits, axis=-1)
prediction = tf.argmax(logits, axis=-1)[0].numpy()
print("image  ", image.shape, image.dtype)
print("logits ", tuple(logits.shape), logits.dtype.name)
print("softmax sums to 1 everywhere:", np.allclose(tf.reduce_sum(probabilities, -1), 1.0, atol=1e-5))

fig, axes = plt.subplots(1, 3, figsize=(12, 2.8))
for ax, (title, picture) in zip(
    axes,
    [
        ("image", image),
        ("label", colorize(label, MINIDRIVE_PALETTE)),
        ("untrained prediction", colorize(prediction, MINIDRIVE_PALETTE)),
    ],
):
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
fig.legend(handles=legend_handles(MINIDRIVE_CLASSES, MINIDRIVE_PALETTE), loc="lower center", ncol=8, fontsize=9)
fig.tight_layout(rect=(0, 0.1, 1, 1))
plt.show()

# %% [markdown]
# The same architecture after training (the course's stored MiniDrive reference run, trained in the
# `cpu` profile; notebook 06 shows how): image, label, prediction and errors for a few validation
# scenes.

# %%
from course_utils.reference_runs import load_reference_run, show_reference_run

trained = load_reference_run("minidrive-cpu")
print(trained.meta["description"], f"- validation mIoU {trained.miou('val'):.3f}")
print(
    f"its recipe: {trained.meta['config']['recipe']!r}, scale_range {trained.meta['config']['scale_range']} "
    "(no random scaling: notebook 05's scale augmentation was not used for this run)"
)
_ = show_reference_run(trained, parts=("gallery",), width=640)  # displays the figure

# %% [markdown]
# ## 4. Output stride 16 versus 8: the cost
#
# Same parameters, larger late feature maps. The table counts multiply-accumulates for one image at
# the profile's crop size and at 512x1024 (a half-resolution Cityscapes frame). MACs are the
# reliable measure of cost; the timing cell after it measures this machine *now*. It prints both
# ratios so you can judge.
#
# **Predict before you run.** Output stride 8 removes the stride of stage 4 only, or of stages 3 and
# 4? Which blocks then run on maps with 4x the pixels, and what MAC ratio OS 8 / OS 16 do you expect:
# nearer 1.5x, 4x or 16x? Write it down, then read the table.

# %%
model8 = build_deeplabv3(num_classes, backbone=profile.backbone, output_stride=8, multi_grid=profile.multi_grid)
sizes = [(height, width, 3), (512, 1024, 3)]
print(format_report([model_report(m, s) for s in sizes for m in (model, model8)], title="DeepLabV3, OS 16 vs OS 8"))

# %%
# NBVAL_IGNORE_OUTPUT
x = normalize_image(image)[None]
seconds = {}
for name, m in [("OS 16", model), ("OS 8", model8)]:
    m(x, training=False)  # warm-up
    start = time.perf_counter()
    for _ in range(3):
        m(x, training=False)
    seconds[name] = (time.perf_counter() - start) / 3
    print(f"{name}: {1000 * seconds[name]:.0f} ms per {scene_h}x{scene_w} image on this machine, now")
macs = {name: model_report(m, (scene_h, scene_w, 3)).macs for name, m in [("OS 16", model), ("OS 8", model8)]}
print(f"OS 8 / OS 16: {seconds['OS 8'] / seconds['OS 16']:.1f}x measured, {macs['OS 8'] / macs['OS 16']:.1f}x in MACs")

# %% [markdown]
# Why the measured ratio is usually smaller than the MAC ratio here: these are **eager** calls of a
# model of many small layers (the count is printed in section 1) on one small image (batch 1). Each layer call costs a fixed Python
# and kernel-launch overhead that does not depend on the map size, and OS 8 and OS 16 have the same
# layers; at this size that overhead is a large part of every call, so it dilutes the ratio. Larger
# inputs, bigger batches or a compiled model (`model.predict`, `jit_compile`) bring the measured
# ratio towards the MAC ratio, which is what a training run at full size pays.
# %% [markdown]
# ## 5. The DeepLab family
#
# | model | year | key ideas | in this course |
# |---|---|---|---|
# | **DeepLab V1** | 2015 | VGG-16 with atrous convolution, bilinear upsampling of the scores, a fully connected **CRF** to sharpen boundaries | `atrous.atrous_conv2d` (01); the final `upsample` layer (`ResizeLike`); the CRF is a post-processing step the course does not use |
# | **DeepLab V2** | arXiv 2016, TPAMI 2018 | ResNet-101 backbone, **ASPP** (parallel atrous branches, rates 6-24), still a CRF | `build_resnet` (02), `build_aspp` (03) |
# | **DeepLab V3** | 2017 | ASPP with BatchNorm and **image pooling**, **multi-grid**, output stride 16 for training, 8 for a last fine-tune with frozen BatchNorm and for evaluation, no CRF | `build_deeplabv3` (this notebook) |
# | **DeepLab V3+** | 2018 | a light **decoder** with low-level features (stride 4) for sharper boundaries; aligned **Xception** backbone with **depthwise separable** convolutions | `build_deeplabv3(decoder=True)` below; Xception is not built in the course |
#
# The V3 paper also studies a *cascaded* variant (its section 3.2, "going deeper with atrous
# convolution"): copies of block4 stacked as block5-7, each with a larger rate, instead of parallel
# branches. Its best model uses the parallel ASPP, which is what the course builds.
#
# V3+ borrows a single U-Net-style skip connection (U-Net: section 6 of this notebook), and Xception's separable
# convolutions, in code:

# %%
plus = build_deeplabv3(
    num_classes,
    backbone=profile.backbone,
    output_stride=profile.output_stride,
    multi_grid=profile.multi_grid,
    decoder=True,
)
decoder_layers = [lyr.name for lyr in plus.layers if lyr.name.startswith("decoder")]
print("V3+ adds the layers", decoder_layers)  # how many parameters: exercise 3
print("V3+ output:", tuple(plus(normalize_image(image)[None], training=False).shape))

# Depthwise separable convolution (Xception, V3+): a 3x3 per channel, then a 1x1 across channels.
dense_conv = keras.layers.Conv2D(256, 3, use_bias=False)
separable = keras.layers.SeparableConv2D(256, 3, use_bias=False)
dense_conv.build((None, None, None, 256))
separable.build((None, None, None, 256))
print(f"3x3 conv 256->256: {dense_conv.count_params():,} weights; separable: {separable.count_params():,}")

# %% [markdown]
# ## 6. U-Net versus DeepLabV3, in code
#
# This section is a **design argument** backed by counts (parameters, MACs, receptive field), not a
# trained comparison: the course trains no U-Net.
#
# **U-Net** (Ronneberger et al., 2015) is a symmetric encoder-decoder: the encoder halves the
# resolution `depth` times (two 3x3 convolutions, then a 2x2 max-pool), the decoder upsamples step
# by step (2x2 transposed convolutions) and concatenates the encoder's feature map at *every* scale.
# DeepLab keeps the resolution inside the backbone instead (dilation, output stride 16), puts its
# effort into multi-scale context (ASPP) and upsamples in one step.
#
# `course_utils.model.build_unet` builds a small, *modern* U-Net: 'same' padding (the original used
# unpadded convolutions and cropped its skip connections) and BatchNorm after every convolution
# (the original had none), depth 4 and 32 filters at the first level (half the original's width). `model_report` counts both models at 240x480 (the seed notebook's IDD size):
# parameters, multiply-accumulates, the **output stride** (input size / coarsest feature map) and
# the **theoretical receptive field** (the input pixels one output logit can depend on).

# %%
unet = build_unet(num_classes, depth=4, base_filters=32)
compare_size = (240, 480, 3)
reports = {"U-Net (depth 4, 32 filters)": model_report(unet, compare_size)}
reports[f"DeepLabV3-{profile.backbone}, OS {profile.output_stride}"] = model_report(model, compare_size)


def finite_rf(r):  # largest field of any layer that is not global pooling
    return max(layer.receptive_field for layer in r.layers if np.isfinite(layer.receptive_field))


def coarsest(r):
    return "x".join(str(d) for d in (compare_size[0] // r.output_stride, compare_size[1] // r.output_stride))


table = PrettyTable(["model", "params (M)", "GMACs", "output stride", "coarsest map", "RF output", "RF w/o pooling"])
for name, r in reports.items():
    rf = "global" if np.isinf(r.receptive_field) else int(r.receptive_field)
    table.add_row(
        [name, f"{r.total_params / 1e6:.2f}", f"{r.gmacs:.1f}", r.output_stride, coarsest(r), rf, int(finite_rf(r))]
    )
table.align["model"] = "l"
table.title = "at 240x480, one image"
print(table)

# %% [markdown]
# Where does the compute go? U-Net spends a large share of it at half resolution or finer (its first
# and last levels run 32-64 channels on the full 240x480 grid), DeepLab almost none (only its stem
# convolution runs at 1/2; its wide layers run at 1/4 and coarser). Compare the two printed shares:

# %%
for name, r in reports.items():
    full = sum(layer.macs for layer in r.layers if len(layer.output_shape) == 4 and layer.output_shape[1] >= 120)
    print(f"{name:<32} {100 * full / r.macs:4.0f} % of the MACs at 1/2 resolution or finer")
unet_report, deeplab_report = reports.values()
print(
    f"U-Net / DeepLabV3: {unet_report.total_params / deeplab_report.total_params:.2f}x the parameters, "
    f"{unet_report.macs / deeplab_report.macs:.2f}x the MACs"
)

# %% [markdown]
# A street scene of an awkward size, 90x75, through both: U-Net's four 2x2 poolings and
# transposed convolutions need sides divisible by 16, so it gets the scene cropped to 80x64; DeepLab
# takes the 90x75 scene as it is (its strided layers round up, `ResizeLike` restores the size).

# %%
odd_image, _ = generate_scene(np.random.default_rng(profile.seed), 90, 75)
odd = normalize_image(odd_image)[None]
crop = odd[:, : 90 // 16 * 16, : 75 // 16 * 16]
for name, m, x_in in [("U-Net", unet, crop), ("DeepLabV3", model, odd)]:
    out = m(x_in, training=False)
    print(f"{name:<10} input {tuple(x_in.shape)} -> logits {tuple(out.shape)} {out.dtype.name}")

# %% [markdown]
# Reading the table honestly:
#
# * **Both output logits at the input's size**, so for the loss and the metrics they are
#   interchangeable: the difference is inside.
# * **Resolution.** U-Net's coarsest map is 1/16 of the input, like DeepLab's at output stride 16,
#   but U-Net rebuilds full resolution with learned upsampling and skip connections at every level,
#   while DeepLab interpolates bilinearly from 1/16 (V3+ adds one skip at 1/4). The design favours
#   thin structures and sharp boundaries, which is why U-Net is popular where those matter (it was
#   designed for cell microscopy); the course does not train a U-Net, so this is a design argument,
#   not a measured result.
# * **Context.** DeepLab's image-pooling branch sees the whole image, and its theoretical field
#   without pooling ("RF w/o pooling") is far larger than U-Net's; compare that column with the
#   image's height. U-Net's large field comes from its bottleneck only: at the finest level the skip
#   connection passes on features that saw only a few pixels. The *theoretical* field overstates
#   both; the effective one is much smaller (notebook 01, section 3).
# * **Cost.** Parameters say little about compute: compare the two ratios printed above (parameters
#   and MACs) and the share of MACs at high resolution. U-Net also keeps large activations for the
#   backward pass. The numbers hold for these two configurations only (the table's DeepLab row
#   follows the profile's backbone); widths, depths and backbones move them a lot.
# * **Pretraining.** DeepLab's encoder is an ImageNet classifier that can start from pretrained
#   weights (notebook 02); this U-Net starts from scratch.
#
# ## 7. The seed notebook's bugs, fixed
#
# The Keras notebook this course grew from trained a DeepLabV3 on IDD, with seven problems; six are
# fixed here, each with a small experiment, and the seventh (a loss that counts void pixels) in
# notebook 05.

# %% [markdown]
# ### Bug 1: ReLU before BatchNorm
#
# The seed wrote `Conv2D(..., activation="relu")` followed by `BatchNormalization()` inside its
# residual units. Its units still end in `ReLU(add)`, so what a unit hands on is rectified; the
# reordering changes what happens *inside* the unit: BatchNorm re-centres the rectified responses,
# so the next convolution receives negative values (line 1 below), a different function from the
# Conv -> BN -> ReLU of the original (v1) ResNet, which `keras.applications.ResNet50` and the
# course's backbone follow (pre-activation ResNet-v2 orders BN -> ReLU -> Conv, a third function).
#
# The first cost: **v1 pretrained weights do not fit** that order. The second, **a channel can die**,
# needs care to state. The demo below forces it: a kernel of negative weights on a positive input
# (as the first convolution of a unit sees after the previous unit's `ReLU(add)`), so the channel's
# raw responses are negative at every pixel. The ReLU before BatchNorm then passes no gradient to the
# kernel (line 3). With BatchNorm first, the responses are standardised within the batch before the
# ReLU, so with the initial scale and offset (gamma 1, beta 0) some pixels are positive and the
# gradient flows (line 2); a learned gamma and beta could still switch that channel off. That is all
# the demo shows: how often a channel dies in a real run depends on the data, the learning rate and
# the learned BatchNorm parameters, and the seed's logs do not tell. Strictly it is a design choice
# with these costs rather than an error (some networks do normalise after the activation); the
# course uses Conv -> BN -> ReLU everywhere, as ResNet v1 does.

# %%
rng = np.random.default_rng(0)
x = tf.constant(rng.normal(size=(8, 16, 16, 8)).astype("float32"))
conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
raw = conv(x)
bn = keras.layers.BatchNormalization()
ours = tf.nn.relu(bn(raw, training=True))
seed = bn(tf.nn.relu(raw), training=True)
print(
    f"inside a unit: Conv -> BN -> ReLU {np.mean(ours.numpy() < 0):.0%} negative, ReLU -> BN (seed) {np.mean(seed.numpy() < 0):.0%} negative"
)

# A channel whose raw responses are negative at every pixel of the batch: a kernel of negative
# weights applied to a positive input. Which order still gives its kernel a gradient?
kernel_values = -np.abs(conv.get_weights()[0])
positive_x = tf.abs(x)
upstream = tf.constant(rng.normal(size=(8, 16, 16, 4)).astype("float32"))  # some gradient from later layers
orders = {
    "Conv -> BN -> ReLU": lambda r: tf.nn.relu(bn(r, training=True)),
    "ReLU -> BN (seed)": lambda r: bn(tf.nn.relu(r), training=True),
}
for name, block in orders.items():
    kernel = tf.Variable(kernel_values)
    with tf.GradientTape() as tape:
        responses = tf.nn.conv2d(positive_x, kernel, 1, "SAME")
        loss = tf.reduce_sum(block(responses) * upstream)
    grad = tape.gradient(loss, kernel)
    print(
        f"{name:>18}: largest raw response {float(tf.reduce_max(responses)):+.2f}, kernel gradient sum |g| {float(tf.reduce_sum(tf.abs(grad))):.3g}"
    )

# %% [markdown]
# ### Bug 2: ReLU before the softmax
#
# The seed's classifier was `Conv2D(n_classes, 1, activation="relu")` followed by a softmax. Every
# negative logit becomes 0, and the gradient through a ReLU at a negative input is 0: the network can
# neither push a wrong class below `exp(0)` nor recover a class whose logit went negative. With all
# logits negative the prediction is uniform and *no* gradient flows. The course's model outputs plain
# logits and the loss applies the softmax.

# %%
z = tf.Variable([[-1.0, -2.0, -3.0]])  # logits of one pixel; the true class is 0
target = tf.constant([0])
for name, head in [("seed: softmax(relu(z))", lambda t: tf.nn.relu(t)), ("course: softmax(z)", lambda t: t)]:
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(target, head(z), from_logits=True)
    probs = tf.nn.softmax(head(z)).numpy().round(3)
    grad = tape.gradient(loss, z).numpy().round(3) + 0.0  # + 0.0 turns -0.0 into 0.0
    print(f"{name:>24}: probabilities {probs[0]}, gradient {grad[0]}")

# %% [markdown]
# **Diagnose.** A run with the seed's head trains for a few epochs, then its loss stops moving,
# and from then on every pixel's predicted probabilities are the same for all classes. Which of the
# bugs so far is at work, and why does the optimizer not get out of it? Decide, then open the
# answer.
#
# <details><summary>Answer</summary>
#
# Bug 2, the ReLU before the softmax: once every logit of a pixel is negative, the ReLU outputs zeros,
# the softmax is uniform, and the ReLU passes no gradient back, so nothing pushes the logits up
# again. (A dead channel from bug 1 would lower the score, not make the prediction uniform.)
# </details>
#
# ### Bug 3: an upsampling size fixed to one image size
#
# `UpSampling2D(size=(15, 30))` for the pooled branch and `UpSampling2D(size=(16, 16))` at the end
# fit 240x480 inputs only (notebook 03 showed the failure). The course's model resizes to the
# sizes of its tensors at run time, so it accepts any input, even sizes not divisible by 16:

# %%
for size in [(height, width), (96, 160), (90, 75)]:
    out = model(np.zeros((1, *size, 3), "float32"), training=False)
    print(f"input {size[0]}x{size[1]} -> logits {tuple(out.shape[1:])}")

# %% [markdown]
# ### Bug 4: upsampling 256 channels, then classifying at full resolution
#
# The seed's head upsampled the 256-channel ASPP output 16x to 240x480 *first*, then ran two 1x1
# convolutions at full resolution: `UpSampling2D(16)` -> `Conv2D(64, 1, relu)` ->
# `Conv2D(n_classes, 1, relu)` -> softmax (the last ReLU is bug 2). Start with the clean case: a
# **single linear 1x1** classifier. A 1x1 convolution and a bilinear upsampling are both linear and
# act on different axes (channels, pixels; the bilinear weights sum to 1, so the bias passes
# through): they commute, and classifying first gives **the same logits** at a fraction of the cost.
# Both orders on a 15x30x256 feature map with the same weights:

# %%
features = keras.Input((15, 30, 256))
classify = keras.layers.Conv2D(num_classes, 1, name="classifier")
upsample = keras.layers.UpSampling2D(16, interpolation="bilinear", name="upsample")
heads = {
    "classify, then upsample (course)": keras.Model(features, upsample(classify(features))),
    "upsample, then classify (seed)": keras.Model(features, classify(upsample(features))),
}
f = np.random.default_rng(0).normal(size=(1, 15, 30, 256)).astype("float32")
outputs = [h(f).numpy() for h in heads.values()]
print("same logits (up to float rounding):", np.allclose(*outputs, atol=1e-4))
for name, h in heads.items():
    r = model_report(h, (15, 30, 256))
    activations = sum(np.prod(layer.output_shape[1:]) for layer in r.layers) * 4 / 2**20
    print(f"{name:<33} {r.macs / 1e6:7.2f} MMACs, activations {activations:6.1f} MiB per image (float32)")

# %% [markdown]
# The classifier runs on 16 x 16 = 256 times as many pixels, and the upsampled 256-channel map is a
# far larger activation than the course's upsampled logits (the printout gives both).
#
# **Predict before you run.** The seed's real head has a ReLU *between* its two 1x1 convolutions.
# Does "upsample, then 1x1 -> ReLU -> 1x1" still give the same logits as "1x1 -> ReLU -> 1x1, then
# upsample"? Decide, then run the cell.

# %%
hidden = keras.layers.Conv2D(64, 1, activation="relu", name="seed_hidden")
seed_classifier = keras.layers.Conv2D(num_classes, 1, name="seed_classifier")  # without bug 2's ReLU
seed_heads = {
    "1x1-ReLU-1x1, then upsample": keras.Model(features, upsample(seed_classifier(hidden(features)))),
    "upsample, then 1x1-ReLU-1x1 (seed)": keras.Model(features, seed_classifier(hidden(upsample(features)))),
}
seed_outputs = [h(f).numpy() for h in seed_heads.values()]
gap = np.abs(seed_outputs[0] - seed_outputs[1])
print(
    f"same logits: {np.allclose(*seed_outputs, atol=1e-4)}; largest difference {gap.max():.2f}, "
    f"pixels that differ by more than 1e-4: {np.mean(gap.max(-1) > 1e-4):.0%}"
)
for name, h in seed_heads.items():
    print(f"{name:<35} {model_report(h, (15, 30, 256)).macs / 1e6:8.1f} MMACs per image")

# %% [markdown]
# They differ. Bilinear upsampling makes in-between pixels weighted averages of their neighbours,
# and a ReLU of an average is not the average of ReLUs (where neighbouring hidden values have
# different signs, the orders disagree). So the seed's head is *a different function*, not the same
# one computed expensively, and its true cost is the 256 -> 64 convolution at full resolution
# (printed above), many times the single classifier's. The lesson still holds: classify at 1/16,
# where the features live, then resize the few class channels. The course's model does exactly that
# with one linear 1x1 classifier and `ResizeLike`. The seed's extra 64-channel layer at full
# resolution added no new information (its input is an interpolation of the features at 1/16); it
# computed a different function (piecewise linear within each 16x16 block), at a far higher cost,
# and nothing shows that this function helps.
#
# ### Bugs 5 and 6: notebooks importing notebooks, and Google Drive paths
#
# The seed copied notebooks from a Google Drive (`/content/drive/My Drive/...`) and imported them
# with `import_ipynb`: the code could not be tested, ran only on one account, and every run depended
# on whichever version of those notebooks sat in the Drive. The course puts all logic in the
# `course_utils` package (versioned, unit tested, installed with `pip`), finds data through
# `course_utils.config.data_dir` (`COURSE_DATA_DIR` or the course checkout, never a hard-coded path) and
# sizes every run with one profile switch (`COURSE_PROFILE`). Nothing to run here beyond where the
# model lives:

# %%
import course_utils.model.deeplab as deeplab_module

print("the model comes from the module", deeplab_module.__name__)

# %% [markdown]
# ## Summary
#
# * DeepLabV3 = dilated ResNet (output stride 16 or 8, multi-grid) + ASPP (1x1, three atrous 3x3,
#   image pooling) + 1x1 classifier + bilinear resize; it outputs logits at the input size.
# * Output stride 8 costs several times the compute of 16 for the same parameters (section 4 prints
#   the MAC ratio); eager timings of one small image show less, because per-layer overhead, the same
#   for both, dominates at that size.
# * A trained model (the stored MiniDrive run) shows what the untrained one will become.
# * V1 brought atrous convolution and a CRF, V2 ASPP, V3 image pooling, BatchNorm and multi-grid,
#   V3+ a decoder and separable convolutions; U-Net decodes at every scale instead, with skip
#   connections, and spends a far larger share of its compute at high resolution than DeepLab.
# * The seed's bugs are fixed in the library: Conv -> BN -> ReLU, logits without ReLU, sizes read at
#   run time, classify before upsampling (for a single linear 1x1 the same logits at 1/256 of the
#   classifier's MACs; the seed's 1x1-ReLU-1x1 head is a different function, and a far more costly
#   one), a tested package and profiles instead of notebooks on a Drive.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook. Exercises 0, 3 and 5 are the ones to work on;
# 1, 2 and 4 are one-line recall checks of what the sections showed (1: bug 3's cell; 2: bug 2's
# cell; 4: notebook 03's exercise 2, now at output stride 8), kept for a quick self-test.
#
# ### Exercise 0: trace the shapes at output stride 8 on an odd input
# Without running the model, fill `trace_1` for `model8` (output stride 8, the profile's multi-grid)
# on one 90x75 image: for the stem (after its max-pool) and each stage, the output stride, the
# dilation of the stage's first 3x3 convolution and the output size `(H, W)`; then the size of the
# logits. Mind the odd sides: what does a 'same' layer with stride 2 make of 75 columns? The check
# compares with `model.report.stage_trace`.

# %%
trace_1 = {  # (output stride, dilation, (H, W)) per block; the logits: (H, W)
    "stem": (None, None, None),
    "stage1": (None, None, None),
    "stage2": (None, None, None),
    "stage3": (None, None, None),
    "stage4": (None, None, None),
    "logits": None,
}

# %%
from course_utils.exercises import updates_a

updates_a.check_shape_trace(trace_1, model8, (90, 75))

# %% [markdown]
# ### Exercise 1: output shape
# What shape do the logits have for a batch of 2 images of 100x72 pixels? Set `answer_1` to a tuple
# `(batch, height, width, channels)`.

# %%
answer_1 = None  # (batch, height, width, channels)

# %%
exercises.check_output_shape(
    answer_1,
    model(np.zeros((2, 100, 72, 3), "float32"), training=False).shape,
    hint="The last layer resizes to the input's height and width.",
)

# %% [markdown]
# ### Exercise 2: what the seed's head predicts
# With the seed's `softmax(relu(z))` head, what probability does each of the 7 classes get at a pixel
# where all 7 logits are negative? Set `answer_2` to a number.

# %%
answer_2 = None  # a probability

# %%
negative_logits = -np.arange(1, 8, dtype="float32")[None]
seed_probs = tf.nn.softmax(tf.nn.relu(negative_logits)).numpy()[0]  # the same for every class
exercises.check_close(answer_2, seed_probs[0], hint="What is relu(z) when z < 0?")

# %% [markdown]
# ### Exercise 3: the decoder's parameters
# Count the parameters the V3+ decoder adds: a 1x1 convolution from the stage-1 features to 48
# channels, then two 3x3 convolutions to 256 channels (the first sees the 256 ASPP channels
# concatenated with the 48), each without bias and followed by a BatchNorm (4 numbers per channel).
# Read the stage-1 channel count from `report.stages`. Set `answer_3`.

# %%
answer_3 = None  # your code

# %%
exercises.check_equal(
    answer_3,
    plus.count_params() - model.count_params(),
    hint="Weights of a conv without bias = kernel height x width x input channels x output channels; add each BatchNorm.",
    what="parameter count",
)

# %% [markdown]
# ### Exercise 4 (explain why): ASPP rates inside the OS 8 model
# `model8` was built with `output_stride=8` and no rates. Which rates do its three atrous branches
# use? Set `answer_4` to a tuple; the check reads them from the model's layers (`aspp_rate{r}_conv`).
# Then answer for yourself: on the `cpu` profile's MiniDrive map at output stride 8 (twice as large
# per side as the one notebook 03 printed), are these branches any less degenerate than (6, 12, 18)
# at output stride 16? Check with `atrous.valid_weight_fraction`.

# %%
answer_4 = None  # three rates

# %%
rates8 = tuple(
    lyr.dilation_rate[0] for lyr in model8.layers if lyr.name.startswith("aspp_rate") and lyr.name.endswith("_conv")
)
exercises.check_equal(answer_4, rates8, hint="Rates are in feature-map pixels; the map doubles at OS 8.")

# %% [markdown]
# ### Exercise 5: assemble DeepLabV3
# Write `my_deeplabv3(num_classes, output_stride)` that returns a `keras.Model` built from the
# library's parts, the way section 1 describes the model:
#
# * the input: `keras.Input((None, None, 3))`;
# * the backbone: `resnet_features(inputs, 18, output_stride, (1, 2, 4))` returns a dict of stage
#   outputs; ASPP reads `"stage4"`;
# * ASPP: `aspp(features, rates, 256, name="aspp")` with the rates that belong to `output_stride`;
# * the classifier: a 1x1 `keras.layers.Conv2D(num_classes, 1, name="classifier")` (with bias);
# * the logits resized to the input's size at run time:
#   `ResizeLike(name="upsample", dtype="float32")([x, inputs])`.
#
# The check compares your model with `build_deeplabv3(num_classes, backbone="resnet18", ...)` at
# output strides 16 and 8 on a 50x70 image, weights copied layer by layer (about 20 s on a laptop).

# %%
# the parts for your model (unused until you write it)
from course_utils.model.aspp import aspp  # noqa: F401
from course_utils.model.layers import ResizeLike  # noqa: F401
from course_utils.model.resnet import resnet_features  # noqa: F401


def my_deeplabv3(num_classes, output_stride):
    # input -> resnet_features -> aspp -> classifier -> resize; return keras.Model(inputs, logits)
    raise NotImplementedError


# %%
ex.check_deeplabv3_assembly(my_deeplabv3)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# `trace_1`'s is `updates_a.solution_shape_trace(model8, (90, 75))`; the others are in
# `course_utils/exercises/solutions/nb04.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("04")  # all of this notebook's solutions; show("04", "my_deeplabv3") for one
# ```
