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
# # 09 · Beyond: DeepLabV3+, your own images, exporting, further reading
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deeplabv3-course/deeplabv3-from-scratch/blob/main/notebooks/09_beyond.ipynb)
#
# The last notebook leaves the course's training loop: it adds the DeepLabV3+ decoder and compares
# it with DeepLabV3 on the same data, segments an image of your choice, exports the model for
# serving, and points to the papers to read next.
#
# **Learning objectives.** After this notebook you can
#
# 1. explain what the DeepLabV3+ decoder adds (stride-4 features, sharper boundaries), measure its
#    cost against DeepLabV3, and say what a fair measurement of its gain needs;
# 2. run a trained model on any image file, with clear errors for files that cannot be read;
# 3. export a model as a `.keras` file, a TensorFlow SavedModel and ONNX, and check in ONNX Runtime
#    that the export predicts the same;
# 4. plan data-parallel training: global and per-replica batch, learning-rate scaling, BatchNorm
#    across replicas;
# 5. find your way in the literature around DeepLab.
#
# **Prerequisites.** Notebooks 06 (training) and 07 (evaluation).

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first
    url = "git+https://github.com/deeplabv3-course/deeplabv3-from-scratch.git"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)

# %%
DATASET = "auto"
MY_IMAGE = None  # the path of your own image (PNG or JPEG); None: an image of the test split

# %matplotlib inline
# %config InlineBackend.figure_formats = ["jpeg"]  # photos: small stored notebooks
import dataclasses
import shutil
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from prettytable import PrettyTable

from course_utils import data, evaluate, experiments, metrics, plotting
from course_utils.config import get_profile
from course_utils.data import write_png
from course_utils.datasets import find_dataset
from course_utils.exercises import nb09 as ex
from course_utils.model import build_deeplabv3, format_report, model_report
from course_utils.notebook import publish
from course_utils.training.config import TrainConfig

plt.rcParams["figure.dpi"] = 72
profile = get_profile()
keras.utils.set_random_seed(profile.seed)
root = find_dataset(DATASET)
info = data.load_info(root)
print(f"profile {profile.name}: dataset {info.name}, {info.num_classes} classes, splits {info.counts}")

# %% [markdown]
# ## 1. DeepLabV3+: a decoder for sharper boundaries
#
# DeepLabV3 predicts at output stride 16 and upsamples the logits 16x bilinearly: boundaries come
# out soft (notebook 07, section 7). DeepLabV3+ (Chen et al., 2018) adds a light **decoder**: the
# ASPP output is upsampled 4x and concatenated with the backbone's **stride-4** features (reduced
# to 48 channels by a 1x1 convolution so that they do not drown the semantic features), refined by
# two 3x3 convolutions, and only then upsampled 4x to the image. In the course library it is one
# argument: `build_deeplabv3(..., decoder=True)`.

# %%
size = (*(profile.eval_size or info.image_size), 3)
reports = [
    model_report(build_deeplabv3(info.num_classes, backbone=profile.backbone, decoder=d), size) for d in (False, True)
]
print(format_report(reports, title=f"DeepLabV3 against DeepLabV3+ at {size[0]}x{size[1]}"))
extra = reports[1].total_params - reports[0].total_params
print(
    f"the decoder adds {extra:,} parameters ({100 * extra / reports[0].total_params:.1f} %) and "
    f"{reports[1].gmacs - reports[0].gmacs:.2f} GMACs"
)

# %% [markdown]
# Train both with the same recipe, sizes and data, then evaluate them on the validation split,
# overall and near label boundaries, where the decoder should help. DeepLabV3 is the run of
# notebook 06 (`load_or_train` loads it, or trains it when it is missing). DeepLabV3+ costs a
# training as long as notebook 06's: it trains here in the smoke profile (seconds, a code check)
# or when you set `TRAIN_V3PLUS = True`.

# %%
# NBVAL_IGNORE_OUTPUT
TRAIN_V3PLUS = profile.name == "smoke"

config = TrainConfig.from_profile(profile, dataset=info.name, tensorboard=False)
score = evaluate.scoring_kwargs(config)
variants = [("DeepLabV3", config, "deeplabv3")]
if TRAIN_V3PLUS:
    variants.append(("DeepLabV3+", dataclasses.replace(config, decoder=True), "deeplabv3plus"))
