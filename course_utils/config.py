"""What the course has and what sizes a run: the run profiles, the course folders, and the
tables of datasets, backbones and training recipes.

A leaf of the package (it imports only :mod:`course_utils.devices`): every layer
above reads its sizes, paths and tables from here, so each fact is written once
(the training run's own configuration is :class:`course_utils.training.config.TrainConfig`).

Run profiles: one switch that sizes every notebook, script and test.

The environment variable ``COURSE_PROFILE`` selects one of three profiles:

``smoke``
    Tiny sizes so that every notebook runs in seconds. Used by the tests and CI.
``cpu``
    A laptop without a GPU: minutes per notebook, results that mean something.
``gpu``
    The Colab student's path: DeepLabV3-R50 with ImageNet weights, output
    stride 16, multi-grid (1, 2, 4), on CamVid at its native 360x480 (downloaded
    by ``find_dataset("auto")`` when no real dataset is prepared), mixed
    precision and XLA; sized for about half an hour on a free Colab T4
    (**estimated**, see :mod:`course_utils.model.estimate`).

When the variable is unset the default is ``gpu`` if TensorFlow sees a GPU and
``cpu`` otherwise. The same code path runs in all three; only sizes change.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import devices

PROFILE_ENV = "COURSE_PROFILE"
PROFILE_NAMES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Profile:
    """A frozen bundle of sizes for one run profile.

    Attributes:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        image_size: (height, width) of training crops fed to the model.
        eval_size: (height, width) at which MiniDrive scenes are generated and
            evaluated (``None`` in ``gpu`` means "the dataset's own size").
        batch_size: training batch size.
        epochs: training epochs.
        steps_per_epoch: training steps per epoch (``None``: the whole split).
        val_steps: validation steps (``None``: the whole split).
        minidrive_counts: number of generated MiniDrive scenes (train, val, test).
        backbone: backbone name for the course's main model.
        output_stride: backbone output stride (8, 16 or 32).
        multi_grid: unit rates of the last ResNet stage.
        mixed_precision: ``False`` (float32), ``True`` (``mixed_float16`` on a GPU),
            a policy name, or ``"auto"``: the policy
            :func:`course_utils.devices.choose_precision` picks for the device
            (bf16 on CPUs with AMX/AVX512-BF16 and on GPUs of compute capability
            >= 8.0, float16 with loss scaling on older GPUs, else float32).
        jit_compile: compile the train step with XLA.
        max_eval_images: cap on evaluated images per split (``None``: all).
        seed: global random seed.
        auto_dataset: the dataset that ``find_dataset("auto")`` prepares by itself
            (downloads) when no real dataset is prepared and the network is
            reachable; ``None``: build MiniDrive instead (offline profiles).
        weights: backbone weights of the course's main model (``"imagenet"``:
            the ``keras.applications`` ImageNet weights, ResNet-50/101 only;
            ``None``: from scratch).
        dataset_recipes: training settings for particular datasets, by the
            dataset's name (``dataset.json``): ``TrainConfig`` fields such as
            ``recipe``, ``input_scale``, ``image_size`` or ``epochs`` that
            replace the profile's generic sizes when that dataset is trained.
    """

    name: str
    image_size: tuple[int, int]
    eval_size: tuple[int, int] | None
    batch_size: int
    epochs: int
    steps_per_epoch: int | None
    val_steps: int | None
    minidrive_counts: tuple[int, int, int]
    backbone: str
    output_stride: int
    multi_grid: tuple[int, int, int] | None
    mixed_precision: bool | str
    jit_compile: bool
    max_eval_images: int | None
    seed: int = 42
    auto_dataset: str | None = None
    weights: str | None = None
    dataset_recipes: dict[str, dict] = field(default_factory=dict)

    def replace(self, **changes: object) -> Profile:
        """Return a copy with some fields changed (the profile itself stays frozen)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line per field, for printing in notebooks."""
        return "\n".join(f"{f.name:>16}: {getattr(self, f.name)}" for f in dataclasses.fields(self))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        image_size=(64, 128),
        eval_size=(96, 192),
        batch_size=4,
        epochs=1,
        steps_per_epoch=2,
        val_steps=1,
        minidrive_counts=(16, 8, 8),
        backbone="resnet18",
        output_stride=16,
        multi_grid=(1, 2, 4),
        mixed_precision=False,
        jit_compile=False,
        max_eval_images=8,
    ),
    "cpu": Profile(
        name="cpu",
        image_size=(120, 240),
        eval_size=(120, 240),
        batch_size=8,
        epochs=8,
        steps_per_epoch=None,
        val_steps=None,
        minidrive_counts=(320, 60, 100),
        backbone="resnet18",
        output_stride=16,
        multi_grid=(1, 2, 4),
        mixed_precision="auto",
        jit_compile=False,
        max_eval_images=None,
        # CamVid on a 2-core CPU in under an hour (docs/results.md: the experiments behind it)
        dataset_recipes={
            "camvid": dict(
                recipe="fast",
                input_scale=0.5,
                image_size=(180, 240),
                eval_size=None,
                scale_range=(0.75, 1.5),
                epochs=24,
                class_weighting=True,
                recalibrate_bn=10,
                warmup_epochs=1.0,
                max_val_images=None,
            ),
        },
    ),
    "gpu": Profile(
        name="gpu",
        # CamVid's native frames: the crop is the whole 360x480 image (random-scale crops with recipe="paper").
        image_size=(360, 480),
        eval_size=None,
        batch_size=8,
        # ~46 steps of 8 CamVid frames per epoch: about 32 minutes on a free Colab T4 (estimated).
        epochs=150,
        steps_per_epoch=None,
        val_steps=None,
        minidrive_counts=(2000, 300, 500),
        backbone="resnet50",
        output_stride=16,
        multi_grid=(1, 2, 4),
        mixed_precision="auto",
        jit_compile=True,
        max_eval_images=None,
        auto_dataset="camvid",
        weights="imagenet",
    ),
}


def default_profile_name() -> str:
    """``gpu`` when TensorFlow sees a GPU, else ``cpu``.

    When the machine has an NVIDIA GPU that the framework does not see (a
    CPU-only wheel, say), it says so on stderr, with the fix, instead of
    falling back to ``cpu`` silently.
    """
    if devices.tensorflow_sees_gpu():
        return "gpu"
    message = devices.gpu_visible_but_unused()
    if message:
        import sys

        print(f"{message} Using the cpu profile meanwhile.", file=sys.stderr)
    return "cpu"


def get_profile(name: str | None = None) -> Profile:
    """Return the active run profile.

    Args:
        name: explicit profile name; when ``None`` the environment variable
            ``COURSE_PROFILE`` is read, and when that is unset too the default
            is ``gpu`` if a GPU is visible, else ``cpu``.

    Raises:
        ValueError: for an unknown profile name, naming the valid ones.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV, "").strip().lower() or default_profile_name()
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"Unknown run profile {name!r} (from {PROFILE_ENV} or the argument). "
            f"Use one of: {', '.join(PROFILE_NAMES)}, e.g. `export {PROFILE_ENV}=cpu`."
        )
    return PROFILES[name]


