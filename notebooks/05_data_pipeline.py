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
# # 05 · Data: label maps, class balance and a fast input pipeline
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/05_data_pipeline.ipynb)
#
# The second half of the course trains DeepLabV3 on real driving scenes. Before any training, we
# look hard at the data: what a label map is, how unbalanced the classes are (and why that makes
# pixel accuracy a misleading score), and how the `tf.data` pipeline feeds augmented crops to
# the model without ever corrupting a label.
#
# **Learning objectives.** After this notebook you can
#
# 1. read a prepared dataset (`dataset.json`, images, label maps) and draw labels with the
#    dataset's palette and legend;
# 2. measure class frequencies and explain why mean IoU, not pixel accuracy, is the score of
#    semantic segmentation;
# 3. describe each stage of the `tf.data` pipeline and show that augmentation never creates a
#    label value that is not a class id or void (255), and write a label-safe scale-crop-flip
#    yourself;
# 4. measure the pipeline's throughput against a plain Python generator;
# 5. state what a per-pixel colour classifier achieves, the baseline every model must beat;
# 6. say how the seed notebook (most likely) encoded void in its targets, what that does to its loss and
#    its gradient, and write a masked cross-entropy whose void gradient is exactly zero.
#
# **Prerequisites.** Notebooks 00-04 (the model); NumPy and a first look at `tf.data`.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %% [markdown]
# ## 0. Choose the dataset
#
# One variable decides the data of this notebook and the next ones. `"auto"` takes the best
# prepared dataset in the course's data folder (Cityscapes, then IDD, then CamVid) and falls back
# to **MiniDrive**, procedural driving scenes with the 7 level-1 classes of the Indian Driving
# Dataset, generated on the spot and offline. Set it to `"camvid"`, `"idd"`, `"cityscapes"`,
# `"minidrive"` or the path of a prepared folder to choose yourself.

# %%
DATASET = "auto"

# %matplotlib inline
# %config InlineBackend.figure_formats = ["jpeg"]  # photos: small stored notebooks
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from course_utils import baselines, data, metrics, plotting
from course_utils.config import DATASETS, get_profile, prepare_command
from course_utils.data import pipeline, throughput
from course_utils.datasets import find_dataset
from course_utils.exercises import nb05 as ex
from course_utils.losses import masked_sparse_ce
from course_utils.notebook import publish

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
root = find_dataset(DATASET)
info = data.load_info(root)
print(
    f"profile {profile.name}: dataset {info.name}, {info.num_classes} classes, "
    f"images {info.image_size}, splits {info.counts}"
)

# %% [markdown]
# ## 1. A prepared dataset and its label maps
#
# Every dataset of the course, whatever its origin, is converted once into the same layout:
#
# ```
# <root>/dataset.json                 name, classes, palette, ignore_index, image size, counts
# <root>/<split>/images/<id>.png      RGB photo
# <root>/<split>/labels/<id>.png      one uint8 per pixel: class id 0..C-1, or 255 = void
# ```
#
# A **label map** is an image of class ids, not of colours. Void (255) marks pixels nobody
# labelled (or that belong to no class): losses and metrics ignore them. The **palette** only
# serves to draw labels; the network never sees it.

# %%
for i, (name, rgb) in enumerate(zip(info.classes, info.palette)):
    print(f"{i:>3}  {name:<20} RGB {rgb}")
print(f"{info.ignore_index:>3}  void (ignored)       drawn black")

# %%
pairs = data.list_pairs(root, "train")
image = data.read_image(pairs[0][0])
label = data.read_label(pairs[0][1])
print(
    "image", image.shape, image.dtype, "| label", label.shape, label.dtype, "| label values", np.unique(label).tolist()
)

fig, axes = plt.subplots(3, 3, figsize=(10, 4.8))
for row, (img_path, lbl_path) in enumerate(pairs[:3]):
    img, lbl = data.read_image(img_path), data.read_label(lbl_path)
    for ax, panel, title in zip(
        axes[row],
        (img, plotting.colorize(lbl, info.palette), plotting.overlay(img, lbl, info.palette)),
        ("image", "label (palette)", "overlay"),
    ):
        ax.imshow(panel, interpolation="nearest")
        ax.set_axis_off()
        if row == 0:
            ax.set_title(title)
