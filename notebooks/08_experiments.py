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
# Which design choices of DeepLabV3 matter, and what do they cost? We read the course talk's
# comparison of ResNet-18, -50 and -101 backbones, then set up the course's own ablation study on
# CamVid: output stride 8 against 16, multi-grid, the image-pooling branch of ASPP, the V3+ decoder,
# class weights and the training recipe, one change at a time from the `cpu` recipe, with the
# baseline trained with three seeds to measure the noise.
#
# **Learning objectives.** After this notebook you can
#
# 1. design a controlled comparison: one change per row, everything else (data, recipe, sizes,
#    schedule) fixed, and the baseline repeated with three seeds to size the run-to-run noise;
# 2. predict the cost of a change before running it (parameters, multiply-accumulates, feature-map
#    size, the dilation rates that really act on the map);
# 3. tell a live small run, which checks the code, from a stored result, which answers the question,
#    and record a result with the command, hardware and machine load that produced it.
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

import dataclasses  # noqa: F401 (for exercise 3)

import keras
import matplotlib.pyplot as plt
from prettytable import PrettyTable

from course_utils import data, evaluate, experiments, reference_runs, tables
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
# Deeper was slower and *not* better there, against the DeepLabV3 paper, where the deeper ResNet
# wins. Before reading anything into it, ask what else changed and how large the noise is:
#
# * the runs trained for different numbers of epochs, and the deeper ones for *more* (the last one
#   was also resumed); if early stopping chose those numbers they are an outcome, not a setting,
#   and either way they do not explain why depth lost;
# * deeper backbones often force a smaller batch or crop to fit in memory: the slides do not say;
# * the slides do not say how much of each backbone started from ImageNet weights, nor whether the
#   output stride was the same for every depth: two more things that may have changed with depth;
# * each row is one run: ResNet-18 and ResNet-50 differ by 0.003 mIoU, and without a second seed
#   nobody can say whether that is a difference at all.
#
# A comparison is only as good as what it holds fixed and as the noise it measures. The study below
# is built to do both.
#
# %% [markdown]
# ## 2. The study: one change at a time
#
# The course's own ablation study trains DeepLabV3 on CamVid with the `cpu` profile's recipe and
# changes one thing per row. `ablations.ABLATIONS` is the list; each row is a set of
# `TrainConfig` overrides, nothing else:

# %%
from course_utils import ablations

study = PrettyTable(["row", "what changes", "TrainConfig overrides"])
study.align = "l"
for row in ablations.ABLATIONS:
    study.add_row([row.name, row.change, row.overrides or "-"])
print(study)
print(f"every row trains for {ablations.ABLATION_EPOCHS} epochs (a common, shorter schedule)")

# %% [markdown]
# Three rows are the baseline with three seeds. They differ only by chance (the initial weights, the
# order and crops of the images), so their spread is the run-to-run noise of one run.
# `ablations.noise_threshold` turns it into a rule: a row counts as different only when it sits more
# than twice the noise of "one run minus the mean of the baselines" away from that mean. Three seeds
# estimate the noise roughly, so a row with no real effect still passes about one time in five: a
# verdict is a hint to confirm with more seeds, not a proof. (Two runs would be worse: their single
# difference is one noisy sample of the noise, and a rule built on it passes no-effect rows far more
# often.) And the study tests six rows against the same baselines: even if none had a real effect,
# the chance that at least one of them gets a verdict is much larger than for one row, so confirm a
# surprising row before you believe it.
#
# Every row trains for a quarter of the recipe's 24 epochs: the rows compare with each other, not
# with the stored 24-epoch `camvid-cpu` run shown in notebooks 06 and 07.
#
# **Before you read on, predict.** For each row, write down whether you expect val mIoU to go up or
# down against the baseline, and by more than the noise or less. Which classes should move most
# with output stride 8 and with the decoder, and why? Section 4 shows the rows that are stored;
# keep your predictions until you or the course have run them.
#
# ## 3. What each change costs, before any training
#
# Parameters, multiply-accumulates (MACs) and feature-map sizes follow from the architecture alone:
# `ablations.cost_rows` builds every row's model (without training it) at the size the `cpu` recipe
# feeds it, CamVid's 360x480 frames at the recipe's input scale, and counts with `model_report`.

# %%
cpu = get_profile("cpu")
costs = ablations.cost_rows(cpu, dataset="camvid")
print(ablations.cost_table(costs))
base_cost = costs[0]
os8_cost = next(r for r in costs if r["name"] == "output stride 8")
print(
    f"output stride 8: {os8_cost['gmacs'] / base_cost['gmacs']:.1f}x the MACs of the baseline for the same "
    f"{os8_cost['params']:,} parameters"
)

