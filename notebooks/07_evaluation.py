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
# # 07 · Evaluation: how good is the model, and where does it fail?
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/07_evaluation.ipynb)
#
# A single number hides most of what a segmentation model does. This notebook scores the model
# trained in notebook 06 the way the seed notebook did (mIoU and pixel accuracy per split, in a
# table), then opens the number up: per-class IoU, the confusion matrix, pictures of the errors,
# test-time augmentation, and a comparison with the colour baseline of notebook 05.
#
# **Learning objectives.** After this notebook you can
#
# 1. compute the performance table (train / validation / test mIoU and pixel accuracy) and read
#    the gap between the splits;
# 2. read per-class IoU and a row-normalised confusion matrix, and name the classes the model
#    confuses;
# 3. draw predictions with error maps and explain where errors concentrate (boundaries, small and
#    rare objects);
# 4. apply multi-scale and flip test-time augmentation and measure its gain;
# 5. compare the network with a context-free baseline.
#
# **Prerequisites.** `06_training.ipynb` (it leaves a checkpoint that this notebook loads; without
# it, the same training call runs here first).

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
DATASET = "auto"

# %matplotlib inline
# %config InlineBackend.figure_formats = ["jpeg"]  # photos: small stored notebooks
import keras
import matplotlib.pyplot as plt
import numpy as np
from prettytable import PrettyTable

from course_utils import (
    baselines,
    data,
    evaluate,
    experiments,
    metrics,
    plotting,
    reference_runs,
    tables,
)
from course_utils.config import get_profile
from course_utils.datasets import find_dataset
from course_utils.exercises import nb07 as ex
from course_utils.notebook import publish
from course_utils.training.config import TrainConfig

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
root = find_dataset(DATASET)
info = data.load_info(root)
print(f"profile {profile.name}: dataset {info.name}, {info.num_classes} classes, splits {info.counts}")

# %% [markdown]
# ## 1. The model
#
# `experiments.load_or_train` loads `best.keras` from notebook 06's run folder when that run used
# the same configuration and dataset, and otherwise trains it now with the same `train()` call.

# %%
# NBVAL_IGNORE_OUTPUT
config = TrainConfig.from_profile(profile, dataset=info.name, tensorboard=False)
run_dir = experiments.run_dir_for(profile, info.name, "deeplabv3")
model, how = experiments.load_or_train(config, root, run_dir)
print(f"model {how}: {model.name}, {model.count_params():,} parameters")

# %% [markdown]
# ## 2. The performance table
#
# The seed notebook ended with a table of mIoU and accuracy on train, validation and test.
# `evaluate.evaluate_splits` accumulates one confusion matrix per split (void ignored) and
# `tables.performance_table` prints the same table. The model sees the images as it did in
# training (`evaluate.scoring_kwargs`: the run's evaluation size, or its input scale) and the
# scores are taken against the labels at their own resolution, the honest setting.

# %%
score = evaluate.scoring_kwargs(config)
held_out = data.held_out_split(root)  # "test", or "val" for a dataset prepared without a test split
results = evaluate.evaluate_splits(model, root, ("train", "val", "test"), max_images=profile.max_eval_images, **score)
print("images evaluated per split:", {split: r.num_images for split, r in results.items()})

# %%
# NBVAL_IGNORE_OUTPUT
print(f"DeepLabV3-{config.backbone} on {info.name} ({profile.name} profile)")
print(tables.performance_table(results))
publish(test_miou=results[held_out].miou, test_pixel_accuracy=results[held_out].pixel_accuracy, held_out=held_out)

# %% [markdown]
# For context, the seed notebook's own table: DeepLabV3-ResNet-50 trained for 20 epochs (6 hours on
# a 2020 Colab GPU) on IDD level-1 at 240x480. Those numbers are for a different dataset and
# training budget; they are shown to read our table against, not to compare with it.

# %%
seed_table = PrettyTable(["DeepLabV3 (seed, IDD)", "mIoU", "Pixel accuracy"])
seed_table.align["DeepLabV3 (seed, IDD)"] = "l"
for split, miou, acc in (("Train", 0.6598, 0.9279), ("Validation", 0.5655, 0.8725), ("Test", 0.5752, 0.8832)):
    seed_table.add_row([split, f"{miou:.4f}", f"{acc:.4f}"])
print(seed_table)