fig.legend(
    handles=plotting.legend_handles(info.classes, info.palette), loc="lower center", ncol=8, fontsize=8, frameon=False
)
fig.tight_layout(rect=(0, 0.06, 1, 1))
plt.show()

# %% [markdown]
# Other datasets reach this layout through the scripts in `data_scripts/`; none is downloaded by a
# notebook. The seed notebook of this course used IDD (level-1 ids, 7 classes); CamVid (11 classes,
# 360x480) is small enough for a laptop; Cityscapes (19 classes) is one of the paper's benchmarks (its
# main one is PASCAL VOC 2012, 21 classes, which the course does not prepare).

# %%
for name in DATASETS:
    print(f"{name:<11} {prepare_command(name)}")

# %% [markdown]
# ## 2. Class frequency: the data is unbalanced
#
# A few large classes (road, sky, buildings, vegetation) cover much of a driving scene; people and
# poles are small. How unequal is it? Count the labelled pixels of each class over the training split
# (the cell prints the two largest shares and the smallest).

# %%
counts = data.class_frequencies(root, "train")
share = counts / counts.sum()
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(range(info.num_classes), 100 * share, color=np.asarray(info.palette) / 255, edgecolor="black", lw=0.5)
ax.set_xticks(range(info.num_classes), info.classes, rotation=30, ha="right")
ax.set_ylabel("% of labelled pixels")
ax.set_title(f"{info.name} train: class frequency")
fig.tight_layout()
plt.show()
for name, c, p in zip(info.classes, counts, share):
    print(f"{name:<20} {c:>10,d} pixels  {100 * p:5.1f} %")
top2 = np.argsort(share)[::-1][:2]
print(
    f"two largest: {info.classes[top2[0]]} + {info.classes[top2[1]]} = {100 * share[top2].sum():.0f} % of the pixels; "
    f"smallest: {info.classes[int(np.argmin(share))]} {100 * share.min():.2f} %"
)

# %% [markdown]
# The same count on real streets: the validation pixels of CamVid per class, read from the stored
# confusion matrix of the course's CamVid reference run (its row sums are the true pixels of each
# class). Which classes would you call rare there, and how do they compare with MiniDrive's?

# %%
from course_utils import reference_runs

camvid_ref = reference_runs.load_reference_run("camvid-cpu")
camvid_true = camvid_ref.confusion_matrix("val").sum(axis=1)
for name, c in zip(camvid_ref.meta["classes"], camvid_true):
    print(f"CamVid val  {name:<12} {c:>12,d} pixels  {100 * c / camvid_true.sum():5.1f} %")

# %% [markdown]
# Check your answer: the classes under 1 % and under 5 % of the labelled pixels in each dataset (5 %
# is the threshold the "blind" model below uses), and the two largest classes.

# %%
camvid_share = camvid_true / camvid_true.sum()
for name, classes, p in (
    (info.name, info.classes, share),
    ("CamVid val", camvid_ref.meta["classes"], camvid_share),
):
    largest = np.argsort(p)[::-1][:2]
    print(f"{name}: largest {[classes[k] for k in largest]} ({100 * p[largest].sum():.0f} % together)")
    print(f"   under 1 %: {[c for c, q in zip(classes, p) if q < 0.01]}")
    print(f"   under 5 %: {[c for c, q in zip(classes, p) if q < 0.05]}")

# %% [markdown]
# ### Why mean IoU and not pixel accuracy
#
# **Pixel accuracy** counts correct pixels over all labelled pixels. **IoU** of a class is
# `true positives / (true positives + false positives + false negatives)`: the overlap of
# prediction and truth divided by their union. **Mean IoU** averages it over classes, so every
# class counts the same however few pixels it has.
#
# Score two fake "models" on the validation split with the course's metrics: the laziest one
# predicts the most frequent class everywhere; the second is perfect on the frequent classes but
# never predicts the rare ones (each class under 5 % of the pixels is replaced by the majority
# class), as an undertrained network often does.