# %% [markdown]
# Read the table as a student of the paper would:
#
# * **Output stride 8** drops the stride of the last *two* ResNet stages (3 and 4), so both run on a
#   larger map: the MACs multiply, the parameters do not change. ASPP's rates double with it.
# * **Multi-grid** multiplies the last stage's rate by (1, 2, 4), one factor per unit. ResNet-18's
#   last stage has two units, so only the first two factors act (the `stage-4 rates` column); the
#   paper's three-unit ResNet-101 uses all three. Multi-grid costs nothing: a dilated 3x3 has as
#   many weights and MACs as a plain one.
# * **The rates against the map.** A 3x3 kernel at rate *r* only sees real pixels when the map
#   reaches *r* pixels on both sides of the centre; on a smaller map its outer taps fall in the zero
#   padding and the branch degenerates towards a 1x1 convolution. Compare the `ASPP` column with the
#   `last map` column: on the `cpu` recipe's half-size CamVid frames the largest rates reach past the
#   map almost everywhere, which is why image pooling (the branch that sees the whole map by
#   construction) matters more on small inputs. The paper picked (6, 12, 18) for 513x513 crops.
# * **The decoder** adds few parameters but works at stride 4, which is where its MACs go.
# * **MACs are not time.** They predict the order of the costs, not the seconds: dilated
#   convolutions on larger maps often run slower per MAC on a CPU (more memory traffic), so measure a
#   training step before you plan a run (`benchmarks/train_throughput.py`, `docs/benchmarks.md`).
#
# The `cpu` recipe's model is therefore not the paper's model: multi-grid is truncated and the
# larger ASPP rates are mostly inactive. Whether image pooling matters *more* on such small maps is
# a hypothesis this study cannot settle: it would need the "no image pooling" row at two input
# scales. The study's rows say what pooling and multi-grid are worth at this one size.
#
# ## 4. The stored runs
#
# Each row is trained, scored at CamVid's native label resolution and stored by one command
# (`tools/store_reference_run.py --train ...`, which records the command, the hardware, the
# machine's load, the wall time and the commit next to the scores). `ablations.stored_rows` reads
# the rows stored so far and compares each with the mean of the baselines; `verdict` says "within
# noise" when the difference is not larger than `noise_threshold` of the stored baselines.

# %%
stored_rows = ablations.stored_rows("camvid")
if stored_rows:
    print(ablations.study_table(stored_rows))
else:
    print("No row of the CamVid study is stored in this copy of the course yet.")
missing = [row for row in ablations.ABLATIONS if row.name not in {r["name"] for r in stored_rows}]
if missing:
    print("To make the rows not stored yet (each trains on CamVid with the cpu recipe, then scores it):")
    for row in missing:
        print(" ", ablations.store_command(row))

# %% [markdown]
# A study without its rows answers nothing, and the course says so rather than quote figures it did
# not measure. The commands above make each row on a laptop, with CamVid prepared by
# `data_scripts/get_camvid.py`; run them one at a time (each is a full training) and compare the
# rows with your predictions of section 2.
#
# What the course does ship are the complete runs that the notebooks display: the `cpu` recipe on
# CamVid and on MiniDrive, each with its command, hardware and wall time (`describe()`):

# %%
stored = [reference_runs.load_reference_run(name) for name in reference_runs.list_reference_runs()]
print(reference_runs.reference_table(stored))
for run in stored:
    print(run.describe())

# %% [markdown]
# ## 5. The code path, live
#
# Every row comes from `train()`, the same function notebook 06 calls. `experiments.run_ablations`
# is the notebook-sized version of the study: it trains each variant it is given into a run folder
# and returns a row. Here it gets one, the reference, which is the model notebook 06 trained, so the
# row is read from that run rather than trained again. In the smoke profile this checks the code,
# and its mIoU is noise. Its `val mIoU` is the best value of the training history (the validation
# batches of the run); exercise 3 scores the same checkpoint with `evaluate_split` on its own
# images, so the two numbers need not agree in the smoke profile.

# %%
# NBVAL_IGNORE_OUTPUT
variants = experiments.paper_variants(profile)
reference = next(v for v in variants if v.name == "reference")
base = TrainConfig.from_profile(profile, dataset=info.name, tensorboard=False)
notebook_06_run = experiments.run_dir_for(profile, info.name, "deeplabv3")
run_root = experiments.run_dir_for(profile, info.name, "ablations")
rows = experiments.run_ablations([reference], base, root, run_root, reference_run=notebook_06_run)
print(tables.ablation_table(rows))
publish(reference_val_miou=rows[0]["val_miou"], reference_reused=rows[0]["status"].startswith("trained (re-used"))

