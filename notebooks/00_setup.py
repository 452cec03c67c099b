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
# # 00 · Setting up
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/00_setup.ipynb)
#
# **What the course builds.** *Semantic segmentation* gives every pixel of an image a class: road,
# pavement, car, pedestrian, sky... A classifier answers "is there a car?"; a segmentation network
# answers "which pixels are car?", so its output is a label map as large as the image. Pixels whose
# class is unknown are marked *void* and count neither for nor against the model. The score is the
# **mean intersection over union** (mIoU): for each class, the overlap of predicted and true pixels
# divided by their union, averaged over the classes. The classic first answer, FCN (Long et al.,
# 2015), turned an ImageNet classifier into a per-pixel predictor. Its last feature map is 32x
# smaller than the image, so upsampling that map alone (FCN-32s) gives blurred boundaries; FCN-16s
# and FCN-8s add *skip connections* that fuse predictions from earlier, finer feature maps (16x and
# 8x smaller) to sharpen them. DeepLab instead keeps the deep feature map larger with *atrous*
# convolution and looks at several scales at once with *ASPP*. Over notebooks 01-09 you build
# **DeepLabV3** (Chen et al., 2017) from its parts (atrous convolution, a dilated ResNet, ASPP),
# train it on street scenes and evaluate it. The first code cell after the install shows where
# that ends: predictions of a DeepLabV3 the course trained from scratch on two CPU cores.
#
# Before the first convolution, make sure the machine is ready: the right Python, TensorFlow and
# Keras, a GPU if there is one, enough memory, and a dataset to learn from.
#
# **In this notebook** you will
# - see what a trained DeepLabV3 of this course predicts,
# - install the course library (only needed on Colab),
# - check the versions the course needs,
# - see what hardware TensorFlow found and how much memory is free,
# - learn the three *run profiles* and what each one really trains on each dataset,
# - find out which datasets are prepared on this machine.
#
# **Prerequisites:** none. Run the cells from top to bottom (Shift+Enter).

# %% [markdown]
# ## 1. Install (Colab only)
#
# On your own machine `make course` (or `pip install -e ".[dev]"`) already installed the course
# library `course_utils`. On Colab the next cell installs it; elsewhere it does nothing.
# Every notebook starts with the same cell, so each one can be opened on its own.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %% [markdown]
# ## Where the course ends: a trained model's predictions
#
# A *reference run* is a complete training stored inside the package with its command, hardware
# and scores. Each row below is one CamVid validation frame: the image, the ground-truth label
# (black = void), the prediction of the trained model, and its errors in red.

# %%
from course_utils.reference_runs import load_reference_run, show_reference_run

reference = load_reference_run("camvid-cpu")
print(reference.meta["description"])
print(f"validation mIoU {reference.miou('val'):.3f}, pixel accuracy {reference.splits['val']['pixel_accuracy']:.3f}")
_ = show_reference_run(reference, parts=("gallery",), width=640)  # displays the figure

# %% [markdown]
# Large, frequent classes (road, sky, building) come out well; thin and rare ones (poles, signs,
# pedestrians) are where the errors sit. How badly, the stored per-class scores say (the cell prints
# the four worst classes, the training's hardware and time, and which checkpoint was scored):

# %%
val = reference.splits["val"]
worst = sorted(val["per_class_iou"].items(), key=lambda item: item[1])[:4]
print("worst classes (validation IoU):", ", ".join(f"{name} {iou:.2f}" for name, iou in worst))
print(f"trained on: {reference.meta['hardware']}, {reference.meta['wall_seconds'] / 60:.0f} min")
print(f"precision: {reference.meta['precision_policy']}")
print(
    f"scored checkpoint: {reference.meta['checkpoint']}, epoch {reference.meta['best_epoch']} of "
    f"{reference.meta['epochs']}, chosen by its mIoU on the same validation split"
)

