"""Personal calibration on the photo and video pages (AppTest, real model, real photo and clip)."""
from __future__ import annotations

import json

import pytest

from tests.test_app import astronaut_mp4, no_webrtc_session, open_page, without_data  # noqa: F401 -- fixtures


def test_video_page_reads_faces_against_its_first_seconds(without_data, astronaut_mp4):
    at = open_page("video")
    at.number_input(key="video-first-seconds").set_value(0.6)
    at.file_uploader(key="video_upload").set_value(("clip.mp4", astronaut_mp4, "video/mp4"))
    at.slider(key="video_every").set_value(3)
    at.run()
    at.button[0].click().run()  # Analyse video
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Calibration on: every face is read against the largest face of the first 0.6 s (from 2 frames"
               in s.value for s in at.success), [s.value for s in at.success]
    assert any("Faces are **calibrated**" in c.value for c in at.caption)
    outcome = at.session_state["video_outcome"]
    faces = [f for r in outcome.result.results for f in r.faces]
    assert faces and all(f.kind.vs_neutral for f in faces) and faces[0].label == "Neutral"
    assert "calibrated" in outcome.csv().decode().splitlines()[0]


@pytest.mark.parametrize("content, message", [
    (b"{ not json", "not valid JSON"),
    (json.dumps({"format": "fer-studio-calibration", "version": 1, "model": "someone-elses", "frames": 1,
                 "margin": 0.7, "labels": ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"],
                 "log_probabilities": [-2.0] * 7}).encode(), "made with the model 'someone-elses'"),
])
def test_photo_page_refuses_a_bad_calibration_file_and_analyses_as_before(without_data, astronaut_jpeg, content,
                                                                         message):
    at = open_page("photo")
    at.file_uploader(key="photo-reference").set_value(("mine.json", content, "application/json"))
    at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("No calibration: mine.json: ") and message in errors[0]
    assert [m.value for m in at.metric if m.label == "Face 1"] == ["Happy"]  # read as without calibration
    assert not any("calibrated" in c.value for c in at.caption)
