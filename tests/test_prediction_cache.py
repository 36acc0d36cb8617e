"""The gallery's predictions are computed once per model weights, images and TTA, then read back."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.inference.classifier import Classifier
from fer_core.catalog.model import member_dirs, default_model_dir
from fer_core.data.parse_cache import CACHE_ENV
from fer_core.evaluation.prediction_cache import cached_probabilities


@pytest.fixture
def model():
    return Classifier.load(member_dirs(default_model_dir())[0])


def test_second_call_reads_the_cache(model, fer_data, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    images = fer_data.split("PublicTest")[0][:300]
    reports = []
    first = cached_probabilities(model, images, "none", progress=lambda done, total: reports.append((done, total)))
    np.testing.assert_allclose(first, model.predict_proba(images, "none"), atol=1e-6)
    assert reports == [(256, 300), (300, 300)]  # chunk by chunk while it is computed
    assert len(list(tmp_path.glob("predictions-*.npy"))) == 1

    def never(*_):
        raise AssertionError("predicted again instead of reading the cache")

    monkeypatch.setattr(model, "predict_proba", never)
    reports.clear()
    np.testing.assert_array_equal(cached_probabilities(model, images, "none", progress=reports.append), first)
    assert reports == []  # nothing to follow when it is read back


def test_other_images_tta_or_damage_recompute(model, fer_data, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    images = fer_data.split("PublicTest")[0][:64]
    cached_probabilities(model, images, "none")
    cached_probabilities(model, images, "flip")
    cached_probabilities(model, images[1:], "none")
    files = sorted(tmp_path.glob("predictions-*.npy"))
    assert len(files) == 3
    for path in files:
        path.write_bytes(b"not an array")
    again = cached_probabilities(model, images, "none")
    np.testing.assert_allclose(again, model.predict_proba(images, "none"), atol=1e-6)
