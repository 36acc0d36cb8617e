"""Ensembles: a metadata-only model folder whose network averages its members' probabilities."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_core.inference import saliency
from fer_core.inference.classifier import Classifier
from fer_core.cli import main
from fer_core.catalog.model import (
    INT8_FILE, METADATA_FILE, MODEL_FILE, ModelError, create_ensemble, live_model_dir, load_keras_model, read_metadata,
    save_model, weight_files, write_metadata,
)
from tests.conftest import write_fer_csv

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def single_model() -> Path:
    """A bundled single (non-ensemble) model folder: the fast one, as these tests are about ensembling, not accuracy."""
    return live_model_dir()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, single_model) -> tuple[Path, Path]:
    """The bundled model and a genuinely different network: the same one with shifted output biases."""
    root = tmp_path_factory.mktemp("models")
    first = root / "first"
    shutil.copytree(single_model, first)
    # float32 like "second" (no LiteRT file), so "first" alone runs the network the ensemble averages
    (first / INT8_FILE).unlink(missing_ok=True)
    write_metadata(first, {**read_metadata(first), "name": "first"})
    model, metadata = load_keras_model(single_model)
    head = model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + np.linspace(-1.0, 1.0, len(bias), dtype=bias.dtype)])
    second = save_model(model, root / "second", {**{k: v for k, v in metadata.items() if k != "format_version"},
                                                 "name": "second"})
    return first, second


@pytest.fixture(scope="module")
def faces(fer_data) -> tuple[np.ndarray, np.ndarray]:
    images, labels = fer_data.split("PublicTest")
    return images[:200], labels[:200]


def test_ensemble_averages_member_probabilities(tmp_path, two_models, faces):
    first, second = two_models
    folder = create_ensemble(tmp_path / "duo", [first, second])
    ensemble, a, b = Classifier.load(folder), Classifier.load(first), Classifier.load(second)
    images, _ = faces
    # one input blur for all: the ensemble's own, not each member's stored one; raw means (temperature 1):
    # each model's confidence temperature is its own, applied after the average
    for tta, sigma in (("none", 0.0), ("flip", 0.6), ("shift", 0.5)):
        raw = {"input_blur_sigma": sigma, "temperature": 1.0}
        pa, pb = a.predict_proba(images, tta, **raw), b.predict_proba(images, tta, **raw)
        assert np.abs(pa - pb).max() > 0.05  # the members really differ
        np.testing.assert_allclose(ensemble.predict_proba(images, tta, **raw), (pa + pb) / 2, atol=1e-5)
    assert ensemble.params == a.params + b.params
    assert ensemble.labels == a.labels and ensemble.spec == a.spec


def test_ensemble_stores_members_relative_and_survives_a_move(tmp_path, two_models, faces):
    first, second = two_models
    root = tmp_path / "models"
    for member in (first, second):
        shutil.copytree(member, root / member.name)
    create_ensemble(root / "duo", [root / "first", root / "second"], name="duo")
    metadata = read_metadata(root / "duo")
    assert metadata["architecture"]["members"] == ["../first", "../second"]
    assert metadata["architecture"]["member_names"] == ["first", "second"]
    assert not (root / "duo" / MODEL_FILE).exists()  # weights are not copied
    assert weight_files(root / "duo") == [root / "first" / MODEL_FILE, root / "second" / MODEL_FILE]
    moved = shutil.move(root, tmp_path / "elsewhere")
    images, _ = faces
    probs = Classifier.load(Path(moved) / "duo").predict_proba(images[:8])
    assert probs.shape == (8, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_ensemble_refuses_bad_members(tmp_path, two_models):
    first, second = two_models
    with pytest.raises(ModelError, match="at least two"):
        create_ensemble(tmp_path / "one", [first])
    shuffled = tmp_path / "shuffled"
    shutil.copytree(second, shuffled)
    metadata = read_metadata(shuffled)
    metadata["labels"] = metadata["labels"][::-1]
    (shuffled / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="labels"):
        create_ensemble(tmp_path / "mixed", [first, shuffled])
    assert not (tmp_path / "mixed" / METADATA_FILE).exists()  # nothing half-made is left behind
    folder = create_ensemble(tmp_path / "duo", [first, second])
    metadata = read_metadata(folder)
    metadata["architecture"]["members"][1] = "../gone"
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="not a model folder"):
        Classifier.load(folder)


@pytest.mark.parametrize("load", ["classifier", "bfloat16 teacher"])
def test_a_member_changed_after_the_ensemble_was_made_is_refused(tmp_path, two_models, load):
    """Loading and the bfloat16 teacher (which rebuilds each member) apply the same member checks."""
    from fer_core.training.distill import teacher_network

    for member in two_models:
        shutil.copytree(member, tmp_path / member.name)
    folder = create_ensemble(tmp_path / "duo", [tmp_path / "first", tmp_path / "second"])
    metadata = read_metadata(tmp_path / "second")
    metadata["labels"] = metadata["labels"][::-1]
    (tmp_path / "second" / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="member second has labels"):
        if load == "classifier":
            Classifier.load(folder)
        else:
            teacher_network(folder, "mixed_bfloat16")


def test_ensemble_cli_then_evaluate(tmp_path, two_models, fer_data, capsys):
    """Members compared by compare_ensembles.py --json, the choice stored by --selection, then scored
    (on 600 real PublicTest faces: the script and the CLI read the slice as they read the whole file)."""
    first, second = two_models
    data_path = write_fer_csv(tmp_path / "public.csv", *(part[:600] for part in fer_data.split("PublicTest")),
                              "PublicTest")
    table = tmp_path / "selection.json"
    subprocess.run([sys.executable, str(ROOT / "experiments" / "compare_ensembles.py"), str(first), str(second),
                    "--data", str(data_path), "--tta", "none", "--cache", str(tmp_path / "cache"), "--json", str(table)],
                   check=True, capture_output=True)
    assert any((tmp_path / "cache").glob("first-none-0.0-*.npy"))
    assert main(["ensemble", str(tmp_path / "duo"), str(first), str(second), "--name", "duo",
                 "--selection", str(table)]) == 0
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(tmp_path / "duo"), "--data", str(data_path), "--split", "PublicTest",
                 "--tta", "none", "--json", str(out), "--record"]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 600 and 0.4 < metrics["accuracy"] <= 1.0
    metadata = read_metadata(tmp_path / "duo")
    assert metadata["metrics"]["PublicTest"]["accuracy"] == round(metrics["accuracy"], 4)
    selection = metadata["architecture"]["selection"]
    assert selection["split"] == "PublicTest" and "compare_ensembles.py" in selection["command"]
    # the stored command reproduces the table, without this machine's scratch paths
    assert "--tta none" in selection["command"] and str(first) in selection["command"]
    for scratch in ("--cache", str(tmp_path / "cache"), "--json", str(table)):
        assert scratch not in selection["command"]
    # the script's mean of the members is the ensemble's own score, and each member has its row
    assert selection["accuracy"]["0.0"]["none"]["first + second"] == pytest.approx(metrics["accuracy"], abs=1e-4)
    assert set(selection["accuracy"]["0.0"]["none"]) == {"first", "second", "first + second"}
    assert main(["ensemble", str(tmp_path / "solo"), str(first)]) == 2
    assert "at least two" in capsys.readouterr().err
    table.write_text(json.dumps({**selection, "split": "PrivateTest"}))
    assert main(["ensemble", str(tmp_path / "peeked"), str(first), str(second), "--selection", str(table)]) == 2
    assert "chosen on PublicTest" in capsys.readouterr().err and not (tmp_path / "peeked").exists()


def test_ensemble_grad_cam_is_the_mean_of_its_members(tmp_path, single_model, faces):
    """An ensemble of one network twice explains a face exactly as that network does."""
    folder = create_ensemble(tmp_path / "twice", [single_model, single_model])
    face = faces[0][0]
    alone = saliency.heatmap(Classifier.load(single_model), face, class_index=3)
    twice = saliency.heatmap(Classifier.load(folder), face, class_index=3)
    assert alone.shape == twice.shape == (48, 48)
    assert alone.max() == pytest.approx(1.0)
    np.testing.assert_allclose(twice, alone, atol=1e-4)


def test_app_cards_count_the_members(tmp_path, two_models):
    from fer_core.catalog.model_info import describe, model_version

    first, second = two_models
    folder = create_ensemble(tmp_path / "duo", [first, second])
    info = describe(folder)
    assert info.architecture == "ensemble of first + second" and info.members == (first, second)
    assert info.size_bytes == (first / MODEL_FILE).stat().st_size + (second / MODEL_FILE).stat().st_size
    weights = [m / name for m in (first, second) for name in (MODEL_FILE, "model.tflite", METADATA_FILE)]
    assert model_version(folder) == max(p.stat().st_mtime for p in weights if p.exists())


def test_compare_ensembles_combines_members_by_arithmetic_or_geometric_mean(two_models, faces):
    """The script's arithmetic mean is what an ensemble computes; its geometric mean is a proper distribution."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_ensembles", ROOT / "experiments" / "compare_ensembles.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    first, second = (Classifier.load(folder).predict_proba(faces[0], "none", input_blur_sigma=0.0) for folder in two_models)
    assert np.allclose(script.combine([first, second], "arithmetic"), (first + second) / 2)
    geometric = script.combine([first, second], "geometric")
    assert np.allclose(geometric.sum(axis=1), 1.0, atol=1e-5)
    log_sum = np.log(np.clip(first, 1e-7, 1)) + np.log(np.clip(second, 1e-7, 1))
    assert (geometric.argmax(axis=1) == log_sum.argmax(axis=1)).all()
    assert np.allclose(script.combine([first, first], "geometric"), first / first.sum(axis=1, keepdims=True), atol=1e-5)
    assert not np.allclose(geometric, script.combine([first, second], "arithmetic"), atol=1e-3)  # really another mean


