"""A short real training run: checkpoints every epoch, resumes after an interruption, exports a loadable model."""
import json

import keras
import numpy as np
import pytest

from fer_core.classifier import Classifier
from fer_core.train import recipe, train


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
    assert teacher["probabilities"].shape == (256, 7) and str(teacher["tta"]) == "tencrop"
    mtime = (out / "teacher.npz").stat().st_mtime
    train(config, data=fer_data, resume=True)
    assert (out / "teacher.npz").stat().st_mtime == mtime  # not recomputed on resume
    state = json.loads((out / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert all(0 <= h["val_accuracy"] <= 1 for h in state["history"])
    classifier = Classifier.load(out)
    assert classifier.runtime == "litert" and classifier.metadata["architecture"]["name"] == "student"
    assert classifier.metadata["training"]["config"]["teacher"] == "models/vgg32x2"
    keras_probs = Classifier.load(out, runtime="keras").predict_proba(fer_data.images[:8])
    np.testing.assert_allclose(classifier.predict_proba(fer_data.images[:8]), keras_probs, atol=1e-4)
