"""The Streamlit app under AppTest (headless, in-process): every page, with and without FER2013.

Notes on AppTest (streamlit 1.67):
- Pages live in ``app_pages/``, not ``pages/``: with a ``pages/`` folder Streamlit (and AppTest's
  ``switch_page``) may run a page file on its own, in the old multipage mode, without the entry
  point's navigation and sidebar.
- ``webrtc_streamer`` looks up the live session, which AppTest's mock runtime lacks: the lookup
  is patched to "no session". The live loop is tested with a stand-in streamer that pushes real
  frames through the page's own callback (no browser, no WebRTC).
- Models come from ``FER_MODELS_DIR`` if set, else the repository's ``models/``; a missing model
  fails the model tests (it is never skipped).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

# Before anything loads TensorFlow: aiortc's pylibsrtp segfaults when imported after it.
import streamlit_webrtc.component  # isort: skip
import av
import cv2
import numpy as np
import pytest
from skimage import data as skdata
from streamlit.testing.v1 import AppTest

from fer_core.inference.classifier import Classifier
from fer_core.data.fer2013 import DEFAULT_DATA, DATA_ENV
from fer_core.inference.detect import DEFAULT_DETECTOR
from fer_core.catalog.evaluations import tta_name
from fer_core.catalog.model_info import choices, label
from fer_core.catalog.model import MODELS_DIR, live_model_dir

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "streamlit_app.py"
REAL_DATA = Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)
TIMEOUT = 300  # first loads (TensorFlow, the 35,887-image CSV) are slow on a busy 2-core machine
PAGES = ("home", "dataset", "photo", "webcam", "video", "study", "evaluation")
TITLES = {"home": "FER Studio", "dataset": "Dataset explorer", "photo": "Photo analysis",
          "webcam": "Live webcam", "video": "Video analysis", "study": "Studies",
          "evaluation": "Model evaluation"}
#: The Happy assertion holds for the trained models bundled with the repository.
REPO_MODELS = (REPO / "models").resolve()


def bundled_models() -> list[Path]:
    """The models the sidebar offers (an ensemble's members are not offered on their own)."""
    models = choices()
    assert models, (f"no model in {MODELS_DIR}: the app tests need one (the repository's models/, "
                    "or FER_MODELS_DIR pointing at a folder of models)")
    return models


# ------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def no_webrtc_session(monkeypatch):
    """streamlit-webrtc asks the runtime for the browser session; AppTest's mock has none."""
    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)


@pytest.fixture
def with_data(monkeypatch):
    assert REAL_DATA.is_file(), f"FER2013 is needed at {REAL_DATA} (set {DATA_ENV})"
    monkeypatch.setenv(DATA_ENV, str(REAL_DATA))


@pytest.fixture
def without_data(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "missing" / "fer2013.csv"))


# astronaut_jpeg (a real photo of a smiling person, JPEG bytes) comes from conftest.py.


@pytest.fixture(scope="module")
def astronaut_mp4() -> bytes:
    """A 1.2 s, 10 fps H.264 clip of the astronaut photo, slowly panning."""
    buffer = io.BytesIO()
    container = av.open(buffer, mode="w", format="mp4")
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 320, 320, "yuv420p"
    photo = skdata.astronaut()
    for i in range(12):
        frame = cv2.resize(photo[i * 4 : i * 4 + 448, i * 4 : i * 4 + 448], (320, 320))
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return buffer.getvalue()


def open_page(page: str) -> AppTest:
    """Run the app (Home, with navigation and sidebar), then switch to ``page``."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def sample_rows(at: AppTest) -> list[list[str]]:
    """Captions of the dataset page's sample grid rows ("#index Split", one row per class)."""
    return [img.captions for img in at.image
            if img.captions and all(re.fullmatch(r"#\d+ (Training|PublicTest|PrivateTest)", c) for c in img.captions)]