def test_ensemble_weights_cv_fits_weights_and_offsets_that_undo_a_bias(two_models, faces):
    """The grid weights drop a member that is noise; the class offsets undo a known shift of the logits."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ensemble_weights_cv", ROOT / "experiments" / "ensemble_weights_cv.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    images, labels = faces
    good = Classifier.load(two_models[0]).predict_proba(images, "none", input_blur_sigma=0.0, temperature=1.0)
    noise = np.random.default_rng(0).dirichlet(np.ones(good.shape[1]), size=len(good))
    weights = script.best_weights(np.stack([good, noise]), labels)
    assert weights[0] > weights[1]
    shift = np.linspace(-1.0, 1.0, good.shape[1])
    biased = np.exp(np.log(good) + shift)
    biased /= biased.sum(axis=1, keepdims=True)
    assert script.accuracy(biased, labels) < script.accuracy(good, labels)  # the shift really hurts
    offsets = script.best_offsets(biased, labels)
    assert script.accuracy(np.log(biased) + offsets, labels) > script.accuracy(biased, labels)
    assert np.corrcoef(offsets, shift)[0, 1] < -0.5  # the fit leans against the shift
    held = script.cross_validate(np.stack([good, good]), labels, splits=2)
    assert held["mean"] == pytest.approx(script.accuracy(good, labels), abs=0.02)  # halves of one set
    assert set(held) == {"mean", "weights", "offsets"}