# %% [markdown]
# Read the printout plainly. The worst class has an IoU of about zero: the model almost never labels
# one of its pixels correctly, however good the gallery looks. Others are far below the headline mean. Notebook 07 reads
# this run's per-class scores and its confusion matrix.
#
# *Footnote on the headline number.* The checkpoint was picked as the best of all epochs **by its
# score on the validation split**, and then scored on that same split. Choosing on the data you
# report makes the number slightly optimistic; an honest estimate scores the chosen checkpoint on
# data used for nothing else (CamVid's test split).
#
# **Think about it (answer, then open).** The mIoU printed above is far below the pixel accuracy.
# Why is mean IoU lower than pixel accuracy on street scenes, and what happens to void pixels in
# both?
#
# <details><summary>Answer</summary>
#
# Pixel accuracy counts pixels, so it is dominated by the large classes (road, sky, building),
# which the model gets mostly right. mIoU averages over **classes**: a thin class like pole, a tiny
# share of the pixels, weighs as much as road, so its near-zero IoU pulls the mean down. IoU is also
# stricter per class: it divides by the union, so both missed pixels and false alarms cost.
# Void pixels (unknown class, black in the gallery) are left out of both scores: a prediction
# there is neither right nor wrong, and it is not counted in any class's intersection or union.
# </details>
#
# ## 2. Versions
#
# The course needs Python 3.10 to 3.12 and TensorFlow 2.16 or newer, which brings **Keras 3**
# (`import keras`). A line marked `FIX` says what to change.

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils import exercises, notebook
from course_utils.exercises import nb00 as ex

version_checks = notebook.check_versions()
for check in version_checks:
    print(check)

# %%
assert all(check.ok for check in version_checks), "fix the lines marked FIX above, then restart the kernel"
print("Versions: all good")

# %% [markdown]
# ## 3. Hardware and memory
#
# Training DeepLabV3 at full size wants a GPU; every notebook also runs on a CPU, with smaller
# sizes. The status line gives free RAM and, when there is one, the GPU and its free memory.

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.devices import system_status

print(system_status())
print("Running on Colab" if notebook.in_colab() else "Running locally")

# %% [markdown]
# ## 4. Run profiles
#
# One environment variable, `COURSE_PROFILE`, chooses a *run profile*. The code path is the same
# in all three, but a profile is more than a size: it chooses the backbone and its weights, the
# crop and batch sizes, the epochs, the numeric precision and whether the training step is compiled
# with XLA; and for some datasets it carries a **dataset recipe** that replaces those generic
# settings (CamVid in the `cpu` profile trains on other crops, at half scale, with another
# optimizer schedule and class weights).
#
# <details><summary>Words used in this section</summary>
#
# * **XLA**: TensorFlow's compiler; with `jit_compile` the whole training step is compiled into
#   fused kernels, which is faster on a GPU after a slow first step.
# * **Recipe**: a named set of training choices (optimizer, learning-rate schedule, augmentation,
#   stopping rule); `course_utils/train.py` describes `seed`, `paper` and `fast`.
# * **Poly schedule**: the learning rate decays as `base * (1 - step / total) ** power` and
#   reaches zero at the last step (the DeepLab papers' schedule).
# * **Class weighting**: rare classes get a larger weight in the loss, so that a model cannot
#   score well by ignoring them.
# * **bf16 / float16 (mixed precision)**: 16-bit number formats used for most of the arithmetic,
#   with the weights kept in float32. bf16 keeps float32's range; float16 does not, so small
#   gradients would round to zero: **loss scaling** multiplies the loss by a large factor before
#   back-propagation and divides the gradients by it afterwards.
# * **AMX, AVX512-BF16**: instruction-set extensions of recent Intel (and, for AVX512-BF16, AMD)
#   CPUs that do bf16 matrix arithmetic fast; without them bf16 is emulated and slower than float32.
# * **Compute capability**: NVIDIA's version number for a GPU generation: 7.x (V100, T4) has
#   float16 *tensor cores* (matrix units), 8.0 and later (A100, L4, H100) also bf16 ones.
# </details>
#
# | profile | for | what to expect |
# |---|---|---|
# | `smoke` | tests and CI | each notebook in seconds; its numbers mean nothing |
# | `cpu` | a laptop | results that mean something in minutes (MiniDrive) or about the time printed for the reference run above (CamVid); that time was measured on a CPU with bf16 hardware (printed), expect about twice as long on a CPU that trains in float32 (`docs/results.md`) |
# | `gpu` | Colab or a workstation GPU | a larger, pretrained backbone in about half an hour (**estimated**) |
#
# Which dataset: `DATASET = "auto"` at the top of each practice notebook (or `COURSE_DATASET`)
# takes the first prepared real dataset (Cityscapes, IDD, CamVid), else what the profile says
# (CamVid in `gpu`), else MiniDrive. Set it to `"camvid"`, `"minidrive"`, `"idd"`, `"cityscapes"`
# or a prepared folder to choose. The profile, not each notebook, makes the choice.
#
# Without the variable the course picks `gpu` when TensorFlow sees a GPU, else `cpu`. Set it before
# starting Jupyter (`COURSE_PROFILE=cpu jupyter lab`), or at the top of a notebook with
# `os.environ["COURSE_PROFILE"] = "cpu"` before anything calls `get_profile()`.

