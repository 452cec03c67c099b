"""The course under another Keras backend: JAX trains, evaluates, and its weights load under TensorFlow.

The pytest process already runs Keras on TensorFlow, so the JAX part runs in a
subprocess with ``KERAS_BACKEND=jax`` (skipped when JAX is not installed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_utils.datasets.minidrive import build_minidrive

JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    from course_utils import train as T
    from course_utils.model import build_deeplabv3
    from course_utils.data.pydataset import SegmentationPyDataset
    tf_after_import = "tensorflow" in sys.modules  # (Keras itself may import it later when installed)

    root, out = sys.argv[1], sys.argv[2]
    # jit_compile=True as in the gpu profile (the JAX machines): one XLA program per step. Without
    # it JAX runs the step op by op and compiles each op on its own (about 3,000 small compiles,
    # three times the wall time on 2 cores).
    cfg = T.TrainConfig.from_profile("smoke", recipe="paper", image_size=(32, 64), eval_size=None, batch_size=2,
                                     epochs=1, steps_per_epoch=2, tensorboard=False, max_val_images=2,
                                     bn_momentum=0.9, weight_decay=1e-4, jit_compile=True)
    build = lambda n: build_deeplabv3(n, backbone="resnet18", aspp_filters=16, decoder=True, bn_momentum=0.9)
    model, hist = T.train(cfg, root, out + "/run", model=build, verbose=0)
    val = SegmentationPyDataset(root, "val", 2, training=False, image_size=(24, 40))
    loss, miou = model.evaluate(val, verbose=0)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 40, 56, 3)).astype("float32")
    np.save(out + "/x.npy", x)
    np.save(out + "/logits.npy", keras.ops.convert_to_numpy(model(x, training=False)))
    model.save_weights(out + "/jax.weights.h5")
    print("RESULT " + json.dumps({
        "steps": int(model.optimizer.iterations), "loss": hist.history["loss"][-1], "eval_loss": loss,
        "eval_miou": miou, "val_miou": hist.history["val_miou"][-1], "l2_terms": len(model.losses),
        "tensorflow_imported": tf_after_import,
    }))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install 'jax[cpu]')")
def test_jax_backend_trains_evaluates_and_weights_load_under_tensorflow(tmp_path):
    import keras

    from course_utils.model import build_deeplabv3

    root = build_minidrive(tmp_path / "minidrive", 4, 2, 0, 32, 64, seed=4)
    script = tmp_path / "jax_run.py"
    script.write_text(JAX_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, str(script), str(root), str(tmp_path)], capture_output=True, text=True, env=env, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.split("RESULT ")[1])
    assert result["steps"] == 2
    assert np.isfinite([result["loss"], result["eval_loss"]]).all()
    assert 0.0 <= result["eval_miou"] <= 1.0 and 0.0 <= result["val_miou"] <= 1.0
    assert result["l2_terms"] > 0  # the paper recipe's L2 weight decay is in the JAX loss too
    assert not result["tensorflow_imported"]  # course_utils.train/model/pydataset import no TensorFlow

    # the same architecture under TensorFlow loads the JAX weights and gives the same logits
    assert keras.backend.backend() == "tensorflow"
    model = build_deeplabv3(7, backbone="resnet18", aspp_filters=16, decoder=True, bn_momentum=0.9)
    model.load_weights(Path(tmp_path) / "jax.weights.h5")
    x = np.load(tmp_path / "x.npy")
    expected = np.load(tmp_path / "logits.npy")
    got = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
