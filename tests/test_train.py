"""A short real training run: checkpoints every epoch, resumes after an interruption, exports a loadable model."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from fer_core.inference.classifier import Classifier
from fer_core.training.train import recipe, train


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt  # as if the machine went away after the first epoch


def test_train_checkpoint_resume_export(fer_data, tmp_path):
    out = tmp_path / "run"
    config = recipe("vgg", out=str(out), epochs=2, limit=300, width=8, batch_size=32)
    with pytest.raises(KeyboardInterrupt):
        train(config, data=fer_data, callbacks=[Interrupt()])
    state = json.loads((out / "state.json").read_text())
    assert state["epochs_done"] == 1 and (out / "checkpoint.keras").is_file()
    assert not (out / "model.keras").exists()

    with pytest.raises(FileExistsError, match="--resume"):
        train(config, data=fer_data)
    train(config, data=fer_data, resume=True)
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert (out / "log.csv").read_text().count("\n") == 3  # header + one row per epoch

    classifier = Classifier.load(out)
    meta = classifier.metadata
    assert classifier.labels == ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
    assert meta["training"]["epochs_run"] == 2 and meta["training"]["config"]["width"] == 8
    assert meta["data"]["class_counts"]["PrivateTest"]["Disgust"] == 55
    assert not any(l.name.startswith("random_") for l in classifier.model.layers)  # augmentation stripped
    probs = classifier.predict_proba(fer_data.images[:5])
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_resume_on_a_fresh_clone_exports_the_checkpoint_as_the_best(fer_data, tmp_path, caplog):
    """Only checkpoint.keras + state.json are committed between sessions; best.keras is not. A resume
    without it must not export other weights than the best epoch its metadata names."""
    out = tmp_path / "run"
    config = recipe("vgg", out=str(out), epochs=2, limit=300, width=8, batch_size=32)
    train(config, data=fer_data)
    state = json.loads((out / "state.json").read_text())
    last = state["history"][-1]
    # as on a fresh clone where epoch 1 had been the best: its weights were in the ignored best.keras
    state["best_epoch"], state["best_val_accuracy"] = 1, last["val_accuracy"] + 0.01
    (out / "state.json").write_text(json.dumps(state))
    for name in ("best.keras", "model.keras", "metadata.json"):
        (out / name).unlink()

    train(config, data=fer_data, resume=True)
    assert (out / "best.keras").read_bytes() == (out / "checkpoint.keras").read_bytes()
    state = json.loads((out / "state.json").read_text())
    assert (state["best_epoch"], state["best_val_accuracy"]) == (2, last["val_accuracy"])
    meta = Classifier.load(out).metadata
    assert meta["training"]["best_epoch"] == 2
    assert meta["metrics"]["PublicTest"]["accuracy"] == last["val_accuracy"]
    assert "epoch 1's weights" in caplog.text and "gone" in caplog.text


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint.keras"):
        train(recipe("vgg", out=str(tmp_path)), resume=True)


def test_student_distils_from_the_teacher_with_ema_and_resumes(fer_data, tmp_path):
    """The student recipe: teacher targets cached once, EMA weights validated, resumable, exported to LiteRT."""
    out = tmp_path / "student"
    config = recipe("student", out=str(out), epochs=2, limit=256, width=4, batch_size=64)
    assert config.teacher and config.ema and config.distill_weight == 0.8
    with pytest.raises(KeyboardInterrupt):
        train(config, data=fer_data, callbacks=[Interrupt()])
    teacher = np.load(out / "teacher.npz")
    assert teacher["probabilities"].shape == (256, 7) and str(teacher["tta"]) == "flip"
    mtime = (out / "teacher.npz").stat().st_mtime
    train(config, data=fer_data, resume=True)
    assert (out / "teacher.npz").stat().st_mtime == mtime  # not recomputed on resume
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert all(0 <= h["val_accuracy"] <= 1 for h in state["history"])
    classifier = Classifier.load(out)
    assert classifier.runtime == "litert" and classifier.metadata["architecture"]["name"] == "student"
    assert classifier.metadata["training"]["config"]["teacher"] == "models/mix3c"
    keras_probs = Classifier.load(out, runtime="keras").predict_proba(fer_data.images[:8])
    np.testing.assert_allclose(classifier.predict_proba(fer_data.images[:8]), keras_probs, atol=1e-4)


@pytest.mark.parametrize("averages_in_model", [True, False])
def test_a_resumed_ema_run_swaps_the_raw_weights_back_at_its_first_epoch(averages_in_model):
    """The EMA swap callback is told what a resumed checkpoint holds: with the averages in the model,
    the first epoch's start swaps the raw weights back in; a fresh run starts with the raw weights.

    Guards the one private Keras attribute train.py sets: were it renamed, no swap would happen.
    """
    from fer_core.training.train import _swap_ema_weights

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.5, use_ema=True, ema_momentum=0.5), loss="mse")
    for _ in range(3):  # not fit(): its end copies the averages into the model
        model.train_on_batch(rng.normal(size=(8, 4)), rng.normal(size=(8, 2)))
    swap = _swap_ema_weights(averages_in_model=averages_in_model)
    swap.set_model(model)
    swap.set_params({"epochs": 1})
    before = model.get_weights()
    swap.on_epoch_begin(0)
    changed = any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert changed == averages_in_model


def test_mixup_mixes_images_and_targets_alike():
    """Each mixed example is a convex mix of two of its batch, with the same weight for image and target.

    Image k carries a 1 in pixel k only, so a mixed image names its two sources and their weights
    exactly, whatever random state earlier tests left.
    """
    from fer_core.training.train_inputs import mixup_batches

    rng = np.random.default_rng(0)
    x = np.zeros((64, 48, 48, 1), dtype=np.float32)
    x.reshape(64, -1)[np.arange(64), np.arange(64)] = 1
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, 64)]
    images, targets = next(iter(mixup_batches(x, y, 32, 0.2, seed=1)))
    images, targets = np.asarray(images).reshape(32, -1), np.asarray(targets)
    assert images.shape == (32, 48 * 48) and targets.shape == (32, 7)
    np.testing.assert_allclose(targets.sum(axis=1), 1, atol=1e-5)
    weights = []
    for image, target in zip(images, targets):
        signature = image[:64]
        assert not image[64:].any() and abs(signature.sum() - 1) < 1e-5
        sources = np.flatnonzero(signature > 1e-7)
        assert 1 <= len(sources) <= 2
        first = int(np.argmax(signature))
        other = int(sources[sources != first][0]) if len(sources) == 2 else first
        w = float(signature[first])
        assert w >= 0.5 - 1e-6  # the first example dominates
        np.testing.assert_allclose(w * y[first] + (1 - w) * y[other], target, atol=1e-5)
        weights.append(w)
    assert min(weights) < 0.95  # examples really are mixed


def test_train_with_mixup_runs(fer_data, tmp_path):
    out = tmp_path / "mixup"
    train(recipe("vgg", out=str(out), epochs=1, limit=200, width=4, batch_size=32, mixup=0.2), data=fer_data)
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 1
    assert Classifier.load(out).metadata["training"]["config"]["mixup"] == 0.2


def test_camera_layers_change_training_faces_only(fer_data):
    from fer_core.training.camera_layers import RandomEyeBand, RandomJpeg

    faces = (fer_data.split("PublicTest")[0][:64, :, :, None] / 255.0).astype("float32")
    band = RandomEyeBand(rate=1.0, seed=1)
    np.testing.assert_array_equal(np.asarray(band(faces, training=False)), faces)
    banded = np.asarray(band(faces, training=True))
    changed = np.any(banded != faces, axis=(0, 2, 3))  # rows touched in any face
    assert changed[16:20].all() and not changed[:8].any() and not changed[-8:].any()  # around the eyes only
    assert banded[banded != faces].max() <= 0.2  # dark: like glasses
    assert np.all(np.any(banded != faces, axis=(1, 2, 3)) | np.all(faces[:, 12:26, 6:42] <= 0.2, axis=(1, 2, 3)))

    jpeg = RandomJpeg(rate=1.0, quality=(10, 12), seed=1)
    np.testing.assert_array_equal(np.asarray(jpeg(faces, training=False)), faces)
    compressed = np.asarray(jpeg(faces, training=True))
    difference = np.abs(compressed - faces).mean(axis=(1, 2, 3))
    assert (difference > 0.005).all() and (difference < 0.08).all()  # visibly degraded, still the same face
    half = np.asarray(RandomJpeg(rate=0.5, seed=3)(faces, training=True))
    untouched = np.all(half == faces, axis=(1, 2, 3)).mean()
    assert 0.25 < untouched < 0.75


def test_train_with_camera_augmentation_resumes_and_exports(fer_data, data_path, tmp_path):
    """The custom layers survive a checkpoint round trip, resumed by the CLI in a fresh process
    (where nothing has imported them yet), and leave no trace in the exported model."""
    out = tmp_path / "camera"
    config = recipe("vgg", out=str(out), epochs=2, limit=200, width=4, batch_size=32, augment="camera")
    with pytest.raises(KeyboardInterrupt):
        train(config, data=fer_data, callbacks=[Interrupt()])
    resumed = subprocess.run(
        [sys.executable, "-m", "fer_core", "train", "--out", str(out), "--resume"],
        env={**os.environ, "FER_DATA": str(data_path)}, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [h["epoch"] for h in json.loads((out / "state.json").read_text())["history"]] == [1, 2]
    model = Classifier.load(out, runtime="keras")
    assert not [layer.name for layer in model.model.layers if layer.name.startswith("random_")]
    images, _ = fer_data.split("PrivateTest")
    probs = model.predict_proba(images[:16], "none")
    assert probs.shape == (16, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_mixed_bfloat16_training_resumes_in_bfloat16_and_exports_float32(fer_data, tmp_path):
    """--precision mixed_bfloat16: the training graph computes in bfloat16 (kept across a resume),
    the process's global policy is untouched, and the exported model and its LiteRT file are float32."""
    out = tmp_path / "bf16"
    config = recipe("vgg", out=str(out), epochs=2, limit=200, width=4, batch_size=32, precision="mixed_bfloat16")
    with pytest.raises(KeyboardInterrupt):
        train(config, data=fer_data, callbacks=[Interrupt()])
    assert keras.config.dtype_policy().name == "float32"
    checkpoint = keras.models.load_model(out / "checkpoint.keras")
    convs = [layer for layer in checkpoint.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(l.compute_dtype == "bfloat16" and l.variable_dtype == "float32" for l in convs)
    assert checkpoint.layers[-1].compute_dtype == "float32"  # softmax stays float32
    train(config, data=fer_data, resume=True)
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2] and state["config"]["precision"] == "mixed_bfloat16"
    exported = Classifier.load(out, runtime="keras")
    assert all(l.compute_dtype == "float32" for l in exported.model.layers if l.weights)
    images = fer_data.split("PublicTest")[0][:16]
    np.testing.assert_allclose(Classifier.load(out).predict_proba(images), exported.predict_proba(images), atol=1e-4)