# %% [markdown]
# How to read it: pixel accuracy is always far above mIoU (notebook 05: the big classes dominate
# the pixel count). Train above validation and test means over-fitting; the seed's gap of 0.09
# mIoU is typical. Validation and test close to each other means the validation split is a fair
# stand-in for unseen data, so choosing the checkpoint by `val_miou` was safe. A smoke-profile
# model has trained for seconds: expect low numbers whose only purpose is to exercise the code.
#
# ### One confusion matrix, not an average over batches
#
# Every score above comes from **one** confusion matrix per split, summed over all its images,
# then turned into IoUs. The seed computed mIoU inside a Keras metric function, batch by batch,
# and Keras reported the **mean of those per-batch values**. The two are different numbers:
#
# * a class absent from a batch (no pixel in the truth, none predicted) drops out of that batch's
#   mean, so each batch averages over a different set of classes; at worst it counts as 0 or 1,
#   depending on how the 0/0 is handled;
# * a rare class that appears in a batch with a handful of pixels gets the same weight as the
#   road: one bad batch of a small object drags the average down, or one lucky one pushes it up;
# * the smaller the batch, the fewer classes per batch and the larger the gap; the value also
#   depends on the batch size and the order of the images, which a metric should not.
#
# Measured on the model's predictions for the validation images, per batch of 1, 2 and 4 images
# against one accumulated matrix:

# %%
# NBVAL_IGNORE_OUTPUT
n_val = min(info.counts["val"], profile.max_eval_images or info.counts["val"])
eval_size = config.eval_size or config.image_size
for batch_size in (1, 2, 4):
    batches = data.make_dataset(root, "val", batch_size, training=False, image_size=eval_size, max_images=n_val)
    batch_cms = ex.batch_cms_of(model, batches, info.num_classes)
    per_batch = [metrics.mean_iou(cm) for cm in batch_cms]
    classes_per_batch = np.mean([np.sum(cm.sum(0) + cm.sum(1) > 0) for cm in batch_cms])
    print(
        f"batches of {batch_size}: mean of per-batch mIoU {np.mean(per_batch):.4f} "
        f"(min {np.min(per_batch):.3f}, max {np.max(per_batch):.3f}, {classes_per_batch:.1f} of "
        f"{info.num_classes} classes per batch) | one accumulated matrix {metrics.mean_iou(sum(batch_cms)):.4f}"
    )

# %% [markdown]
# The accumulated matrix does not depend on the batch size (the last column is the same number in
# every row); the per-batch average does. The course's `metrics.StreamingMeanIoU` (the `val_miou`
# of training) and `evaluate_split` both accumulate.
#
# ## 3. IoU per class

# %%
# NBVAL_IGNORE_OUTPUT
test = results[held_out]
fig = plotting.plot_iou_bars(test.per_class_iou, info.classes, info.palette, title=f"{held_out} IoU per class")
plt.show()

# %% [markdown]
# ## 4. The confusion matrix
#
# Row *i*, column *j*: the share of pixels of true class *i* predicted as class *j*. Rows are
# normalised, so the diagonal is each class's recall; a bright off-diagonal cell is a systematic
# confusion.

# %%
# NBVAL_IGNORE_OUTPUT
fig = plotting.plot_confusion_matrix(test.confusion_matrix, info.classes, normalize="true")
plt.show()

# %% [markdown]
# ## 5. Predictions and their errors
#
# Image, ground truth, prediction, and the error map: red pixels are wrong, grey right, black void
# (not scored).

# %%
# NBVAL_IGNORE_OUTPUT
n_show = min(3, test.num_images)
images, labels, preds = evaluate.sample_predictions(model, root, held_out, n=n_show, **score)
fig = plotting.plot_qualitative(images, labels, preds, info.classes, info.palette)
plt.show()

# %% [markdown]
# ## 6. Test-time augmentation
#
# The DeepLabV3 paper evaluates each image at several scales (0.5 to 1.75) and mirrored, and
# averages the softmax outputs: objects too small at one scale are seen at another, and averaging
# smooths out noise. It costs one forward pass per scale and flip (here 3 x 2 = 6) and typically
# adds 1-2 points of mIoU on a well-trained model (the paper: +1.3 points with multi-scale and
# flip on PASCAL VOC, 78.5 -> 79.8 % at output stride 8). On an untrained smoke model the "gain" can have any sign.

# %%
# NBVAL_IGNORE_OUTPUT
tta = evaluate.evaluate_split(
    model,
    root,
    "val",
    max_images=profile.max_eval_images,
    flip=True,
    **evaluate.scoring_kwargs(config, (0.75, 1.0, 1.25)),
)
plain = results["val"]
print(
    f"val mIoU: single scale {plain.miou:.4f}, scales 0.75/1/1.25 + flip {tta.miou:.4f} "
    f"(gain {tta.miou - plain.miou:+.4f})"
)
publish(tta_gain=tta.miou - plain.miou)

