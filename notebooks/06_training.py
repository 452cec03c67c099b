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
# # 06 · Training DeepLabV3: recipes, GPUs, callbacks and resuming
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/06_training.ipynb)
#
# We train the DeepLabV3 of notebooks 02-04 on the data of notebook 05. One call,
# `course_utils.train.train(config, dataset_root, run_dir)`, does it; this notebook opens it up:
# the course's training recipes, what mixed precision and XLA change, the callbacks that keep the
# best model and survive a lost connection, why BatchNorm statistics need care, and what to do when
# training goes wrong.
#
# **Learning objectives.** After this notebook you can
#
# 1. compare the course's three recipes: the seed notebook's (Adam, plateau schedule, early
#    stopping), the paper's (SGD, poly learning rate, weight decay, random-scale crops) and the
#    `fast` one of the CamVid reference run (Adam, warm-up, poly), and say when each fits;
# 2. explain what mixed precision and XLA change, and which precision the library picks on which
#    device;
# 3. name the callbacks of a run and what each one watches, and plot the poly schedule;
# 4. resume a run after a disconnect and read training curves, including a validation loss that
#    lies *below* the training loss;
# 5. explain why BatchNorm statistics must be re-estimated after a short run from scratch;
# 6. react to a loss that turns `nan` or to an out-of-memory error, and diagnose a run from its
#    curves.
#
# **Prerequisites.** `05_data_pipeline.ipynb`; the model of `04_deeplabv3_model.ipynb`.
# Long GPU runs are better started from the command line (`python -m course_utils train ...`,
# section 7); this notebook trains small.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
DATASET = "auto"

# %matplotlib inline
import dataclasses
import shutil
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np
from prettytable import PrettyTable

from course_utils import data, devices, experiments, metrics, notebook, plotting, reference_runs, train
from course_utils.config import PROFILES, RECIPES, get_profile
from course_utils.datasets import find_dataset
from course_utils.exercises import nb06 as ex
from course_utils.notebook import publish
from course_utils.training import callbacks, inputs, precision, recipes
from course_utils.training.callbacks import tensorboard_available
from course_utils.training.config import TrainConfig

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
root = find_dataset(DATASET)
info = data.load_info(root)
print(f"profile {profile.name}: dataset {info.name}, {info.num_classes} classes, splits {info.counts}")

# %% [markdown]
# ## 1. The recipes
#
# A **recipe** is the optimizer, the learning-rate schedule and the regularisation of a run. The
# course has the ones printed below (`config.RECIPES`):
#
# * **`seed`**: what the course's original notebook did (its bugs fixed): Adam, the learning rate
#   divided by 5 when the validation mIoU has not improved for 3 epochs (`ReduceLROnPlateau`), the
#   run stopped after 5 such epochs (`EarlyStopping`). It needs no step budget. One difference: the
#   seed set `min_lr=0.0005`, so its rate could fall only once (its log repeats "reducing learning
#   rate to 0.0005"); the course's seed recipe lets it fall further.
# * **`paper`**: DeepLabV3's: SGD with momentum 0.9, the **poly** learning rate
#   `lr = base * (1 - step / total_steps) ** 0.9` down to 0, random-scale crops with random
#   left-right flips, and a fixed number of steps; plus L2 weight decay on the convolution kernels,
#   which the paper does not specify (the value comes from the authors' reference implementation,
#   not from the paper). The paper's PASCAL VOC runs start at 0.007 with batch 16 on 513x513 crops
#   from ImageNet weights, at output stride 16; the course's base rate is in the table.
# * **`fast`**: the recipe of the CamVid reference run shown in section 6: Adam with the poly decay,
#   after a linear **warm-up**. Warm-up starts the rate near 0 and raises it linearly to its base value
#   over the first steps (one epoch in the `cpu` profile's CamVid recipe, printed below): at the start the BatchNorm statistics and the adaptive
#   moments of Adam are still estimates of a few batches, and a full-size first step can throw a
#   network from scratch far off. It is the recipe the course's CPU experiments settled on
#   (`docs/results.md`); it has not been compared with `paper` on the same budget.
#
# All use the same loss (cross-entropy from logits, void ignored) and the same metric (mean IoU
# accumulated over the epoch, `val_miou` on the validation split). `TrainConfig.from_profile` sizes
# each from the run profile; a profile may also name a recipe per dataset (printed below). Which to
# choose: `seed` when you do not know how long to train; `paper` or `fast` when you do (a poly
# schedule needs its total number of steps), `fast` when the budget is small. The course has **not**
# run the recipes against each other on the same data: section 6's two reference runs differ in
# dataset as well as recipe, so they do not decide between them (exercise 6 asks what would).

# %%
print("recipes:", RECIPES)
cfgs = {name: TrainConfig.from_profile(profile, recipe=name) for name in RECIPES}
seed_cfg, paper_cfg = cfgs["seed"], cfgs["paper"]
steps = inputs.make_datasets(seed_cfg, root)[2]


def schedule_of(c):
    if c.recipe == "seed":
        return "ReduceLROnPlateau(val_miou)"
    return "poly, power 0.9" + (f", warm-up {c.warmup_epochs:g} epoch(s)" if c.warmup_epochs else "")