def test_teacher_labels_the_augmented_view_the_student_sees(fer_data):
    """teacher_view_batches: target = w * teacher(view) + (1 - w) * label, on the augmented, mixed view."""
    from fer_core.training.architectures import augmentation
    from fer_core.catalog.model import load_keras_model
    from fer_core.catalog.input_spec import InputSpec
    from fer_core.inference.preprocess import preprocess_faces
    from fer_core.training.train_inputs import teacher_view_batches

    teacher, metadata = load_keras_model("models/vgg32b")
    faces, labels = fer_data.split("PublicTest")
    x = preprocess_faces(faces[:64], InputSpec.from_dict(metadata["input_spec"]))
    one_hot = np.eye(7, dtype=np.float32)[labels[:64]]
    for mixup in (0.0, 0.4):
        dataset = teacher_view_batches(x, one_hot, 32, augmenter=keras.Sequential(augmentation("strong")),
                                       teacher=teacher, distill_weight=0.75, mixup=mixup, seed=3)
        views, targets = (np.asarray(t) for t in next(iter(dataset)))
        assert views.shape == (32, 48, 48, 1) and targets.shape == (32, 7)
        # augmented: no view is one of the clean images
        assert min(np.abs(x - view).mean(axis=(1, 2, 3)).min() for view in views) > 1e-3
        rest = (targets - 0.75 * np.asarray(teacher(views, training=False))) / 0.25
        np.testing.assert_allclose(rest.sum(axis=1), 1, atol=1e-3)  # what is left is a (mixed) label
        assert rest.min() > -1e-3
        nonzero = (rest > 1e-3).sum(axis=1)
        if mixup:
            assert (nonzero <= 2).all() and (nonzero == 2).any() and (rest.max(axis=1) >= 0.5 - 1e-3).all()
        else:
            assert (nonzero == 1).all()


