"""Confidence temperatures: fitted on PublicTest, stored per precision and TTA, applied wherever scores are made.

Real data throughout: the fast model's scores on PublicTest faces (a slice: the test is about the
mechanics, the shipped models' figures are checked from their stored fits).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fer_core.catalog.model import (BUNDLED_MODELS_DIR, DEFAULT_MODEL_NAME, LIVE_MODEL_NAME, live_model_dir, read_metadata,
                                    stored_temperature)
from fer_core.evaluation.temperature import REPORT_SPLIT, fit_temperature, negative_log_likelihood
from fer_core.inference.classifier import Classifier, apply_temperature
from fer_core.inference.neutral_baseline import choose_margin, leave_one_out_gaps, log_probabilities

SLICE = 600


@pytest.fixture(scope="module")
def public(fer_data, classifier):
    images, labels = fer_data.split("PublicTest")
    raw = classifier.predict_proba(images[:SLICE], "none", temperature=1.0)
    return images[:SLICE], labels[:SLICE], raw


def test_fitting_lowers_the_nll_keeps_every_label_and_undoes_a_known_scaling(public):
    _, labels, raw = public
    fitted = fit_temperature(raw, labels)
    assert negative_log_likelihood(raw, labels, fitted) <= negative_log_likelihood(raw, labels)
    assert np.array_equal(apply_temperature(raw, fitted).argmax(1), raw.argmax(1))
    # scores made twice as sharp need twice the temperature (softmax(log p / T) composes)
    sharpened = apply_temperature(raw, 0.5)
    assert fit_temperature(sharpened, labels) == pytest.approx(fitted / 0.5, rel=0.02)


def test_the_classifier_applies_the_stored_temperature_of_its_precision_and_tta(public, tmp_path):
    images, _, raw = public
    source = live_model_dir()
    folder = tmp_path / LIVE_MODEL_NAME
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("evaluation"))
    metadata = read_metadata(folder)
    metadata["inference"]["temperature"] = {"float32": {"none": 2.0}, "int8": {"none": 3.0}}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    model = Classifier.load(folder, precision="float32")
    assert model.precision == "float32" and model.temperature("none") == 2.0
    assert model.temperature("flip") == 1.0  # neither fitted nor the default TTA's
    float_raw = model.predict_proba(images[:50], "none", temperature=1.0)
    assert np.allclose(model.predict_proba(images[:50], "none"), apply_temperature(float_raw, 2.0), atol=1e-5)
    integer = Classifier.load(folder)  # the default precision
    assert integer.precision == "int8" and integer.temperature("none") == 3.0
    assert np.allclose(integer.predict_proba(images[:50], "none"), apply_temperature(raw[:50], 3.0), atol=1e-5)
    assert stored_temperature(metadata, "none", "int8") == 3.0
    assert stored_temperature(metadata, "none", "float16") == 2.0  # not fitted: float32's, until refitted


def test_the_neutral_baseline_margin_works_on_calibrated_odds(fer_data, classifier):
    """Temperature divides every log-odds gap by T, so the leave-one-out gaps (and the margin the rule
    derives from them, inside its ln 2 .. ln 4 clip) are those of the calibrated scores, which baselines
    are made from and applied to."""
    images, labels = fer_data.split("PublicTest")
    neutral = images[labels == 6][:40]
    raw = classifier.predict_proba(neutral, "none", temperature=1.0)
    temperature = classifier.temperature("none")
    scaled = apply_temperature(raw, temperature)
    gaps_raw = leave_one_out_gaps(log_probabilities(raw), 6)
    gaps_scaled = leave_one_out_gaps(log_probabilities(scaled), 6)
    assert np.allclose(gaps_scaled, gaps_raw / temperature, atol=1e-3)
    # a baseline made by the classifier is made from the same calibrated scores it is applied to
    from fer_core.inference.neutral_baseline import NeutralBaseline

    made = NeutralBaseline.from_faces(list(neutral), classifier, "none")
    assert made.margin == pytest.approx(choose_margin(log_probabilities(scaled), 6)[0], abs=1e-4)


@pytest.mark.parametrize("name", [DEFAULT_MODEL_NAME, LIVE_MODEL_NAME])
def test_each_shipped_model_is_calibrated_on_publictest(name):
    """Each shipped model has a float32 temperature for its default TTA and for none (the live path), fitted
    on PublicTest; its recorded PrivateTest expected calibration error after scaling is at most 0.03."""
    inference = read_metadata(BUNDLED_MODELS_DIR / name)["inference"]
    fit = inference["temperature_fit"]["float32"]
    assert fit["split"] == "PublicTest" and fit["reported_on"] == REPORT_SPLIT
    for tta in {inference["tta"], "none"}:
        row = fit["by_tta"][tta]
        assert inference["temperature"]["float32"][tta] == row["temperature"]
        assert row[f"{REPORT_SPLIT}_ece_after"] <= 0.03
        assert row[f"{REPORT_SPLIT}_nll_after"] <= row[f"{REPORT_SPLIT}_nll_before"] + 1e-3


def test_the_evaluation_page_shows_reliability_before_and_after_the_temperature(monkeypatch, tmp_path):
    import streamlit_webrtc.component  # before TensorFlow (see conftest)
    from streamlit.testing.v1 import AppTest

    from fer_core.data.fer2013 import DATA_ENV

    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "missing.csv"))  # the page's scores need no data
    at = AppTest.from_file(str(BUNDLED_MODELS_DIR.parent / "streamlit_app.py"), default_timeout=300)
    at.session_state["fer_model"] = str(live_model_dir())
    at.run()
    at.switch_page("app_pages/evaluation.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Confidence calibration" in [h.value for h in at.header]
    row = read_metadata(live_model_dir())["inference"]["temperature_fit"]["float32"]["by_tta"]["shift"]
    captions = "\n".join(c.value for c in at.caption)
    assert f"{row['PrivateTest_ece_before']:.3f} → {row['PrivateTest_ece_after']:.3f}" in captions
    assert f"temperature {row['temperature']:.2f}" in captions