# %% [markdown]
# Large images (Cityscapes is 1024x2048) may not fit in memory at once, let alone at scale 1.75:
# `evaluate_split(..., tile=(H, W))` slides overlapping windows over the image and averages their
# probabilities, so memory depends on the tile, not the image.
#
# ## 7. Where the model fails, and why
#
# Three places, on every dataset:
#
# * **Boundaries.** At output stride 16 the logits are computed on a grid 16 times coarser than the
#   image and upsampled bilinearly: edges come out blurred by a few pixels. Below, the error rate
#   in a 3-pixel band around label boundaries against the rest.
# * **Small and thin objects** (poles, people, far vehicles) cover a few cells of that grid and
#   are often absorbed by their surroundings.
# * **Rare classes** get few gradient updates; their IoU is the lowest and the most variable.

# %%
# NBVAL_IGNORE_OUTPUT
band_error, inner_error, band_share = metrics.boundary_error_rates(labels, preds, width=3)
print(
    f"error rate near boundaries {band_error:.3f}, elsewhere {inner_error:.3f} "
    f"(the band holds {100 * band_share:.0f} % of the scored pixels)"
)
order = np.argsort(np.nan_to_num(test.per_class_iou, nan=2.0))
print("lowest IoU:", ", ".join(f"{info.classes[c]} {test.per_class_iou[c]:.2f}" for c in order[:3]))
shares = test.confusion_matrix / np.maximum(test.confusion_matrix.sum(1, keepdims=True), 1)
np.fill_diagonal(shares, 0)
for flat in np.argsort(shares, axis=None)[::-1][:3]:
    i, j = np.unravel_index(flat, shares.shape)
    print(f"  {100 * shares[i, j]:4.1f} % of '{info.classes[i]}' predicted as '{info.classes[j]}'")

# %% [markdown]
# The remedies follow the causes: output stride 8 or the DeepLabV3+ decoder for boundaries
# (notebooks 08 and 09), larger crops and multi-scale training for small objects, class weights
# or more data for rare classes.
#
# ## 8. The colour baseline against DeepLabV3
#
# Notebook 05's per-pixel colour classifier, scored on the same test images.

# %%
# NBVAL_IGNORE_OUTPUT
forest = baselines.fit_colour_baseline(root, "train", max_pixels=50_000, seed=profile.seed)
cm_colour = baselines.evaluate_colour_baseline(forest, root, held_out, max_images=profile.max_eval_images)
table = PrettyTable([f"{held_out} split", "mIoU", "Pixel accuracy"])
table.add_row(
    ["colour baseline (per pixel)", f"{metrics.mean_iou(cm_colour):.4f}", f"{metrics.pixel_accuracy(cm_colour):.4f}"]
)
table.add_row([f"DeepLabV3-{config.backbone}", f"{test.miou:.4f}", f"{test.pixel_accuracy:.4f}"])
print(table)
publish(colour_baseline_test_miou=metrics.mean_iou(cm_colour))


# %% [markdown]
# After a real training run (the `cpu` profile or more) DeepLabV3 beats the baseline by a wide
# margin, most of all on the classes whose colours overlap (vehicles on the road, poles against
# buildings); in the smoke profile the network has not learned yet and may well lose. The next
# section shows the real numbers.
#
# ## 9. The same evaluation on a model trained on real streets
#
# Everything above ran on the live model of this profile: in the smoke profile a model trained for
# seconds, whose numbers are noise. The course's **CamVid reference run** is DeepLabV3-ResNet-18
# trained from scratch on CamVid's 367 training images with the `cpu` profile's recipe (under an
# hour on a 2-core CPU; the command is printed below). Its scores were computed by the same
# functions, on the 101 validation images at their native 360x480 resolution.

# %%
ref = reference_runs.load_reference_run("camvid-cpu")
print(ref.describe())
print(reference_runs.reference_table([ref]))
print(tables.per_class_table(ref.splits["val"]["per_class_iou"]))

# %%
fig = plotting.plot_iou_bars(
    [np.nan if v is None else v for v in ref.splits["val"]["per_class_iou"].values()],
    ref.meta["classes"],
    ref.meta["palette"],
    title="CamVid val IoU per class (reference run)",
)
plt.show()
fig = plotting.plot_confusion_matrix(ref.confusion_matrix("val"), ref.meta["classes"], normalize="true")
plt.show()