def texts(at: AppTest) -> str:
    """Every text the page shows, joined (for 'does the page say X' checks)."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                  "error", "success") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


# ------------------------------------------------------------------ every page, with and without data
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_data(page, with_data):
    bundled_models()
    at = open_page(page)
    assert TITLES[page] in [t.value for t in at.title]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_data(page, without_data):
    bundled_models()
    at = open_page(page)
    assert TITLES[page] in [t.value for t in at.title]
    assert not at.error, [e.value for e in at.error]


def test_home_shows_model_sidebar_and_links(without_data):
    models = bundled_models()
    at = open_page("home")
    assert at.sidebar.selectbox(key="fer_model").value == str(models[0])
    picker = at.sidebar.selectbox(key="fer_model")
    assert list(picker.options) == [label(m) for m in models]  # AppTest lists the formatted options: "Accurate (…)"
    live = at.sidebar.selectbox(key="fer_live_model")
    assert live.value == str(live_model_dir()) and live.options == at.sidebar.selectbox(key="fer_model").options
    assert at.sidebar.selectbox(key="fer_detector").value == DEFAULT_DETECTOR
    assert at.metric[0].value == models[0].name
    links = [link.proto.label for link in at.get("page_link")]
    assert links == ["Dataset explorer", "Photo analysis", "Live webcam", "Video analysis", "Studies", "Model evaluation"]
    assert [link.proto.page for link in at.get("page_link")] == ["dataset", "photo", "webcam", "video", "study",
                                                                 "evaluation"]


def test_sidebar_settings_follow_the_user_across_pages(without_data):
    at = open_page("home")
    at.sidebar.selectbox(key="fer_detector").set_value("haar")
    at.sidebar.slider(key="fer_min_confidence").set_value(0.65)
    at.run()
    at.switch_page("app_pages/photo.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="fer_detector").value == "haar"
    model = Classifier.load(bundled_models()[0])
    # the photo page names the runtime and the TTA as the other pages do
    assert (f"Model **{model.name}** on {model.runtime_label}, {tta_name(model.tta)}, detector haar, "
            "minimum confidence 65%.") in [c.value for c in at.caption]


def test_sidebar_defaults_are_the_clis_fer_model_and_fer_live_model(without_data, monkeypatch):
    """$FER_MODEL and $FER_LIVE_MODEL choose the app's defaults as they do the CLI's, however spelled."""
    models = bundled_models()
    assert len(models) >= 2, "this test needs two bundled models"
    photo_model, live = models[-1], models[0]
    monkeypatch.setenv("FER_MODEL", str(photo_model))
    monkeypatch.setenv("FER_LIVE_MODEL", os.path.relpath(live))  # another spelling of a listed folder
    at = open_page("home")
    assert at.sidebar.selectbox(key="fer_model").value == str(photo_model)
    assert at.sidebar.selectbox(key="fer_live_model").value == str(live)
    assert not at.sidebar.warning
    at.switch_page("app_pages/photo.py").run()
    assert any(c.value.startswith(f"Model **{photo_model.name}** on ") for c in at.caption)
    at.switch_page("app_pages/video.py").run()
    assert any(c.value.startswith(f"Model **{live.name}** on ") for c in at.caption)

    monkeypatch.setenv("FER_MODEL", str(photo_model.parent / "not-a-model"))
    at = open_page("home")
    assert at.sidebar.selectbox(key="fer_model").value == str(models[0])
    assert any(w.value.startswith("FER_MODEL names not-a-model, which is not among") for w in at.sidebar.warning)


# ------------------------------------------------------------------ dataset explorer
def test_dataset_with_real_data(with_data):
    at = open_page("dataset")
    shown = texts(at)
    assert "35,887 images" in shown
    assert {m.label: m.value for m in at.metric}["PrivateTest"] == "3,589"
    assert len(at.get("plotly_chart")) >= 2  # class distribution, intensity histogram
    # one row of samples per class (8 each), then the mean faces (7)
    rows = sample_rows(at)
    assert len(rows) == 7 and all(len(r) == 8 for r in rows)
    assert ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"] in [img.captions for img in at.image]
    quality = {m.label: m.value for m in at.metric}
    assert int(quality["Near-blank images"]) > 0 and int(quality["Duplicate groups"]) > 0
    assert int(quality["Shared across splits"]) > 0  # FER2013 leaks duplicates between training and test

    at.button[0].click().run()  # Reshuffle
    assert len(sample_rows(at)) == 7 and sample_rows(at) != rows


def test_dataset_filters_split_and_class(with_data):
    at = open_page("dataset")
    at.multiselect(key="sample_classes").set_value(["Happy", "Sad"])
    at.selectbox(key="sample_split").set_value("PrivateTest")
    at.slider(key="sample_count").set_value(5)
    at.run()
    rows = sample_rows(at)
    assert len(rows) == 2 and all(len(r) == 5 for r in rows)
    assert all(c.endswith("PrivateTest") for r in rows for c in r)


def test_dataset_without_data_explains_and_shows_card(without_data):
    at = open_page("dataset")
    shown = texts(at)
    assert "FER_DATA" in shown and "Kaggle" in shown
    assert "Dataset card of the model" in shown
    assert len(at.get("plotly_chart")) == 1
    assert not at.error


def test_dataset_malformed_upload_shows_loader_message(without_data):
    at = open_page("dataset")
    at.radio(key="data_source").set_value("Upload a CSV").run()
    at.file_uploader(key="data_upload").set_value(("bad.csv", b"foo,bar\n1,2\n", "text/csv"))
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert "bad.csv" in at.error[0].value and "missing column" in at.error[0].value


def test_dataset_gzip_upload(without_data):
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"] + [
        f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{('Training', 'PublicTest', 'PrivateTest')[i % 3]}"
        for i in range(42)
    ]
    payload = gzip.compress("\n".join(lines).encode())
    at = open_page("dataset")
    at.radio(key="data_source").set_value("Upload a CSV").run()
    at.file_uploader(key="data_upload").set_value(("tiny.csv.gz", payload, "application/gzip"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "42 images from tiny.csv.gz" in texts(at)


# ------------------------------------------------------------------ photo analysis
def test_photo_astronaut(without_data, astronaut_jpeg):
    models = bundled_models()
    at = open_page("photo")
    at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    faces = [m for m in at.metric if m.label.startswith("Face ")]
    assert len(faces) == 1
    labels = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
    assert faces[0].value in labels
    if models[0].resolve().parent == REPO_MODELS:  # a trained model shipped with the repository
        assert faces[0].value == "Happy"
    assert any("Grad-CAM" in c for img in at.image for c in img.captions)
    assert "astronaut.jpg: 1 face(s)" in [c for img in at.image for c in img.captions]
    assert len(at.get("plotly_chart")) == 1
    names = sorted(b.proto.label for b in at.download_button)
    assert names == ["Annotated PNG", "Provenance (JSON)", "Results CSV", "Results JSON"]  # provenance: the CSV's sidecar


def test_photo_bad_file_is_reported_and_others_still_processed(without_data, astronaut_jpeg):
    at = open_page("photo")
    at.file_uploader(key="photo_uploads").set_value([
        ("x.jpg", os.urandom(2048), "image/jpeg"),
        ("astronaut.jpg", astronaut_jpeg, "image/jpeg"),
        ("empty.png", b"", "image/png"),
    ])
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and errors[0].startswith("x.jpg") and errors[1].startswith("empty.png")
    assert len([m for m in at.metric if m.label.startswith("Face ")]) == 1


def test_photo_without_face_says_so(without_data):
    ok, png = cv2.imencode(".png", np.full((240, 320, 3), 128, dtype=np.uint8))
    at = open_page("photo")
    at.file_uploader(key="photo_uploads").set_value(("grey.png", png.tobytes(), "image/png"))
    at.run()
    assert not at.exception and not at.error
    hint = [i.value for i in at.info if i.value.startswith("No face found in grey.png")]
    assert len(hint) == 1 and "at least about 4% of the image's longer side wide" in hint[0]
    assert not [m for m in at.metric if m.label.startswith("Face ")]
    at.sidebar.selectbox(key="fer_detector").set_value("haar").run()  # the hint follows the detector
    hint = [i.value for i in at.info if i.value.startswith("No face found in grey.png")]
    assert len(hint) == 1 and "by the haar detector" in hint[0] and "about 8% of the image's longer side" in hint[0]


def test_photo_threshold_redraws_without_reanalysing(without_data, astronaut, monkeypatch):
    """The confidence slider changes the labels on the image, not the analysis (no detection, no Grad-CAM)."""
    from PIL import Image

    from ui import photo

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(buffer, format="JPEG")  # not cached by others
    analysed = []
    real = photo._analyse_uncached
    monkeypatch.setattr(photo, "_analyse_uncached", lambda *args: analysed.append(args[1]) or real(*args))
    at = open_page("photo")
    at.file_uploader(key="photo_uploads").set_value(("mirrored.jpg", buffer.getvalue(), "image/jpeg"))
    at.run()
    assert not at.exception and not at.error and analysed == ["mirrored.jpg"]
    assert not any("confidence threshold" in w.value for w in at.warning)
    before = at.image[0].value
    at.sidebar.slider(key="fer_min_confidence").set_value(1.0).run()
    assert not at.exception and analysed == ["mirrored.jpg"]  # not analysed again
    assert any("Below the 100% confidence threshold" in w.value for w in at.warning)
    assert at.image[0].value != before  # the face is now labelled '?'


def test_photo_over_the_byte_cap_is_refused(without_data, astronaut_jpeg, monkeypatch):
    """Uploads get the byte cap of image files, before the cache (a cached photo is refused too)."""
    from fer_core.inference import images
    monkeypatch.setattr(images, "MAX_BYTES", len(astronaut_jpeg) - 1)
    at = open_page("photo")
    at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["astronaut.jpg: file is larger than 0 MB; resize or recompress it"]
    assert not [m for m in at.metric if m.label.startswith("Face ")]


def test_photo_page_reports_a_bad_cache_size(without_data, monkeypatch):
    monkeypatch.setenv("FER_PHOTO_CACHE_MB", "64MB")
    at = open_page("photo")
    assert [e.value for e in at.error] == ["$FER_PHOTO_CACHE_MB must be a whole number of megabytes (0 turns the "
                                           "cache off), got '64MB'. Photo analysis is off until it is fixed."]
    assert not at.get("file_uploader")


@pytest.mark.parametrize("value,expected", [(None, 64), ("", 64), (" 128 ", 128), ("0", 0)])
def test_photo_cache_size_from_the_environment(value, expected):
    from fer_core.common.memory import cache_megabytes

    assert cache_megabytes(value) == expected


@pytest.mark.parametrize("value", ["64MB", "-1", "1.5", "lots"])
def test_photo_cache_size_refuses_bad_values(value):
    from fer_core.common.memory import cache_megabytes

    with pytest.raises(ValueError, match=f"FER_PHOTO_CACHE_MB must be a whole number of megabytes .*got {value!r}"):
        cache_megabytes(value)


def test_photo_camera_snapshot_and_combined_table(without_data, astronaut_jpeg):
    at = open_page("photo")
    at.camera_input(key="photo_camera").set_value(("snap.jpg", astronaut_jpeg, "image/jpeg"))
    at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception and not at.error
    assert len([m for m in at.metric if m.label.startswith("Face ")]) == 2
    table = at.dataframe[0].value
    assert list(table["file"]) == ["astronaut.jpg", "snapshot.jpg"]
    assert "All results CSV" in [b.proto.label for b in at.download_button]


# ------------------------------------------------------------------ video analysis
def test_video_analysis(without_data, astronaut_mp4):
    at = open_page("video")
    at.file_uploader(key="video_upload").set_value(("clip.mp4", astronaut_mp4, "video/mp4"))
    at.slider(key="video_every").set_value(3)
    at.run()
    assert not at.exception
    at.button[0].click().run()  # Analyse video
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("12 frames" in s.value and "4 analysed" in s.value for s in at.success)
    assert len(at.get("video")) == 1
    assert sorted(b.proto.label for b in at.download_button) == ["Annotated video (MP4)", "Per-frame results (CSV)",
                                                                 "Per-person summary (CSV)", "Provenance (JSON)"]
    assert len(at.get("plotly_chart")) == 3  # timeline, share and the one person's timeline
    people = at.dataframe[0].value
    assert people["person"].tolist() == ["P1"] and people["frames"].tolist() == [4]
    assert at.selectbox(key="video-person").options == ["Everyone", "P1"]
    outcome = at.session_state["video_outcome"]
    assert outcome.video[4:8] == b"ftyp"  # an MP4 came back
    assert outcome.frames_with_face == 4
    live = Classifier.load(live_model_dir())
    assert f"{tta_name(live.tta)}, detector {DEFAULT_DETECTOR}." in texts(at)  # "no TTA", not "none"

    photo_models = at.sidebar.selectbox(key="fer_model")
    photo_models.set_value(photo_models.options[-1]).run()  # the photo model does not affect videos
    assert at.session_state["video_outcome"] is outcome and len(at.get("video")) == 1 and not at.button
    at.file_uploader(key="video_upload").set_value(("other.mp4", astronaut_mp4[:-1], "video/mp4")).run()
    assert "video_outcome" not in at.session_state  # a new upload: the last annotated MP4 is dropped
    assert not at.get("video") and [b.label for b in at.button] == ["Analyse video"]


def test_video_corrupt_file(without_data):
    at = open_page("video")
    at.file_uploader(key="video_upload").set_value(("broken.mp4", b"\x00not a video" * 100, "video/mp4"))
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("broken.mp4")


# ------------------------------------------------------------------ live webcam
def test_webcam_page_with_real_component(without_data):
    at = open_page("webcam")
    live = Classifier.load(live_model_dir())
    assert f"Live path: model **{live.name}** on **LiteRT int8, " in texts(at)  # every bundled model has a .tflite and a .int8.tflite
    assert "without test-time augmentation" in texts(at)
    assert "detector **blazeface**, not the sidebar's blazeface-multiscale: webcam faces are large" in texts(at)
    assert "press Start" in texts(at)
    assert type(at.session_state["webcam"]).__name__ == "WebRtcStreamerContext"


class _FakeContext:
    """Looks like a WebRtcStreamerContext that plays for ``checks`` reads of ``state``."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    @property
    def state(self):
        self.checks -= 1
        return SimpleNamespace(playing=self.checks >= 0, signalling=False)