# %%
from prettytable import PrettyTable

from course_utils.config import PROFILES, get_profile

fields = ["backbone", "output_stride", "image_size", "batch_size", "epochs", "minidrive_counts", "mixed_precision"]
table = PrettyTable(["profile"] + fields)
for p in PROFILES.values():
    table.add_row([p.name] + [getattr(p, f) for f in fields])
print(table)

profile = get_profile()

# %% [markdown]
# That table is the profile alone. What a training run actually uses is the profile **plus the
# dataset's recipe**: `TrainConfig.from_profile(profile, dataset=...)` merges the two (the
# library's `train` command does exactly this). The *effective* settings, per profile and dataset:

# %%
from course_utils.training.config import TrainConfig

settings = ["recipe", "backbone", "weights", "image_size", "input_scale", "scale_range", "batch_size", "epochs"]
settings += ["class_weighting", "mixed_precision", "jit_compile"]
effective = PrettyTable(["profile", "dataset"] + settings)
for p in PROFILES.values():
    for dataset in ("minidrive", "camvid"):
        config = TrainConfig.from_profile(p, dataset=dataset)
        effective.add_row([p.name, dataset] + [getattr(config, f) for f in settings])
print(effective)

# %% [markdown]
# Read two rows against the first table. In `cpu`, CamVid does not train on the profile's generic
# crops for its epochs: its recipe replaces them (and halves the frames first, `input_scale`). In
# `gpu`, `weights` is `imagenet` because ResNet-50 has ImageNet weights in `keras.applications`;
# ResNet-18 has none there, which is why the `cpu` rows train from scratch whatever the profile
# asks. `mixed_precision="auto"` means "decide on the machine": `course_utils.devices` picks bf16
# on CPUs with AMX or AVX512-BF16 and on GPUs of compute capability 8.0 or more, and float32 on other
# CPUs. On older GPUs it picks float16 with loss scaling: a real speed-up on compute capability 7.x
# (float16 tensor cores), while below 7.0 there are no tensor cores and float16 mainly halves the
# activation memory. What it picks here:

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.devices import choose_precision

policy, reason = choose_precision()
print(f"mixed_precision='auto' on this machine -> {policy} ({reason})")

# %% [markdown]
# **Explain why (answer in a sentence, then open the answer).** In the `cpu` rows, CamVid's recipe
# first shrinks every frame (`input_scale`) and then takes crops as large as the shrunken frame
# (`image_size`). Why might a recipe shrink the frames rather than cut crops of the same pixel size
# out of the full-size frames, at the same cost per step? The cell prints what the two choices share
# and where they differ.

# %%
from math import ceil

cpu_camvid = TrainConfig.from_profile("cpu", dataset="camvid")
crop_h, crop_w = cpu_camvid.image_size
stride = cpu_camvid.output_stride
print(
    f"crop {crop_h}x{crop_w} -> feature map {ceil(crop_h / stride)}x{ceil(crop_w / stride)} at output stride {stride}"
)
print(f"one feature cell covers {stride / cpu_camvid.input_scale:.0f} pixels of the full-size frame per side when")
print(f"the frame is shrunk by input_scale={cpu_camvid.input_scale}, {stride} when the crop is cut from the full frame")
print(f"random zoom of each crop: scale_range={cpu_camvid.scale_range}")

