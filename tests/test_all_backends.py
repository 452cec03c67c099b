"""The course on all three Keras backends: build, train a step, evaluate and predict (CLI) under each.

Each backend runs in its own subprocess (``KERAS_BACKEND`` is read once per
process); a backend whose package is not installed is skipped. The JAX run is
repeated with TensorFlow made unimportable, so the non-TensorFlow path
(``SegmentationPyDataset`` for data, :mod:`course_utils.deploy.portable` for
inference) is what runs, as on a machine without TensorFlow. Four
subprocesses of a minute or more each: they run with ``make test-backends``
(which sets ``COURSE_TEST_BACKENDS=1`` and installs the ``[backends]`` extra),
not in ``make test``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from course_utils.datasets.minidrive import build_minidrive

WORKER = textwrap.dedent(
    """
    import json, sys
    if sys.argv[3] == "block-tensorflow":  # as on a machine without TensorFlow
        import importlib.abc

        class _NoTensorFlow(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError(f"{name} is blocked by the test (no TensorFlow)")
                return None

        sys.meta_path.insert(0, _NoTensorFlow())
    import numpy as np
    import keras
    from course_utils import evaluate, train as T
    from course_utils.cli import main
    from course_utils.model import build_deeplabv3

    root, out = sys.argv[1], sys.argv[2]
    cfg = T.TrainConfig.from_profile("smoke", recipe="seed", image_size=(32, 64), eval_size=None, batch_size=2,
                                     epochs=1, steps_per_epoch=1, tensorboard=False, max_val_images=2,
                                     jit_compile=keras.backend.backend() == "jax")
    build = lambda n: build_deeplabv3(n, backbone="resnet18", aspp_filters=16, bn_momentum=0.9)
    model, hist = T.train(cfg, root, out + "/run", model=build, verbose=0)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 48, 3)).astype("float32")
    probs = evaluate.predict_proba(model, x, scales=(1.0, 0.75), flip=True)
    code_eval = main(["evaluate", "--checkpoint", out + "/run/best.keras", "--dataset", root, "--splits", "val",
                      "--out", out + "/results.json", "--batch-size", "2"])
    img = sorted(__import__("pathlib").Path(root, "val", "images").glob("*.png"))[0]
    code_pred = main(["predict", str(img), "--checkpoint", out + "/run/best.keras", "--dataset", root,
                      "--out", out + "/pred"])
    print("RESULT " + json.dumps({
        "backend": keras.backend.backend(), "steps": int(model.optimizer.iterations),
        "loss": hist.history["loss"][-1], "probs_shape": list(probs.shape),
        "probs_sum": float(np.abs(probs.sum(-1) - 1).max()), "evaluate": code_eval, "predict": code_pred,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }))
    """
)

pytestmark = pytest.mark.skipif(
    os.environ.get("COURSE_TEST_BACKENDS") != "1", reason="run by `make test-backends` (COURSE_TEST_BACKENDS=1)"
)

BACKENDS = [
    pytest.param("tensorflow", "allow", id="tensorflow"),
    pytest.param(
        "jax",
        "allow",
        id="jax",
        marks=pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="pip install 'jax[cpu]'"),
    ),
    pytest.param(
        "jax",
        "block-tensorflow",
        id="jax-without-tensorflow",
        marks=pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="pip install 'jax[cpu]'"),
    ),
    pytest.param(
        "torch",
        "allow",
        id="torch",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (the [backends] extra)"
        ),
    ),
]


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return build_minidrive(tmp_path_factory.mktemp("backends") / "minidrive", 4, 2, 0, 32, 64, seed=5)


@pytest.mark.slow
@pytest.mark.backends
@pytest.mark.parametrize(("backend", "tensorflow"), BACKENDS)
def test_backend_builds_trains_evaluates_and_predicts(backend, tensorflow, tiny_dataset, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(
        os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES=""
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tiny_dataset), str(tmp_path), tensorflow],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0 and "RESULT " in done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ")[1])
    assert result["backend"] == backend and result["steps"] == 1 and np.isfinite(result["loss"])
    assert result["probs_shape"] == [1, 32, 48, 7] and result["probs_sum"] < 1e-4
    assert result["evaluate"] == 0 and result["predict"] == 0, done.stderr[-2000:]
    scores = json.loads((tmp_path / "results.json").read_text())
    assert 0.0 <= scores["splits"]["val"]["miou"] <= 1.0
    assert len(list((tmp_path / "pred").glob("*_mask.png"))) == 1
    if tensorflow == "block-tensorflow":
        assert not result["tensorflow_imported"]


DATA_PARALLEL_WORKER = textwrap.dedent(
    """
    import json, sys
    from course_utils import train as T
    from course_utils.training import parallel
    from course_utils.model import build_deeplabv3

    root, out = sys.argv[1], sys.argv[2]
    distribution = parallel.use_data_parallel()  # all local devices: the CPU split in two
    cfg = T.TrainConfig.from_profile("smoke", recipe="seed", image_size=(32, 64), eval_size=None, batch_size=2,
                                     epochs=1, steps_per_epoch=2, tensorboard=False, max_val_images=2,
                                     jit_compile=True)
    build = lambda n: build_deeplabv3(n, backbone="resnet18", aspp_filters=16, bn_momentum=0.9)
    model, hist = T.train(cfg, root, out + "/run", model=build, verbose=0)
    kernel = model.trainable_variables[0].value
    print("RESULT " + json.dumps({
        "devices": int(distribution.device_mesh.devices.size), "steps": int(model.optimizer.iterations),
        "loss": hist.history["loss"][-1], "sharding": str(kernel.sharding),
    }))
    """
)


@pytest.mark.slow
@pytest.mark.backends
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="pip install 'jax[cpu]'")
def test_course_training_runs_data_parallel_over_local_devices(tiny_dataset, tmp_path):
    """train.train (PyDataset pipeline, the course's model) under keras.distribution.DataParallel, 2 devices."""
    script = tmp_path / "dp_worker.py"
    script.write_text(DATA_PARALLEL_WORKER)
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tiny_dataset), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0 and "RESULT " in done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ")[1])
    assert result["devices"] == 2 and result["steps"] == 2 and np.isfinite(result["loss"])
    assert "'batch': 2" in result["sharding"]  # the weights live on the 2-device mesh, replicated
