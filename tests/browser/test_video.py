"""Video analysis: a clip of two real faces whose sizes cross over, uploaded and analysed in the browser,
shows one timeline per person (P1, P2), the per-person table, and a filter to one person."""
from __future__ import annotations

import time

import pytest

from tests.browser.helpers import (
    PAGE_TIMEOUT, assert_no_errors, chart_titles, file_uploader, goto, main_text, wait_until_idle,
)

pytestmark = pytest.mark.browser

def person_titles(page) -> list[str]:
    return [t for t in chart_titles(page) if t.endswith(": emotions over time")]


def test_video_page_shows_a_timeline_per_person(page, screenshot, tracking_clips):
    goto(page, "video")
    assert_no_errors(page, "video page before upload")
    uploader = file_uploader(page, "Video")
    uploader.locator('input[type="file"]').set_input_files(str(tracking_clips["crossing"][0]))
    uploader.locator('[data-testid="stFileChipName"]', has_text="crossing.mp4").wait_for()
    wait_until_idle(page, PAGE_TIMEOUT)
    page.get_by_role("button", name="Analyse video").click()
    page.get_by_text("Per-person summary (CSV)").wait_for(timeout=PAGE_TIMEOUT * 1000)
    wait_until_idle(page, PAGE_TIMEOUT)
    screenshot(page, "video-people")
    assert_no_errors(page, "video page after the analysis")
    assert person_titles(page) == ["P1: emotions over time", "P2: emotions over time"], main_text(page)[:2000]
    table = page.locator('[data-testid="stDataFrame"]').last
    assert table.is_visible()

    show = page.get_by_role("combobox", name="Show")  # the filter: one person (a react-aria combo box)
    show.click()
    show.press("ArrowDown")  # opens the list (a click on its arrow did not, below the fold)
    page.get_by_role("option", name="P2").click()
    wait_until_idle(page, PAGE_TIMEOUT)
    deadline = time.monotonic() + PAGE_TIMEOUT  # the filtered run may still be drawing its charts
    while person_titles(page) != ["P2: emotions over time"] and time.monotonic() < deadline:
        time.sleep(0.25)
    screenshot(page, "video-person-2")
    assert person_titles(page) == ["P2: emotions over time"]
    assert_no_errors(page, "video page filtered to P2")
