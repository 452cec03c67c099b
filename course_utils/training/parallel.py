"""Data-parallel training with Keras' own distribution API (``keras.distribution``, JAX backend).

One model, its weights replicated on every device; each step's *global*
batch is split over the devices (and over the processes, each feeding its
share), the gradients are averaged, and every replica applies the same
update. Keras expresses this as :class:`keras.distribution.DataParallel`:

- **one process, all its devices** (the GPUs of one machine, or a CPU split
  into several devices with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``):
  :func:`use_data_parallel` before the model is built;
- **several processes** (one per machine, or several on one): each calls
  :func:`initialize_processes` first, with the same coordinator address, the
  number of processes and its own id (``keras.distribution.initialize``),
  then :func:`use_data_parallel`; ``model.fit`` in process ``p`` gets that
  process's share of each global batch (:func:`process_share`).

**Batch sizes.** The *global* batch is what one optimizer step sees; each
of ``R`` replicas computes on ``global / R`` images (the *per-replica*
batch), each of ``P`` processes feeds ``global / P``. Keep the global batch
when adding devices and the result is the same training (more devices just
make each step faster); grow it with the devices and scale the learning rate
with it (:func:`scaled_learning_rate`, the linear rule of Goyal et al. 2017,
with a warm-up).

**BatchNorm across replicas.** Under JAX the training step is *one* program
over the sharded global batch (SPMD): a BatchNorm's mean and variance are
reductions over the global batch axis, which XLA computes across the devices
with all-reduces. BatchNorm statistics are therefore **synchronised** over all
replicas and processes, with nothing to switch on; the two-process test
(``tests/test_parallel.py``) shows it: two processes of 2 images each train
exactly as one process with the 4 images does, which per-replica statistics
would not. (Under TensorFlow, ``MirroredStrategy`` on one host computes
per-replica statistics unless :func:`course_utils.training.precision.use_synchronized_batchnorm`
is applied.)

On CPU, cross-process collectives need ``gloo``
(``jax.config.update("jax_cpu_collectives_implementation", "gloo")``), which
:func:`initialize_processes` sets when JAX runs on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ParallelPlan",
    "BATCHNORM_POLICY",
    "initialize_processes",
    "use_data_parallel",
    "plan",
    "per_replica_batch",
    "scaled_learning_rate",
    "process_share",
    "compare_runs",
    "stored_comparison",
]

#: How BatchNorm statistics are computed under :func:`use_data_parallel` (stated, and tested).
BATCHNORM_POLICY = "synchronised: one SPMD step over the global batch, moments all-reduced across replicas"


def _require_jax() -> None:
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"keras.distribution data parallelism needs the JAX backend (KERAS_BACKEND=jax), not "
            f"{keras.backend.backend()!r}; under TensorFlow use course_utils.training.precision.get_strategy('mirrored')."
        )


def initialize_processes(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process run (``keras.distribution.initialize``); call before any JAX computation.

    Args:
        coordinator: ``host:port`` of process 0, the same in every process.
        num_processes: how many processes take part.
        process_id: this process, ``0 .. num_processes - 1``.
    """
    _require_jax()
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id} of {num_processes} processes.")
    if ":" not in coordinator:
        raise ValueError(f"coordinator must be 'host:port' (the address of process 0), got {coordinator!r}.")
    import jax
    import keras

    if os.environ.get("JAX_PLATFORMS", "cpu").split(",")[0] in ("cpu", ""):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(coordinator, num_processes, process_id)


def use_data_parallel(devices: Sequence | None = None, auto_shard_dataset: bool = False):
    """Make every model built from now on data parallel over ``devices`` (default: all, all processes).

    Args:
        devices: the devices (default ``keras.distribution.list_devices()``: every device of every process).
        auto_shard_dataset: let Keras shard a ``tf.data.Dataset`` over the processes. Off by default:
            each process feeds its own share (:func:`process_share`, or a
            :class:`~course_utils.data.pydataset.SegmentationPyDataset` of its own images), which also
            works for NumPy arrays and ``PyDataset`` inputs.

    Returns:
        The :class:`keras.distribution.DataParallel` set as Keras' global distribution.
    """
    _require_jax()
    import keras

    devices = list(devices) if devices is not None else keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=auto_shard_dataset)
    keras.distribution.set_distribution(distribution)
    return distribution