# %%
majority = int(np.argmax(counts))
rare = np.flatnonzero(share < 0.05)
cm_lazy = np.zeros((info.num_classes, info.num_classes), np.int64)
cm_blind = np.zeros_like(cm_lazy)
for _, lbl_path in data.list_pairs(root, "val"):
    truth = data.read_label(lbl_path)
    cm_lazy += metrics.confusion_matrix(truth, np.full_like(truth, majority), info.num_classes)
    blind = np.where(np.isin(truth, rare), majority, truth)  # void stays void: it is not scored
    cm_blind += metrics.confusion_matrix(truth, blind, info.num_classes)
print("rare classes:", [info.classes[c] for c in rare])
for name, cm in (("always the majority class", cm_lazy), ("blind to the rare classes", cm_blind)):
    print(f"{name:<26} pixel accuracy {metrics.pixel_accuracy(cm):.3f}   mean IoU {metrics.mean_iou(cm):.3f}")
perfect_miou = 1.0  # the blind model is perfect on every other class
print(
    f"blind model: mIoU drop {perfect_miou - metrics.mean_iou(cm_blind):.3f} against "
    f"the share of never-predicted classes {len(rare)}/{info.num_classes} = {len(rare) / info.num_classes:.3f}"
)
print(
    f"for comparison, the CamVid reference run (a real, imperfect model): pixel accuracy "
    f"{camvid_ref.splits['val']['pixel_accuracy']:.3f}, mean IoU {camvid_ref.miou('val'):.3f}"
)

# %% [markdown]
# Read the two lines above before the prose. The **blind** model is the lesson: it loses only the
# pixels of the rare classes, so its pixel accuracy stays high, while its mean IoU drops by *at
# least* the share of classes it never predicts (each of those scores IoU 0, and the majority class,
# which receives their pixels as false positives, loses some IoU too: compare the two printed
# numbers). The majority-class model is poor on both scores here, because
# no class of a street scene holds most of the pixels (compare its accuracy with the largest share
# in the table above): "always road" is not a decent model of a street. A gap between the two
# scores alone proves no blindness: any imperfect model has one (the CamVid run printed above), and
# the seed notebook, whose IDD model reached 88 % test accuracy and 0.575 test mIoU, reported no
# per-class IoU, so we cannot tell which classes it missed. The per-class IoU (notebook 07) is what
# shows a blind class. We report both numbers, but we train and choose models by mIoU.
#
# Unbalanced classes also motivate **class weights** in the loss. The inverse log frequency
# `w = 1 / ln(1.02 + p)` (ENet, Paszke et al. 2016; also the reference code of the PyTorch talk the
# seed notebook followed, introduced in notebook 02), with `p` a class's share of the
# pixels, is bounded: the rarest class gets at most `1 / ln(1.02)`, and even a class holding half
# of all pixels keeps a weight above 1, so frequent classes are not switched off.
# Median-frequency balancing (Eigen & Fergus, 2015) is the other classic choice and is not bounded:
# `median(f) / f_c`, where they compute the frequency `f_c` over the images that *contain* class `c`
# only. `data.class_weights(counts, "median")` simplifies it to the share over all pixels,
# `median(p) / p`, which gives a class seen in few images a larger weight than the original would. The cell prints the inverse-log weight on a range of shares, the median-frequency
# weights of this dataset, and which runs of the course use weights at all.

# %%
from course_utils.training.config import TrainConfig

for p in (0.5, 0.3, 0.1, 0.03, 0.01, 0.001, 0.0):
    print(f"share {p:5.3f}: inverse-log weight {float(data.class_weights([p, 1 - p])[0]):6.2f}")
for name, w_med in zip(info.classes, data.class_weights(counts, "median")):
    print(f"{name:<20} median-frequency weight {w_med:6.2f}")
camvid_recipe = get_profile("cpu").dataset_recipes.get("camvid", {})
print("class weights by default (TrainConfig):", TrainConfig().class_weighting)
print(
    "class weights in the cpu profile's CamVid recipe (the run 06 and 07 show):", camvid_recipe.get("class_weighting")
)

