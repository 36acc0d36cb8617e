"""The Studies page in a real browser: a three-participant study of real-face clips is created from uploads, run,
shows its group curves, and is still there, results and all, after the server restarts."""
from __future__ import annotations

import time

import pytest

from tests.browser.conftest import run_server
from tests.browser.helpers import PAGE_TIMEOUT, assert_no_errors, chart_titles, file_uploader, goto, wait_until_idle
from tests.study_clips import FER_HAPPY, FER_NEUTRAL, fer_face, fer_frame, write_clip

pytestmark = pytest.mark.browser

CURVES = "stimulus 1: mean over participants, 95 % band"


def wait_for_chart(page, title: str) -> None:
    deadline = time.monotonic() + PAGE_TIMEOUT
    while title not in chart_titles(page) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert title in chart_titles(page), chart_titles(page)


def test_a_study_runs_in_the_browser_and_survives_a_restart(open_page, artifacts_dir, tmp_path, data_path):
    happy, neutral = fer_frame(fer_face(data_path, FER_HAPPY)), fer_frame(fer_face(data_path, FER_NEUTRAL))
    clips = [write_clip(tmp_path / "anna.mp4", [(3.0, happy)]),
             write_clip(tmp_path / "ben.mp4", [(1.0, neutral), (2.0, happy)]),
             write_clip(tmp_path / "carl.mp4", [(3.0, neutral)])]
    env = {"FER_STUDIES_DIR": str(tmp_path / "studies")}
    with run_server(artifacts_dir / "streamlit-server-study.log", env) as server:
        page = open_page(server, "study")
        goto(page, "study")
        name = page.get_by_label("Study name")
        name.fill("pilot")
        name.press("Enter")
        wait_until_idle(page)
        uploader = file_uploader(page, "Participants' videos")
        uploader.locator('input[type="file"]').set_input_files([str(c) for c in clips])
        uploader.locator('[data-testid="stFileChipName"]', has_text="carl.mp4").wait_for()
        wait_until_idle(page)
        page.get_by_role("button", name="Create study").click()
        page.get_by_role("button", name="Run analysis").wait_for(timeout=PAGE_TIMEOUT * 1000)
        wait_until_idle(page)
        page.get_by_role("button", name="Run analysis").click()
        wait_for_chart(page, CURVES)
        wait_until_idle(page)
        assert_no_errors(page, "study page after the run")
        assert "3 participant(s) analysed" in page.locator('[data-testid="stMain"]').inner_text()
    assert (tmp_path / "studies" / "pilot" / "study.duckdb").is_file()

    with run_server(artifacts_dir / "streamlit-server-study-restarted.log", env) as server:
        page = open_page(server, "study-restarted")
        goto(page, "study")
        choice = page.get_by_role("combobox", name="Study")
        choice.click()
        choice.press("ArrowDown")
        page.get_by_role("option", name="pilot", exact=True).click()
        wait_for_chart(page, CURVES)
        wait_until_idle(page)
        assert_no_errors(page, "study page after the restart")
