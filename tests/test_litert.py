"""LiteRT runtime: every bundled model has an up-to-date ``model.tflite`` that matches Keras."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from fer_core.inference.classifier import Classifier
from fer_core.cli import main
from fer_core.evaluation.evaluate import evaluate
from fer_core.catalog.model import (
    MODEL_FILE, TFLITE_FILE, ModelError, is_ensemble, list_models, litert_files, live_model_dir, member_dirs,
    read_metadata,
)

BUNDLED = list_models()


@pytest.fixture(scope="module")
def public_faces(fer_data) -> np.ndarray:
    """96 real PublicTest faces (never PrivateTest for anything but the accuracy check); with ten-crop
    TTA a network sees 1,056 inputs, and the PrivateTest test below compares whole-split accuracy."""
    return fer_data.split("PublicTest")[0][:96]


@pytest.mark.parametrize("folder", BUNDLED, ids=[f.name for f in BUNDLED])
def test_every_bundled_model_runs_on_litert(folder):
    files = litert_files(folder, required=True)
    assert files == [m / TFLITE_FILE for m in member_dirs(folder)]
    classifier = Classifier.load(folder)
    assert classifier.runtime == "litert"
    assert classifier.runtime_label.startswith(f"LiteRT {classifier.precision}, ")


@pytest.mark.parametrize("folder", BUNDLED, ids=[f.name for f in BUNDLED])
def test_litert_matches_keras_on_real_faces(folder, public_faces):
    """Every network on 96 faces; an ensemble, whose members are each checked so, on 32 (its averaging)."""
    # float32: the integer twins are checked against these by their own gates (tests/test_int8.py)
    fast, reference = Classifier.load(folder, runtime="litert", precision="float32"), Classifier.load(folder, runtime="keras")
    assert reference.runtime == "keras"
    faces = public_faces[:32] if is_ensemble(reference.metadata) else public_faces
    for tta in ("none", "tencrop"):
        got, expected = fast.predict_proba(faces, tta), reference.predict_proba(faces, tta)
        assert got.shape == expected.shape == (len(faces), len(reference.labels))
        assert np.max(np.abs(got - expected)) < 1e-4, tta


def test_litert_privatetest_accuracy_equals_keras(fer_data):
    """The live model's PrivateTest accuracy is the same (within 0.1 point) on both runtimes."""
    images, labels = fer_data.split("PrivateTest")
    folder = live_model_dir()
    fast, _ = evaluate(Classifier.load(folder, runtime="litert", precision="float32"), images, labels, tta="none")
    reference, _ = evaluate(Classifier.load(folder, runtime="keras"), images, labels, tta="none")
    assert abs(fast["accuracy"] - reference["accuracy"]) <= 0.001


def test_a_stale_export_falls_back_to_keras(tmp_path):
    """A model.tflite not made from the model.keras beside it is never run."""
    single = member_dirs(BUNDLED[0])[0]
    folder = tmp_path / "model"
    shutil.copytree(single, folder)
    with open(folder / MODEL_FILE, "ab") as handle:  # different bytes: as if retrained in place
        handle.write(b"\0")
    assert litert_files(folder) == []
    with pytest.raises(ModelError, match="older than model.keras"):
        litert_files(folder, required=True)
    (folder / TFLITE_FILE).unlink()
    with pytest.raises(ModelError, match="no model.tflite.*fer_core export"):
        Classifier.load(folder, runtime="litert")


def test_export_command_writes_and_records_tflite(tmp_path, capsys):
    single = member_dirs(BUNDLED[0])[0]
    folder = tmp_path / "model"
    shutil.copytree(single, folder)
    (folder / TFLITE_FILE).unlink()
    assert Classifier.load(folder).runtime == "keras"
    assert main(["export", str(folder), "--precision", "float32"]) == 0  # the integer export: tests/test_int8.py
    assert f"wrote {folder / TFLITE_FILE}" in capsys.readouterr().out
    record = read_metadata(folder)["runtimes"]["litert"]
    assert record["file"] == TFLITE_FILE and record["max_abs_diff_vs_keras"] < 1e-4
    assert Classifier.load(folder).runtime == "litert"


def test_litert_runner_handles_changing_batch_sizes():
    classifier = Classifier.load(member_dirs(BUNDLED[0])[0], runtime="litert")
    rng = np.random.default_rng(0)
    for n in (1, 7, 1, 64, 0):
        faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        probs = classifier.predict_proba(faces, "none")
        assert probs.shape == (n, len(classifier.labels))
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
