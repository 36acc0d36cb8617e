"""The Study page (AppTest): a study made from a server folder of real-face clips is created, run, shows its
group curves, bars and participant table, is listed again by a fresh app (a server restart) and is deleted."""
from __future__ import annotations

import json
from pathlib import Path

# Before anything loads TensorFlow: aiortc's pylibsrtp segfaults when imported after it.
import streamlit_webrtc.component  # isort: skip
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.study_clips import FER_HAPPY, FER_NEUTRAL, fer_face, fer_frame, write_clip
from ui import study

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
TIMEOUT = 300


@pytest.fixture(autouse=True)
def no_webrtc_session(monkeypatch):
    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)


@pytest.fixture
def videos(tmp_path, data_path) -> Path:
    """A server folder with three participants' clips: two smiling, one neutral then smiling."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    happy, neutral = fer_frame(fer_face(data_path, FER_HAPPY)), fer_frame(fer_face(data_path, FER_NEUTRAL))
    write_clip(folder / "anna.mp4", [(3.0, happy)])
    write_clip(folder / "ben.mp4", [(1.0, neutral), (2.0, happy)])
    write_clip(folder / "carl.mp4", [(3.0, neutral)])
    return folder


def open_study_page(tmp_path) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/study.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_a_study_is_created_run_reopened_and_deleted(videos, tmp_path, monkeypatch):
    monkeypatch.setenv(study.STUDIES_ENV, str(tmp_path / "studies"))
    at = open_study_page(tmp_path)
    at.text_input(key="study_name").input("pilot")
    at.radio(key="study_source").set_value("A folder on the server").run()
    at.text_input(key="study_folder").input(str(videos)).run()
    assert not at.error, [e.value for e in at.error]
    at.button[0].click().run()  # Create study (the editors keep their defaults: IDs from file names, one window)
    assert not at.exception, [e.message for e in at.exception]
    assert (tmp_path / "studies" / "pilot" / "study.csv").is_file()
    assert at.selectbox(key="study_choice").value == "pilot (not run yet)"

    at.slider(key="study_every").set_value(3).run()
    next(b for b in at.button if b.label.startswith("Run analysis")).click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("3 participant(s) analysed" in s.value for s in at.success)
    titles = chart_titles(at)
    assert "stimulus 1: mean over participants, 95 % band" in titles
    assert "stimulus 1: window means with 95 % intervals" in titles
    table = next(d.value for d in at.dataframe if "valid_frames" in d.value.columns)
    assert sorted(table["participant"]) == ["anna", "ben", "carl"]
    assert any("index, not validated" in m.value for m in at.markdown)
    indices = next(d.value for d in at.dataframe if "formula" in d.value.columns)
    assert set(indices["index"]) == {"expressiveness", "valence_index"}
    assert indices["mean"].between(-1, 1).all()

    # a fresh app (a server restart) lists the study and shows its results from the store
    again = open_study_page(tmp_path)
    assert "pilot" in again.selectbox(key="study_choice").options
    again.selectbox(key="study_choice").set_value("pilot").run()
    assert "stimulus 1: mean over participants, 95 % band" in chart_titles(again)
    curves = study.open_results(tmp_path / "studies" / "pilot").curves()
    assert np.all(curves["ci_low"].dropna() <= curves["mean"][curves["ci_low"].notna()] + 1e-12)

    again.checkbox(key="study_delete_sure").check().run()
    next(b for b in again.button if b.label == "Delete study").click().run()
    assert not (tmp_path / "studies" / "pilot").exists()
    assert again.selectbox(key="study_choice").value == "New study"


def test_a_bad_design_is_one_error_and_no_study(videos, tmp_path):
    import pandas as pd

    participants = study.default_participants([str(p) for p in sorted(videos.iterdir())])
    markers = pd.DataFrame({"participant": [""], "stimulus": ["clip"], "onset": [5.0], "offset": [2.0]})
    with pytest.raises(ValueError, match="markers.csv: line 2: offset 2.0 must be after onset 5.0"):
        study.create_study("bad", participants, markers, root=tmp_path / "studies")
    assert not (tmp_path / "studies" / "bad").exists()