def per_replica_batch(global_batch: int, replicas: int) -> int:
    """Images per replica; the global batch must split evenly."""
    if replicas < 1 or global_batch < 1:
        raise ValueError(f"Need at least 1 replica and 1 image per step, got {replicas} and {global_batch}.")
    if global_batch % replicas:
        raise ValueError(
            f"A global batch of {global_batch} does not split over {replicas} replicas: use a multiple of "
            f"{replicas} (e.g. {replicas * max(1, round(global_batch / replicas))})."
        )
    return global_batch // replicas


def scaled_learning_rate(base_lr: float, global_batch: int, base_batch: int) -> float:
    """The linear scaling rule: the learning rate grows with the global batch (``base_lr * global / base``)."""
    if base_lr <= 0 or global_batch < 1 or base_batch < 1:
        raise ValueError("base_lr must be > 0 and both batch sizes >= 1.")
    return base_lr * global_batch / base_batch


def process_share(batches: np.ndarray, process_id: int, num_processes: int) -> np.ndarray:
    """This process's rows of each global batch.

    Args:
        batches: ``[steps, global_batch, ...]``, the global batches in order.

    Returns:
        ``[steps * global_batch / P, ...]``: fed to ``model.fit(..., batch_size=global_batch / P,
        shuffle=False)``, step ``k`` of process ``p`` holds rows ``p * G/P .. (p + 1) * G/P`` of
        global batch ``k``, as Keras assembles the global batch from the processes in order.
    """
    steps, global_batch = batches.shape[:2]
    per = per_replica_batch(global_batch, num_processes)
    share = batches[:, process_id * per : (process_id + 1) * per]
    return share.reshape(steps * per, *batches.shape[2:])


@dataclass(frozen=True)
class ParallelPlan:
    """Batch sizes and learning rate of a data-parallel run, in words a student can check."""

    global_batch: int
    replicas: int
    processes: int
    per_replica: int
    per_process: int
    learning_rate: float
    batchnorm: str = BATCHNORM_POLICY

    def describe(self) -> str:
        """One line per quantity."""
        return "\n".join(
            (
                f"global batch     {self.global_batch} images per optimizer step",
                f"replicas         {self.replicas} ({self.processes} process(es))",
                f"per replica      {self.per_replica} images",
                f"per process      {self.per_process} images fed by each process",
                f"learning rate    {self.learning_rate:g}",
                f"BatchNorm        {self.batchnorm}",
            )
        )


def plan(
    global_batch: int, replicas: int, processes: int = 1, base_lr: float = 1e-3, base_batch: int | None = None
) -> ParallelPlan:
    """The per-replica and per-process batches of a global batch, and the scaled learning rate.

    Args:
        global_batch: images per optimizer step.
        replicas: devices over all processes.
        processes: processes feeding data (each ``global / processes``).
        base_lr: the learning rate tuned for ``base_batch``.
        base_batch: the batch ``base_lr`` was tuned for (default: ``global_batch``, i.e. no scaling).
    """
    if replicas % processes:
        raise ValueError(f"{replicas} replicas do not split over {processes} processes.")
    per_replica = per_replica_batch(global_batch, replicas)
    lr = scaled_learning_rate(base_lr, global_batch, base_batch or global_batch)
    return ParallelPlan(global_batch, replicas, processes, per_replica, global_batch // processes, lr)


# ------------------------------------------------------------------ the two-process check

#: Modes of :func:`_worker`: no distribution; DataParallel over the local devices; over processes.
MODES = ("single", "devices", "processes")


def _tiny_model():
    import keras

    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.5)(x)
    x = keras.layers.ReLU()(x)
    return keras.Model(inputs, keras.layers.Conv2D(3, 1, name="logits")(x))