models = {}
for name, cfg, tag in variants:
    models[name], how = experiments.load_or_train(cfg, root, experiments.run_dir_for(profile, info.name, tag))
    print(f"{name}: {how}")
if not TRAIN_V3PLUS:
    print("DeepLabV3+: not trained here (set TRAIN_V3PLUS = True; it takes as long as notebook 06)")

# %%
# NBVAL_IGNORE_OUTPUT
table = PrettyTable(["val split", "mIoU", "pixel accuracy", "error near boundaries", "error elsewhere"])
samples = {}
for name, m in models.items():
    res = evaluate.evaluate_split(m, root, "val", max_images=profile.max_eval_images, **score)
    samples[name] = evaluate.sample_predictions(m, root, "val", n=min(4, res.num_images), **score)
    band, inner, _ = metrics.boundary_error_rates(samples[name][1], samples[name][2])
    table.add_row([name, f"{res.miou:.4f}", f"{res.pixel_accuracy:.4f}", f"{band:.3f}", f"{inner:.3f}"])
    publish(**{("v3plus" if name.endswith("+") else "v3") + "_val_miou": res.miou})
print(table)

# %%
# NBVAL_IGNORE_OUTPUT
image, label = samples["DeepLabV3"][0][0], samples["DeepLabV3"][1][0]
panels = [(plotting.to_uint8_image(image), "image"), (plotting.colorize(label, info.palette), "ground truth")]
panels += [(plotting.colorize(samples[n][2][0], info.palette), n) for n in models]
fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 2.6))
for ax, (panel, title) in zip(axes, panels):
    ax.imshow(panel, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
fig.legend(
    handles=plotting.legend_handles(info.classes, info.palette), loc="lower center", ncol=8, fontsize=8, frameon=False
)
fig.tight_layout(rect=(0, 0.12, 1, 1))
plt.show()

# %% [markdown]
# **Read the table above as a code check, not a result.** In the smoke profile both networks trained
# for a few steps: any difference between the rows, whichever way it goes, is noise (notebook 07,
# section 9: a difference must beat the run's own noise). On a full-size run the paper reports about +1.5 points of mIoU for the decoder on PASCAL VOC and
# visibly sharper object outlines (77.2 -> 78.9 % with ResNet-101 evaluated at output stride 16),
# for about 25 % more computation there (81 -> 101 billion multiply-adds on 513x513 inputs). The
# decoder's cost hardly depends on the backbone, so on a small one it weighs far more: the table
# above shows it more than doubling the GMACs of the ResNet-18 model (the printed increase), because its 3x3
# convolutions run at stride 4. The course has **no** stored DeepLabV3+ run, so it cannot show the
# gain on real data; the honest comparison needs both trained for real with the same recipe, e.g. on
# CamVid with the `cpu` profile's recipe (the first command is the stored `camvid-cpu` run's), and a
# gap larger than the run-to-run noise, best measured with more than one seed each:
#
# ```
# python -m course_utils train --dataset camvid --profile cpu --run-dir runs/camvid-v3
# python -m course_utils train --dataset camvid --profile cpu --decoder --run-dir runs/camvid-v3plus
# ```
#
# ### The seed's head, once more
#
# Notebook 04 shows why a head should classify **before** it upsamples, on the clean case of a single
# linear 1x1 classifier: a bilinear resize and a 1x1 convolution are both linear, so there the two
# orders give the same logits at very different cost. The seed's real head was not that case:
# `UpSampling2D(16)`, then `Conv2D(64, 1, relu)`, then `Conv2D(7, 1, relu)`. The ReLU between the two
# 1x1 convolutions is not linear, so this head does **not** commute with the upsampling: classifying
# first would change its logits, not only its cost. The cell measures the difference on random
# features (`updates_b.seed_head_model` builds the seed's head); exercise 5 asks for its
# cost.

# %%
from course_utils.exercises import updates_b

fmap_hw = (-(-size[0] // 16), -(-size[1] // 16))  # the feature map at output stride 16
keras.utils.set_random_seed(0)  # the same random head in every run
seed_head = updates_b.seed_head_model(fmap_hw, info.num_classes)
features_demo = np.random.default_rng(0).normal(size=(1, *fmap_hw, 256)).astype("float32")
hidden, classes = seed_head.get_layer("hidden_1x1"), seed_head.get_layer("classes_1x1")
upsample_last = keras.layers.UpSampling2D(16, interpolation="bilinear")(classes(hidden(features_demo)))
difference = np.max(np.abs(seed_head(features_demo).numpy() - upsample_last.numpy()))
print(f"seed's head, upsample first against classify first: largest logit difference {difference:.3f}")

# %% [markdown]
# ## 2. Your own image
#
# Set `MY_IMAGE` at the top to the path of a photo (PNG or JPEG). A network trained on one
# dataset has learned that dataset's classes, camera and scale: resize your image to the resolution
# the model **saw** in training. For a run with an `input_scale` that is smaller than the dataset's
# frames: the CamVid recipe of the `cpu` profile feeds CamVid's frames at the scale printed below.
# Without a path, an image of the test split is copied to the runs folder and used.
#
# What this needs, honestly: a model that has **seen real streets**. The model here is notebook
# 06's, trained on the dataset this notebook runs on: on MiniDrive (the offline default) it knows
# only MiniDrive's drawn scenes and will not understand a photo. The course's CamVid reference run
# shows what a model trained on real streets does (its gallery is in notebook 07); its weights are
# not shipped with the course (about 60 MB). To segment your own street photos, prepare CamVid
# (`python data_scripts/get_camvid.py --out data/camvid`), train it with the `cpu` profile's recipe
# (`python -m course_utils train --dataset camvid --profile cpu`, under an hour on a 2-core CPU, or
# run notebook 06 with `DATASET = "camvid"`), then run this notebook with `DATASET = "camvid"`, or
# `python -m course_utils predict` below.

# %%
work = experiments.run_dir_for(profile, info.name, "my-images")
work.mkdir(parents=True, exist_ok=True)
if MY_IMAGE is None:
    MY_IMAGE = work / "example.png"
    write_png(MY_IMAGE, data.read_image(data.list_pairs(root, data.held_out_split(root))[0][0]))
rgb = data.read_image(MY_IMAGE)
camvid_scale = get_profile("cpu").dataset_recipes["camvid"]["input_scale"]
print(
    f"the cpu profile's CamVid model saw frames at scale {camvid_scale}: 360x480 -> {int(360 * camvid_scale)}x{int(480 * camvid_scale)}"
)
target = profile.eval_size or info.image_size
rgb = tf.image.resize(rgb, target, method="bilinear", antialias=True).numpy().round().clip(0, 255).astype(np.uint8)
print("input for the model:", rgb.shape, rgb.dtype)

# %%
# NBVAL_IGNORE_OUTPUT
model = models["DeepLabV3"]
scales = evaluate.scoring_kwargs(config, (0.75, 1.0, 1.25))["tta_scales"]
ids = evaluate.predict_image(model, data.normalize_image(rgb), scales=scales, flip=True)
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8))
axes[0].imshow(rgb)
axes[1].imshow(plotting.overlay(rgb, ids, info.palette, alpha=0.6))
for ax, title in zip(axes, ("your image", "prediction (multi-scale + flip)")):
    ax.set_title(title)
    ax.set_axis_off()
fig.legend(
    handles=plotting.legend_handles(info.classes, info.palette), loc="lower center", ncol=8, fontsize=8, frameon=False
)
fig.tight_layout(rect=(0, 0.1, 1, 1))
plt.show()

# %% [markdown]
# A path that does not exist, or a file that is not an image, gives a clear error naming the file,
# not a TensorFlow traceback:

# %%
broken = work / "not_an_image.png"
broken.write_text("this is text, not a PNG")
for candidate in (Path("no/such/photo.jpg"), broken):
    try:
        data.read_image(candidate)
    except (FileNotFoundError, ValueError) as err:
        print(f"{type(err).__name__}: {str(err).replace(str(work), '<runs>')}")

# %% [markdown]
# From a terminal, the CLI does the same for many files at once and writes coloured masks and
# overlays:
#
# ```
# python -m course_utils predict photo1.jpg photo2.jpg --checkpoint runs/<run>/best.keras --out predictions/ --tta-scales 0.75 1 1.25 --flip
# ```
#
# ## 3. Exporting the model
#
# Two formats:
#
# * **`.keras`** (one zip file: architecture, weights, optimizer): for Keras, to continue training
#   or evaluate (`keras.saving.load_model`; the course's layers must be importable, i.e.
#   `import course_utils.model`).
# * **SavedModel** (a folder: a TensorFlow graph with its weights and a `serve` signature): for
#   TensorFlow Serving, TF Lite conversion or any TensorFlow program, without the course's code.
#
# `python -m course_utils export --checkpoint runs/<run>/best.keras --out exported/` writes both;
# here the same two library calls:

# %%
export_dir = experiments.run_dir_for(profile, info.name, "export")
shutil.rmtree(export_dir, ignore_errors=True)
export_dir.mkdir(parents=True)
tf.get_logger().setLevel("ERROR")  # no "Assets written to ..." log lines
model.save(export_dir / "model.keras")
model.export(str(export_dir / "saved_model"), format="tf_saved_model", verbose=False)
print("exported:", sorted(p.name for p in export_dir.iterdir()))
print("SavedModel folder:", sorted(p.name for p in (export_dir / "saved_model").iterdir()))

# %%
reloaded = tf.saved_model.load(str(export_dir / "saved_model"))
x = data.normalize_image(rgb)[None]
served = reloaded.serve(x).numpy()
print("SavedModel output:", served.shape, served.dtype)
print("same classes as the Keras model:", bool(np.array_equal(served.argmax(-1), model(x).numpy().argmax(-1))))

# %% [markdown]
# The SavedModel takes images normalised to [-1, 1] of any size and returns logits; a serving
# program applies `argmax` (or a softmax for confidences) itself.
#
# ### ONNX, checked in ONNX Runtime
#
# Outside TensorFlow, apps run models in **ONNX Runtime** (servers, browsers, phones) or **LiteRT**
# (phones, microcontrollers). The command line writes those too, and checks each file it writes:
# it loads the file in its own runtime, runs a few images of two sizes, and compares the argmax
# masks with Keras' (at least 99.9 % of the pixels must agree, else nothing is written). Beside
# each file, a small JSON says how to feed it: float range, channel order, fixed or dynamic size.
#
# ```
# python -m course_utils export --checkpoint runs/<run>/best.keras --out exported/ --format keras saved_model onnx litert
# ```
#
# (ONNX and LiteRT need `pip install 'deeplabv3-course[export]'`.) Here, your model to ONNX with the
# same library call, then the check by hand in ONNX Runtime on your image:

# %%
from course_utils.deploy import export as exporter

records = exporter.export_model(model, export_dir, ["onnx"], log=None)
onnx_record = records["onnx"]
for key in ("name", "layout", "channel_order", "range", "height", "width"):
    print(f"{key:14s}", onnx_record.input[key])
print("argmax agrees with Keras on >= 99.9 % of the check pixels:", onnx_record.check["agreement"] >= 0.999)

# %%
import onnxruntime as ort

session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
onnx_logits = session.run(None, {session.get_inputs()[0].name: np.asarray(x, np.float32)})[0]
keras_ids = keras.ops.convert_to_numpy(model(x, training=False)).argmax(-1)
print("ONNX Runtime output:", onnx_logits.shape, onnx_logits.dtype)
print("same class on >= 99.9 % of your image's pixels:", bool((onnx_logits.argmax(-1) == keras_ids).mean() >= 0.999))

# %% [markdown]
# `docs/benchmarks.md` compares the CPU latency of the four formats for the CamVid R18.
#
# ## 4. Training on several devices: data parallelism
#
# With more than one GPU (or machine), the usual way to train faster is **data parallelism**: every
# device holds a copy of the model, each step's batch is split between them, each computes the
# gradients of its share, the gradients are averaged (an *all-reduce*), and every copy applies the
# same update. Three quantities to keep apart:
#
# * the **global batch**: images per optimizer step, over all devices;
# * the **per-replica batch**: global batch / number of devices (what each device computes on);
# * the **learning rate**: tuned for a global batch. Keep the global batch when you add devices and
#   nothing changes but the speed; grow it with the devices and scale the learning rate with it
#   (the *linear scaling rule*, with a few epochs of warm-up).
#
# **BatchNorm across replicas.** A BatchNorm normalises with the mean and variance of *its* batch.
# If each device used its own share (per-replica statistics), 8 crops over 4 GPUs would give
# statistics of 2 images each: noise, worst in ASPP's image-pooling branch (one value per image).
# *Synchronised* BatchNorm computes the statistics of the global batch. In Keras 3 on the JAX
# backend, `keras.distribution.DataParallel` compiles one program over the sharded global batch,
# so BatchNorm's moments are taken over all devices (synchronised) without any switch; under
# TensorFlow's `MirroredStrategy` (one machine) the course switches it on with
# `course_utils.distribute.use_synchronized_batchnorm`.
#
# `course_utils.training.parallel` wraps Keras' API: `initialize_processes(coordinator, n, i)` joins several
# processes (`keras.distribution.initialize`), `use_data_parallel()` shards every batch over all
# devices of all processes. A plan for 2 machines of 2 GPUs each, with a learning rate tuned for
# a batch of 8:

# %%
from course_utils.training import parallel

print(parallel.plan(global_batch=16, replicas=4, processes=2, base_lr=0.01, base_batch=8).describe())

# %% [markdown]
# **The evidence.** `python -m course_utils.training.parallel compare out.json` trains a small
# Conv-BatchNorm-ReLU-Conv model for 3 steps with a global batch of 4 three ways: on one device; on
# the CPU split into 2 devices; and in **2 processes** of one device each, joined through a local
# coordinator, each feeding 2 images per step. If BatchNorm used per-replica statistics, or the
# gradients were not averaged, the runs would drift apart; they agree to float rounding
# (`tests/test_parallel.py` re-runs this on every test run). The stored result:

# %%
comparison = parallel.stored_comparison()
table = PrettyTable(["run", "devices", "processes", "losses of the 3 steps", "max |diff| vs one device"])
for name, run in comparison["runs"].items():
    diff = comparison["max_abs_diff"].get(name)
    worst = "reference" if diff is None else f"{max(diff['losses'], diff['weights']):.1e}"
    table.add_row([name, run["devices"], run["processes"], ", ".join(f"{v:.4f}" for v in run["losses"]), worst])
print(table)
print("BatchNorm:", comparison["batchnorm"])

# %% [markdown]
# ## 5. Further reading
#
# The DeepLab family, in order:
#
# * L.-C. Chen et al., *Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected
#   CRFs* (DeepLab v1), ICLR 2015, [arXiv:1412.7062](https://arxiv.org/abs/1412.7062).
# * L.-C. Chen et al., *DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous
#   Convolution, and Fully Connected CRFs* (v2, ASPP), arXiv 2016, TPAMI 2018,
#   [arXiv:1606.00915](https://arxiv.org/abs/1606.00915).
# * L.-C. Chen et al., *Rethinking Atrous Convolution for Semantic Image Segmentation* (v3, the
#   model of this course), 2017, [arXiv:1706.05587](https://arxiv.org/abs/1706.05587).
# * L.-C. Chen et al., *Encoder-Decoder with Atrous Separable Convolution for Semantic Image
#   Segmentation* (v3+), ECCV 2018, [arXiv:1802.02611](https://arxiv.org/abs/1802.02611).
#
# Backbones and other architectures:
#
# * K. He et al., *Deep Residual Learning for Image Recognition* (ResNet), CVPR 2016,
#   [arXiv:1512.03385](https://arxiv.org/abs/1512.03385).
# * J. Long, E. Shelhamer, T. Darrell, *Fully Convolutional Networks for Semantic Segmentation*,
#   CVPR 2015, [arXiv:1411.4038](https://arxiv.org/abs/1411.4038).
# * O. Ronneberger, P. Fischer, T. Brox, *U-Net: Convolutional Networks for Biomedical Image
#   Segmentation*, MICCAI 2015, [arXiv:1505.04597](https://arxiv.org/abs/1505.04597).
# * H. Zhao et al., *Pyramid Scene Parsing Network* (PSPNet), CVPR 2017,
#   [arXiv:1612.01105](https://arxiv.org/abs/1612.01105).
# * P. Wang et al., *Understanding Convolution for Semantic Segmentation* (gridding, hybrid
#   dilation), WACV 2018, [arXiv:1702.08502](https://arxiv.org/abs/1702.08502).
#
# Datasets:
#
# * M. Cordts et al., *The Cityscapes Dataset for Semantic Urban Scene Understanding*, CVPR 2016,
#   [arXiv:1604.01685](https://arxiv.org/abs/1604.01685).
# * G. Brostow, J. Fauqueur, R. Cipolla, *Semantic Object Classes in Video: A High-Definition
#   Ground Truth Database* (CamVid), Pattern Recognition Letters 30(2), 2009.
# * G. Varma et al., *IDD: A Dataset for Exploring Problems of Autonomous Navigation in
#   Unconstrained Environments*, WACV 2019, [arXiv:1811.10200](https://arxiv.org/abs/1811.10200).
#
# ## Summary
#
# * DeepLabV3+ adds a decoder on stride-4 features for sharper boundaries; its cost is modest on
#   the paper's ResNet-101 and large on ResNet-18 (the table of section 1). In the course it is
#   `decoder=True` (`--decoder`). Its gain needs two real runs; the smoke table only checks code.
# * The seed's head (upsample, 1x1 + ReLU, 1x1) does not commute with upsampling, unlike the single
#   linear classifier of notebook 04, and costs far more than classifying first.
# * Any image file can be segmented with `evaluate.predict_image` (or `python -m course_utils
#   predict`); bad files fail with a message naming them.
# * Export as `.keras` for Keras, as a SavedModel for TensorFlow, as ONNX or LiteRT for apps, and
#   check that the export predicts the same (the CLI does it for every file it writes).
# * Data parallelism splits the global batch over replicas; keep the global batch or scale the
#   learning rate with it; on JAX, `keras.distribution.DataParallel` synchronises BatchNorm.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: the decoder's stride, from the model rather than the prose
# Section 1 says the decoder uses stride-4 features. Do not trust prose: `plus` below is a DeepLabV3+
# with a fixed input size (64x128). Read the output stride of the low-level features the decoder
# concatenates from the model itself (the input of its layer `decoder_low_conv`,
# `plus.get_layer("decoder_low_conv").input.shape`) and store it in `answer_1`. Then explain why:
# why not the stride-2 output of the stem, which is sharper still? (Think of what those features
# have seen, and of the decoder's cost at stride 2.)

# %%
plus = build_deeplabv3(info.num_classes, backbone=profile.backbone, decoder=True, input_shape=(64, 128, 3))
answer_1 = None  # an output stride

# %%
ex.check_decoder_stride(answer_1, plus)


# %% [markdown]
# ### Exercise 2: colour a prediction
# Write `my_colorize(ids, palette)` that turns a map of class ids into an RGB `uint8` image with the
# dataset's palette (a list of `(r, g, b)`), and paints void (255) black.


# %%
def my_colorize(ids, palette):
    # an [H, W, 3] uint8 image
    raise NotImplementedError


# %%
ex.check_colorize(my_colorize, info.palette)

# %% [markdown]
# ### Exercise 3: is the export faithful?
# Compute the largest absolute difference between the logits of the exported SavedModel
# (`reloaded.serve(x)`) and those of the Keras `model(x)` for the image batch `x` above. Store it in
# `max_difference`.

# %%
max_difference = None  # a float

# %%
ex.check_export_difference(max_difference, model, export_dir / "saved_model", x[0])

# %% [markdown]
# ### Exercise 4: a single-classifier head on Cityscapes
# Cityscapes images, halved, are 512x1024; the feature map at output stride 16 is then 32x64 with
# 256 channels, and there are 19 classes. By hand: how many multiply-accumulates does the clean head
# of notebook 04 spend per image when it upsamples first (upsample 16x, then **one** linear 1x1
# classifier, no ReLU)? Store the number in `answer_4`; the check compares it with `model_report`
# and with the course's order (for this linear head the logits are the same either way).

# %%
answer_4 = None  # multiply-accumulates of the single-classifier head, upsampling first

# %%
ex.check_head_macs(answer_4, (32, 64), num_classes=19)

# %% [markdown]
# ### Exercise 5: the seed's real head
# **Predict first**: the seed's head at its 240x480 input (a 15x30 feature map of 256 channels, 7
# classes) was upsample 16x, `Conv2D(64, 1, relu)`, `Conv2D(7, 1, relu)`. Would moving the upsampling
# to the end give the same logits? (Section 1 measured it.) Then, by hand, count its
# multiply-accumulates per image and store the number in `answer_5`. Compare it with exercise 4's
# single classifier: which layer costs the most, and why does the ReLU force it to run at full
# resolution if the seed's logits are to stay the same?

# %%
answer_5 = None  # multiply-accumulates of the seed's two-layer head

# %%
updates_b.check_seed_head_macs(answer_5, (15, 30), 7)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# Exercise 5's is `updates_b.solution_seed_head_macs((15, 30), 7)`; the others are in
# `course_utils/exercises/solutions/nb09.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("09")  # all of this notebook's solutions; show("09", "my_colorize") for one
# ```
