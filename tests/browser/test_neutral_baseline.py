"""The neutral baseline on the live webcam, in a real browser: the fake camera shows the astronaut, whose
face is taken as the neutral one; "Set neutral baseline" collects it, the page says the baseline is on, and that face
then reads as Neutral. The analysis rate before and after is printed (a figure, not a timed assertion).
"""
from __future__ import annotations

import re
import time

import pytest

from tests.browser.helpers import (
    PAGE_TIMEOUT, assert_no_errors, file_uploader, goto, main_text, start_stream, stop_stream, strict_labels,
    wait_for_text,
)

pytestmark = pytest.mark.browser

FPS = re.compile(r"frames analysed on the server, (\d+(?:\.\d+)?) fps")


def mean_fps(page, seconds: float) -> float:
    """The mean of the page's fps readings over ``seconds`` (read twice a second)."""
    readings = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = FPS.search(main_text(page))
        if found:
            readings.append(float(found.group(1)))
        time.sleep(0.5)
    assert readings, "the page showed no fps reading"
    return sum(readings) / len(readings)


def test_set_a_neutral_baseline_on_the_webcam(page, screenshot, server_log):
    goto(page, "webcam")
    assert page.get_by_role("button", name="Set neutral baseline").is_disabled()  # no face before Start
    assert "Neutral baseline off" in main_text(page)
    frame = start_stream(page, server_log)
    wait_for_text(page, re.compile(r"Current emotion\W*(\w+)"), PAGE_TIMEOUT)
    before = mean_fps(page, 6)

    page.get_by_role("button", name="Set neutral baseline").click()
    wait_for_text(page, re.compile(r"Making the neutral baseline"), PAGE_TIMEOUT)
    on = wait_for_text(page, re.compile(r"Neutral baseline on for the face marked \(vs neutral\), from (\d+) frames, "
                                        r"margin (\d\.\d\d)"), PAGE_TIMEOUT)
    frames, margin = int(on.group(1)), float(on.group(2))
    assert frames >= 5 and 0.69 <= margin <= 1.39
    # the face it was made from now reads as Neutral (it was Happy), and the baseline can be downloaded
    wait_for_text(page, re.compile(r"Current emotion\W*Neutral"), PAGE_TIMEOUT)
    assert page.get_by_role("button", name="Download neutral baseline").is_enabled()
    assert_no_errors(page, "webcam page with a neutral baseline")
    after = mean_fps(page, 6)
    screenshot(page, "webcam-neutral-baseline")
    print(f"\nlive analysis rate without a neutral baseline {before:.1f} fps, with it {after:.1f} fps "
          f"({after / before - 1:+.0%}); baseline from {frames} frames, margin {margin:.2f}")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download neutral baseline").click()
    saved = download.value.path().read_text()
    assert '"format": "fer-studio-neutral-baseline"' in saved and f'"frames": {frames}' in saved

    page.get_by_role("button", name="Reset baseline").click()
    wait_for_text(page, re.compile(r"Neutral baseline off"), PAGE_TIMEOUT)
    if strict_labels():
        wait_for_text(page, re.compile(r"Current emotion\W*Happy"), PAGE_TIMEOUT)
    stop_stream(frame)


def test_photo_read_against_a_neutral_reference(page, screenshot, astronaut_jpeg):
    """The astronaut as her own neutral reference: her photo then reads as Neutral, and the page says it is read against it."""
    goto(page, "photo")
    page.get_by_text("Neutral baseline (optional)").click()
    reference = file_uploader(page, "A neutral reference photo of this person, or a saved baseline file")
    reference.locator('input[type="file"]').set_input_files(str(astronaut_jpeg))
    on = wait_for_text(page, re.compile(r"Neutral baseline on: every face is read against the neutral face in "
                                        r"astronaut\.jpg \(from 1 frame, margin (\d\.\d\d)\)"), PAGE_TIMEOUT)
    assert float(on.group(1)) == pytest.approx(0.69)
    photos = file_uploader(page, "Photos")
    photos.locator('input[type="file"]').set_input_files(str(astronaut_jpeg))
    wait_for_text(page, re.compile(r"vs neutral: \d+% odds against the neutral reference"), PAGE_TIMEOUT)
    assert "Faces are read against a neutral baseline" in main_text(page)
    metric = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert metric.strip() == "Neutral", f"the astronaut against herself read as {metric}"
    assert_no_errors(page, "photo page with a neutral reference")
    screenshot(page, "photo-neutral-baseline")