# %% [markdown]
# <details><summary>Answer</summary>
#
# At equal cost the feature map is the same size either way (printed): shrinking does not give
# ASPP a larger map, and on a map this small its large rates degenerate anyway (notebook 03). What
# shrinking changes is how much of the street each pixel, and so each feature cell and each
# filter tap, covers: more per side (printed), so the same crop holds several times the scene area
# and every filter sees more context (road below, sky above, cars next to the road) for the same
# compute. The cost is that thin objects lose pixels: a pole a few pixels wide becomes one or two,
# one reason the reference run's thin classes score so low. The crops are not whole scenes: with the
# random zoom of `scale_range` a zoomed-in crop shows only part of the shrunken frame. The recipe's
# comment in `course_utils/profiles.py` points to `docs/results.md` for the experiments behind the
# choice.
# </details>

# %% [markdown]
# ### On Colab with a GPU: what the `gpu` profile does for you
#
# * **Data:** with no real dataset prepared, `DATASET = "auto"` downloads **CamVid** once (street
#   frames from Cambridge, the SegNet split; resumable) into `data/camvid`. Offline it says so in one
#   line and uses the synthetic MiniDrive scenes instead.
# * **Weights:** DeepLabV3-ResNet-50 starts from the **ImageNet** weights of `keras.applications`
#   (95 MB, downloaded once). If they cannot be downloaded, building the model stops with a one-line
#   message instead of quietly training a much worse model from scratch. To train from scratch on
#   purpose set `COURSE_ALLOW_SCRATCH=1` (or `weights=None`); to use your own copy of the file set
#   `COURSE_IMAGENET_WEIGHTS=/path/to/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`.
# * **Time:** the epochs, frames and batch of the `gpu` rows above, with mixed precision and XLA,
#   **estimated** (not measured) from the model's multiply-accumulates per frame and an assumed
#   share of a T4's peak; the cell below prints the estimate and its arithmetic.
# * **Disconnects:** training saves a backup at the end of every epoch and keeps the best model
#   (`best.keras`); running the training cell again resumes, so a disconnect costs at most one
#   epoch. Colab wipes its disk when it disconnects, so keep the runs on Google Drive:
#
# ```python
# from google.colab import drive
# drive.mount("/content/drive")
# import os
# os.environ["COURSE_RUNS_DIR"] = "/content/drive/MyDrive/deeplabv3-runs"
# ```

# %%
from course_utils.model.estimate import estimate_training_time
from course_utils.training.config import TrainConfig

gpu_train = TrainConfig.from_profile("gpu")  # the gpu profile's generic settings

# %%
from course_utils.datasets.camvid import CAMVID_CLASSES, CAMVID_EXPECTED

camvid_frame = (360, 480)  # CamVid's frames, height x width (the gpu profile trains on whole frames)
gpu_estimate = estimate_training_time(
    gpu_train,
    len(CAMVID_CLASSES),
    CAMVID_EXPECTED["train"],
    CAMVID_EXPECTED["val"],
    camvid_frame,
)
print(gpu_estimate.describe())

# %% [markdown]
# Look closely: the estimate counts *more* training images per epoch than the CamVid training split
# passed to it holds. An epoch is a whole number of batches, `ceil(images / batch)`, and the
# training stream repeats the shuffled set, so the last batch is topped up with images of the next
# pass instead of being a smaller batch. The cell recomputes it from the library's numbers:

# %%
from course_utils.datasets.camvid import CAMVID_EXPECTED

