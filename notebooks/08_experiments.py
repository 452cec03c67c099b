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
# # 08 · Experiments: backbones and the paper's ablations
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/08_experiments.ipynb)
#
# Which design choices of DeepLabV3 matter, and what do they cost? We repeat two studies: the
# course talk's comparison of ResNet-18, -50 and -101 backbones (parameters, time per epoch, mIoU),
# and the DeepLabV3 paper's ablations: output stride 8 against 16, multi-grid on or off, the
# image-pooling branch of ASPP on or off, ImageNet pre-training against training from scratch.
#
# **Learning objectives.** After this notebook you can
#
# 1. run a controlled comparison: one change per variant, everything else (data, recipe, sizes)
#    fixed, and report parameters, time and mIoU side by side;
# 2. predict the cost of a change before running it (parameters, multiply-accumulates, feature-map
#    size);
# 3. tell a live small run, which checks the code, from a full-size result, which answers the
#    question, and record a result with the command and hardware that produced it.
#
# **Prerequisites.** Notebooks 02-04 (the model and its options) and 06 (training).

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
DATASET = "auto"

# %matplotlib inline

import dataclasses  # noqa: F401 (for exercise 4)

import keras
import matplotlib.pyplot as plt
from prettytable import PrettyTable

from course_utils import data, evaluate, experiments, plotting, reference_runs, tables
from course_utils.config import get_profile
from course_utils.datasets import find_dataset
from course_utils.exercises import nb08 as ex
from course_utils.notebook import publish
from course_utils.training.config import TrainConfig

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
root = find_dataset(DATASET)
info = data.load_info(root)
print(f"profile {profile.name}: dataset {info.name}, {info.num_classes} classes, splits {info.counts}")

# %% [markdown]
# ## 1. What the talk found
#
# The talk that accompanies this course trained DeepLabV3 with three ResNet backbones on
# Cityscapes (its own code, numbers as reported in its slides):

# %%
talk = PrettyTable(["backbone", "parameters", "time per epoch", "epochs", "val mIoU"])
for row in (
    ("ResNet-18", "15,315,028", "~15 min", "92", "0.723"),
    ("ResNet-50", "39,049,812", "~30 min", "128", "0.720"),
    ("ResNet-101", "58,041,940", "~50 min", "148 + 22", "0.699"),
):
    talk.add_row(row)
print(talk)

# %% [markdown]
# Deeper was slower and *not* better there. That is not the paper's finding (ResNet-101 beats
# ResNet-50 by about 2 points on PASCAL VOC); the runs differ in their number of epochs, so depth is
# not the only thing that changed. Missing pre-training does not explain it either: the talk's first
# source (fregu856/deeplabv3) loads ImageNet-pretrained ResNets for every depth. A few thousand
# training images may simply be too few, or the runs too short, for the extra layers to pay off. A
# comparison is only as good as what it holds fixed.
#
# ## 2. The variants
#
# `experiments.paper_variants(profile)` lists the rows. The **reference** is the profile's model;
# every ablation changes exactly one thing:
#
# * **output stride 8** instead of 16: the last two ResNet stages keep a 4x larger feature map
#   (dilation rates 2 and 4 instead of strides): sharper masks, about 3-4x the computation;
# * **no multi-grid**: the three units of the last stage use one rate instead of rates x (1, 2, 4);
# * **no image pooling**: ASPP without its global-average-pooling branch (the image-level context);
# * **ImageNet weights** against **from scratch** for the same ResNet-50.

# %%
variants = experiments.paper_variants(profile)
table = PrettyTable(["variant", "group", "model"])
table.align = "l"
for v in variants:
    table.add_row([v.name, v.group, v.describe()])
print(table)

# %% [markdown]
# ## 3. A live small run
#
# Every variant is trained through `train()` with the profile's recipe and sizes. The reference is
# the model notebook 06 trained: its row is read from that run, not trained again. Every other
# variant costs as much as notebook 06's training, so the notebook trains them only when you ask
# for it (`TRAIN_VARIANTS = True` below; about as long as notebook 06 each), and then only those
# that cost no more per image than the reference (multiply-accumulates at the training crop size,
# from `model_report`); the others get the command that runs them at full size. ImageNet weights are
# never downloaded here: without them in the Keras cache, that row says how to get them.

# %%
TRAIN_VARIANTS = False  # True: also train every affordable variant live