table = PrettyTable(["", *(f"{name} recipe" for name in cfgs)])
table.align = "l"
for cfg_name, get in [
    ("optimizer", lambda c: type(recipes.make_optimizer(c, steps * c.epochs)).__name__),
    ("base learning rate", lambda c: c.base_learning_rate),
    ("schedule", schedule_of),
    ("weight decay", lambda c: c.weight_decay if c.recipe == "paper" else "- (not applied)"),
    ("random scale", lambda c: c.scale_range),
    ("early stopping patience", lambda c: c.early_stopping_patience or "-"),
]:
    table.add_row([cfg_name, *(get(c) for c in cfgs.values())])
for field in ("backbone", "weights", "output_stride", "multi_grid", "image_size", "batch_size", "epochs"):
    table.add_row([field, *(getattr(c, field) for c in cfgs.values())])
print(table)
for p in PROFILES.values():
    for dataset_name, recipe in p.dataset_recipes.items():
        print(f"profile {p.name}, dataset {dataset_name}: {recipe}")

# %% [markdown]
# ### The poly schedule
#
# The poly rate falls slowly at first and fast at the end; the plateau schedule drops in steps when
# validation stops improving. The figure draws a run whose validation mIoU stops improving at
# epochs 9, 21 and 33 (each drop comes 3 epochs later, at 12, 24 and 36), with factor 0.2: the seed
# notebook's floor `min_lr=0.0005` stops it at 5e-4 after the first drop, the course's seed recipe
# (floor 1e-6) goes down to 8e-6.