def _worker(mode: str, out: str, steps: int, global_batch: int, coordinator: str | None, processes: int, pid: int):
    """Train the tiny model for ``steps`` steps in one of :data:`MODES`; write losses and weights to ``out``."""
    import keras

    if mode == "processes":
        initialize_processes(coordinator, processes, pid)
    keras.utils.set_random_seed(0)
    if mode != "single":
        use_data_parallel()
    model = _tiny_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (steps, global_batch, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, (steps, global_batch, 8, 8)).astype("int32")
    share = processes if mode == "processes" else 1
    losses: list[float] = []
    logger = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(
        process_share(x, pid, share),
        process_share(y, pid, share),
        batch_size=global_batch // share,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[logger],
    )
    weights = {f"w{i}": np.asarray(keras.ops.convert_to_numpy(w)) for i, w in enumerate(model.get_weights())}
    import jax

    np.savez(
        out,
        losses=np.asarray(losses),
        devices=len(jax.devices()),
        local_devices=len(jax.local_devices()),
        processes=jax.process_count(),
        **weights,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compare_runs(folder: str | os.PathLike, steps: int = 3, global_batch: int = 4, timeout: float = 600) -> dict:
    """Train the same tiny model (Conv-BatchNorm-ReLU-Conv) with the same global batch three ways, and compare.

    1. one process, one device, no distribution (the reference);
    2. one process, ``DataParallel`` over 2 devices (the CPU split in two);
    3. two processes of one device each, joined by ``keras.distribution.initialize``
       on a local coordinator, each feeding half of every global batch.

    Returns:
        ``{"runs": {...}, "max_abs_diff": {...}}``: per run its devices and
        per-step losses; the largest absolute difference of losses and of
        every weight (BatchNorm moving statistics included) from the reference.
    """
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")

    def command(mode, pid=0, coordinator="", processes=1):
        out = folder / f"{mode}-{pid}.npz"
        args = [sys.executable, "-m", "course_utils.training.parallel", mode, str(out), str(steps), str(global_batch)]
        return args + [coordinator or "-", str(processes), str(pid)], out

    def env(devices):
        return dict(base_env, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")

    jobs = []
    cmd, single = command("single")
    jobs.append(subprocess.Popen(cmd, env=env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    cmd, local = command("devices")
    jobs.append(subprocess.Popen(cmd, env=env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    coordinator = f"127.0.0.1:{_free_port()}"
    outs = []
    for pid in range(2):
        cmd, out = command("processes", pid, coordinator, 2)
        outs.append(out)
        jobs.append(subprocess.Popen(cmd, env=env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        for job in jobs:
            _, err = job.communicate(timeout=timeout)
            if job.returncode != 0:
                tail = " | ".join(err.strip().splitlines()[-3:])
                raise RuntimeError(f"data-parallel worker {' '.join(job.args[3:4])} failed: {tail}")
    finally:
        for job in jobs:
            if job.poll() is None:
                job.kill()
    runs = {"one device": single, "2 devices, 1 process": local, "2 processes (process 0)": outs[0]}
    runs["2 processes (process 1)"] = outs[1]
    loaded = {name: dict(np.load(path)) for name, path in runs.items()}
    ref = loaded["one device"]
    result: dict = {"steps": steps, "global_batch": global_batch, "batchnorm": BATCHNORM_POLICY, "runs": {}}
    result["max_abs_diff"] = {}
    for name, data in loaded.items():
        result["runs"][name] = {
            "devices": int(data["devices"]),
            "processes": int(data["processes"]),
            "losses": [round(float(v), 6) for v in data["losses"]],
        }
        if name != "one device":
            weights = [k for k in ref if k.startswith("w")]
            result["max_abs_diff"][name] = {
                "losses": float(np.max(np.abs(data["losses"] - ref["losses"]))),
                "weights": float(max(np.max(np.abs(data[k] - ref[k])) for k in weights)),
            }
    return result


#: Where the course keeps the result of ``python -m course_utils.training.parallel compare`` (read by notebook 09).
STORED_COMPARISON = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "reference_runs", "data-parallel", "compare_runs.json"
)


def stored_comparison() -> dict:
    """The stored result of :func:`compare_runs` (one device vs 2 devices vs 2 processes)."""
    import json

    with open(STORED_COMPARISON, encoding="utf-8") as fh:
        return json.load(fh)


def _main(argv: list[str]) -> int:
    """``compare OUT.json [STEPS] [GLOBAL_BATCH]``: run :func:`compare_runs`, write its result; else a worker."""
    import json
    import platform
    import tempfile
    import time

    if argv and argv[0] == "compare":
        out = argv[1]
        steps = int(argv[2]) if len(argv) > 2 else 3
        batch = int(argv[3]) if len(argv) > 3 else 4
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = compare_runs(tmp, steps, batch)
        import jax
        import keras

        result["command"] = f"python -m course_utils.training.parallel compare {out} {steps} {batch}"
        result["seconds"] = round(time.perf_counter() - start, 1)
        result["versions"] = {"keras": keras.__version__, "jax": jax.__version__, "python": platform.python_version()}
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["max_abs_diff"], indent=2))
        return 0
    # a worker of compare_runs: MODE OUT STEPS GLOBAL_BATCH COORDINATOR PROCESSES PID
    mode, out, steps, batch, coordinator, processes, pid = argv[:7]
    if mode not in MODES:
        raise SystemExit(f"mode must be 'compare' or one of {MODES}, got {mode!r}")
    _worker(mode, out, int(steps), int(batch), None if coordinator == "-" else coordinator, int(processes), int(pid))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
