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
# Before the first convolution, make sure the machine is ready: the right Python, TensorFlow and
# Keras, a GPU if there is one, enough memory, and a dataset to learn from.
#
# **In this notebook** you will
# - install the course library (only needed on Colab),
# - check the versions the course needs,
# - see what hardware TensorFlow found and how much memory is free,
# - learn the three *run profiles* that size every notebook,
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
# sizes. The memory printout follows the seed notebook's status line, which tracked free RAM and
# GPU memory while the data was loaded.

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.devices import gpu_description, system_status

print("GPU:", gpu_description())
print(system_status())
print("Running on Colab" if notebook.in_colab() else "Running locally")

# %% [markdown]
# ## 4. Run profiles
#
# One environment variable, `COURSE_PROFILE`, sizes everything: image size, batch size, epochs,
# dataset sizes and backbone. The code path is the same in all three profiles; only sizes change.
#
# | profile | for | data ("auto") | weights | what to expect |
# |---|---|---|---|---|
# | `smoke` | tests and CI | MiniDrive, tiny | from scratch | each notebook in seconds; numbers mean nothing |
# | `cpu` | a laptop | MiniDrive, or CamVid when prepared | from scratch (ResNet-18) | MiniDrive: minutes; CamVid: the CPU recipe, 46 min on 2 cores for val mIoU 0.546 |
# | `gpu` | Colab or a workstation GPU | CamVid (downloaded once) | ImageNet (ResNet-50) | about 32 min on a free Colab T4 (**estimated**) |
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
print("Active profile:", profile.name)

# %% [markdown]
# ### On Colab with a GPU: what the `gpu` profile does for you
#
# * **Data:** with no real dataset prepared, `DATASET = "auto"` downloads **CamVid** once (701
#   street frames at 360x480, about 200 MB, resumable) into `data/camvid`. Offline it says so in one
#   line and uses the synthetic MiniDrive scenes instead.
# * **Weights:** DeepLabV3-ResNet-50 starts from the **ImageNet** weights of `keras.applications`
#   (95 MB, downloaded once). If they cannot be downloaded, building the model stops with a one-line
#   message instead of quietly training a much worse model from scratch. To train from scratch on
#   purpose set `COURSE_ALLOW_SCRATCH=1` (or `weights=None`); to use your own copy of the file set
#   `COURSE_IMAGENET_WEIGHTS=/path/to/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`.
# * **Time:** 150 epochs on whole 360x480 frames, batch 8, mixed precision and XLA: about 32 minutes
#   on a T4, **estimated** from the model's 31.5 GMACs per frame at 10 % of the T4's 65 TFLOP/s (not
#   measured; the cell below redoes the arithmetic).
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

print(estimate_training_time(TrainConfig.from_profile("gpu"), 11, 367, 101, (360, 480)).describe())

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
# - The versions are right and you know whether a GPU is there.
# - `COURSE_PROFILE` (`smoke`, `cpu`, `gpu`) sizes every notebook; the default follows the GPU.
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
# Which profile is this notebook running in? Read it from the output of section 4 and set
# `active_profile` to its name (a string).

# %%
active_profile = None  # your answer, e.g. "cpu"

# %%
exercises.check_equal(
    active_profile, get_profile().name, hint="The line 'Active profile: ...' in section 4.", what="profile name"
)

# %% [markdown]
# ### Exercise 2: batches per epoch
# One epoch goes once over MiniDrive's training split (`info.counts["train"]` images) in batches of
# `profile.batch_size`. How many batches is that? Compute it into `n_batches`.

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