# %%
total = 50 * 100  # e.g. 50 epochs of 100 steps
poly = keras.optimizers.schedules.PolynomialDecay(1e-2, total, end_learning_rate=0.0, power=0.9)
step_axis = np.arange(0, total + 1, 50)
drops = np.minimum((step_axis // 100) // 12, 3)  # drops at epochs 12, 24, 36 (illustration)
plateau_course = np.maximum(1e-3 * 0.2**drops, 1e-6)
plateau_seed = np.maximum(1e-3 * 0.2**drops, 5e-4)
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.plot(step_axis, [float(poly(s)) for s in step_axis], label="paper: poly (base 1e-2, power 0.9)")
ax.plot(step_axis, plateau_course, label="course's seed recipe: Adam 1e-3, x0.2 on plateaus, floor 1e-6")
ax.plot(step_axis, plateau_seed, "--", label="seed notebook: the same with min_lr=5e-4")
ax.set_xlabel("optimizer step")
ax.set_ylabel("learning rate")
ax.set_yscale("log")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(
    f"poly: step 0 -> {float(poly(0)):.4f}, half way -> {float(poly(total // 2)):.5f}, "
    f"last step -> {float(poly(total - 1)):.2e}"
)

# %% [markdown]
# The seed's floor, measured on Keras' own `ReduceLROnPlateau` rather than drawn: a run whose
# validation mIoU never improves after its first epoch, 15 epochs long, with the seed's settings
# (factor 0.2, patience 3) and the two floors.

# %%
probe = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
for floor in (5e-4, 1e-6):
    probe.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    plateau = keras.callbacks.ReduceLROnPlateau("val_miou", factor=0.2, patience=3, mode="max", min_lr=floor)
    plateau.set_model(probe)
    plateau.on_train_begin()
    rates = []
    for epoch in range(15):
        plateau.on_epoch_end(epoch, {"val_miou": 0.5})  # never better than epoch 0
        rates.append(float(keras.ops.convert_to_numpy(probe.optimizer.learning_rate)))
    print(f"min_lr={floor:g}: rate after epochs 1, 4, 7, ...: {', '.join(f'{r:.0e}' for r in rates[::3])}")

# %% [markdown]
# ## 2. Run profiles
#
# Three profiles size everything: `smoke` (seconds, for tests), `cpu` (a laptop, minutes) and `gpu`
# (DeepLabV3-ResNet-50 at the dataset's resolution). Set `COURSE_PROFILE` before starting Jupyter;
# the code is the same in all three. Two columns need reading:
#
# * **weights**: where the backbone starts. `None` is from scratch (`he_normal` noise); the `gpu`
#   profile starts from ImageNet weights, as the paper does.
# * **stage-4 rates**: the dilation rates the units of the last ResNet stage really get. Multi-grid
#   multiplies the stage's rate by `multi_grid[i]` for unit `i`, but ResNet-18 has only **two** units
#   in that stage, so of `(1, 2, 4)` only the first two factors are used; the paper's three-unit
#   stage (ResNet-50/101) uses all three. The `cpu` profile's model is therefore not the paper's
#   (smaller backbone, truncated multi-grid, and on half-size CamVid a feature map so small that
#   ASPP's largest rates mostly see padding: notebooks 03 and 04).

# %%
from course_utils.model import resnet

table = PrettyTable(
    ["profile", "backbone", "weights", "OS", "stage-4 rates", "crop", "batch", "epochs", "precision", "XLA"]
)
for p in PROFILES.values():
    depth = int(p.backbone.removeprefix("resnet"))
    stage4_rate = resnet.stage_strides_and_rates(p.output_stride)[3][1]
    rates = resnet.multi_grid_rates(stage4_rate, resnet.RESNET_SPECS[depth][1][3], p.multi_grid)
    table.add_row(
        [
            p.name,
            p.backbone,
            p.weights,
            p.output_stride,
            f"{rates} from MG {p.multi_grid}",
            f"{p.image_size[0]}x{p.image_size[1]}",
            p.batch_size,
            p.epochs,
            p.mixed_precision,
            p.jit_compile,
        ]
    )
print(table)

# %% [markdown]
# A profile's columns are its defaults. A dataset may override them (the `dataset_recipes` printed
# in section 1): the settings a run really gets are those of
# `TrainConfig.from_profile(profile, dataset=...)`. The CamVid reference run, for example, used the
# `cpu` profile's CamVid recipe, not the `cpu` row above:

# %%
effective = PrettyTable(["profile", "dataset", "recipe", "crop", "input scale", "epochs", "class weights"])
for p in PROFILES.values():
    for dataset_name in p.dataset_recipes:
        c = TrainConfig.from_profile(p, dataset=dataset_name)
        effective.add_row([p.name, dataset_name, c.recipe, c.image_size, c.input_scale, c.epochs, c.class_weighting])
print(effective)

# %% [markdown]
# ## 3. Mixed precision and XLA
#
# **Mixed precision** computes convolutions in a 16-bit type while the weights stay float32. There
# are two 16-bit types. **float16** keeps 10 bits of mantissa but a small exponent range: small
# gradients underflow to 0, so Keras wraps the optimizer in a `LossScaleOptimizer` that multiplies
# the loss before the backward pass and divides the gradients after. **bfloat16** keeps float32's
# exponent range with 7 bits of mantissa: no loss scaling needed. Tensor cores of recent NVIDIA
# GPUs, TPUs, and CPUs with AMX or AVX512-BF16 units multiply in 16 bits faster than in float32,
# and activations take half the memory. How much faster depends on the model: on the course's AMX
# CPU the measured step times (`docs/results.md`, printed below) show a clear gain at output
# stride 16 and none at output stride 8 (the course has not found out why: measure on your own
# device before you rely on it). The model's last layer stays float32 (our
# `logits` layer), so the loss and the softmax are computed in full precision.
#
# With `mixed_precision="auto"` (the `cpu` and `gpu` profiles) the library decides at run time with
# `devices.choose_precision`. Its rule, printed for each kind of device rather than typed here:

# %%

for kind, capability, cpu_bf16 in (
    ("cpu", None, False),
    ("cpu", None, True),
    ("gpu", (7, 5), None),
    ("gpu", (8, 0), None),
    ("tpu", None, None),
):
    policy, why = devices.choose_precision(kind, capability, cpu_bf16)
    device = f"{kind}" + (f" cc {capability[0]}.{capability[1]}" if capability else "")
    device += "" if cpu_bf16 is None else (" with AMX/AVX512-BF16" if cpu_bf16 else " without fast bf16")
    print(f"{device:<32} -> {policy:<15} ({why})")
for ref_name in reference_runs.list_reference_runs():
    print(f"reference run {ref_name} trained in {reference_runs.load_reference_run(ref_name).meta['precision_policy']}")

# %%
from course_utils.training import evidence as training_evidence

print("measured on the course's AMX CPU, batch 8 (docs/results.md): step time float32 -> bf16")
for setting, (t32, t16) in training_evidence.BF16_SPEEDUPS.items():
    print(f"  {setting:<26} {t32:5.2f} s -> {t16:5.2f} s ({t32 / t16:.1f}x)")

# %% [markdown]
# A T4 or V100 (compute capability 7.x) gets float16 with loss scaling, an A100, L4 or H100 bf16, a
# CPU bf16 only when it has the units for it, else float32 (float16 on a CPU is slow). The reference
# runs of section 6 trained in bf16 on a CPU that has AMX.
#
# **XLA** (`model.compile(jit_compile=True)`) compiles the whole training step into fused kernels:
# fewer launches and memory round trips, after a longer first step (compilation). The `gpu`
# profile turns it on. The course has no GPU measurement of either speed-up; on this machine:

# %%
# NBVAL_IGNORE_OUTPUT
gpu_cfg = TrainConfig.from_profile("gpu")
print(f"gpu profile asks for mixed_precision={gpu_cfg.mixed_precision!r}, jit_compile={gpu_cfg.jit_compile}")
print("policy on this machine:", precision.resolve_precision_policy(gpu_cfg), "|", devices.choose_precision()[1])
print(devices.system_status())

# %% [markdown]
# ## 4. Callbacks
#
# `callbacks.make_callbacks` assembles the callbacks of a run; the cell below prints them, in order,
# for the `seed` and `paper` recipes:
#
# * `BackupAndRestore`: saves weights, optimizer state and position every epoch (or every N steps),
#   so that an interrupted run continues where it stopped;
# * `ResumeInfo`: when a run resumes, prints the epoch and optimizer step it picks up at;
# * `EpochTimer`: adds each epoch's duration and learning rate to the logs, hence to the history;
# * `NaNGuard`: stops the run at the first `nan` loss it sees (it looks every 100 steps and at the
#   end of each epoch, section 9) and explains what to try;
# * `ModelCheckpoint`: keeps `best.keras`, the best model so far by a monitored quantity (which
#   one, and best in which direction, is exercise 3; the last epoch is rarely the best);
# * `CSVLogger`: `history.csv`, one row per epoch;
# * seed recipe only: `ReduceLROnPlateau` and `EarlyStopping`;
# * `TensorBoard`: logs for `tensorboard --logdir runs/`, only with `tensorboard=True` and the
#   package installed. The listing below turns it off so that it is the same on every machine;
#   section 5's run turns it on when the package is there (printed after the listing).
#
# `train()` adds its own validation callback (BatchNorm re-estimation, then `val_miou`) right after
# the backup.

# %%
with tempfile.TemporaryDirectory() as tmp:
    for cfg in (dataclasses.replace(seed_cfg, tensorboard=False), dataclasses.replace(paper_cfg, tensorboard=False)):
        print(f"{cfg.recipe} recipe:")
        for cb in callbacks.make_callbacks(cfg, tmp, None):
            print(f"  {type(cb).__name__}")

# %%
# NBVAL_IGNORE_OUTPUT
use_tensorboard = tensorboard_available()
print(
    "TensorBoard installed:",
    use_tensorboard,
    "" if use_tensorboard else "(pip install tensorboard to get its logs; training works without it)",
)

# %% [markdown]
# ## 5. Train, lose the connection, resume
#
# On Colab a run can lose its machine at any moment. We simulate that: the run below is stopped
# half-way through its first epoch by `notebook.SimulatedDisconnect`, which raises an exception
# as a dropped connection would. `BackupAndRestore` saves every `backup_every` steps, so the backup
# holds the weights and the optimizer state of that moment. Calling `train()` again with the same
# run folder resumes: it reloads the backup and repeats the interrupted epoch from its start,
# with the weights and the optimizer step where they were. One consequence for a poly schedule:
# the optimizer step keeps counting, so the repeated part of the epoch is extra, and the run ends
# past the `total_steps` its schedule was sized for. `PolyDecay` clamps the step, so those last
# steps run at learning rate 0 (they change only the BatchNorm statistics); printed after the run.
#
# `notebook.LiveCurves` redraws the curves after every epoch while the run trains.

# %%
run_dir = experiments.run_dir_for(profile, info.name, "deeplabv3")
shutil.rmtree(run_dir, ignore_errors=True)  # start this demonstration from scratch
# the profile's recipe for this dataset (the seed recipe unless the profile has one for it, as
# the cpu profile has for CamVid); notebooks 07-09 build the same config and reuse this run
config = TrainConfig.from_profile(profile, dataset=info.name, tensorboard=use_tensorboard)
steps = inputs.make_datasets(config, root)[2]
half = max(1, steps // 2)
config = dataclasses.replace(config, backup_every=half)
print(
    f"recipe {config.recipe}: {config.epochs} epoch(s) of {steps} steps, batch {config.batch_size}, "
    f"crops {config.image_size}; backup every {half} step(s); disconnect after {half} step(s)"
)

# %%
# NBVAL_IGNORE_OUTPUT
try:
    train.train(
        config,
        root,
        run_dir,
        callbacks=[notebook.LiveCurves("first attempt"), notebook.SimulatedDisconnect(half)],
        verbose=0,
    )
except notebook.Disconnected as lost:
    print("Connection lost:", lost)

# %%
print("backup on disk:", sorted(p.name for p in (run_dir / "backup").iterdir()))
print("position saved:", (run_dir / "backup" / "training_metadata.json").read_text())

# %%
# NBVAL_IGNORE_OUTPUT
model, history = train.train(config, root, run_dir, callbacks=[notebook.LiveCurves("resumed run")], verbose=0)

# %%
done = int(model.optimizer.iterations.numpy())
print(
    f"optimizer steps: {done} = {half} before the disconnect + {config.epochs} x {steps} after resuming "
    f"(the interrupted epoch is repeated from its start)"
)
if config.recipe != "seed":
    past = training_evidence.steps_at_rate_zero(done, config.epochs * steps)
    print(f"poly schedule sized for {config.epochs * steps} steps: the last {past} step(s) ran at rate 0")
print("backup removed after the finished run:", not (run_dir / "backup").exists())
print("files of the run:", sorted(p.name for p in run_dir.iterdir() if p.name != "logs"))

# %% [markdown]
# ## 6. Final training curves
#
# `history.csv` keeps every epoch (also across the resume); `plotting.plot_history` draws loss,
# mIoU and learning rate, train against validation, and marks the best validation epoch: the one
# `best.keras` holds. A validation loss that climbs while the training loss keeps falling is the
# usual sign of over-fitting, but read it next to the validation mIoU: in the seed's run the
# validation loss rose from epoch 5 while its validation mIoU stayed on a plateau (Keras' per-batch
# `val_miou` between 0.598 and 0.623 until epoch 15; notebook 07 shows why the same split scores
# lower with one accumulated confusion matrix). The model grew over-confident on the
# pixels it got wrong (the loss punishes confident mistakes), not worse at segmenting. That is why the
# best model is kept by `val_miou`, not by the loss, nor is it simply the last. Two more rules for
# reading curves: the two losses must be the **same quantity** to be compared (section 6's reference
# run shows a case where they are not), and a difference between two epochs or two runs means
# something only when it is larger than the run-to-run noise (notebook 08's rule, below).

# %%
# NBVAL_IGNORE_OUTPUT
fig = plotting.plot_history(run_dir / "history.csv", title=f"DeepLabV3-{config.backbone} on {info.name}")
plt.show()
h = plotting.load_history(run_dir / "history.csv")
best_val = max(h["val_miou"])
print(f"best val mIoU {best_val:.3f} (epoch {int(np.argmax(h['val_miou'])) + 1} of {len(h['val_miou'])})")
publish(val_miou=best_val)

# %% [markdown]
# ### The seed's loss counted void pixels
#
# Both recipes use `losses.masked_sparse_ce`: the cross-entropy averaged over the **labelled**
# pixels only. The seed one-hot encoded its labels with 7 classes, void (255) included; its
# data preparation lived in a notebook that is not part of the seed document, so the encoding is
# **inferred** from its loss and model, not seen. Encoded that way, void gets an all-zero row (`data.throughput.naive_batches` does the same), and averaged Keras'
# `categorical_crossentropy` over **every** pixel. A void pixel then adds 0 to the sum but 1 to the
# count: the loss shrinks by the share of void in the image or batch, a share that changes from
# batch to batch. Measured on the model above and a few validation images:

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.losses import masked_sparse_ce

n_loss = min(4, info.counts["val"])
images_v, labels_v = next(
    iter(data.make_dataset(root, "val", n_loss, training=False, image_size=config.image_size, max_images=n_loss))
)
labels_v = labels_v.numpy()
logits_v = keras.ops.cast(model(images_v, training=False), "float32")
one_hot = np.eye(info.num_classes + 1, dtype="float32")[:, : info.num_classes][np.minimum(labels_v, info.num_classes)]
for k in range(n_loss):
    seed_style = float(keras.ops.mean(keras.losses.categorical_crossentropy(one_hot[k], logits_v[k], from_logits=True)))
    course_style = float(masked_sparse_ce()(labels_v[k : k + 1], logits_v[k : k + 1]))
    print(
        f"image {k}: void {100 * np.mean(labels_v[k] == 255):5.1f} %, course loss {course_style:.4f}, "
        f"seed loss {seed_style:.4f} (ratio {seed_style / course_style:.3f})"
    )

# %% [markdown]
# The loss is the course's times the non-void share, image by image. The gradient is worse than
# scaled: TensorFlow's fused softmax cross-entropy (which Keras uses for logits, and used for the
# seed's softmax output too) assumes every label row sums to 1 and returns `softmax(z) - y` for
# the logits. For a void pixel's all-zero row that is `softmax(z)`, not 0: a pixel whose loss is 0
# still pushes its prediction towards uniform. One pixel:

# %%
import tensorflow as tf

z = tf.Variable([[2.0, 0.0, -1.0]])  # logits of one pixel
for row, what in (([1.0, 0.0, 0.0], "class 0"), ([0.0, 0.0, 0.0], "void, all-zero row")):
    with tf.GradientTape() as tape:
        pixel_loss = keras.losses.categorical_crossentropy(tf.constant([row]), z, from_logits=True)
    print(f"{what:>18}: loss {float(pixel_loss[0]):.3f}, gradient {tape.gradient(pixel_loss, z).numpy().round(3)[0]}")
print(f"{'softmax(z)':>18}: {tf.nn.softmax(z).numpy().round(3)[0]}")

# %% [markdown]
# In the smoke profile this is one tiny epoch: the numbers mean nothing, the mechanics are the
# same. With `COURSE_PROFILE=cpu` the same cells train for several minutes and the curves become
# informative; `07_evaluation.ipynb` evaluates the model this run saved.
#
# ### What the same code reaches with time: reference runs
#
# The course ships **reference runs**: complete trainings made with one command on stated
# hardware (`course_utils.reference_runs`), the same in every profile. Each prints its command,
# hardware, recipe and scores below; their curves are drawn from their stored `history.csv`. The
# CamVid one is DeepLabV3-ResNet-18 trained **from scratch on real street scenes** on a 2-core CPU
# with the `cpu` profile's CamVid recipe (printed in section 1).
#
# **From scratch, and why the seed stopped at 0.575.** The seed's 0.575 test mIoU (IDD, notebook 07)
# came from a ResNet-50 whose weights started from `he_normal` noise. The `smoke` and `cpu` profiles
# train from scratch too; the `gpu` profile starts from ImageNet weights (the table of section 2),
# as the DeepLabV3 paper always does. Missing pre-training is one candidate reason for the seed's
# score, not the only one: the seed also put a ReLU on its logits (notebook 04: a class can never
# get a negative score), floored its learning rate at `min_lr=0.0005` (section 1) and counted void
# pixels in its loss (below). And from scratch is not a ceiling in itself: FC-DenseNet103 (Jégou
# et al., 2017) reaches 66.9 % mIoU on CamVid's test split without any pre-training, with a
# network designed and trained for it. The course has **not measured** what each cause costs: no
# run of the `gpu` profile is stored (`docs/results.md` writes its recipe out), so these are
# expectations, not results. Notebook 02 shows how ImageNet weights are loaded into the same
# backbone; notebook 08 lists the ablation that would measure it.

# %%
for ref_name in reference_runs.list_reference_runs():
    ref = reference_runs.show_reference_run(ref_name, parts=("summary",))
    weighted = ref.meta["config"]["class_weighting"]
    fig = plotting.plot_history(
        ref.history_csv,
        title=f"reference run {ref_name}",
        loss_title="Loss: train " + ("class-weighted" if weighted else "unweighted") + ", val unweighted",
    )
    plt.show()
    h = plotting.load_history(ref.history_csv)
    below = int(np.sum(np.asarray(h["val_loss"]) < np.asarray(h["loss"])))
    last, best = h["val_miou"][-1], max(h["val_miou"])
    noise = metrics.epoch_to_epoch_noise(h["val_miou"], last=len(h["val_miou"]) // 2)
    print(
        f"{ref_name}: class weights {weighted}; val loss below train loss in {below} of {len(h['loss'])} epochs; "
        f"val mIoU best {best:.3f}, last {last:.3f}; epoch-to-epoch change (median, second half) {noise:.3f}"
    )

# %% [markdown]
# **Why the CamVid validation loss lies below the training loss.** Over-fitting would show the
# opposite. Here the two curves are not the same quantity. The training loss is the loss the
# optimizer minimised: with class weights on (printed above), a **weighted** mean in which a pixel of a
# rare class counts many times more than a road pixel, and rare classes are the ones the model gets
# wrong most. The validation loss (`validation.native_scores`) is the plain, **unweighted** mean
# cross-entropy over the labelled pixels. On top of that, the training loss is measured on augmented
# crops (zoomed, flipped, colour-jittered) while the weights change during the epoch, the validation
# loss on whole images with the epoch's final weights. The validation mIoU above the training mIoU
# in early epochs has the last two reasons. On MiniDrive, without class weights, compare the curves.
# The printed epoch-to-epoch change is **not** the course's noise rule, only a first, weaker look
# at how much a score moves with the weights barely changing. Whether two settings differ is
# decided as in notebook 08: against the spread of the same setting trained with different seeds
# (`ablations.noise_threshold`, two standard deviations of that spread); notebook 07 explains why.
#
# ## 7. Long runs: the command line
#
# A notebook is a poor place for a 10-hour run. The CLI trains with the same code, resumes when
# started again with the same `--run-dir`, and evaluates at the end:
#
# ```
# python -m course_utils train --dataset camvid --profile gpu --recipe paper --run-dir runs/camvid-r50 --evaluate val test
# ```
#
# ## 8. BatchNorm: the statistics inference uses
#
# A BatchNorm layer normalises each channel with the mean and variance **of the current batch**
# while training, and with **moving averages** of those statistics at inference:
# `moving = momentum * moving + (1 - momentum) * batch`. Four consequences matter for this course:
#
# * **Memory and lag.** The moving averages start at mean 0 and variance 1 (not random values) and
#   forget them geometrically: after `N` steps the initial values keep a weight of `momentum ** N`
#   (printed below). At Keras' default 0.99 that is a time constant of about 100 steps, at the
#   DeepLabV3 paper's 0.9997 about 3,333. Even once the start is forgotten, the averages **lag**:
#   they mix statistics of the last hundred-odd steps, taken while the weights of a network from
#   scratch were still changing fast, and on augmented crops rather than whole images. Either way
#   the model at inference is not the model that trained: a validation loss of hundreds next to a
#   training loss of 1 is the symptom (a first CamVid run of this course showed exactly that).
# * **Re-estimation ("precise BN").** `validation.recalibrate_batchnorm` replaces the averages by
#   the plain mean of the statistics of a few training batches, run in training mode, without
#   changing a weight. `train()` does it before every validation (`recalibrate_bn`, 10 batches by
#   default), so `val_miou` and the choice of `best.keras` reflect the model.
# * **Small batches.** Statistics of 2 images are noisy: keep at least 8 images per BatchNorm
#   (per GPU: the image-pooling branch sees one value per image), or synchronise BatchNorm across
#   GPUs, or freeze it.
# * **Frozen BN.** The paper trains at OS 16 with batch 16 and BatchNorm updating; its validation
#   numbers at OS 8 come from *evaluating* that OS-16 model at OS 8. Only for its test-server
#   submission did it fine-tune further at OS 8 with the statistics frozen (notebook 08), because at
#   OS 8 a batch that fits in memory is too small to estimate them.
#
# One more rule for ImageNet weights: they were trained on Caffe-style inputs (BGR, 0-255, the
# ImageNet mean subtracted), and their BatchNorm statistics describe such inputs. Feeding `[-1, 1]`
# RGB would make every statistic wrong; `build_deeplabv3(weights="imagenet")` adds the exact
# `CaffeInputAdapter` (notebook 02).
#
# First the real symptom, from the course's own history: a first CamVid `cpu` run, before
# `train()` re-estimated the statistics (BatchNorm momentum 0.99), read these validation scores in
# its first epochs (printed from `training_evidence.STALE_BN_HISTORY`, quoted from
# `docs/results.md`). Then a **staged** demonstration of the cure on the model trained above: we
# put its moving averages back to their initial values (mean 0, variance 1) by hand, the extreme
# of what a short run leaves, and validate before and after re-estimating them.

# %%
stale = training_evidence.STALE_BN_HISTORY
print(f"real stale-BN run, first epochs: val_loss {stale['val_loss']}, val_miou {stale['val_miou']}")
print("source:", stale["source"])

# %%
# NBVAL_IGNORE_OUTPUT
from course_utils.training import validation

val_batches = data.make_dataset(root, "val", config.batch_size, training=False)
val_size = inputs.validation_input_size(config, info)
print("BatchNorm layers reset by hand (staged):", training_evidence.reset_batchnorm_statistics(model))
stale_loss, stale_cm = validation.native_scores(model, val_batches, info.num_classes, config.input_scale, val_size)
used = validation.recalibrate_batchnorm(model, inputs.make_recalibration_batches(config, root, info), 10)
fresh_loss, fresh_cm = validation.native_scores(model, val_batches, info.num_classes, config.input_scale, val_size)
print(f"stale statistics:       val loss {stale_loss:8.2f}, val mIoU {metrics.mean_iou(stale_cm):.3f}")
print(f"re-estimated ({used} batches): val loss {fresh_loss:8.2f}, val mIoU {metrics.mean_iou(fresh_cm):.3f}")
for m in (0.9, 0.99, 0.9997):
    kept = ", ".join(f"{100 * m**n:.0f} % after {n} steps" for n in (100, 300, 1000))
    print(f"momentum {m}: time constant about {1 / (1 - m):,.0f} steps; initial values keep {kept}")

# %% [markdown]
# ## 9. When training goes wrong
#
# **The loss becomes `nan`.** `NaNGuard` stops the run and says why it usually happens;
# `best.keras` in the run folder keeps the best model from before it diverged (an epoch with a
# `nan` loss is never saved as the best). Reading the loss makes the computer wait for the device,
# so the guard looks at it every 100 steps and at the end of each epoch, not after every step.
# Here it is, given the run folder of section 5 (as `train()` gives it) and fed a `nan` epoch loss
# by hand (the message goes to stderr):

# %%
# NBVAL_IGNORE_OUTPUT
import contextlib
import io

guard = callbacks.NaNGuard(run_dir)
guard.set_model(model)
message = io.StringIO()
with contextlib.redirect_stderr(message):  # the message names the run folder: shown relative to the runs folder
    guard.on_epoch_end(0, {"loss": float("nan")})
print(message.getvalue().strip().replace(str(run_dir), f"<runs>/{run_dir.name}"))
print("training stopped:", model.stop_training)
model.stop_training = False


# %% [markdown]
# Then, in this order: lower the learning rate (10x); check the labels (values other than class
# ids and 255 break the loss: see exercise 3 of notebook 05); with mixed precision, check that the
# last layer is float32 and try without it; check the input normalisation ([-1, 1]).
#
# **Out of memory (`ResourceExhaustedError`, "OOM when allocating tensor").** Activation memory
# grows with batch x crop area and with a smaller output stride. Going from output stride 16 to 8
# removes **only stage 3's stride** (stage 4 has stride 1 already at 16; it only gets a larger
# rate): printed below, `(stride, rate)` of the first unit of stages 1-4. That one change makes
# stages 3 and 4 and ASPP all run on maps 4x larger (2x per side) than at 16 (notebook 02 measures
# the activation memory of both). In this order:
# halve the batch size (`--batch-size`; with batch-norm keep it >= 8 or freeze BN statistics), use a
# smaller crop (`--image-size`), turn on mixed precision, go back to output stride 16, and evaluate
# large images in tiles (`--tile H W`, notebook 07). Restart the kernel after an OOM: TensorFlow
# does not always give the memory back.

# %%
for os_ in (16, 8):
    print(f"output stride {os_:>2}: stages 1-4 (stride, rate) = {resnet.stage_strides_and_rates(os_)}")

# %% [markdown]

# ## Summary
#
# * Three recipes: `seed` (Adam + plateau + early stopping on `val_miou`), `paper` (SGD + poly +
#   weight decay + random-scale crops), `fast` (Adam + warm-up + poly, the CamVid reference run's).
#   The same loss and metric, sized by the profile; the `gpu` profile starts from ImageNet weights,
#   the others from scratch. ResNet-18's two-unit last stage uses only part of multi-grid.
# * Mixed precision: `devices.choose_precision` picks bf16 on TPUs, GPUs of compute capability 8.0
#   or more and CPUs with AMX/AVX512-BF16, float16 with loss scaling on older GPUs, float32
#   elsewhere. XLA fuses the step; the course has not measured either speed-up on a GPU.
# * `best.keras` is chosen by `val_miou`; `BackupAndRestore` makes a run resumable; the history is a
#   CSV file whose curves tell over-fitting from under-training, provided the train and val losses
#   are the same quantity (class weights make them differ) and the difference beats the seed-to-seed
#   noise (notebook 08's `ablations.noise_threshold`).
# * BatchNorm's moving averages remember their start and lag behind the weights: re-estimate them
#   before validating a short run from scratch.
# * `nan`: lower the learning rate, check the labels. OOM: smaller batch or crop, mixed precision,
#   output stride 16 (8 enlarges the last two stages: stage 3 loses its stride, and stage 4 and ASPP
#   run on its larger map).
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: the poly learning rate
# Write `poly_lr(step)` for a base rate of 0.01 over 1000 steps with power 0.9, without
# Keras' `PolynomialDecay` (after the last step the rate stays 0).


# %%
def poly_lr(step, base=0.01, total=1000, power=0.9):
    # the learning rate at `step`
    raise NotImplementedError


# %%
ex.check_poly_lr(poly_lr, base_learning_rate=0.01, total_steps=1000)

# %% [markdown]
# And after the last step? Section 5's resumed run went past its `total_steps`. This check calls
# `poly_lr` at and after step 1000.

# %%
from course_utils.exercises import updates_b

updates_b.check_poly_lr_end(poly_lr, base=0.01, total=1000, power=0.9)

# %% [markdown]
# ### Exercise 2: how long does the poly schedule run?
# How many optimizer steps does `paper_cfg` train for on this dataset? (The poly rate reaches 0
# exactly then.) Compute it from `info.counts["train"]`, the batch size and the epochs of
# `paper_cfg` (incomplete batches are dropped), not from the printed `steps`. Store the number in
# `answer_2`. Then, with a warm-up of one epoch (`warmup_steps` = the steps of one epoch), at which
# step, counted from 0, does the rate peak? Read `train.PolyDecay.__call__` and store it in
# `answer_2b`.

# %%
answer_2 = None  # steps per epoch x epochs

# %%
ex.check_total_steps(answer_2, paper_cfg, root)

# %%
answer_2b = None  # the step of the peak

# %%
paper_steps = train.make_datasets(paper_cfg, root)[2]
updates_b.check_warmup_peak(answer_2b, paper_steps * paper_cfg.epochs, paper_steps)

# %% [markdown]
# ### Exercise 3: which model is kept?
# Build the callbacks of `paper_cfg` with `callbacks.make_callbacks(paper_cfg, some_folder, None)`,
# find the `keras.callbacks.ModelCheckpoint` among them and store `(monitor, mode)` in `answer_3`.
# Then explain why: what would the checkpoint keep with `mode="min"`, and why would monitoring
# `val_loss` instead have kept an earlier epoch of the seed's run (section 6)?

# %%
answer_3 = None  # (monitor, mode)

# %%
with tempfile.TemporaryDirectory() as tmp:
    ex.check_checkpoint_monitor(answer_3, paper_cfg, tmp)

# %% [markdown]
# ### Exercise 4 (experiment): what the seed's loss does to the gradient
# Measure it on the batch `images_v, labels_v` of the section "The seed's loss counted void
# pixels": compute the gradient of each loss (the seed's and `masked_sparse_ce()`) with respect to
# the kernel of the model's last convolution, `model.get_layer("classifier").kernel`, with
# `tf.GradientTape`, and store the ratio of their norms, seed over course, in `answer_4`. Compute
# the seed's loss as above, with `keras.losses.categorical_crossentropy(..., from_logits=True)`.
# Before you run it: if the gradient were scaled like the loss, what would the ratio be? The check
# recomputes it and compares.

# %%
answer_4 = None  # norm of the seed's gradient / norm of the course's gradient

# %%
ex.check_seed_gradient_ratio(answer_4, model, images_v, labels_v)

# %% [markdown]
# ### Exercise 5 (diagnose): which setting is at work?
# The four runs below are **made up**: analytic curves (`updates_b.diagnosis_histories`)
# shaped after real ones, not trained runs, so that each shows exactly one cause. In each loss panel
# "train" is the loss the run optimised, whatever it was, and "val" the plain cross-entropy.
# Each shows one of the causes printed under the figures: over-fitting, a
# learning rate too high, stale BatchNorm statistics at validation, or a class-weighted training
# loss read against an unweighted validation loss. Read loss and mIoU together, decide, and store
# `{run letter: cause}` in `answer_5` (copy the causes from `updates_b.CURVE_CAUSES`).
# For each, name the fix: which section of this notebook treats it?

# %%
from course_utils.exercises import updates_b

for letter, history in updates_b.diagnosis_histories().items():
    fig = plotting.plot_history(history, title=f"run {letter} (synthetic)", loss_title=updates_b.LOSS_TITLE)
    plt.show()
print("causes:", updates_b.CURVE_CAUSES)

# %%
answer_5 = None  # {"A": cause, "B": cause, "C": cause, "D": cause}

# %%
updates_b.check_curve_diagnosis(answer_5)

# %% [markdown]
# ### Exercise 6 (explain): what would decide between two recipes?
# Section 1 says the course has not compared the recipes on the same data. Write down the runs you
# would make to decide between `seed` and `fast` on MiniDrive with the `cpu` profile: how many, what
# stays fixed, what you compare (best epoch or last, on which split), and how large a difference
# must be before you act on it (notebook 08's `ablations.noise_threshold`: how many seeds does it
# need?).
# (No check: compare your plan with notebook 08's rules for controlled experiments.)

# %% [markdown]
# ### Exercise 7 (experiment): predict, train, read the curve
# Change one setting and see what it does, on the profile you run (seconds in `smoke`, minutes in
# `cpu`). Copy `config` with `dataclasses.replace(..., base_learning_rate=100 * config.base_learning_rate)`.
# **Before** training, write in `prediction_7` whether its final training loss will be `"higher"`
# or `"lower"` than the run of section 5, and why (a sentence in a comment). Then train it with
# `train.train(...)` into a new folder (not `run_dir`) and store
# `plotting.load_history(folder / "history.csv")` in `history_7`. Plot both histories and read
# them: which of exercise 5's curves does yours resemble?

# %%
prediction_7 = None  # "higher" or "lower"
history_7 = None  # the new run's history

# %%
updates_b.check_lr_experiment(prediction_7, history_7, plotting.load_history(run_dir / "history.csv"))

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# Exercise 5's is `updates_b.solution_curve_diagnosis()`; the second parts of exercises 1
# and 2 are `updates_b.solution_poly_lr_end` and `solution_warmup_peak`, exercise 7's
# `updates_b.solution_lr_experiment(config, root, folder)`; the others are in
# `course_utils/exercises/solutions/nb06.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("06")  # all of this notebook's solutions; show("06", "seed_gradient_ratio") for one
# ```