gpu_config = TrainConfig.from_profile("gpu", dataset="camvid")
steps = -(-CAMVID_EXPECTED["train"] // gpu_config.batch_size)
print(
    f"{CAMVID_EXPECTED['train']} images, batch {gpu_config.batch_size}: {steps} steps x {gpu_config.batch_size} = {steps * gpu_config.batch_size} images per epoch"
)

# %% [markdown]
# ### Exercise (in place): optimizer steps of a whole run
# How many optimizer steps (one per batch) does a complete training run of the **`cpu` profile on
# CamVid** take? Use the *effective* settings of the table above, not the profile's generic ones,
# and CamVid's training split, `CAMVID_EXPECTED["train"]` images. Compute it into `cpu_camvid_steps`.

# %%
cpu_camvid_steps = None  # your code

# %%
from course_utils.exercises import updates_a

updates_a.check_optimizer_steps(
    cpu_camvid_steps, TrainConfig.from_profile("cpu", dataset="camvid"), CAMVID_EXPECTED["train"]
)

# %% [markdown]
# ## 5. Datasets on this machine
#
# Every dataset is prepared once into the same format under the data folder. MiniDrive, the
# offline procedural road scenes, is built automatically when a notebook needs it; the real
# datasets (CamVid, IDD, Cityscapes) have a script each.

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.config import DATASETS, prepare_command

found = notebook.available_datasets()
for name in DATASETS:
    state = "prepared" if found[name] else "not prepared: " + prepare_command(name)
    print(f"{name:<11} {state}")

# %%
from course_utils.data import load_info
from course_utils.datasets import ensure_minidrive
from course_utils.notebook import publish

info = load_info(ensure_minidrive(profile))
print(f"{info.name}: {info.num_classes} classes, images {info.image_size[0]}x{info.image_size[1]}")
print("classes:", ", ".join(info.classes))
print("images per split:", info.counts)
publish(profile=profile.name, dataset=info.name)

# %% [markdown]
# ## Summary
#
# - The course builds a network that labels every pixel; a trained one (the stored CamVid run)
#   gets large classes right and struggles with thin, rare ones.
# - The versions are right and you know whether a GPU is there.
# - `COURSE_PROFILE` (`smoke`, `cpu`, `gpu`) chooses backbone, weights, sizes, precision and XLA;
#   the default follows the GPU. A dataset recipe can replace the generic settings: what a run
#   trains with is `TrainConfig.from_profile(profile, dataset=...)`, as printed in section 4.
# - `mixed_precision="auto"` lets the hardware decide (bf16, float16 or float32).
# - MiniDrive is ready; CamVid, IDD and Cityscapes can be added with the scripts in `data_scripts/`.
#
# **Next:** `01_atrous_convolution.ipynb`, what a dilated kernel sees.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: which profile?
# No cell prints the active profile: work it out from the rule in section 4 (the `COURSE_PROFILE`
# variable if it is set, else `gpu` when TensorFlow sees a GPU, else `cpu`). Look at
# `os.environ.get("COURSE_PROFILE")` and at what section 3 found, apply the rule, and set
# `active_profile` to the name (a string). If the check disagrees, which part of the rule did you
# misread?

# %%
active_profile = None  # your answer, e.g. "cpu"

# %%
exercises.check_equal(
    active_profile,
    get_profile().name,
    hint="Section 4's rule: COURSE_PROFILE if set, else 'gpu' if section 3 found a GPU, else 'cpu'.",
    what="profile name",
)

# %% [markdown]
# ### Exercise 2: batches per epoch
# One pass over MiniDrive's training split (`info.counts["train"]` images) in batches of
# `profile.batch_size`: how many batches is that? Compute it into `n_batches`. As section 4
# showed, the stream repeats, so the last batch is topped up with images of the next pass rather
# than being smaller; either way it is one more batch. (If the check's hint speaks of "a last,
# smaller batch", read it as that topped-up batch.) A profile may also cap an epoch with
# `steps_per_epoch`, printed below: a training run then stops each epoch early, but the question
# is about one whole pass.

# %%
print(f"profile {profile.name}: steps_per_epoch = {profile.steps_per_epoch} (None: one whole pass)")

# %%
n_batches = None  # your code

# %%
ex.check_batches_per_epoch(n_batches, info.counts["train"], profile.batch_size)

# %% [markdown]
# ### Exercise 3: memory of one batch
# A training batch holds `profile.batch_size` RGB images of `profile.image_size` (height, width) as
# float32 numbers. How many MiB (2**20 bytes) is that? Compute it into `batch_mib`. (The network's
# activations take far more: notebook 02 measures them.)

# %%
batch_mib = None  # your code

# %%
ex.check_batch_megabytes(batch_mib, profile.batch_size, profile.image_size)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb00.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("00")  # all of this notebook's solutions; show("00", "batch_megabytes") for one
# ```
#
# The in-place exercise of section 4 (optimizer steps) is solved by
# `course_utils.exercises.updates_a.optimizer_steps`.