#: The webrtc component's context as Session State holds it once Start was pressed.
STARTED = SimpleNamespace(state=SimpleNamespace(playing=False, signalling=True))
#: ... and once its stream has stopped (or was never started).
STOPPED = SimpleNamespace(state=SimpleNamespace(playing=False, signalling=False))


@pytest.fixture
def stream_slots(monkeypatch):
    """A fresh one-slot pool for the page, instead of the process-wide cached one."""
    from ui import live
    from ui.stream_slots import StreamSlots

    slots = StreamSlots(limit=1)
    monkeypatch.setattr(live, "shared_slots", lambda: slots)
    return slots


def open_webcam(component_state=None) -> AppTest:
    """The webcam page (after Home), with the webrtc component's context preset (e.g. Start pressed)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if component_state is not None:
        at.session_state["webcam"] = component_state
    at.switch_page("app_pages/webcam.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def recording_streamer(monkeypatch, frames=(), playing_checks: int = 0) -> list[dict]:
    """Replaces ``webrtc_streamer``: records its arguments per run and pushes ``frames`` through
    the page's queued callback, one frame at a time (as a stream that keeps up)."""
    import asyncio

    import streamlit_webrtc

    calls: list[dict] = []

    def fake_streamer(key, **kwargs):
        calls.append(dict(kwargs, key=key, returned=[]))
        for frame in frames:
            out = asyncio.run(kwargs["queued_video_frames_callback"]([av.VideoFrame.from_ndarray(frame, format="rgb24")]))
            calls[-1]["returned"].extend(o.to_ndarray(format="rgb24") for o in out)
            time.sleep(0.01)
        return _FakeContext(checks=playing_checks)

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", fake_streamer)
    return calls