def test_student_trained_on_the_teachers_views_resumes_and_exports(fer_data, tmp_path):
    out = tmp_path / "views"
    config = recipe("student", out=str(out), epochs=2, limit=192, width=4, batch_size=64, teacher="models/student16",
                    teacher_view="augmented", mixup=0.2)
    with pytest.raises(KeyboardInterrupt):
        train(config, data=fer_data, callbacks=[Interrupt()])
    assert not (out / "teacher.npz").exists()  # nothing cached: the teacher runs on each view
    checkpoint = keras.models.load_model(out / "checkpoint.keras")
    assert not any(layer.name.startswith("random_") for layer in checkpoint.layers)  # augmented by the pipeline
    train(config, data=fer_data, resume=True)
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2] and state["config"]["teacher_view"] == "augmented"
    probs = Classifier.load(out).predict_proba(fer_data.split("PublicTest")[0][:8])
    assert probs.shape == (8, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_teacher_view_augmented_needs_a_teacher():
    with pytest.raises(ValueError, match="--teacher-view augmented"):
        recipe("vgg", teacher_view="augmented")


def test_teacher_network_in_bfloat16_agrees_with_the_saved_ensemble(fer_data):
    """The per-view teacher rebuilt in mixed_bfloat16 computes in bfloat16 and labels like the float32 ensemble."""
    from fer_core.inference.classifier import Classifier
    from fer_core.training.distill import teacher_network
    from fer_core.inference.preprocess import preprocess_faces

    teacher, spec = teacher_network("models/mix3c", "mixed_bfloat16")
    members = [member for member in teacher.layers if isinstance(member, keras.Model)]
    convs = [[l for l in member.layers if isinstance(l, keras.layers.Conv2D)] for member in members]
    assert len(members) == 3 and all(len(c) >= 8 for c in convs)  # vgg32b, vgg48-camera-s2, resnet32-150
    assert all(l.compute_dtype == "bfloat16" for c in convs for l in c)
    faces = fer_data.split("PublicTest")[0][:256]
    fast = np.asarray(teacher(preprocess_faces(faces, spec), training=False))
    exact = Classifier.load("models/mix3c", runtime="keras").predict_proba(faces, "none", input_blur_sigma=0.0,
                                                                           temperature=1.0)  # the raw average
    assert np.abs(fast - exact).max() < 0.1 and (fast.argmax(1) == exact.argmax(1)).mean() > 0.95
    assert keras.config.dtype_policy().name == "float32"


def test_resnet_trains_and_its_litert_export_matches_keras(fer_data, tmp_path):
    """The residual member: its Add-joined blocks survive the float32 rebuild and the LiteRT export."""
    out = tmp_path / "resnet"
    train(recipe("resnet", out=str(out), epochs=1, limit=192, width=4, batch_size=64), data=fer_data)
    classifier = Classifier.load(out)
    assert classifier.runtime == "litert" and classifier.metadata["architecture"]["name"] == "resnet"
    assert classifier.metadata["architecture"]["options"]["width"] == 4
    keras_probs = Classifier.load(out, runtime="keras").predict_proba(fer_data.images[:8])
    np.testing.assert_allclose(classifier.predict_proba(fer_data.images[:8]), keras_probs, atol=1e-4)
