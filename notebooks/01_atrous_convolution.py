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
# # 01 · Atrous convolution
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/01_atrous_convolution.ipynb)
#
# DeepLab's central tool is the **atrous** (French *à trous*, "with holes") or **dilated**
# convolution: a small kernel whose taps are spread apart. It widens what a filter sees without
# adding weights and, above all, without shrinking the feature map.
#
# **Learning objectives.** After this notebook you can
#
# 1. compute a 1-D and a 2-D atrous convolution by hand, and check your numbers against TensorFlow;
# 2. explain why a 3x3 kernel at rate 2 covers the field of view of a 5x5 kernel, and compute the
#    effective kernel size and the (theoretical) receptive field of a stack of layers;
# 3. measure the *effective* receptive field (where the gradient actually goes) and explain why it is
#    much smaller than the theoretical one;
# 4. explain *signal decimation* (why striding and pooling hurt dense prediction) and how dilation avoids it;
# 5. recognise the *gridding* artifact of stacked equal rates, choose rates that avoid it, and tell
#    that fix apart from DeepLabV3's multi-grid.
#
# **Prerequisites.** Python and NumPy; what a 2-D convolution layer does (`keras.layers.Conv2D`).
# `00_setup.ipynb` explains how to install the course and choose a run profile.

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
import tensorflow as tf
from IPython.display import display

from course_utils import atrous, exercises
from course_utils import widgets as explorers
from course_utils.config import get_profile
from course_utils.data.sample_images import street_scene, to_gray
from course_utils.exercises import nb01 as ex

plt.rcParams["figure.dpi"] = 100  # legible static figures in the stored notebook
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
height, width = profile.eval_size or profile.image_size
image = street_scene(height, width)  # painted procedurally: nothing to download
gray = to_gray(image)
print(f"profile {profile.name}: sample image {height}x{width}")

# %% [markdown]
# ## 1. Dilation in one dimension
#
# An ordinary 1-D convolution (in deep learning: a cross-correlation) with a 3-tap kernel `w`
# computes `y[i] = w[0] x[i-1] + w[1] x[i] + w[2] x[i+1]`. With **rate** `r` the taps move
# `r` samples apart: `y[i] = w[0] x[i-r] + w[1] x[i] + w[2] x[i+r]`. Equivalently, the kernel gets
# `r - 1` zeros between its taps and an ordinary convolution is applied. `atrous.dilate_kernel`
# builds that zero-inserted kernel.

# %%
x = np.array([0, 0, 1, 4, 9, 16, 9, 4, 1, 0, 0], dtype=float)
w = np.array([1.0, -2.0, 1.0])  # a second-derivative filter
for rate in (1, 2, 3):
    print(f"rate {rate}: kernel {atrous.dilate_kernel(w, rate)} -> y = {atrous.atrous_conv1d(x, w, rate)}")

# By hand, output 5 at rate 2 reads x[3], x[5] and x[7]:
by_hand = w[0] * x[3] + w[1] * x[5] + w[2] * x[7]
assert by_hand == atrous.atrous_conv1d(x, w, 2)[5]
print("y[5] at rate 2 by hand:", by_hand)

# %% [markdown]
# The same signal, three rates: the wider the spacing, the coarser the structure the filter responds
# to, with the **same three weights**. At the borders the signal is padded with zeros ("same"
# padding), so the output has as many samples as the input.
#
# ## 2. Two dimensions, and the NumPy reference against TensorFlow
#
# In 2-D the taps spread along both axes. A 3x3 kernel at rate 2 becomes a 5x5 kernel with zeros in
# between: this is the claim "a 3x3 kernel with rate 2 has the field of view of a 5x5 kernel" made
# explicit.

# %%
k3 = np.arange(1, 10, dtype=float).reshape(3, 3)
print(atrous.dilate_kernel(k3, 2).astype(int))
print("effective size of 3x3 at rates 1..4:", [atrous.effective_kernel_size(3, r) for r in range(1, 5)])

# %% [markdown]
# `course_utils.atrous.atrous_conv2d(x, kernel, rate)` is a deliberately plain implementation
# (pad, then add one shifted copy of the image per kernel tap). Read it with `atrous.atrous_conv2d??`.
# Three checks: it equals an ordinary convolution with the zero-inserted kernel, it equals
# `tf.nn.atrous_conv2d`, and it equals a Keras `Conv2D(dilation_rate=2)` layer.

