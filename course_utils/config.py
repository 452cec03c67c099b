"""What sizes a run: the run profiles, the course folders and the training configuration.

A leaf of the package (it imports only :mod:`course_utils.devices`): every
layer above reads its sizes, paths and ``TrainConfig`` from here.

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
    (**estimated**, see :mod:`course_utils.estimate`).

When the variable is unset the default is ``gpu`` if TensorFlow sees a GPU and
``cpu`` otherwise. The same code path runs in all three; only sizes change.
"""

from __future__ import annotations

import dataclasses
import json
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


# ----------------------------------------------------------- training configuration

RECIPES = ("seed", "paper", "fast")
INPUT_PIPELINES = ("auto", "tf.data", "pydataset")
#: Keras' default BatchNorm momentum; the DeepLabV3 paper uses 0.9997.
DEFAULT_BN_MOMENTUM = 0.99


@dataclass
class TrainConfig:
    """Everything a training run needs besides the dataset and the output folder.

    Build it with :meth:`from_profile` and change fields with
    ``dataclasses.replace`` (or keyword overrides to ``from_profile``).

    ``weight_decay`` is the paper's L2 coefficient (the loss term
    ``weight_decay / 2 * sum(w ** 2)`` on convolution kernels, paper recipe);
    ``bn_momentum`` the BatchNorm momentum (Keras 0.99, paper 0.9997);
    ``steps_per_execution`` the train steps run per call into the compiled
    function (fewer host round trips); ``input_pipeline`` ``"auto"``
    (``tf.data`` under the TensorFlow backend, else a ``keras.utils.PyDataset``),
    ``"tf.data"`` or ``"pydataset"``.
    """

    recipe: str = "seed"
    backbone: str = "resnet18"
    output_stride: int = 16
    multi_grid: tuple[int, ...] | None = (1, 2, 4)
    image_pooling: bool = True
    weights: str | None = None
    decoder: bool = False
    image_size: tuple[int, int] = (120, 240)
    eval_size: tuple[int, int] | None = None
    batch_size: int = 8
    epochs: int = 12
    steps_per_epoch: int | None = None
    val_steps: int | None = None
    learning_rate: float | None = None
    momentum: float = 0.9
    poly_power: float = 0.9
    weight_decay: float = 1e-4
    bn_momentum: float = DEFAULT_BN_MOMENTUM
    scale_range: tuple[float, float] = (1.0, 1.0)
    augment: bool = True
    class_weighting: bool = False
    early_stopping_patience: int | None = 5
    reduce_lr_patience: int = 3
    reduce_lr_factor: float = 0.2
    min_learning_rate: float = 1e-6
    mixed_precision: bool | str = False
    force_mixed_precision: bool = False
    jit_compile: bool = False
    steps_per_execution: int = 1
    input_pipeline: str = "auto"
    backup_every: int | str = "epoch"
    tensorboard: bool = True
    max_train_images: int | None = None
    max_val_images: int | None = None
    seed: int = 42
    input_scale: float = 1.0
    recalibrate_bn: int = 10
    warmup_epochs: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"Unknown recipe {self.recipe!r}; use one of {RECIPES} (e.g. --recipe paper).")
        if isinstance(self.weights, str) and self.weights.strip().lower() in ("none", "scratch"):
            self.weights = None  # the command line's spelling of "from scratch" (--weights none)
        self.image_size = tuple(int(v) for v in self.image_size)  # type: ignore[assignment]
        if self.eval_size is not None:
            self.eval_size = tuple(int(v) for v in self.eval_size)  # type: ignore[assignment]
        if self.multi_grid is not None:
            self.multi_grid = tuple(int(v) for v in self.multi_grid)
        self.scale_range = tuple(float(v) for v in self.scale_range)  # type: ignore[assignment]
        if not self.input_scale > 0:
            raise ValueError(f"input_scale must be > 0, got {self.input_scale}.")
        if self.recalibrate_bn < 0:
            raise ValueError(f"recalibrate_bn must be >= 0 batches, got {self.recalibrate_bn}.")
        if self.input_pipeline not in INPUT_PIPELINES:
            raise ValueError(f"Unknown input_pipeline {self.input_pipeline!r}; use one of {INPUT_PIPELINES}.")
        if int(self.steps_per_execution) < 1:
            raise ValueError(f"steps_per_execution must be >= 1, got {self.steps_per_execution}.")
        if not 0.0 <= float(self.bn_momentum) < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum} (the paper uses 0.9997).")

    @classmethod
    def from_profile(
        cls,
        profile: Profile | str | None = None,
        recipe: str | None = None,
        dataset: str | None = None,
        **overrides,
    ) -> TrainConfig:
        """A config sized by a run profile (the active one when ``profile`` is ``None``).

        With ``dataset`` (a prepared dataset's name, e.g. ``"camvid"``) the
        profile's settings for that dataset (``Profile.dataset_recipes``) replace
        its generic sizes; ``recipe`` and ``overrides`` win over both. Without
        any of them the recipe is ``"seed"``.

        Training crops are taken at the dataset's scale with flips and colour
        jitter (``scale_range=(1, 1)``); the ``paper`` recipe adds random-scale
        crops (0.5 to 2.0) and turns off early stopping (the poly schedule runs
        to its end). The backbone weights are the profile's (``"imagenet"`` in
        ``gpu``) unless ``weights`` is overridden or the backbone has none
        (ResNet-18/34).
        """
        if not isinstance(profile, Profile):
            profile = get_profile(profile)
        specific = dict(profile.dataset_recipes.get(dataset, {})) if dataset else {}
        recipe = recipe or specific.pop("recipe", None) or "seed"
        specific.pop("recipe", None)
        values = dict(
            recipe=recipe,
            backbone=profile.backbone,
            output_stride=profile.output_stride,
            multi_grid=profile.multi_grid,
            image_size=profile.image_size,
            eval_size=profile.eval_size,
            batch_size=profile.batch_size,
            epochs=profile.epochs,
            steps_per_epoch=profile.steps_per_epoch,
            val_steps=profile.val_steps,
            mixed_precision=profile.mixed_precision,
            jit_compile=profile.jit_compile,
            max_val_images=profile.max_eval_images,
            seed=profile.seed,
        )
        if recipe == "paper":
            values.update(scale_range=(0.5, 2.0), early_stopping_patience=None)
        if recipe == "fast":
            values.update(early_stopping_patience=None)
        values.update(specific)
        values.update(overrides)
        if "weights" not in overrides:  # the profile's weights, where the (possibly overridden) backbone has them
            pretrained = values["backbone"] in ("resnet50", "resnet101")
            values["weights"] = profile.weights if pretrained else None
        return cls(**values)

    @property
    def base_learning_rate(self) -> float:
        """The recipe's starting learning rate unless ``learning_rate`` is set."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 1e-2 if self.recipe == "paper" else 1e-3

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))
