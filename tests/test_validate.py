"""``python -m fer_core validate``: the whole pipeline on a folder of labelled full-size photos.

The folder is built from real faces: FER2013 PublicTest faces, upscaled and framed as photos
(experiments/pipeline_crops.frame_face), filed under their true label in mixed case, plus a
frame without a face and the astronaut (fer_core/evaluation/sample_frames.py) under happy/.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from experiments.pipeline_crops import frame_face
from fer_core import cli
from fer_core.catalog.model import live_model_dir
from fer_core.common.labels import LABELS
from fer_core.evaluation.validate import ValidationError, labelled_photos, validation_metrics
from fer_core.evaluation.sample_frames import astronaut_frame

PER_CLASS = 4


@pytest.fixture(scope="module")
def folder(fer_data, tmp_path_factory):
    images, labels = fer_data.split("PublicTest")
    root = tmp_path_factory.mktemp("validate") / "people"
    for code, name in enumerate(LABELS):
        sub = root / (name.upper() if code % 2 else name.lower())  # any case
        sub.mkdir(parents=True)
        for number, index in enumerate(np.flatnonzero(labels == code)[:PER_CLASS]):
            Image.fromarray(frame_face(images[index])).save(sub / f"{number}.png")
    Image.fromarray(astronaut_frame()).save(root / "HAPPY" / "astronaut.jpg", quality=92)
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(root / "neutral" / "wall.jpg")  # no face
    return root


def test_validate_reports_accuracy_with_intervals_and_the_photos_without_a_face(folder, tmp_path, capsys):
    out = tmp_path / "validation.json"
    assert cli.main(["validate", str(folder), "--model", str(live_model_dir()), "--detector", "blazeface",
                     "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    photos = len(LABELS) * PER_CLASS + 2
    assert report["photos"] == photos
    assert str(folder / "neutral" / "wall.jpg") in report["no_face"]
    assert report["n"] + len(report["no_face"]) == photos
    assert report["n"] >= 0.8 * photos  # BlazeFace finds most framed FER2013 faces
    assert 0 <= report["ci_low"] <= report["accuracy"] <= report["ci_high"] <= 1
    assert report["ci_high"] - report["ci_low"] > 0.05  # ~30 photos: a wide interval, not a point
    assert report["macro_f1_ci_low"] <= report["macro_f1"] <= report["macro_f1_ci_high"]
    assert set(report["per_class"]) == set(LABELS)
    assert sum(row["support"] for row in report["per_class"].values()) == report["n"]
    assert np.array(report["confusion_matrix"]).sum() == report["n"]
    assert report["accuracy"] == pytest.approx(np.trace(report["confusion_matrix"]) / report["n"])
    assert report["provenance"]["model"]["name"] == live_model_dir().name
    shown = capsys.readouterr().out
    assert "accuracy" in shown and "95% CI" in shown and "wall.jpg" in shown


def test_an_unknown_sub_folder_is_one_clear_error(folder, tmp_path, capsys):
    bad = tmp_path / "bad"
    (bad / "joyful").mkdir(parents=True)
    assert cli.main(["validate", str(bad), "--model", str(live_model_dir())]) == 2
    assert "'joyful' is not one of the model's labels" in capsys.readouterr().err
    (tmp_path / "empty" / "sad").mkdir(parents=True)
    with pytest.raises(ValidationError, match="no photo"):
        labelled_photos(tmp_path / "empty", LABELS)


def test_intervals_cover_the_figure_and_narrow_with_more_photos():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 7, 400)
    pred = np.where(rng.random(400) < 0.7, truth, rng.integers(0, 7, 400))
    small, large = validation_metrics(truth[:40], pred[:40], LABELS), validation_metrics(truth, pred, LABELS)
    for m in (small, large):
        assert m["ci_low"] < m["accuracy"] < m["ci_high"]
        assert m["macro_f1_ci_low"] < m["macro_f1"] < m["macro_f1_ci_high"]
        from sklearn.metrics import f1_score

        assert m["macro_f1"] == pytest.approx(f1_score(truth[:m["n"]], pred[:m["n"]], average="macro"))
    assert large["ci_high"] - large["ci_low"] < small["ci_high"] - small["ci_low"]