# %%
rng = np.random.default_rng(0)
kernel = rng.normal(size=(3, 3))
ours = atrous.atrous_conv2d(gray, kernel, rate=2)
zero_inserted = atrous.atrous_conv2d(gray, atrous.dilate_kernel(kernel, 2), rate=1)

x4 = tf.constant(gray[None, :, :, None], tf.float32)
tf_out = tf.nn.atrous_conv2d(x4, tf.constant(kernel[:, :, None, None], tf.float32), rate=2, padding="SAME")
layer = keras.layers.Conv2D(1, 3, dilation_rate=2, padding="same", use_bias=False)
layer.build((None, height, width, 1))
layer.set_weights([kernel[:, :, None, None]])
keras_out = layer(x4)

print("same as the zero-inserted 5x5 kernel:", np.allclose(ours, zero_inserted))
print("same as tf.nn.atrous_conv2d:         ", np.allclose(ours, tf_out[0, :, :, 0], atol=1e-4))
print("same as Conv2D(dilation_rate=2):     ", np.allclose(ours, keras_out[0, :, :, 0], atol=1e-4))
print("weights: 3x3 at rate 2 has", kernel.size, "- a dense 5x5 would have", 5 * 5)

# %% [markdown]
# The figure marks the 9x9 field of view of a 3x3 kernel at rate 4 on the sample image (yellow box),
# zooms into it to show the 9 taps (one red square per tap, 4 pixels apart: the pixels in between
# are skipped), shows the zero-inserted kernel and the image filtered by a 3x3 mean filter at that
# rate: the filter blends pixels 4 apart, so edges appear as shifted copies.

# %%
figure_image = image if height >= 240 else street_scene(240, 480)  # a small profile image would be illegible
fig = explorers.dilation_figure(figure_image, kernel=3, rate=4)
display(fig)

# %% [markdown]
# ### Try it: the dilation explorer
#
# Move the sliders to change the kernel size and the rate (in JupyterLab or Colab; on GitHub the
# widget cannot run, the static figure above shows one setting).

# %%
# NBVAL_IGNORE_OUTPUT
display(explorers.dilation_explorer(image))

# %% [markdown]
# ## 3. Receptive field of a stack of layers
#
# The **receptive field** of an output pixel is the window of input pixels that can influence it.
# For a stack of layers `(kernel, stride, rate)` a simple recurrence gives it: start at 1; each
# layer adds `(effective_kernel - 1) x jump`, where `jump` (the product of the strides so far) is
# the distance in input pixels between neighbouring positions of the current feature map.