# %% [markdown]
# ## 3. The `tf.data` input pipeline
#
# `data.make_dataset(root, split, batch_size, training=True, image_size=...)` chains these stages
# (read its source with `data.make_dataset??`):
#
# 1. `from_tensor_slices` over the (image, label) file paths;
# 2. `map(decode)` in parallel: PNG bytes to tensors (`num_parallel_calls=AUTOTUNE`);
# 3. `cache()` for training when the decoded split fits in `pipeline.CACHE_BUDGET_BYTES` (printed below):
#    each PNG is decoded once and kept in memory, the main speed-up of section 4;
# 4. `shuffle`, then `repeat` for training;
# 5. `map(augment)`: a **random scale** (0.5-2.0 in the paper recipe) and a **random crop**.
#    Zooming in, a window of the image is resized to the crop; zooming out, the scaled image is
#    smaller than the crop and the rest is padding (image grey, label **void**). Then a
#    **horizontal flip**;
# 6. `batch`, then light brightness, contrast and saturation jitter on the images only (one
#    XLA-compiled function per batch), then `prefetch`, so that the next batch is prepared while
#    the model trains.
#
# Step 5 resizes with TensorFlow's fast `ResizeBilinear` kernel and cuts with slices and pads. The
# same crops are written out in NumPy in `course_utils/data/augment.py`, pixel by pixel, as the
# specification; a test checks that both give the same crops.
#
# The augmentations are drawn from stateless seeds: the same `seed` gives the same crops.

# %%
train_ds = data.make_dataset(
    root,
    "train",
    profile.batch_size,
    training=True,
    image_size=profile.image_size,
    seed=profile.seed,
    scale_range=(0.5, 2.0),
)
print(train_ds.element_spec)
print(f"cache budget for decoded training images: {pipeline.CACHE_BUDGET_BYTES / 2**30:.0f} GiB")

# %% [markdown]
# Here is one training image augmented six times (scale 0.5-2.0, crop, flip, jitter); black in the
# labels is void padding, where the scaled image was smaller than the crop (zoom out).

# %%
one = data.make_dataset(
    root,
    "train",
    1,
    training=True,
    image_size=profile.image_size,
    shuffle=False,
    max_images=1,
    repeat=True,
    seed=profile.seed,
    scale_range=(0.5, 2.0),
)
views = [(x[0].numpy(), y[0].numpy()) for x, y in one.take(6)]
fig, axes = plt.subplots(2, 6, figsize=(12, 2.8))
for k, (x, y) in enumerate(views):
    axes[0, k].imshow(plotting.to_uint8_image(x))
    axes[1, k].imshow(plotting.colorize(y, info.palette), interpolation="nearest")
    axes[0, k].set_title(f"view {k + 1}", fontsize=9)
for ax in axes.ravel():
    ax.set_axis_off()
fig.legend(
    handles=plotting.legend_handles(info.classes, info.palette), loc="lower center", ncol=8, fontsize=8, frameon=False
)
fig.tight_layout(rect=(0, 0.1, 1, 1))
plt.show()

# %% [markdown]
# ### Labels are never blurred
#
# A label is a class id. Averaging ids, as a bilinear resize does at every border, gives a number
# between them: before rounding it is no id at all (2.5); after rounding to `uint8` it is usually a
# *valid* id of the wrong class (between road 0 and vehicle 3 lie 1 and 2), and between a class and
# void (255) it is garbage, a number between the two (the last line of the cell prints some). Images may be resized bilinearly; labels must be resized with
# **nearest neighbour**, padded with void and flipped, nothing else. Check it on every augmented view
# above, and see what a bilinear resize would have made of the same label, before and after rounding.

# %%
allowed = set(range(info.num_classes)) | {info.ignore_index}
raw = data.read_label(data.list_pairs(root, "train")[0][1])
augmented = set(np.unique(np.concatenate([y.ravel() for _, y in views])).tolist())
print("label values before augmentation:", sorted(np.unique(raw).tolist()))
print("augmented labels only hold class ids or void:", augmented <= allowed)