base = TrainConfig.from_profile(profile, dataset=info.name, tensorboard=False)
reference = next(v for v in variants if v.name == "reference")
budget, reference_params = experiments.variant_cost(reference, base.image_size, info.num_classes)
limit = None if TRAIN_VARIANTS else experiments.live_variant_limit(profile)
print(
    f"reference: {reference.describe()}, {reference_params:,} parameters, "
    f"{budget:.2f} GMACs per {base.image_size[0]}x{base.image_size[1]} image"
)
print("variants trained live:", "all affordable ones" if limit is None else f"at most {limit}")

# %%
# NBVAL_IGNORE_OUTPUT
run_root = experiments.run_dir_for(profile, info.name, "ablations")
notebook_06_run = experiments.run_dir_for(profile, info.name, "deeplabv3")
rows = experiments.run_ablations(
    variants, base, root, run_root, max_gmacs=budget, max_trained=limit, reference_run=notebook_06_run
)
print(tables.ablation_table(rows))

# %%
for r in rows:
    status = r["status"].split(":")[0].split(" (")[0]
    params = "-" if r["params"] is None else f"{r['params']:,}"
    print(f"{r['variant']:<24} {params:>12} parameters  {status}")
print()
for r in rows:
    if r["status"].startswith("skipped"):
        print(f"{r['variant']}: {r['status']}")

# %%
# NBVAL_IGNORE_OUTPUT
trained = [r for r in rows if r["val_miou"] is not None]
fig, ax = plt.subplots(figsize=(6.5, 3))
for r in trained:
    ax.scatter(r["seconds_per_epoch"], r["val_miou"], s=r["params"] / 2e5)
ax.set_xlabel("seconds per epoch (this machine)")
ax.set_ylabel("val mIoU")
ax.set_title("live run: cost against quality (marker area ~ parameters)", fontsize=10)
ax.margins(0.25)
plotting.annotate_points(
    ax, [r["seconds_per_epoch"] for r in trained], [r["val_miou"] for r in trained], [r["variant"] for r in trained]
)
fig.tight_layout()
plt.show()
ref_row = next(r for r in rows if r["variant"] == "reference")
publish(reference_val_miou=ref_row["val_miou"], variants_trained=sum(r["status"] == "trained" for r in rows))

# %% [markdown]
# In the smoke profile the reference trains for a couple of steps: the cell checks the code path,
# its mIoU is noise. With `COURSE_PROFILE=cpu` and `TRAIN_VARIANTS = True` the same cell trains
# every variant as cheap as the reference and the differences start to show; the answers to the
# paper's questions need full-size runs.
#
# ## 4. Stored results: the reference runs
#
# Long runs belong in a script, not in a notebook. The course ships its **reference runs**
# (`course_utils.reference_runs`): each made with one command on stated hardware, evaluated at
# the labels' native resolution, with its history, curves and a gallery. The CamVid rows are the
# experiments behind the `cpu` profile's CamVid recipe: the same DeepLabV3-ResNet-18 from scratch,
# changing one thing at a time (training length, class weights). The table never shows a number
# without its provenance: `describe()` prints each run's command, hardware and wall time.

# %%
stored = [reference_runs.load_reference_run(name) for name in reference_runs.list_reference_runs()]
print(reference_runs.reference_table(stored))
for run in stored:
    print(run.describe())

# %%
dataset_name = info.name if info.name != "minidrive" else "camvid"
print("Commands that produce the full-size rows (on a GPU machine with the dataset prepared):")
for v in experiments.paper_variants(get_profile("gpu")):
    print(" ", experiments.train_command(v, dataset=dataset_name, profile="gpu"))
print("or all of them in one go: --variant all")

# %% [markdown]
# The course's record of every experiment (change, val mIoU, wall time, command) is
# `docs/results.md` in the course repository.