def test_webcam_live_loop_with_frames(without_data, monkeypatch, stream_slots):
    """Frames go through the page's own callback; the page's loop shows the label and keeps a history."""
    frame = cv2.resize(skdata.astronaut(), (480, 480))
    # if, while (frames), while (empty queue), then stopped
    calls = recording_streamer(monkeypatch, [frame] * 5, playing_checks=3)
    at = open_webcam(STARTED)
    assert not at.error and not at.warning
    call = calls[-1]
    assert call["key"] == "webcam" and call["rtc_configuration"] == {"iceServers": []}
    assert call["media_stream_constraints"] == {"video": True, "audio": False}
    assert call["desired_playing_state"] is None and callable(call["on_video_ended"])
    assert "video_frame_callback" not in call  # only the newest queued frame is analysed
    history = at.session_state["webcam_recording"].history
    assert len(history) == 5 and all(row["faces"] == 1 for row in history)
    assert all(not np.array_equal(out, frame) for out in call["returned"])  # boxes and labels drawn
    last = history[-1]["label"]
    assert any(m.value.startswith(f"### Last emotion: {last}") for m in at.markdown)
    assert sorted(b.proto.label for b in at.download_button) == ["Download neutral baseline", "Per-person summary (CSV)",
                                                                 "Session summary (CSV)", "Timeline (CSV)"]
    assert len(at.get("plotly_chart")) >= 3  # the main face's timeline, the shares, P1's timeline
    assert {row["person"] for row in history} == {1}  # the same face in every frame: one person
    assert at.dataframe[0].value["person"].tolist() == ["P1"]
    assert stream_slots.active() == 0  # the stream stopped: its slot is free again


