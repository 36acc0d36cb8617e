"""The neutral baseline on the photo, video and webcam pages (AppTest, real model, real photo and clip)."""
from __future__ import annotations

import json

import pytest

from tests.test_baseline_file import GOOD
from tests.test_app import astronaut_mp4, no_webrtc_session, open_page, without_data  # noqa: F401 -- fixtures


def test_video_page_reads_faces_against_its_first_seconds(without_data, astronaut_mp4):
    at = open_page("video")
    at.number_input(key="video-first-seconds").set_value(0.6)
    at.file_uploader(key="video_upload").set_value(("clip.mp4", astronaut_mp4, "video/mp4"))
    at.slider(key="video_every").set_value(3)
    at.run()
    at.button[0].click().run()  # Analyse video
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Neutral baseline on: every face is read against the largest face of the first 0.6 s (from 2 frames"
               in s.value for s in at.success), [s.value for s in at.success]
    assert any("against a neutral baseline**" in c.value for c in at.caption)
    outcome = at.session_state["video_outcome"]
    faces = [f for r in outcome.result.results for f in r.faces]
    assert faces and all(f.kind.vs_neutral for f in faces) and faces[0].label == "Neutral"
    assert "vs_neutral" in outcome.csv().decode().splitlines()[0]


#: hostile and careless baseline files, each with what its one-line refusal says
BAD_FILES = [
    (b"{ not json", "not valid JSON"),
    (json.dumps({**GOOD, "model": "someone-elses"}).encode(), "made with the model 'someone-elses'"),
    (b"[" * 200_000 + b"]" * 200_000, "too large"),
    (b"[" * 20_000 + b"]" * 20_000, "nested deeper"),
    (json.dumps({**GOOD, "model": "student16"}).replace('"frames": 3', '"frames": ' + "9" * 5000).encode(),
     "a number with 5000 digits"),
    (json.dumps({**GOOD, "model": "student16", "frames": True}).encode(), "not a boolean True"),
    (json.dumps({**GOOD, "model": "student16", "log_probabilities": [-1e308, *GOOD["log_probabilities"][1:]]}).encode(),
     "must be numbers from ln 1e-06"),
]


@pytest.mark.parametrize("content, message", BAD_FILES)
def test_photo_page_refuses_a_bad_baseline_file_and_analyses_as_before(without_data, astronaut_jpeg, content,
                                                                         message):
    at = open_page("photo")
    at.file_uploader(key="photo-reference").set_value(("mine.json", content, "application/json"))
    at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("No neutral baseline: mine.json: ") and message in errors[0]
    assert [m.value for m in at.metric if m.label == "Face 1"] == ["Happy"]  # read as without a baseline
    assert not any("vs_neutral" in c.value for c in at.caption)


@pytest.mark.parametrize("content, message", BAD_FILES[2:])
def test_webcam_page_refuses_a_bad_baseline_file_and_keeps_working(without_data, no_webrtc_session, content,
                                                                      message):
    from tests.test_app import open_webcam

    at = open_webcam()
    at.file_uploader(key="webcam-baseline-load").set_value(("mine.json", content, "application/json"))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Not loaded: mine.json: ") and message in errors[0], errors
    at.run()  # the page goes on (the file is still there, and still refused)
    assert not at.exception and len(at.error) == 1


def test_a_reference_without_a_face_is_refused_once_and_never_decoded_again(without_data, monkeypatch, astronaut_jpeg):
    import io

    from PIL import Image
    from skimage import data

    from ui import neutral_baseline as panel

    decoded = []
    read = panel.read_reference
    monkeypatch.setattr(panel, "read_reference", lambda data, name: decoded.append(name) or read(data, name))
    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="PNG")
    at = open_page("photo")
    at.file_uploader(key="photo-reference").set_value(("coffee.png", buffer.getvalue(), "image/png"))
    at.run()
    at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["No neutral baseline: coffee.png: no face found in this neutral reference; "
                                           "give a photo in which the person's face is upright, well lit and looking "
                                           "at the camera"]
    assert decoded == ["coffee.png"]  # the second run found the failure in the cache
    assert [m.value for m in at.metric if m.label == "Face 1"] == ["Happy"]  # the Photos uploader works on