# %% [markdown]
# What the paper reports, for reading the full-size rows: output stride 8 beats 16 by a point or
# two of mIoU at several times the cost (the paper trains at 16, fine-tunes at 8 with frozen
# BatchNorm, and evaluates at 8); multi-grid (1, 2, 4) beats a single rate; the image-pooling branch
# adds a little. The paper always starts from ImageNet weights, so it does not measure pre-training;
# on a dataset as small as CamVid expect it to matter more than any of these, and check that against
# the stored rows.
#
# ## Summary
#
# * Change one thing per variant and hold everything else fixed; report size, time and quality.
# * Parameters and multiply-accumulates are known before training (`model_report`); output stride
#   8 multiplies the computation, multi-grid and image pooling are almost free.
# * A live small run tests the code path; the answers come from full-size runs, recorded with
#   their command and hardware (`tools/run_ablations.py`, `docs/results/`).
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: the price of image pooling
# How many parameters does the image-pooling branch add to DeepLabV3-ResNet-18 for this dataset?
# Compute it by hand: the branch is a 1x1 convolution from the 512 backbone channels to 256 (no
# bias) and a BatchNorm (4 values per channel); the 1x1 projection after the concatenation then has
# 256 more input channels (to 256 outputs, no bias). Store it in `answer_1`.

# %%
answer_1 = None  # number of parameters

# %%
ex.check_pooling_params(answer_1, info.num_classes, backbone="resnet18")

# %% [markdown]
# ### Exercise 2: feature-map size at output stride 8
# The paper crops 513x513. What is the height and width of the ResNet's last feature map at output
# stride 8? (Padding is "same": every stride-2 step rounds up.) Store `(height, width)` in
# `answer_2`.

# %%
answer_2 = None  # (height, width)

# %%
ex.check_stage4_size(answer_2, (513, 513), output_stride=8)

# %% [markdown]
# ### Exercise 3: the best value for parameters
# Among the rows of the live run that were trained (`rows`, a list of dicts with the keys
# `"variant"`, `"params"` and `"val_miou"`, `None` when not trained), which variant has the highest
# validation mIoU per million parameters? Store its name in `answer_3`.

# %%
answer_3 = None  # a variant's name

# %%
ex.check_best_efficiency(answer_3, rows)

# %% [markdown]
# ### Exercise 4 (experiment): class weights and the rare classes
# Notebook 05 computed class weights (inverse log frequency) so that the rare classes weigh more
# in the loss. Do they help the rare classes here? Run the controlled comparison yourself:
#
# 1. `switched_config`: the reference's config `base` with **one** change, the class weighting
#    switched (`dataclasses.replace(base, class_weighting=not base.class_weighting)`: on, unless the
#    profile's recipe already uses weights, as the `cpu` profile's CamVid recipe does);
# 2. train it into the folder `switched_dir` below (`train.train(config, root, run_dir, verbose=0)`
#    returns `(model, history)`; about as long as notebook 06's run, seconds in the smoke profile);
# 3. `switched_result`: score it exactly as the reference below (`evaluate.evaluate_split` on
#    `"val"` with the same `max_images` and `evaluate.scoring_kwargs`);
# 4. `switched_iou`: a dict from each class name to its IoU in that result;
# 5. `rare_classes`: the names of the two classes with the fewest training pixels (`train_counts`);
# 6. `rare_gain`: the mean IoU change of those two classes, switched minus reference.
#
# The check verifies the mechanics (one change, the same images, the IoUs of your result, the
# right classes, the arithmetic), not a value, and prints the table. In the smoke profile the two
# runs are a few steps long and the difference is noise; with the `cpu` profile it is a real
# measurement (the CamVid reference runs of section 4 made this comparison at full length).

# %%
# NBVAL_IGNORE_OUTPUT
reference_model, _ = experiments.load_or_train(base, root, notebook_06_run)
score = evaluate.scoring_kwargs(base)
reference_result = evaluate.evaluate_split(reference_model, root, "val", max_images=profile.max_eval_images, **score)
train_counts = data.class_frequencies(root, "train")
switched_dir = experiments.run_dir_for(profile, info.name, "class-weights-switched")
print(f"reference val mIoU {reference_result.miou:.4f} on {reference_result.num_images} images")
print("training pixels per class:", dict(zip(info.classes, train_counts.tolist())))

# %%
switched_config = None  # base with the class weighting switched
switched_result = None  # evaluate.evaluate_split(...) of the model trained with it
switched_iou = None  # {class name: IoU}
rare_classes = None  # the two rarest classes' names
rare_gain = None  # mean IoU change of the rare classes, switched minus reference

# %%
ex.check_class_weight_experiment(
    switched_config, switched_result, switched_iou, rare_classes, rare_gain, base, reference_result, train_counts
)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb08.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("08")  # all of this notebook's solutions; show("08", "class_weight_experiment") for one
# ```