# %% [markdown]
# Its predictions on six validation images (image, ground truth, prediction, errors):

# %%
_ = reference_runs.show_reference_run(ref, parts=("gallery",), width=860)

# %%
tta_ref, colour_ref = ref.meta["tta"], ref.meta["colour_baseline"]
comparison = PrettyTable(["CamVid val", "mIoU", "Pixel accuracy"])
comparison.align["CamVid val"] = "l"
comparison.add_row(["colour baseline (per pixel)", f"{colour_ref['miou']:.4f}", f"{colour_ref['pixel_accuracy']:.4f}"])
comparison.add_row(
    [
        "DeepLabV3-ResNet-18 (reference run)",
        f"{ref.miou('val'):.4f}",
        f"{ref.splits['val']['pixel_accuracy']:.4f}",
    ]
)
comparison.add_row([f"  + TTA: scales {tta_ref['scales']} and flip", f"{tta_ref['miou']:.4f}", "-"])
print(comparison)
print(f"TTA gain on the reference model: {tta_ref['gain']:+.4f} mIoU")

# %% [markdown]
# Published results on CamVid's test split with the same 11 classes, for scale (all use ImageNet
# pre-training and a GPU): SegNet 46.4, FCN-8 57.0, DeepLab-LargeFOV 61.6, Dilation8 65.3. The
# reference run is scored on the validation split (the course's copy has no test split), from
# scratch, on a CPU.
#
# ## Summary
#
# * The performance table gives mIoU and pixel accuracy per split; the train-validation gap
#   measures over-fitting, validation-test agreement the trustworthiness of model selection.
# * Per-class IoU and the row-normalised confusion matrix show which classes fail and what they
#   are mistaken for.
# * Errors concentrate at boundaries, on small objects and on rare classes.
# * Multi-scale + flip TTA averages softmax outputs over 6 passes for a point or two of mIoU;
#   tiles bound the memory of large images.
# * A per-pixel colour classifier is the floor; context is what the network adds.
#
# Next: `08_experiments.ipynb` compares backbones and the paper's design choices.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: mean IoU from a confusion matrix
# Write `my_mean_iou(cm)` with NumPy: IoU per class from the confusion matrix (rows truth, columns
# prediction), averaged over the classes that occur in the truth or the prediction.


# %%
def my_mean_iou(cm):
    # IoU per class, then the mean over the classes with a non-empty union
    raise NotImplementedError


# %%
ex.check_miou_function(my_mean_iou)

# %% [markdown]
# ### Exercise 2: the worst confusion
# From `test.confusion_matrix`, find the pair `(true class name, predicted class name)` with the
# largest off-diagonal share of its row (the most frequent mistake, relative to the class's size).
# `info.classes` holds the names.

# %%
answer_2 = None  # (true class name, predicted class name)

# %%
ex.check_worst_confusion(answer_2, test.confusion_matrix, info.classes)


# %% [markdown]
# ### Exercise 3: flip TTA by hand
# Write `flip_tta(model, images)` for a batch `[B, H, W, 3]`: the average of the softmax of the
# model's logits on the images and on the mirrored images (mirrored back). Use `keras.ops` or
# `tensorflow`; return a NumPy array.


# %%
def flip_tta(model, images):
    # softmax of the logits, and of the mirrored image's logits mirrored back; their mean
    raise NotImplementedError


# %%
batch = next(iter(data.make_dataset(root, "val", 2, training=False, image_size=config.eval_size, max_images=2)))[0]
ex.check_flip_tta(flip_tta, model, batch.numpy())


# %% [markdown]
# ### Exercise 4: the seed's metric
# Write `batch_averaged_miou(batch_cms)`: the seed's number, from a list of per-batch confusion
# matrices (each batch's mIoU over the classes present in that batch, then the mean over batches).
# The check runs it on the model's validation batches of 2 images and puts it next to the
# accumulated mIoU. Which one would you report, and which one changes when you change the batch
# size?


# %%
def batch_averaged_miou(batch_cms):
    # one mIoU per matrix, then their mean
    raise NotImplementedError


# %%
val_pairs = data.make_dataset(root, "val", 2, training=False, image_size=eval_size, max_images=n_val)
ex.check_batch_averaged_miou(batch_averaged_miou, ex.batch_cms_of(model, val_pairs, info.num_classes))

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb07.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("07")  # all of this notebook's solutions; show("07", "flip_tta") for one
# ```
