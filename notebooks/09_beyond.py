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
# 1. explain what the DeepLabV3+ decoder adds (stride-4 features, sharper boundaries) and measure
#    its cost and gain against DeepLabV3;
# 2. run a trained model on any image file, with clear errors for files that cannot be read;
# 3. export a model as a `.keras` file and a TensorFlow SavedModel and check that the export
#    predicts the same;
# 4. find your way in the literature around DeepLab.
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
# On a full-size run the paper reports about +1.5 points of mIoU for the decoder on PASCAL VOC and
# visibly sharper object outlines (77.2 -> 78.9 % with ResNet-101 evaluated at output stride 16),
# for about 25 % more computation there (81 -> 101 billion multiply-adds on 513x513 inputs). The
# decoder's cost hardly depends on the backbone, so on a small one it weighs far more: the table
# above shows it more than doubling the GMACs of the ResNet-18 model (+106 %), because its 3x3
# convolutions run at stride 4. In the smoke profile both networks have barely trained and the
# comparison only checks the code. The course has no reference run of DeepLabV3+ yet: the honest
# comparison needs both trained for real, e.g. on CamVid with the `cpu` profile's recipe (under an
# hour each on a 2-core CPU):
#
# ```
# python -m course_utils train --dataset camvid --profile cpu --run-dir runs/camvid-v3
# python -m course_utils train --dataset camvid --profile cpu --decoder --run-dir runs/camvid-v3plus
# ```
#
# ### The seed's head: upsample first, classify after
#
# DeepLabV3 and V3+ both classify **before** the last upsampling: the 1x1 classifier runs on the
# small feature map and only `num_classes` channels are resized. The seed did it the other way
# round: it upsampled the 256-channel ASPP output 16x and ran its 1x1 convolution at full
# resolution. Both are linear (a bilinear resize mixes neighbouring positions with weights that sum
# to 1, a 1x1 convolution mixes channels at one position), so they **commute**: the logits are the
# same, at a very different price. `model_report` counts it on this notebook's image size:

# %%
# NBVAL_IGNORE_OUTPUT
fmap_hw = (-(-size[0] // 16), -(-size[1] // 16))  # the feature map at output stride 16
feature_in = keras.Input((*fmap_hw, 256))
classifier = keras.layers.Conv2D(info.num_classes, 1, name="classifier")
upsample = keras.layers.UpSampling2D(16, interpolation="bilinear", name="upsample")
heads = {
    "course: classify, then upsample": keras.Model(feature_in, upsample(classifier(feature_in))),
    "seed: upsample 256 channels, then classify": keras.Model(feature_in, classifier(upsample(feature_in))),
}
table = PrettyTable(["head", "MACs per image", "largest activation (MB)"])
table.align["head"] = "l"
for name, head in heads.items():
    rep = model_report(head, (*fmap_hw, 256))
    biggest = max(int(np.prod(layer.output_shape[1:])) for layer in rep.layers) * 4 / 2**20
    table.add_row([name, f"{rep.macs:,}", f"{biggest:.1f}"])
print(table)
features_demo = np.random.default_rng(0).normal(size=(1, *fmap_hw, 256)).astype("float32")
outs = [head(features_demo).numpy() for head in heads.values()]
print(f"largest difference between the two heads' logits: {np.max(np.abs(outs[0] - outs[1])):.1e}")

# %% [markdown]
# 256x the multiply-accumulates (16 x 16 positions for every one) and a 256-channel float32 tensor
# at full resolution per image, which in training is kept for the backward pass: at the seed's
# 240x480 and batch 8 that tensor alone is 240 x 480 x 256 x 4 bytes x 8, about 900 MB, for the
# same logits. Resize as late, and on as few channels, as possible.
#
# ## 2. Your own image
#
# Set `MY_IMAGE` at the top to the path of a photo (PNG or JPEG). A network trained on one
# dataset has learned that dataset's classes, camera and scale: resize your image to about the
# training resolution first. Without a path, an image of the test split is copied to the runs
# folder and used.
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
# ## 4. Further reading
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
# * DeepLabV3+ adds a small decoder on stride-4 features for sharper boundaries at a modest cost;
#   in the course it is `decoder=True` (`--decoder` on the command line).
# * Any image file can be segmented with `evaluate.predict_image` (or `python -m course_utils
#   predict`); bad files fail with a message naming them.
# * Export as `.keras` for Keras and as a SavedModel for everything else, and check that the export
#   predicts the same.
#
# ## Exercises
#
# Each exercise has a cell for you to fill in (replace `None`, or the `raise NotImplementedError`
# line) and a check below it. A check prints `Not attempted yet` while the cell is untouched,
# `Correct!` when your answer is right, and otherwise stops with what is missing or wrong and a hint.
# The solutions are at the very end of the notebook.
#
# ### Exercise 1: the decoder's stride
# `plus` below is a DeepLabV3+ with a fixed input size (64x128). At which output stride are the
# low-level features that the decoder concatenates (the input of its layer `decoder_low_conv`,
# `plus.get_layer("decoder_low_conv").input.shape`)? Store the number in `answer_1`.

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
# ### Exercise 4: the seed's head on Cityscapes
# Cityscapes images, halved, are 512x1024; the feature map at output stride 16 is then 32x64 with
# 256 channels, and there are 19 classes. By hand: how many multiply-accumulates does the seed's
# head (upsample 16x, then the 1x1 classifier) spend per image? Store the number in `answer_4`;
# the check compares it with `model_report` and with the course's order.

# %%
answer_4 = None  # multiply-accumulates of the seed's head

# %%
ex.check_head_macs(answer_4, (32, 64), num_classes=19)

# %% [markdown] tags=["solutions"]
# ## Solutions
#
# The solutions are not part of this notebook's run, so that the checks above report your own work.
# They are in `course_utils/exercises/solutions/nb09.py` (`tests/test_solutions.py` proves each one passes its
# check). To see them here, run in a new cell:
#
# ```python
# from course_utils.exercises.solutions import show
#
# show("09")  # all of this notebook's solutions; show("09", "my_colorize") for one
# ```