# ------------------------------------------------------------------ course folders

DATA_ENV = "COURSE_DATA_DIR"
RUNS_ENV = "COURSE_RUNS_DIR"


def repo_root() -> Path | None:
    """The course checkout holding this package, or ``None`` when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def data_dir() -> Path:
    """Folder under which prepared datasets live (``<data_dir>/<name>/dataset.json``)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / "data") if root else Path.home() / "deeplabv3-course-data"


def runs_dir() -> Path:
    """Folder for training runs (checkpoints, logs, histories)."""
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / "runs") if root else Path.home() / "deeplabv3-course-runs"


# ------------------------------------------------------------------------- datasets

#: Every dataset the course prepares, in the preference order of ``find_dataset("auto")``, with the
#: command that prepares it into ``{out}`` (``data_scripts/``). The one list of datasets.
DATASETS: dict[str, str] = {
    "cityscapes": "python data_scripts/prepare_cityscapes.py --root CITYSCAPES_ROOT --out {out}",
    "idd": "python data_scripts/prepare_idd.py --root IDD_ROOT --out {out}",
    "camvid": "python data_scripts/get_camvid.py --out {out}",
    "minidrive": "python data_scripts/make_minidrive.py --out {out}",
}


def prepare_command(name: str, out: str | os.PathLike | None = None) -> str:
    """The command that prepares dataset ``name`` into ``out`` (default ``data/<name>``)."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; use one of {', '.join(DATASETS)}.")
    return DATASETS[name].format(out=out if out is not None else f"data/{name}")


# ------------------------------------------------------------------------ backbones


@dataclass(frozen=True)
class Backbone:
    """One ResNet of the course: its depth, unit type and units per stage, and its ImageNet weights.

    ``keras_app`` names the ``keras.applications`` class whose ImageNet weights
    (file ``imagenet_file``, ``imagenet_size`` to download) load into it; ``None``
    means the backbone trains from scratch only.
    """

    depth: int
    unit: str
    units: tuple[int, int, int, int]
    keras_app: str | None = None
    imagenet_file: str | None = None
    imagenet_size: str = ""

    @property
    def pretrained(self) -> bool:
        """Whether ImageNet weights exist for it."""
        return self.keras_app is not None


#: The one backbone registry: every other list of backbones (CLI choices, model specs, weights) derives from it.
BACKBONES: dict[str, Backbone] = {
    "resnet18": Backbone(18, "basic", (2, 2, 2, 2)),
    "resnet34": Backbone(34, "basic", (3, 4, 6, 3)),
    "resnet50": Backbone(
        50, "bottleneck", (3, 4, 6, 3), "ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "95 MB"
    ),
    "resnet101": Backbone(
        101, "bottleneck", (3, 4, 23, 3), "ResNet101", "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5", "171 MB"
    ),
}


# -------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """What a training recipe decides; :mod:`course_utils.training.recipes` turns it into an optimizer.

    Attributes:
        optimizer: ``"adam"`` or ``"sgd"`` (with the config's momentum).
        learning_rate: starting rate unless ``TrainConfig.learning_rate`` is set.
        poly: the "poly" decay to zero over the run (with the config's warm-up), else a constant rate.
        l2_loss: the paper's L2 weight decay as a loss term on convolution kernels.
        plateau: ``ReduceLROnPlateau`` on ``val_miou``.
        early_stopping: ``EarlyStopping`` on ``val_miou`` (patience from the config).
        scale_range: random-scale range of the training crops.
    """

    optimizer: str
    learning_rate: float
    poly: bool
    l2_loss: bool
    plateau: bool
    early_stopping: bool
    scale_range: tuple[float, float] = (1.0, 1.0)


#: The one recipe table (``TrainConfig.recipe``): ``seed`` is the original notebook's (fixed), ``paper``
#: the DeepLabV3 paper's, ``fast`` a fixed short budget (the CPU recipes).
RECIPES: dict[str, Recipe] = {
    "seed": Recipe("adam", 1e-3, poly=False, l2_loss=False, plateau=True, early_stopping=True),
    "paper": Recipe("sgd", 1e-2, poly=True, l2_loss=True, plateau=False, early_stopping=False, scale_range=(0.5, 2.0)),
    "fast": Recipe("adam", 1e-3, poly=True, l2_loss=False, plateau=False, early_stopping=False),
}
#: Keras' default BatchNorm momentum; the DeepLabV3 paper uses 0.9997.
DEFAULT_BN_MOMENTUM = 0.99