# %% [markdown]
# The talk's backbones and ImageNet pre-training are model variants too. They change the network
# the `gpu` profile trains (ResNet-50, the paper recipe), not the `cpu` recipe of the study, so a
# second tool trains them at full size (ImageNet weights need a machine that can download them
# once), with the `gpu` profile's ResNet-50 from scratch as the row to compare with:

# %%
dataset_name = info.name if info.name != "minidrive" else "camvid"
for v in variants:
    if v.group == "backbone" or v.weights:  # the study above covers the ablations; ResNet-50 from scratch = ResNet-50
        print(f"{v.name:<24} {experiments.train_command(v, dataset=dataset_name, profile='gpu')}")

# %% [markdown]
# What the paper reports, for reading a study like this one: evaluating at output stride 8 a model
# trained at 16 gains about a point of mIoU on PASCAL VOC val, at several times the cost (the
# fine-tuning at output stride 8 with frozen BatchNorm was for the test-server submission);
# multi-grid (1, 2, 4) beats a single rate; the image-pooling branch adds a little. The paper always
# starts from ImageNet weights, so it does not measure pre-training; the talk's table in section 1
# shows how easily a comparison that changes two things at once misleads.
#
# ## Summary
#
# * Change one thing per row and hold everything else fixed; train the baseline with three seeds,
#   and call a difference real only when it exceeds `noise_threshold` (twice the noise of one run
#   against the baselines' mean); with several rows, expect some false verdicts by chance.
# * Parameters, MACs, feature-map sizes and the dilation rates that really act are known before
#   training (`ablations.cost_rows`): output stride 8 multiplies the MACs, multi-grid and image
#   pooling are almost free, and at half-size CamVid the largest ASPP rates reach past the map.
# * A result is a stored run with its command, hardware, machine load and wall time
#   (`tools/store_reference_run.py --train`); a live smoke run only checks the code path.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: the price of image pooling
# The cost table shows what the image-pooling branch adds to ResNet-18's DeepLabV3. How many
# parameters does it add to DeepLabV3-**ResNet-50**? Compute it by hand from what the branch is
# made of (notebook 03) and what it adds downstream of the concatenation; notebook 02 says how many
# channels ResNet-50's last stage has. Store it in `answer_1`.

# %%
answer_1 = None  # number of parameters

# %%
ex.check_pooling_params(answer_1, info.num_classes, backbone="resnet50")

# %% [markdown]
# ### Exercise 2: feature-map size at output stride 8
# The paper crops 513x513. What is the height and width of the ResNet's last feature map at output
# stride 8? Think about what "same" padding does at each stride-2 step. Store `(height, width)` in
# `answer_2`.

# %%
answer_2 = None  # (height, width)

# %%
ex.check_stage4_size(answer_2, (513, 513), output_stride=8)

# %% [markdown]
# ### Exercise 3 (experiment): class weights and the rare classes
# Notebook 05 computed class weights (inverse log frequency) so that the rare classes weigh more
# in the loss. Do they help the rare classes here? Run the controlled comparison yourself:
#
# 1. `switched_config`: the reference's config `base` with **one** change, the class weighting
#    switched (`dataclasses.replace(base, class_weighting=not base.class_weighting)`: on, unless the
#    profile's recipe already uses weights, as the `cpu` profile's CamVid recipe does);
# 2. train it into the folder `switched_dir` below (`train.train(config, root, run_dir, verbose=0)`;
#    about as long as notebook 06's run, seconds in the smoke profile), then load that run's
#    `best.keras` with `evaluate.load_checkpoint`: the reference is a best checkpoint too, and
#    comparing a best checkpoint with a last one would add a bias of its own;
# 3. `switched_result`: score it exactly as the reference below (`evaluate.evaluate_split` on
#    `"val"` with the same `max_images` and `evaluate.scoring_kwargs`);
# 4. `switched_iou`: a dict from each class name to its IoU in that result;
# 5. `rare_classes`: the names of the two classes with the fewest training pixels (`train_counts`);
# 6. `rare_gain`: the mean IoU change of those two classes, switched minus reference.
#
# The check verifies the mechanics (one change, the same images, the IoUs of your result, the
# right classes, the arithmetic), not a value, and prints the table. In the smoke profile the two
# runs are a few steps long and the difference is noise; with the `cpu` profile it is a real
# measurement of one seed, and the study's "no class weights" row (section 4) is the same
# comparison on CamVid. When the check has printed the table, answer in a sentence: is your
# `rare_gain` larger than what two seeds of the same configuration would differ by, and what would
# you run to find out? Both checkpoints were also chosen on the val split they are scored on: why
# does that flatter both, and why does it matter less for their difference?

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
