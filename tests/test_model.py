"""Saving and loading: label order survives, bad metadata and unsafe models are refused."""
import json

import keras
import numpy as np
import pytest

from fer_core.training.architectures import build
from fer_core.inference.classifier import Classifier
from fer_core.catalog.model import ModelError, load_keras_model, read_metadata, save_model
from fer_core.catalog.input_spec import InputSpec


def _metadata(labels, spec=InputSpec()):
    return {"name": "t", "labels": labels, "input_spec": spec.to_dict(), "architecture": {"name": "vgg"}}


@pytest.fixture(scope="module")
def small_model():
    model, spec = build("vgg", 7, augment="none", width=8)
    return model


def test_label_order_survives_save_and_load(small_model, tmp_path):
    shuffled = ["Neutral", "Happy", "Sad", "Angry", "Surprise", "Fear", "Disgust"]
    save_model(small_model, tmp_path / "m", _metadata(shuffled))
    loaded = Classifier.load(tmp_path / "m")
    assert loaded.labels == tuple(shuffled)
    x = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict_batch(x), small_model(x).numpy(), atol=1e-6)


def test_missing_metadata_is_refused(small_model, tmp_path):
    small_model.save(tmp_path / "model.keras")
    with pytest.raises(ModelError, match="no metadata.json"):
        load_keras_model(tmp_path)


def test_label_count_must_match_outputs(small_model, tmp_path):
    save_model(small_model, tmp_path, _metadata(["a", "b", "c", "d", "e", "f", "g"]))
    meta = read_metadata(tmp_path)
    meta["labels"] = meta["labels"][:6]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="7 outputs but metadata lists 6 labels"):
        load_keras_model(tmp_path)


def test_input_spec_must_match_network(small_model, tmp_path):
    save_model(small_model, tmp_path, _metadata(["a", "b", "c", "d", "e", "f", "g"], InputSpec(channels=3)))
    with pytest.raises(ModelError, match="input_spec"):
        load_keras_model(tmp_path)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("labels"), "lacks labels"),
    (lambda m: m.update(labels=["a", "a"]), "duplicates"),
    (lambda m: m.update(input_spec={"size": 48}), "input_spec"),
    (lambda m: m.update(inference={"tta": "twenty-crop"}), "inference.tta"),
    # wrong types: one clear ModelError, never an AttributeError or TypeError from a page
    (lambda m: m.update(name=7), "'name' must be a non-empty string"),
    (lambda m: m.update(labels="Angry,Happy"), "'labels' must be a non-empty list of names"),
    (lambda m: m.update(labels=["a", "b", "c", "d", "e", "f", 7]), "'labels' must be a non-empty list of names"),
    (lambda m: m.update(input_spec=[48, 1]), "'input_spec' must be an object"),
    (lambda m: m.update(architecture="vgg"), "'architecture' must be an object with a string 'name'"),
    (lambda m: m.update(architecture=["vgg"]), "'architecture' must be an object with a string 'name'"),
    (lambda m: m.update(architecture={"params": 10}), "'architecture' must be an object with a string 'name'"),
    (lambda m: m.update(architecture={"name": 3}), "'architecture' must be an object with a string 'name'"),
    (lambda m: m.update(architecture={"name": "vgg", "params": "1.2M"}), "architecture.params must be a whole number"),
    (lambda m: m.update(inference="tencrop"), "'inference' must be an object"),
])
def test_inconsistent_metadata_is_refused(small_model, tmp_path, change, message):
    save_model(small_model, tmp_path, _metadata(list("abcdefg")))
    meta = read_metadata(tmp_path)
    change(meta)
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message):
        load_keras_model(tmp_path)


def test_metadata_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="must hold a JSON object, not list"):
        read_metadata(tmp_path)


def test_models_with_arbitrary_code_are_refused(tmp_path):
    """Keras safe mode: a Lambda layer (pickled Python) must not be deserialised."""
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Lambda(lambda t: t * 2)(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(x))
    save_model(keras.Model(inputs, outputs), tmp_path, _metadata(list("abcdefg")))
    with pytest.raises(ModelError, match="cannot be loaded"):
        load_keras_model(tmp_path)


def test_seed_architecture_matches_the_report():
    model, spec = build("seed", 7, augment="none")
    assert spec.channels == 3
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size) for c in convs] == [(64, (3, 3)), (128, (5, 5)), (512, (5, 5)), (512, (5, 5))]
    assert [l.units for l in model.layers if isinstance(l, keras.layers.Dense)] == [256, 512, 7]
    assert [l.pool_size for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)] == [(2, 2), (2, 2), (3, 3), (3, 3)]
    assert all(l.rate == 0.25 for l in model.layers if isinstance(l, keras.layers.Dropout))
    assert 8_000_000 < model.count_params() < 9_500_000


def test_a_folder_with_the_old_smoothing_key_loads_with_the_same_input_blur(fer_data, tmp_path):
    """Folders written before ``inference.input_blur_sigma`` had that name say ``smoothing``: still read."""
    import shutil

    old = tmp_path / "student16"
    shutil.copytree("models/student16", old)
    metadata = read_metadata(old)
    inference = metadata["inference"]
    inference["smoothing"] = inference.pop("input_blur_sigma")
    (old / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")  # same model.keras: the export stays valid
    shipped, reloaded = Classifier.load("models/student16"), Classifier.load(old)
    assert shipped.input_blur_sigma == reloaded.input_blur_sigma == 0.6
    faces = fer_data.split("PublicTest")[0][:16]
    np.testing.assert_array_equal(reloaded.predict_proba(faces), shipped.predict_proba(faces))
    assert not np.allclose(shipped.predict_proba(faces, input_blur_sigma=0.0), shipped.predict_proba(faces), atol=1e-4)