def test_webcam_busy_server_queues_only_on_start_and_stops_a_late_stream(without_data, monkeypatch, stream_slots):
    """One slot, held by another session: opening the page queues nobody (Start is offered, and says
    it joins the queue); a Start pressed then joins the queue and its stream is stopped unanalysed;
    once the slot is freed the first in the queue is offered Start and the next keeps waiting."""
    from ui import live

    frame = cv2.resize(skdata.astronaut(), (480, 480))
    assert stream_slots.acquire("another session").granted
    calls = recording_streamer(monkeypatch, [frame])
    viewer = open_webcam()
    assert calls[-1]["desired_playing_state"] is None and not viewer.warning  # Start offered, not queued
    idle = " ".join(i.value for i in viewer.info)
    assert "1 live stream is running, the limit is 1" in idle and "Press **Start** to join the queue" in idle
    assert stream_slots.check("another session").queued == 0

    at = open_webcam(STARTED)  # presses Start while the slot is taken
    call = calls[-1]
    assert call["desired_playing_state"] is False and call["queued_video_frames_callback"] is live.unanalysed
    assert np.array_equal(call["returned"][0], frame)  # passed through, not analysed
    busy = " ".join(w.value for w in at.warning)
    assert "1 live stream is running, the limit is 1" in busy and "number **1** in the queue" in busy
    assert not at.session_state["webcam_recording"].history and stream_slots.active() == 1
    late = open_webcam(STARTED)  # a second tab whose Start also lost
    assert "number **2** in the queue" in " ".join(w.value for w in late.warning)

    for tab in (at, late):  # the browser has stopped the streams that lost (desired_playing_state False)
        tab.session_state["webcam"] = STOPPED
    at.run()
    assert "number **1** in the queue" in " ".join(w.value for w in at.warning)  # still queued, not dropped
    stream_slots.release("another session")
    at.run()  # the first in the queue gets the free slot: Start is offered again
    assert calls[-1]["desired_playing_state"] is None and not at.warning
    assert any("A live slot is free for you" in i.value for i in at.info)
    late.run()
    assert calls[-1]["desired_playing_state"] is False  # still waits behind the first
    waiting = " ".join(w.value for w in late.warning)
    assert "server is busy" not in waiting and "Every free slot is promised" in waiting
    viewer.run()  # still only looking: told the free slot is promised, offered Start, not queued
    idle = " ".join(i.value for i in viewer.info)
    assert "server is busy" not in idle and "Press **Start** to join the queue (2 users waiting)" in idle
    assert calls[-1]["desired_playing_state"] is None and stream_slots.check("nobody").queued == 2
    leave = next(b for b in late.button if b.label == "Leave the queue")
    leave.click().run()  # the second in the queue gives up: idle, offered Start, the queue is one shorter
    assert not late.warning and calls[-1]["desired_playing_state"] is None
    assert stream_slots.check("nobody").queued == 1


