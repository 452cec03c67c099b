"""Tests of the new exercises of notebooks 06, 07 and 09 (``course_utils.exercises.updates_b``)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.checks import ExerciseError
from course_utils.exercises import updates_b as ex
from course_utils.reference_runs import load_reference_run


def test_curve_diagnosis_solution_passes_and_wrong_answers_get_a_hint(capsys):
    ex.check_curve_diagnosis(None)
    assert "Not attempted" in capsys.readouterr().out
    ex.check_curve_diagnosis(ex.solution_curve_diagnosis())
    assert "Correct" in capsys.readouterr().out
    wrong = dict(ex.solution_curve_diagnosis())
    wrong["A"], wrong["C"] = wrong["C"], wrong["A"]
    with pytest.raises(ExerciseError, match="Hint"):
        ex.check_curve_diagnosis(wrong)
    with pytest.raises(ExerciseError, match="not one of the causes"):
        ex.check_curve_diagnosis({**ex.solution_curve_diagnosis(), "B": "bad luck"})


def test_diagnosis_histories_show_their_causes():
    runs = ex.diagnosis_histories()
    answer = ex.solution_curve_diagnosis()
    assert set(answer.values()) == set(ex.CURVE_CAUSES)
    by_cause = {answer[k]: runs[k] for k in runs}
    bn = by_cause["stale BatchNorm statistics"]
    assert min(bn["val_loss"]) > 10 * max(bn["loss"][-5:])
    weighted = by_cause["class-weighted training loss against an unweighted validation loss"]
    assert all(v < t for v, t in zip(weighted["val_loss"], weighted["loss"]))
    over = by_cause["over-fitting"]
    assert over["loss"][-1] < over["loss"][5] and over["val_loss"][-1] > min(over["val_loss"]) + 0.1
    high = by_cause["learning rate too high"]
    assert min(high["loss"]) > 1.0 and np.std(np.diff(high["loss"])) > 0.1


def test_overpredicted_class_on_the_stored_camvid_run(capsys):
    ref = load_reference_run("camvid-cpu")
    cm, names = ref.confusion_matrix("val"), ref.meta["classes"]
    name, ratio = ex.solution_overpredicted_class(cm, names)
    ex.check_overpredicted_class((name, ratio), cm, names)
    assert "Correct" in capsys.readouterr().out
    assert ratio > 1
    other = next(n for n in names if n != name)
    with pytest.raises(ExerciseError, match="Hint"):
        ex.check_overpredicted_class((other, ratio), cm, names)
    with pytest.raises(ExerciseError, match="ratio"):
        ex.check_overpredicted_class((name, ratio + 1), cm, names)
    # precision = recall / over-prediction ratio
    from course_utils import metrics

    precision, recall = metrics.precision_recall(cm)
    np.testing.assert_allclose(precision, recall / ex.overprediction(cm))


def test_seed_head_macs_solution_matches_model_report(capsys):
    ex.check_seed_head_macs(None, (15, 30), 7)
    assert "Not attempted" in capsys.readouterr().out
    answer = ex.solution_seed_head_macs((15, 30), 7)
    assert answer == 240 * 480 * (256 * 64 + 64 * 7)
    ex.check_seed_head_macs(answer, (15, 30), 7)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="single 1x1"):
        ex.check_seed_head_macs(240 * 480 * 256 * 7, (15, 30), 7)
    with pytest.raises(ExerciseError, match="Hint"):
        ex.check_seed_head_macs(answer + 1, (15, 30), 7)


def test_seed_head_does_not_commute_with_upsampling():
    import keras

    head = ex.seed_head_model((4, 4), 3, channels=8, hidden=4, factor=4)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 8)).astype("float32")
    up_first = head(x).numpy()
    inputs = keras.Input((4, 4, 8))
    y = head.get_layer("classes_1x1")(head.get_layer("hidden_1x1")(inputs))
    y = keras.layers.UpSampling2D(4, interpolation="bilinear")(y)
    classify_first = keras.Model(inputs, y)(x).numpy()
    assert np.max(np.abs(up_first - classify_first)) > 1e-3


def test_label_safe_augment_solution_passes(capsys):
    ex.check_label_safe_augment(ex.solution_label_safe_augment)
    assert "Correct" in capsys.readouterr().out


def test_label_safe_augment_catches_the_usual_bugs(capsys):
    import cv2

    def stub(image, label, crop, rng):
        raise NotImplementedError

    ex.check_label_safe_augment(stub)
    assert "Not attempted" in capsys.readouterr().out

    def bilinear_label(image, label, crop, rng):
        image, label = ex.solution_label_safe_augment(image, label, crop, rng)
        blurred = cv2.resize(label, (label.shape[1] // 2, label.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
        return image, cv2.resize(blurred, (crop[1], crop[0]), interpolation=cv2.INTER_LINEAR)

    with pytest.raises(ExerciseError, match="nearest neighbour"):
        ex.check_label_safe_augment(bilinear_label)

    def flip_image_only(image, label, crop, rng):
        image, label = ex.solution_label_safe_augment(image, label, crop, rng)
        return image[:, ::-1], label

    with pytest.raises(ExerciseError, match="not aligned"):
        ex.check_label_safe_augment(flip_image_only)

    def no_zoom_out(image, label, crop, rng):
        h, w = label.shape
        top, left = rng.integers(0, h - crop[0] + 1), rng.integers(0, w - crop[1] + 1)
        return image[top : top + crop[0], left : left + crop[1]], label[top : top + crop[0], left : left + crop[1]]

    with pytest.raises(ExerciseError, match="void padding"):
        ex.check_label_safe_augment(no_zoom_out)

    def wrong_size(image, label, crop, rng):
        return image, label

    with pytest.raises(ExerciseError, match="must be"):
        ex.check_label_safe_augment(wrong_size)


# --------------------------------------------------------------------------- 06: poly end, warm-up peak, lr experiment


def test_poly_lr_end_solution_passes_and_bugs_are_caught(capsys):
    ex.check_poly_lr_end(ex.solution_poly_lr_end)
    assert "Correct!" in capsys.readouterr().out

    def stub(step):
        raise NotImplementedError

    ex.check_poly_lr_end(stub)
    assert "Not attempted" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="complex"):
        ex.check_poly_lr_end(lambda step: 0.01 * (1 - step / 1000) ** 0.9)
    with pytest.raises(ExerciseError, match="not 0"):
        ex.check_poly_lr_end(lambda step: 0.01 * abs(1 - step / 1000) ** 0.9)


@pytest.mark.parametrize("total, warmup", [(100, 10), (20, 1), (50, 0), (12, 12)])
def test_warmup_peak_solution_matches_poly_decay(capsys, total, warmup):
    assert ex.solution_warmup_peak(total, warmup) == ex.warmup_peak_step(total, warmup)
    ex.check_warmup_peak(ex.solution_warmup_peak(total, warmup), total, warmup)
    assert "Correct!" in capsys.readouterr().out


def test_warmup_peak_wrong_answer_gets_a_hint():
    with pytest.raises(ExerciseError, match="ramp"):
        ex.check_warmup_peak(10, 100, 10)  # off by one: the ramp reaches 1 at step 9


def test_lr_experiment_checker(capsys):
    base = {"loss": [1.2, 0.9]}
    worse = {"loss": [2.5, 2.3]}
    ex.check_lr_experiment(None, None, base)
    assert "Not attempted" in capsys.readouterr().out
    ex.check_lr_experiment("higher", worse, base)
    assert "Correct!" in capsys.readouterr().out
    ex.check_lr_experiment("higher", {"loss": [float("nan")]}, base)  # diverged counts as higher
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="You predicted lower"):
        ex.check_lr_experiment("lower", worse, base)
    with pytest.raises(ExerciseError, match="predict one of"):
        ex.check_lr_experiment("much worse", worse, base)


def test_diagnosis_run_d_spikes_and_plateaus_high():
    high = ex.diagnosis_histories()["D"]
    loss = np.asarray(high["loss"])
    assert np.max(np.diff(loss)) > 0.5  # spikes
    assert np.median(loss[-5:]) > 1.0  # high plateau, no convergence
    assert ex.LOSS_TITLE.startswith("Loss")