# the same label with a void band on its right, as zoom-out padding leaves it
demo = np.pad(raw, ((0, 0), (0, raw.shape[1] // 4)), constant_values=info.ignore_index)
blurred = tf.image.resize(
    demo[None, ..., None].astype("float32"), (int(0.7 * demo.shape[0]), int(0.7 * demo.shape[1])), method="bilinear"
)[0, ..., 0].numpy()
invalid = ~np.isin(blurred, list(allowed))
invented = sorted({round(float(v), 1) for v in blurred[invalid]} - allowed)
examples = [invented[i] for i in np.linspace(0, len(invented) - 1, min(4, len(invented))).astype(int)]
print(
    f"a bilinear resize of the same label invents values such as {examples} "
    f"on {100 * invalid.mean():.1f} % of the pixels"
)
nearest = tf.image.resize(demo[None, ..., None], blurred.shape, method="nearest")[0, ..., 0].numpy()
rounded = np.round(blurred).astype(np.uint8)
valid_but_wrong = np.isin(rounded, list(allowed)) & (rounded != nearest)
print(
    f"rounded to uint8: {100 * (~np.isin(rounded, list(allowed))).mean():.1f} % invalid values left, and "
    f"{100 * valid_but_wrong.mean():.1f} % of the pixels hold a valid id that differs from nearest neighbour"
)
garbage = np.unique(rounded[(rounded >= info.num_classes) & (rounded != info.ignore_index)])
print(f"between a class and void, rounding leaves values such as {garbage[:: max(1, len(garbage) // 4)][:4].tolist()}")

# %% [markdown]
# ### Write it yourself: a label-safe augmentation
#
# Write `augment_pair(image, label, crop, rng)` in NumPy (OpenCV's `cv2.resize` is allowed): draw a
# random scale between 0.5 and 2.0 and resize the image bilinearly and the label with **nearest
# neighbour**; when the scaled image is smaller than `crop`, pad the image with grey and the label
# with **void** (255); cut a random `crop = (H, W)` window, the same for both; mirror both with
# probability 0.5. `rng` is a `numpy.random.Generator`: draw each random number once and use it for
# image and label alike. Return `(image, label)`.
#
# The check runs it on labels of two classes (0 and 3) whose image paints each class in its own
# colour, and tells you if the label gained ids it never had, if image and label drifted apart, or
# if a zoom-out never left void padding. Before you run it: which of those three would a bilinear
# label resize trigger, and which a flip of the image alone?


# %%
def augment_pair(image, label, crop, rng):
    # scale (image bilinear, label nearest), pad (grey / 255), crop, flip: the same draws for both
    raise NotImplementedError


# %%
from course_utils.exercises import updates_b

updates_b.check_label_safe_augment(augment_pair)

# %% [markdown]
# ### Void in the loss: how the seed (most likely) encoded it
#
# The seed's network had exactly `C` outputs (7 on IDD) and a `C x C` confusion matrix: void was
# never a class of its own. The seed document itself contains no label-encoding code (it lived in
# notebooks it imported, which were not shared), so the encoding below is **inferred**: the only
# one consistent with `C` outputs and labels that still held 255 is a one-hot with an identity
# matrix of `C + 1` rows cut to `C` columns, where a void pixel indexes the extra row, whose entries
# are all 0. `data.throughput.seed_one_hot` is that reconstruction, and
# `data.throughput.naive_batches` (section 4) uses it. The seed then averaged Keras'
# `categorical_crossentropy` over **every** pixel. The course's `losses.masked_sparse_ce` averages
# over the **labelled** pixels only.
#
# **Predict before you run.** Take a real training batch with void in it (zoom-out padding) and a
# "model" that is right on every labelled pixel (logit 4 for the true class) and says road on void.
# A void pixel's target row is all zero, so its loss term is `-sum(0 * log p) = 0`. Will the seed's
# loss be larger or smaller than the masked one, and by what factor? Write your guess down, then
# run the cell. Then a second question: what *gradient* does a void pixel send to its logits under
# each loss?

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.data.throughput import seed_one_hot

C = info.num_classes
for _, yb in train_ds.take(8):
    if np.any(yb.numpy() == info.ignore_index):
        break
y = yb.numpy().astype(np.int64)
void = y == info.ignore_index
logits = 4.0 * tf.one_hot(np.where(void, 0, y), C)  # C outputs, as the seed had; road on void pixels
targets = seed_one_hot(y, C)
print(f"batch {tuple(y.shape)}: {100 * void.mean():.1f} % void pixels")
print(
    "target row sums on void pixels:",
    np.unique(targets[void].sum(-1)).tolist(),
    "| elsewhere:",
    np.unique(targets[~void].sum(-1)).tolist(),
)
masked = float(masked_sparse_ce()(y, logits))
seed_loss = float(keras.ops.mean(keras.losses.categorical_crossentropy(targets, logits, from_logits=True)))
print(f"masked_sparse_ce (mean over labelled pixels): {masked:.4f}")
print(f"seed's loss (mean over all pixels):           {seed_loss:.4f}")
print(f"ratio {seed_loss / masked:.3f} against the labelled share {1 - void.mean():.3f}")

# %% [markdown]
# The seed's loss is the masked loss times the share of labelled pixels: void adds 0 to the sum and 1
# to the count. That scaling is the harmless part: with Adam (the seed's optimizer, and the course's
# default) each step is divided by a running size of the gradient, so a constant factor on the loss
# nearly cancels. The gradient is what matters. Keras computes `categorical_crossentropy` from logits
# with TensorFlow's fused softmax cross-entropy, whose gradient for a pixel is `softmax(z) - y`
# (divided by the pixel count of the mean). It assumes `y` sums to 1; for a void pixel's all-zero row
# it returns `softmax(z)`, not 0. The same batch, both gradients:

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.losses import void_gradients

grads = void_gradients(y, logits, C)
n_pixels = y.size
k = tuple(np.argwhere(void)[0])  # one void pixel
j = tuple(np.argwhere(~void)[0])  # one labelled pixel
with np.printoptions(precision=3, suppress=True):
    print(f"softmax(z) at a void pixel:               {tf.nn.softmax(logits[k]).numpy()}")
    for name in ("masked", "seed"):
        loss_value, g = grads[name]
        print(f"{name:>6} loss {loss_value:.4f}; gradient x N at the void pixel {g[k] * n_pixels + 0.0}")
scale = np.abs(grads["seed"][1][j]).sum() / np.abs(grads["masked"][1][j]).sum()
print(f"on a labelled pixel the seed's gradient is {scale:.3f} x the masked one (labelled share {1 - void.mean():.3f})")
from_void = np.abs(grads["seed"][1][void]).sum() / np.abs(grads["seed"][1]).sum()
print(f"share of the seed's total gradient (sum of |g|) that comes from void pixels: {100 * from_void:.0f} %")

# %% [markdown]
# The masked loss sends exactly nothing from void. The seed's loss is 0 on a void pixel, yet its
# gradient there is `softmax(z)`: gradient descent lowers every logit of that pixel in proportion to
# its probability, most of all the class the model predicts, so the model is pushed to be *unsure*
# wherever the labels are void, on whatever lies there (here zoom-out padding; in the seed, which
# did no scale augmentation, the unlabelled regions of IDD). Notebook 06 shows the same on one pixel
# (its section "The seed's loss counted void pixels"). The course ignores void in the loss
# (`ignore_index=255`) and in the metrics; exercise 4 has you write that loss yourself.
#
# ## 4. Throughput: `tf.data` against a plain Python generator
#
# The seed notebook fed Keras from a Python generator: read one file after another with OpenCV,
# resize, one-hot encode the labels, stack. `data.throughput.naive_batches` does exactly that (without
# any augmentation). `tf.data` decodes and augments several images in parallel in C++ and
# prepares the next batch while the model trains. Time both on the same files, **epoch by epoch**:
# the pipeline's first epoch decodes every PNG and fills the cache (and pays the start-up); from the
# second epoch on it reads decoded images from memory. The generator decodes every epoch.

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.data.throughput import epoch_rates

n_batches = max(2, len(data.list_pairs(root, "train")) // profile.batch_size)  # one epoch
naive = throughput.naive_batches(root, "train", profile.batch_size, profile.image_size)
rates_naive = epoch_rates(naive, n_batches, epochs=2)
fast = data.make_dataset(
    root, "train", profile.batch_size, training=True, image_size=profile.image_size, seed=profile.seed, repeat=True
)
rates_fast = epoch_rates(fast, n_batches, epochs=2)
rate_naive, rate_fast = rates_naive[1], rates_fast[1]
print(f"one epoch = {n_batches} batches of {profile.batch_size}")
print(f"plain generator (no augmentation), epoch 2: {rate_naive:7.1f} images/s")
print(
    f"tf.data (augmentation), epoch 1 (decode + fill the cache): {rates_fast[0]:7.1f} images/s "
    f"({rates_fast[0] / rate_naive:.1f}x)"
)
print(
    f"tf.data (augmentation), epoch 2 (from the cache):         {rate_fast:7.1f} images/s ({rate_fast / rate_naive:.1f}x)"
)
publish(generator_img_s=rate_naive, tfdata_img_s=rate_fast)

# %% [markdown]
# The ratios printed above come from this machine, at this profile's image size, with whatever else
# runs on it: one measurement, not a constant. In the `smoke` profile an epoch is a handful of small
# batches, too short to time reliably, and epoch 1 is dominated by start-up: there the comparison
# shows the mechanism, not the size of the gain. At 240x480 on an idle 2-core CPU, `benchmarks/input_pipeline.py` measured the pipeline at 5.3x to 8.3x the
# generator (median 7.3x over five runs) with its default in-memory cache of decoded images, and at
# 2.1x to 3.0x when it decodes every PNG in every epoch (then PNG decoding is the limit; see
# `docs/benchmarks.md`). The cache is what keeps a GPU busy on MiniDrive and CamVid. Getting there
# took measuring: the first version sampled every pixel with gathers and ran at only 2.1x; the
# time went into dozens of small operations per image, not into the arithmetic. If the GPU waits
# for data, raise `num_parallel_calls`, cache decoded images (`cache=True`) or store smaller PNGs.
#
# ## 5. The baseline: a per-pixel colour classifier
#
# Could colour alone segment a scene? `baselines.fit_colour_baseline` trains a small random forest
# on the RGB and HSV values of labelled pixels; each pixel is then classified on its own, without
# context. Every *trained* model of the course must beat it clearly; notebook 07 puts the CamVid
# reference run beside it. (A smoke-profile network, trained for seconds, may well lose to it.)

# %%
# NBVAL_IGNORE_OUTPUT
forest = baselines.fit_colour_baseline(root, "train", max_pixels=50_000, seed=profile.seed)
cm_colour = baselines.evaluate_colour_baseline(forest, root, "val", max_images=profile.max_eval_images)
print(
    f"colour baseline on val: pixel accuracy {metrics.pixel_accuracy(cm_colour):.3f}, "
    f"mean IoU {metrics.mean_iou(cm_colour):.3f}"
)
publish(colour_baseline_val_miou=metrics.mean_iou(cm_colour))

# %%
img_path, lbl_path = data.list_pairs(root, "val")[0]
img = data.read_image(img_path)
panels = [
    (img, "image"),
    (plotting.colorize(data.read_label(lbl_path), info.palette), "ground truth"),
    (plotting.colorize(baselines.predict_colour_baseline(forest, img), info.palette), "colour baseline"),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 2.9))
for ax, (panel, title) in zip(axes, panels):
    ax.imshow(panel, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
fig.legend(
    handles=plotting.legend_handles(info.classes, info.palette), loc="lower center", ncol=8, fontsize=8, frameon=False
)
fig.tight_layout(rect=(0, 0.1, 1, 1))
plt.show()

# %% [markdown]
# Compare the prediction with the ground truth before reading on: where is the colour classifier
# right, and where does it speckle? Each pixel is judged alone, so its errors follow colour, not
# objects: the prediction is noisy speckle instead of regions, and wherever a colour is shared by
# two classes in training (a light, bluish patch of road and the sky, for instance) the pixel gets
# whichever class owns that colour most often, even in the middle of the road. Telling them apart needs shape and context, which is what
# the atrous backbone and ASPP provide. Its score above is the bar the network must clear.
#
# ## Summary
#
# * A prepared dataset is `dataset.json` + RGB images + uint8 label maps (class id or 255 = void);
#   the palette is for drawing only.
# * Classes are very unbalanced: a model blind to the rare classes keeps a high pixel accuracy and
#   loses much of its mean IoU; no single class holds most of a street scene, so even the majority
#   class scores poorly. mIoU is the score; class weights (inverse log frequency, bounded, or median
#   frequency) are an option for the loss, off by default and on in the `cpu` profile's CamVid recipe.
# * `data.make_dataset` decodes, caches (when the split fits), shuffles, scales, crops, flips and
#   jitters in parallel; labels are only resized by nearest neighbour, padded with void and flipped.
#   A value check catches a bilinear label before rounding, not after: use nearest neighbour, and
#   draw one scale, one window and one flip for image and label alike (your `augment_pair`).
# * Void is ignored by the loss (`masked_sparse_ce`): zero loss *and* zero gradient. The seed (by
#   inference) encoded void as an all-zero one-hot row over its 7 outputs and averaged over every
#   pixel: its loss is scaled by the labelled share (nearly harmless under Adam), and each void pixel
#   still sends the gradient `softmax(z)`, pushing the model towards uncertainty on void regions.
# * The parallel, cached pipeline outruns a Python generator once its cache is warm (the factor
#   depends on the machine and on the epoch: measure it, epoch by epoch);
#   the colour baseline is the bar to clear.
#
# Next: `06_training.ipynb` trains DeepLabV3 on this data.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: the majority-class model by hand
# From `counts` alone (pixels per class in the training split), compute the pixel accuracy and the
# mean IoU that "always predict the most frequent class" would get on the training split. Store them
# in `accuracy_1` and `miou_1`.

# %%
accuracy_1 = None  # your code
miou_1 = None  # your code

# %%
ex.check_majority_baseline(accuracy_1, miou_1, counts)

# %% [markdown]
# **Diagnose.** A colleague's model reaches a high pixel accuracy but a low mean IoU, and in its
# confusion matrix three columns (predicted classes) are empty: the model never predicts those three
# classes. Which classes are they likely to be, and which setting of section 2 would you try first?
# Decide, then open the answer.
#
# <details><summary>Answer</summary>
#
# The rarest classes (those printed under 5 % in section 2): missing them costs few pixels, hence the
# high accuracy, but each scores IoU 0. Try class weights first (`class_weighting=True`, the bounded
# inverse-log weights), then look at the per-class IoU again; more training or a finer output stride
# may help too, but the weights address the imbalance directly.
# </details>
#
# ### Exercise 2: class weights
# Compute the inverse-log-frequency weights `w_c = 1 / ln(1.02 + p_c)`, with `p_c` the share of
# labelled training pixels of class `c`, into `weights_2` (one per class), without
# `data.class_weights`. Then compare, for the rarest and the most frequent class, the ratio of their
# weights with the ratio of their shares: why is the first so much smaller, and what would
# median-frequency weights (printed in section 2) do to the rarest class's gradient instead?

# %%
weights_2 = None  # your code

# %%
ex.check_class_weights(weights_2, counts)

# %% [markdown]
# ### Exercise 3: a label validator
# Write `is_valid_label(label, num_classes)` that returns `True` when every value of `label` is a
# class id (`0 .. num_classes - 1`) or void (255), and `False` otherwise (for example a value 2.5
# left by a bilinear resize, or an id that is too large). It is a cheap guard for a data loader, but
# section 3 showed its limit: after rounding, a bilinear resize leaves mostly *valid* wrong ids.
# **Explain why** in one sentence, and name the check that does catch it (compare with a
# nearest-neighbour resize of the same label).


# %%
def is_valid_label(label, num_classes):
    # compare the values that occur in label with the allowed ones; return True or False
    raise NotImplementedError


# %%
ex.check_label_validator(is_valid_label)

# %% [markdown]
# ### Exercise 4: the masked cross-entropy
# Write `my_masked_ce(labels, logits, ignore_index=255)` with `keras.ops` (or TensorFlow, not
# NumPy: it must be differentiable): the sparse cross-entropy from logits of each pixel, averaged over
# the pixels whose label is not `ignore_index`, and 0 for a batch with no labelled pixel. `labels` is
# `[B, H, W]`, `logits` `[B, H, W, C]`. The check compares its value with `losses.masked_sparse_ce`
# and differentiates it: the gradient on every void pixel must be exactly zero. Before you write it:
# why is giving void an all-zero target row, as the seed did, *not* enough?


# %%
def my_masked_ce(labels, logits, ignore_index=255):
    # mask = labels != ignore_index; safe labels for void; per-pixel CE; masked mean (divide_no_nan)
    raise NotImplementedError


# %%
updates_b.check_masked_ce(my_masked_ce)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# `augment_pair`'s is `updates_b.solution_label_safe_augment`, `my_masked_ce`'s
# `updates_b.solution_masked_ce`; the others are in
# `course_utils/exercises/solutions/nb05.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("05")  # all of this notebook's solutions; show("05", "is_valid_label") for one
# ```