# %%
stacks = {
    "two 3x3": [(3, 1, 1)] * 2,
    "three 3x3, rate 2": [(3, 1, 2)] * 3,
    "three 3x3, rates 1, 2, 4": [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
    "ResNet stem (7x7/2 conv, 3x3/2 pool)": [(7, 2, 1), (3, 2, 1)],
    "stem + 3x3 rate 2": [(7, 2, 1), (3, 2, 1), (3, 1, 2)],
}
for name, layers in stacks.items():
    steps = atrous.receptive_field_steps(layers)
    trace = " -> ".join(str(s["receptive_field"]) for s in steps)
    print(f"{name:>38}: {trace:<18} (output stride {steps[-1]['jump']})")

# %% [markdown]
# Do not trust a formula you have not measured. Build the third stack as real Keras layers, ask
# TensorFlow for the gradient of the centre output pixel with respect to the input, and count the
# input pixels that receive a gradient.

# %%
layers = stacks["three 3x3, rates 1, 2, 4"]
inputs = keras.Input((31, 31, 1))
y = inputs
for k, s, r in layers:
    y = keras.layers.Conv2D(
        1, k, strides=s, dilation_rate=r, padding="same", kernel_initializer="ones", use_bias=False
    )(y)
stack = keras.Model(inputs, y)

probe = tf.Variable(tf.zeros((1, 31, 31, 1)))
with tf.GradientTape() as tape:
    centre = stack(probe)[0, 15, 15, 0]
gradient = np.abs(tape.gradient(centre, probe)[0, :, :, 0].numpy())
rows, cols = np.nonzero(gradient)
print("measured receptive field:", np.ptp(rows) + 1, "x", np.ptp(cols) + 1)
print("formula:                 ", atrous.receptive_field(layers))

# %% [markdown]
# ### The effective receptive field
#
# The box above counts every input pixel with a gradient that is *not zero*. But the gradient is
# usually far from uniform. In a stack of **rate-1** layers a pixel near the centre reaches the
# output through many paths (every layer can pass it through any of its taps, and many
# combinations land near the centre), a pixel at the edge of the box through one. That argument is
# for rate 1 only: with rates (1, 2, 4) each offset is reached by few tap combinations, and the
# centre by exactly one (all centre taps). The cell prints the 1-D path counts of both stacks; the
# first panel of the figure below (rates 1, 2, 4) shows the consequence, an uneven box with no
# bright centre, whose effective field (printed) is as large as the theoretical one. Luo et al.
# ("Understanding the effective receptive field in deep convolutional neural networks", 2016) call
# the region where the gradient is actually large the **effective receptive field**. One way to put
# a number on it (`atrous.effective_receptive_field`): the side of the smallest centred square that
# holds 90 % of the total gradient magnitude. `atrous.gradient_footprint` computes that gradient
# for a stack of single-channel dilated convolutions with NumPy; for the stack just measured it must
# equal the Keras gradient:

# %%
measured = gradient[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
print("NumPy gradient == Keras gradient:", np.allclose(atrous.gradient_footprint([r for _, _, r in layers]), measured))
print("paths per offset, rates (1, 1, 1):", atrous.footprint_1d((1, 1, 1)))
print("paths per offset, rates (1, 2, 4):", atrous.footprint_1d((1, 2, 4)))
erf_124 = atrous.effective_receptive_field(atrous.gradient_footprint([1, 2, 4]))
print(f"rates (1, 2, 4): effective field {erf_124}, theoretical {atrous.receptive_field(layers)}")

# %% [markdown]
# **Predict before you run.** A stack of `n` 3x3 convolutions at rate 1 has a theoretical field of
# `2n + 1` pixels: it grows linearly with depth. Does the effective field (90 % of the gradient)
# grow as fast? Is the effective field of 16 layers about 4 times that of 4 layers (like the
# theoretical one), or about 2 times? Set `erf_guess` to 4 or 2 **before** running the cell after
# it; the check then reads your prediction against the measurement.

# %%
erf_guess = None  # 4 or 2

# %%
from course_utils.exercises import updates_a

updates_a.check_erf_growth_prediction(erf_guess)

# %%
from course_utils.plotting import plot_effective_receptive_field

depths = (1, 2, 4, 8, 16)
for n in depths:
    ones = atrous.effective_receptive_field(atrous.gradient_footprint([1] * n))
    rand = atrous.effective_receptive_field(atrous.gradient_footprint([1] * n, weights="random", seed=n))
    print(
        f"{n:2d} layers: theoretical {atrous.receptive_field([(3, 1, 1)] * n):2d}, "
        f"effective {ones:2d} (all-ones kernels), {rand:2d} (random kernels)"
    )
display(
    plot_effective_receptive_field(
        {
            "rates 1, 2, 4 (measured above)": measured,
            "16 layers, rate 1": atrous.gradient_footprint([1] * 16),
            "16 layers, random kernels": atrous.gradient_footprint([1] * 16, weights="random", seed=16),
        }
    )
)

# %% [markdown]
# The gradient of a deep stack is a bell: the sum of many small independent steps, so (central limit
# theorem) its width grows like the square root of the depth while the box grows linearly. The
# effective field is therefore a shrinking fraction of the theoretical one, with all-ones and with
# random kernels alike (random kernels give a noisier bell). Training widens it somewhat, but the
# lesson stays: **a theoretical field larger than the image does not mean the network uses the whole
# image.** That is one reason DeepLab adds explicit global context (image pooling, notebook 03)
# instead of trusting depth and dilation alone.

# %% [markdown]
# ## 4. Signal decimation: why not just stride?
#
# A classification network shrinks its input 32 times (five stride-2 steps) so that deep layers see a
# large context cheaply. For segmentation this **signal decimation** throws away the resolution we
# need to draw boundaries. Compare three ways to apply a vertical-edge filter with a wide context
# (factor 4):
#
# * *stride*: subsample by 4, then convolve: responses only on a coarse grid, upsampled back;
# * *pool*: 4x4 max-pooling, then convolve: also coarse;
# * *atrous*: convolve at full resolution with rate 4: same field of view, a response at every pixel.
#
# (For a fair comparison, keep the cost in mind: section 4's last cell prices the dense version.)

# %%
factor = 4
edge = np.array([[-1.0, 0.0, 1.0]] * 3) / 3
strided = atrous.subsample_then_convolve(gray, edge, factor)
pooled = keras.layers.MaxPooling2D(factor, padding="same")(gray[None, :, :, None].astype("float32"))[0, :, :, 0].numpy()
pooled = atrous.atrous_conv2d(pooled, edge, 1)
dense = atrous.atrous_conv2d(gray, edge, factor)


def back_to_full(a):  # nearest-neighbour upsampling, cropped to the image size
    return np.kron(a, np.ones((factor, factor)))[:height, :width]


panels = {
    "input": gray,
    f"stride {factor}: {strided.shape[0]}x{strided.shape[1]}": back_to_full(strided),
    f"pool {factor}: {pooled.shape[0]}x{pooled.shape[1]}": back_to_full(pooled),
    f"atrous rate {factor}: {dense.shape[0]}x{dense.shape[1]}": dense,
}
lim = np.percentile(np.abs(dense), 99)  # one colour scale for the three responses
fig, axes = plt.subplots(1, 4, figsize=(14, 2.6), layout="constrained")
for ax, (title, panel) in zip(axes, panels.items()):
    if title == "input":
        ax.imshow(panel, cmap="gray", interpolation="nearest")
    else:
        response = ax.imshow(panel, cmap="RdBu", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
fig.colorbar(response, ax=axes[1:], shrink=0.8, label="edge response")
plt.show()

# Atrous convolution computes exactly the strided responses - and all the ones in between.
assert np.allclose(dense[::factor, ::factor], strided)
print(f"atrous output {dense.shape}, strided output {strided.shape}; they agree on every {factor}th pixel")

# %% [markdown]
# The strongest responses in all three panels are the vertical bars at the left and right borders:
# they are not edges of the scene. 'Same' padding surrounds the image with zeros, and the edge filter
# sees the jump from the (bright) image to the zero padding as an edge. Every zero-padded convolution
# does this (reflect padding, or cropping the border, would remove it).
#
# Inside the image the panels differ in more than resolution. *Pooling* changes the values, not
# only the grid: max-pooling keeps the brightest pixel of each 4x4 block, which widens bright
# regions before the filter sees them. The *atrous* panel doubles thin structures: the rate-4 filter
# `[-1, 0, 1]` subtracts the pixel `factor` to the left from the pixel `factor` to the right, so a
# thin bright object (a pole, a lane mark) fires twice, once under each outer tap, as **two lines of
# opposite sign** on either side of it; a step edge fires over a band as wide as the filter's span.
# A response at every pixel is therefore not a sharp boundary: dense features still blur
# boundaries over the filter's span. That is why DeepLab v1/v2 added a CRF
# (conditional random field) after the network to snap labels to image edges, and DeepLabV3+ a
# decoder that brings back fine features.

# %% [markdown]
# The assertion is the key fact behind DeepLab: removing the stride of a layer and dilating every
# **later** kernel by the same factor computes the pretrained network's features, only densely.
# Three caveats.
#
# * *Interior only.* Near the border the zero padding falls in other places, and with an even
#   input size 'same' padding can sample a different phase of the grid than the strided layer did.
# * *Only at exactly the removed factor.* DeepLabV3's *multi-grid* multiplies the rate of each unit
#   of the last stage by its own **unit rate** (the paper's Multi_Grid = (1, 2, 4)), so those units
#   use rates 2, 4, 8 instead of 2, 2, 2 at output stride 16 and deliberately compute different
#   features, which fine-tuning then has to adapt to.
# * *The strided layer itself keeps the previous rate.* If the stride sat in a 3x3 convolution, the
#   faithful conversion gives that convolution stride 1 at the rate it had before (its taps were
#   read on the finer grid already); only the layers after it are dilated. The course's ResNet-18
#   deviates: notebook 02 dilates the first 3x3 of its basic units too, and says why.
#
# Dense features have a price the stride was avoiding: every layer after a removed stride runs on a
# map `factor` times larger per side, so its compute and activation memory grow with the square of
# the factor. The cell prints it for the output strides DeepLabV3 uses; this is why the paper trains
# at output stride 16 and switches to 8 only to evaluate.

# %%
for output_stride in (32, 16, 8):
    print(
        f"output stride {output_stride:2d}: each layer after the removed strides needs "
        f"{atrous.dense_cost_factor(output_stride):3.0f}x the compute and activation memory it needs at output stride 32"
    )

# %% [markdown]
# Notebook 02 performs this surgery inside ResNet.
#
# ## 5. The gridding artifact and multi-grid rates
#
# Stack three 3x3 convolutions at rate 2 and ask which input pixels one output pixel depends on.
# Every tap sits at an even offset, and sums of even offsets are even: the output never sees the
# pixels at an odd offset in either direction. In 2-D it sees only the pixels whose row **and**
# column offsets are both even, one pixel in four, a sparse lattice ("gridding").
#
# **Predict before you run.** Of the three stacks below, rates (2, 2, 2), (2, 4, 8) and (1, 2, 4),
# which see every pixel of their field? Use the parity argument, put your answer in `full_coverage`
# (a list of rate tuples), and let the check read it before the printout.

# %%
candidates = [(2, 2, 2), (2, 4, 8), (1, 2, 4)]
full_coverage = None  # e.g. [(2, 2, 2)]

# %%
updates_a.check_full_coverage_prediction(full_coverage, candidates)

# %%
for rates in candidates:
    fp = atrous.stack_footprint(rates)
    print(f"rates {rates}: field {fp.shape[0]}x{fp.shape[1]}, pixels seen {100 * atrous.coverage_fraction(fp):.0f}%")
display(explorers.receptive_field_figure((2, 2, 2)))
display(explorers.receptive_field_figure((1, 2, 4)))

# %% [markdown]
# Only (1, 2, 4) sees everything. Two ideas must be kept apart here:
#
# * **The gridding fix** (Wang et al., "Understanding convolution for semantic segmentation", 2018,
#   "hybrid dilated convolution"): rates with a common factor greater than 1 leave holes. Sorted
#   ascending, the rates must start at 1 and each be at most the field built by the smaller ones.
#   The order of the layers does not matter for coverage (the offsets add up, and a sum does not
#   depend on order): (3, 1, 9) covers its 27x27 field like (1, 3, 9). (1, 2, 4) obeys the rule,
#   (2, 2, 2) and (2, 4, 8) do not.
# * **Multi-grid** (DeepLabV3, section 3.2): the unit rates (1, 2, 4) multiply the last stage's rate,
#   so at output stride 16 its units use rates (2, 4, 8). The printout shows that these rates grid
#   *on their own*: multi-grid is not a gridding fix. The paper motivates it by analogy with
#   multigrid methods (one stage looking at several scales), and measures that it helps. Inside
#   ResNet the earlier rate-1 3x3 convolutions make the **input footprint** contiguous (every
#   image pixel reaches the output), but the gridding of the dilated layers themselves remains at
#   the feature level: neighbouring outputs are computed from disjoint lattices of the previous
#   feature map (1x1 convolutions cannot fill such holes, they mix channels, not positions). Wang et
#   al. found this gridding in a dilated ResNet-101 DeepLab and fixed it with hybrid rates; Yu et
#   al.'s dilated residual networks (DRN, 2017) added "degridding" layers for the same reason.
#
# Notebook 02 shows what multi-grid becomes in the course's small ResNet-18, whose last stage has
# fewer units than the grid has entries.
#
# ### Try it: the receptive-field explorer
#
# Choose the number of layers, the base rate and the pattern (`same`, `multi-grid`, `doubling`).

# %%
# NBVAL_IGNORE_OUTPUT
display(explorers.receptive_field_explorer())

# %% [markdown]
# ## Summary
#
# * An atrous convolution with rate `r` applies a kernel with `r - 1` zeros between its taps: a
#   `k x k` kernel covers `k + (k - 1)(r - 1)` pixels per side with only `k x k` weights.
# * Our NumPy reference matches `tf.nn.atrous_conv2d` and `Conv2D(dilation_rate=...)`.
# * The theoretical receptive field of a stack grows by `(effective kernel - 1) x jump` per layer;
#   measured gradients confirm it.
# * The effective receptive field (where 90 % of the gradient goes) is much smaller, and grows like
#   the square root of the depth: a huge theoretical field does not mean global context.
# * Striding and pooling decimate the signal; dilation gives the same responses at full resolution
#   (in the interior, and without multi-grid). Bright border bars are zero padding, not content.
# * Equal rates grid; rates that, sorted ascending, start at 1 and grow no faster than the field
#   (Wang et al.) see every pixel, in any layer order. DeepLabV3's multi-grid rates (2, 4, 8) are a
#   different idea, and grid on their own.
# * Dense features cost the square of the removed stride in compute and activation memory after it.
#
# Next: `02_resnet_backbone.ipynb` turns a classification ResNet into a dense feature extractor.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# Exercises 1 and 2 are warm-ups on purpose: they apply a formula of the notebook by hand, and their
# hints name it. Exercises 4 and 5 ask you to reason about rates rather than plug into a formula.
#
# ### Exercise 1: effective size
# A 3x3 kernel at rate 6 (one of the ASPP branches in notebook 03): how many pixels per side does it
# span? Compute it by hand into `answer_1`.

# %%
answer_1 = None  # your answer

# %%
exercises.check_equal(answer_1, atrous.effective_kernel_size(3, 6), hint="k + (k - 1) * (rate - 1)")

# %% [markdown]
# ### Exercise 2: receptive field by hand
# The layers `[(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 2)]` (kernel, stride, rate) are a ResNet stem
# followed by two 3x3 convolutions, the second dilated. Compute the receptive field by hand into
# `answer_2`.

# %%
answer_2 = None  # your answer

# %%
ex.check_receptive_field(answer_2, [(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 2)])

# %% [markdown]
# ### Exercise 3: write the 1-D atrous convolution
# Write `my_atrous_conv1d(x, kernel, rate)` with 'same' padding (pad `(e - 1) // 2` zeros before
# the signal and the rest after, `e` the effective kernel size) and loops, without calling
# `course_utils.atrous`. The checker compares it with the reference on random signals, odd and even
# kernels and rates 1-4.


# %%
def my_atrous_conv1d(x, kernel, rate):
    # your loops here
    raise NotImplementedError


# %%
ex.check_atrous_conv1d(my_atrous_conv1d)

# %% [markdown]
# ### Exercise 4: no holes, large field
# Choose three rates for a stack of three 3x3 convolutions whose receptive field is at least 27x27
# and that sees **every** pixel of it. (Hint: what can sums of `-r, 0, +r` for each rate reach?)

# %%
answer_4 = None  # three rates, e.g. (1, 2, 4)

# %%
ex.check_no_gridding(answer_4, min_layers=3, min_field=27)

# %% [markdown]
# ### Exercise 5: keep the field when a stride goes
# The stack `updates_a.STEM_AND_CONV` (printed below) is a ResNet stem, a 7x7 stride-2
# convolution and a 3x3 stride-2 pool, followed by a 3x3 convolution. Give the pool stride 1, as
# DeepLab does to keep a larger map. Which dilation rate must the last 3x3 convolution get so that
# the receptive field stays what it was? Reason with `jump` (section 3), not by trying rates, and
# set `answer_5`.

# %%
print(updates_a.STEM_AND_CONV)
answer_5 = None  # a rate

# %%
updates_a.check_rate_after_removed_stride(answer_5)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb01.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("01")  # all of this notebook's solutions; show("01", "my_atrous_conv1d") for one
# ```
#
# Exercise 5 and the two predictions are solved by `course_utils.exercises.updates_a`
# (`rate_after_removed_stride`, `erf_growth_ratio`; the coverage of each stack is printed in
# section 5).
