"""The whole pipeline on real inputs, through the API and the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fer_core.detect import Box, make_detector
from fer_core.infer import analyse_image, crop_face
from tests.conftest import REPO


def test_astronaut_is_one_happy_face(classifier, astronaut):
    faces = analyse_image(astronaut, classifier, make_detector())
    assert len(faces) == 1
    assert faces[0].label == "Happy"
    assert sum(faces[0].probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert list(faces[0].probabilities) == list(classifier.labels)


def test_aligned_mode_classifies_whole_image(classifier, fer_data):
    image = fer_data.images[0]
    faces = analyse_image(image, classifier, aligned=True)
    assert len(faces) == 1 and faces[0].box.as_list() == [0, 0, 48, 48]
    np.testing.assert_allclose(list(faces[0].probabilities.values()), classifier.predict_proba(image[None])[0], atol=1e-6)


def test_many_faces_in_one_batch(classifier, fer_data):
    batch = classifier.predict_proba(list(fer_data.images[:40]))
    one_by_one = np.concatenate([classifier.predict_proba(fer_data.images[i : i + 1]) for i in range(40)])
    assert batch.shape == (40, 7)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


@pytest.mark.parametrize("tta", ["none", "flip", "tencrop"])
def test_tta_modes_give_distributions(classifier, fer_data, tta):
    probs = classifier.predict_proba(fer_data.images[:8], tta)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_crop_near_the_edge_is_padded(astronaut):
    crop = crop_face(astronaut, Box(480, 480, 60, 60), scale=1.25)
    assert crop.shape == (75, 75, 3)


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "fer_core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_predict_cli_json_good_and_bad_files(tmp_path, astronaut_jpeg):
    good = tmp_path / "astronaut.jpg"
    good.write_bytes(astronaut_jpeg)
    (tmp_path / "broken.png").write_bytes(astronaut_jpeg[:500])
    (tmp_path / "notes.txt").write_text("not a picture")
    result = _cli("predict", str(good), str(tmp_path / "broken.png"), str(tmp_path / "notes.txt"), "--json",
                  "--annotate", str(tmp_path / "out"))
    assert result.returncode == 1  # some files failed
    entries = json.loads(result.stdout)
    assert [e["file"] for e in entries] == [str(good), str(tmp_path / "broken.png"), str(tmp_path / "notes.txt")]
    face = entries[0]["faces"][0]
    assert face["label"] == "Happy" and len(face["box"]) == 4 and set(face["probabilities"]) >= {"Happy", "Sad"}
    assert "broken.png" in entries[1]["error"] and "notes.txt" in entries[2]["error"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0].startswith(f"error: {tmp_path / 'broken.png'}: corrupt or truncated image")
    assert errors[1] == f"error: {tmp_path / 'notes.txt'}: not an image file, or a format that is not supported"
    assert (tmp_path / "out" / "astronaut.annotated.png").is_file()


def test_predict_cli_text_output(tmp_path, astronaut_jpeg):
    good = tmp_path / "a.jpg"
    good.write_bytes(astronaut_jpeg)
    result = _cli("predict", str(good))
    assert result.returncode == 0, result.stderr
    assert "Happy" in result.stdout and "face 1" in result.stdout