def test_webcam_confidence_slider_keeps_the_analyser(without_data):
    """The confidence threshold only changes drawing: the analyser (its temporal EMA) is kept."""
    at = open_webcam()
    session = at.session_state["webcam_session"]
    at.sidebar.slider(key="fer_min_confidence").set_value(0.7).run()
    assert not at.exception
    assert at.session_state["webcam_session"] is session and session.analyzer.min_confidence == pytest.approx(0.7)
    at.sidebar.selectbox(key="fer_detector").set_value("haar").run()  # another detector: another analyser
    assert at.session_state["webcam_session"] is not session
    assert "detector haar; labels are smoothed" in texts(at) and "not the sidebar's" not in texts(at)


# ------------------------------------------------------------------ model evaluation
def test_evaluation_details_and_toggle(without_data):
    bundled_models()
    at = open_page("evaluation")
    if not at.selectbox:  # no evaluation JSON: the page must say how to make one
        assert "python -m fer_core evaluate --split PrivateTest --record" in texts(at)
        return
    assert len(at.get("plotly_chart")) >= 2  # confusion matrix (+ calibration) and training curves
    at.toggle(key="cm_normalise").set_value(True).run()
    assert not at.exception
    assert "ms per face" not in at.dataframe[-1].value.columns
    at.button[0].click().run()  # measure speed
    speeds = at.dataframe[-1].value["ms per face"]
    assert speeds.notna().all() and (speeds > 0).all()


def test_evaluation_without_json_names_the_command(without_data, monkeypatch, tmp_path):
    from ui import resources

    source = bundled_models()[0]
    folder = tmp_path / source.name
    folder.mkdir()
    shutil.copy(source / "metadata.json", folder / "metadata.json")
    monkeypatch.setattr(resources, "model_folders", lambda: [folder])
    at = open_page("evaluation")
    assert not at.error
    shown = texts(at)
    assert "python -m fer_core evaluate --split PrivateTest --record" in shown
    assert "python -m fer_core evaluate --split PublicTest --record" in shown


def test_evaluation_gallery_with_data(with_data):
    at = open_page("evaluation")
    true = at.selectbox(key="gallery_true")
    pred = at.selectbox(key="gallery_pred")
    assert true.value != pred.value  # defaults to the most frequent mistake
    gallery = at.image[-1]
    assert 0 < len(gallery.captions) <= 24
    pred.set_value(true.value).run()
    assert "Pick two different emotions" in texts(at)


