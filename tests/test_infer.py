"""The whole pipeline on real inputs, through the API and the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fer_core.inference.detect import Box, make_detector
from fer_core.inference.crops import crop_face
from fer_core.inference.infer import analyse_image
from fer_core.catalog.model import TTA_MODES
from tests.conftest import REPO


def test_astronaut_is_one_happy_face(classifier, astronaut):
    faces = analyse_image(astronaut, classifier, make_detector())
    assert len(faces) == 1
    assert faces[0].label == "Happy"
    assert sum(faces[0].scores.values()) == pytest.approx(1, abs=1e-3)
    assert list(faces[0].scores) == list(classifier.labels)


def test_aligned_mode_classifies_whole_image(classifier, fer_data):
    image = fer_data.images[0]
    faces = analyse_image(image, classifier, aligned=True)
    assert len(faces) == 1 and faces[0].box.as_list() == [0, 0, 48, 48]
    np.testing.assert_allclose(list(faces[0].scores.values()), classifier.predict_proba(image[None])[0], atol=1e-6)


def test_many_faces_in_one_batch(classifier, fer_data):
    batch = classifier.predict_proba(list(fer_data.images[:40]))
    one_by_one = np.concatenate([classifier.predict_proba(fer_data.images[i : i + 1]) for i in range(40)])
    assert batch.shape == (40, 7)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


@pytest.mark.parametrize("tta", TTA_MODES)
def test_tta_modes_give_distributions(classifier, fer_data, tta):
    probs = classifier.predict_proba(fer_data.images[:8], tta)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_shift_tta_is_flip_tta_over_the_face_moved_two_pixels_each_way(classifier, fer_data):
    """What the shift TTA promises, rebuilt with OpenCV: the mean of flip TTA on the face and on the face
    moved 2 px right, left, down and up, with the border mirrored as training's translations fill it."""
    import cv2

    faces = fer_data.images[:16]
    moved = [faces] + [np.stack([cv2.warpAffine(face, np.float32([[1, 0, dx], [0, 1, dy]]), (48, 48),
                                                borderMode=cv2.BORDER_REFLECT) for face in faces])
                       for dx, dy in ((2, 0), (-2, 0), (0, 2), (0, -2))]
    raw = {"input_blur_sigma": 0.0, "temperature": 1.0}  # the views' mean, before the confidence temperature
    expected = np.mean([classifier.predict_proba(m, "flip", **raw) for m in moved], axis=0)
    shifted = classifier.predict_proba(faces, "shift", **raw)
    np.testing.assert_allclose(shifted, expected, atol=1e-5)
    assert not np.allclose(shifted, classifier.predict_proba(faces, "flip", **raw), atol=1e-3)


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


def test_uncertain_faces_are_drawn_as_a_question_mark_below_the_shared_default(astronaut):
    """annotate's default threshold is the app's (DEFAULT_MIN_CONFIDENCE): a 30 % face is "?", a 90 % one is not."""
    from fer_core.inference.draw import DEFAULT_MIN_CONFIDENCE, annotate
    from fer_core.inference.faces import Face

    def face(confidence: float) -> Face:
        return Face(Box(150, 60, 140, 140), "Happy", {"Happy": confidence, "Sad": 1 - confidence})

    assert 0.3 < DEFAULT_MIN_CONFIDENCE < 0.9
    unsure, sure = [face(0.3)], [face(0.9)]
    as_question = annotate(astronaut, unsure, min_confidence=1.0)  # certainly "?"
    assert np.array_equal(annotate(astronaut, unsure), as_question)
    assert not np.array_equal(annotate(astronaut, unsure, min_confidence=0.0), as_question)
    assert not np.array_equal(annotate(astronaut, sure), annotate(astronaut, sure, min_confidence=1.0))


def test_emotion_colours_follow_the_label_list():
    from fer_core.inference.draw import EMOTION_COLORS, hex_color
    from fer_core.common.labels import LABELS

    assert tuple(EMOTION_COLORS) == LABELS
    assert len({hex_color(label) for label in LABELS}) == len(LABELS)  # one distinct colour each


def test_predict_cli_min_confidence_changes_the_drawing(tmp_path, astronaut_jpeg):
    good = tmp_path / "a.jpg"
    good.write_bytes(astronaut_jpeg)
    shown = _cli("predict", str(good), "--annotate", str(tmp_path / "shown"))  # default 0.4: the label is drawn
    unsure = _cli("predict", str(good), "--annotate", str(tmp_path / "unsure"), "--min-confidence", "1")
    assert shown.returncode == 0 and unsure.returncode == 0, shown.stderr + unsure.stderr
    drawn = [(tmp_path / name / "a.annotated.png").read_bytes() for name in ("shown", "unsure")]
    assert drawn[0] != drawn[1]
    bad = _cli("predict", str(good), "--min-confidence", "40")
    assert bad.returncode == 2 and "error: --min-confidence 40.0: expected a confidence from 0 to 1" in bad.stderr
    assert "Traceback" not in bad.stderr