def test_pages_without_any_model(without_data, monkeypatch):
    from ui import resources

    monkeypatch.setattr(resources, "model_folders", lambda: [])
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("No model found" in w.value for w in at.sidebar.warning)
    for page in ("photo", "webcam", "video", "evaluation"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception
        assert any("No model available" in e.value for e in at.error), page


# ------------------------------------------------------------------ page helpers (ui/), no AppTest
def test_rtc_configuration_sources():
    from ui.live import rtc_configuration

    assert rtc_configuration() == {"iceServers": []}
    servers = '[{"urls": ["stun:stun.example.org:3478"]}]'
    assert rtc_configuration(env=servers) == {"iceServers": [{"urls": ["stun:stun.example.org:3478"]}]}
    assert rtc_configuration(secret=[{"urls": "turn:t.example.org", "username": "u", "credential": "c"}],
                             env=servers)["iceServers"][0]["urls"] == "turn:t.example.org"  # the secret wins
    assert rtc_configuration(env='{"iceServers": [], "iceTransportPolicy": "relay"}')["iceTransportPolicy"] == "relay"
    for bad, message in (("{not json", "not valid JSON"), ('{"servers": []}', "iceServers"), ("42", "got int")):
        with pytest.raises(ValueError, match=message):
            rtc_configuration(env=bad)


def test_live_session_queue_history_and_shares():
    from fer_core.inference.detect import Box
    from fer_core.inference.faces import Face
    from fer_core.reports import timeline
    from fer_core.drivers.live import FrameResult
    from ui import live

    class Analyzer:  # LiveAnalyzer's interface, with a known answer per frame
        def __init__(self):
            self.ema = SimpleNamespace(reset=lambda: None)
            self.calls = 0

        def process(self, rgb):
            self.calls += 1
            probs = {"Happy": 0.8, "Sad": 0.2} if self.calls <= 3 else {"Happy": 0.1, "Sad": 0.9}
            faces = [] if self.calls == 5 else [Face(Box(1, 1, 5, 5), max(probs, key=probs.get), probs)]
            return rgb + 1, FrameResult(100.0 + self.calls, faces, 15.0)

    session = live.LiveSession(Analyzer(), ("k",), maxsize=4)
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    for _ in range(6):
        assert session.process(frame).max() == 1
    batch = session.drain(timeout=0.1)
    assert [r.timestamp for r in batch] == [103.0, 104.0, 105.0, 106.0]  # the oldest were dropped
    assert session.drain(timeout=0.01) == []

    history: list[dict] = []
    live.append_history(history, batch, 103.0, ("Happy", "Sad"), limit=3)
    assert [row["time_s"] for row in history] == [1.0, 2.0, 3.0]
    assert [row["label"] for row in history] == ["Sad", timeline.NO_FACE, "Sad"]
    frame_rows = timeline.timeline(history, ("Happy", "Sad"))
    assert np.isnan(frame_rows["Happy"][1])
    share = timeline.shares(frame_rows, ("Happy", "Sad"))
    assert share == pytest.approx({"Happy": 0.0, "Sad": 2 / 3, timeline.NO_FACE: 1 / 3})
    assert b"time_s" in live.history_csv(history).splitlines()[0]


def test_timeline_shares_weigh_time_and_cap_gaps():
    from fer_core.reports import timeline
    rows = [{"time_s": t, "face": 1, "label": label, "Happy": 0.5}
            for t, label in ((0.0, "Happy"), (1.0, "Happy"), (2.0, "Sad"), (12.0, "Happy"))]
    rows.append({"time_s": 0.5, "face": 2, "label": "Sad"})  # a second face: not the main one
    frame = timeline.timeline(rows, ("Happy", "Sad"))
    assert list(frame.time_s) == [0.0, 1.0, 2.0, 12.0]
    share = timeline.shares(frame, ("Happy", "Sad"))
    # Happy 1 + 1 + 1 (last row: median step), Sad 10 s gap capped at 2 s
    assert share == pytest.approx({"Happy": 3 / 5, "Sad": 2 / 5})
    assert timeline.shares(timeline.timeline([], ("Happy",)), ("Happy",)) == {"Happy": 0.0}


# ------------------------------------------------------------------ one figure per fact
@pytest.mark.parametrize("model", choices(), ids=[m.name for m in choices()])
def test_home_and_evaluation_show_the_same_privatetest_figure(model, without_data):
    """Both pages headline a model's PrivateTest accuracy by one rule, and name its TTA."""
    from fer_core.catalog.evaluations import headline, load_evaluations, tta_name
    from fer_core.catalog.model import read_metadata

    expected = headline(load_evaluations(model), "PrivateTest", read_metadata(model).get("inference", {}).get("tta", "none"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["fer_model"] = str(model)
    at.run()
    home = {m.label: m.value for m in at.metric}
    at.switch_page("app_pages/evaluation.py").run()
    assert not at.exception
    evaluation = {m.label: m.value for m in at.metric}
    if expected is None:
        assert home["PrivateTest accuracy"] == "not evaluated"
        return
    label = f"PrivateTest accuracy ({tta_name(expected.tta)})"
    assert home[label] == evaluation[label] == f"{expected.accuracy:.1%}"


def test_evaluation_shows_leak_free_score_hard_class_recall_and_robustness(without_data):
    """The default model's stored PrivateTest evaluation: its leak-free accuracy, the recall of the
    hard classes, and the corruption report as a plot."""
    from fer_core.catalog.evaluations import WATCHED_CLASSES, headline, load_evaluations
    from fer_core.catalog.model import default_model_dir, read_metadata

    model = default_model_dir()
    stored = load_evaluations(model)
    best = headline(stored, "PrivateTest", read_metadata(model).get("inference", {}).get("tta", "none"))
    assert best is not None and best.leak_free, "record the default model's PrivateTest with evaluate --record"
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["fer_model"] = str(model)
    at.run()
    at.switch_page("app_pages/evaluation.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["PrivateTest leak-free accuracy"] == f"{best.leak_free['accuracy']:.1%}"
    shown = texts(at)
    for name in WATCHED_CLASSES:
        assert f"{name} {best.recall(name):.2f}" in shown
    robust = [e for e in stored.values() if e.robustness]
    assert robust, "record the default model's corruption report with evaluate --corruptions --record"
    assert "Robustness to camera conditions" in [h.value for h in at.header]
    titles = [json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "") for chart in at.get("plotly_chart")]
    assert any(title.startswith("Accuracy under corruptions") for title in titles)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_the_servers_paths(page, with_data):
    """A hosted studio's users see model and data-set names, never the server's file system."""
    at = open_page(page)
    shown = texts(at) + "\n".join(str(s.format_func(o)) for s in at.sidebar.selectbox for o in s.options)
    checkout = str(Path(__file__).resolve().parent.parent)
    assert checkout not in shown and str(REAL_DATA.parent) not in shown


def test_webcam_recording_keeps_a_stopped_session_and_starts_a_new_one(classifier):
    """The webcam page's one state object: rows from a stream's first frame, kept after Stop, cleared by the next Start."""
    from fer_core.drivers.live import FrameResult
    from fer_core.inference.infer import analyse_image
    from fer_core.inference.detect import LIVE_DETECTOR, make_detector
    from fer_core.evaluation.sample_frames import astronaut_frame
    from ui.live import WebcamRecording

    faces = analyse_image(astronaut_frame(), classifier, make_detector(LIVE_DETECTOR))
    recording = WebcamRecording()
    recording.begin()
    recording.add([FrameResult(100.0, faces, 15.0), FrameResult(100.5, [], 15.0)], classifier.labels)
    assert [r["time_s"] for r in recording.history] == [0.0, 0.5] and recording.analysed == 2
    assert recording.current_text() == "### Current emotion: No face"
    recording.add([FrameResult(101.0, faces, 15.0)], classifier.labels)
    assert recording.current_text("Last").startswith("### Last emotion: Happy (")
    recording.begin()  # still on, after a rerun of the page: the same history
    assert recording.analysed == 3
    recording.end()
    recording.end()
    assert len(recording.history) == 3  # stopped: kept to read and download
    recording.begin()
    assert recording.history == [] and recording.started is None and recording.analysed == 0


def test_webcam_marks_reach_the_timeline_csv_and_a_study_markers_file(classifier, tmp_path):
    """Mark during a live session: the mark's name on the timeline CSV's row at that time, and a markers.csv
    that the study's own reader accepts (each mark a window the next one closes)."""
    import io

    import pandas as pd

    from fer_core.drivers.live import FrameResult
    from fer_core.evaluation.sample_frames import astronaut_frame
    from fer_core.inference.detect import LIVE_DETECTOR, make_detector
    from fer_core.inference.infer import analyse_image
    from fer_core.study.design import read_markers
    from ui.live import WebcamRecording

    faces = analyse_image(astronaut_frame(), classifier, make_detector(LIVE_DETECTOR))
    recording = WebcamRecording()
    recording.begin()
    assert recording.mark("too early", 99.0) is None  # before the first frame there is no stream time
    recording.add([FrameResult(100.0 + i / 2, faces, 15.0) for i in range(8)], classifier.labels)  # 0 .. 3.5 s
    assert recording.mark("clip A", 101.2) == 1.2 and recording.mark("", 102.0) == 2.0
    timeline = pd.read_csv(io.BytesIO(recording.csv()))
    assert timeline.loc[timeline["marker"].notna(), ["time_s", "marker"]].values.tolist() == [[1.5, "clip A"],
                                                                                             [2.0, "Mark 2"]]
    (tmp_path / "markers.csv").write_bytes(recording.markers_csv())
    windows = read_markers(tmp_path / "markers.csv", ("P1",))
    assert [(w.stimulus, w.onset, w.offset) for w in windows] == [("clip A", 1.2, 2.0), ("Mark 2", 2.0, 3.5)]
    recording.end()
    recording.begin()  # a new stream forgets the old marks
    assert recording.marks == []

