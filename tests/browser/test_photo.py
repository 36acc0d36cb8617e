"""Photo analysis: a real photo uploaded through the file uploader gets its face's emotion shown."""
from __future__ import annotations

import re
import time

import pytest

from tests.browser.helpers import (
    EXPECTED_ASTRONAUT, LABELS, PAGE_TIMEOUT, assert_no_errors, error_texts, file_uploader, goto, main_text,
    strict_labels, wait_until_idle,
)

pytestmark = pytest.mark.browser

#: Where the app puts result text (not chart ticks, not the uploader's own text).
TEXT_SELECTOR = (
    '[data-testid="stMain"] :is([data-testid="stMarkdownContainer"], [data-testid="stMetricValue"],'
    ' [data-testid="stMetricLabel"], [data-testid="stCaptionContainer"], [data-testid="stTable"],'
    ' [data-testid="stDataFrame"], [data-testid="stExpander"] summary)'
)


def label_counts(page) -> dict[str, int]:
    """How often each emotion label occurs as a word in the page's text elements."""
    texts = page.evaluate("s => [...document.querySelectorAll(s)].map(e => e.innerText).join('\\n')", TEXT_SELECTOR)
    return {label: len(re.findall(rf"\b{label}\b", texts)) for label in LABELS}


def test_uploaded_photo_shows_its_label(page, screenshot, astronaut_jpeg):
    goto(page, "photo")
    assert_no_errors(page, "photo page before upload")
    before = label_counts(page)
    uploader = file_uploader(page, "Photos")
    uploader.wait_for(state="visible")
    screenshot(page, "photo-before-upload")

    uploader.locator('input[type="file"]').set_input_files(str(astronaut_jpeg))
    # The file shows up as a chip in the uploader (Streamlit 1.67); once uploaded, it triggers a
    # script run that analyses it: wait for a label (or an error), then for the run to end.
    uploader.locator('[data-testid="stFileChipName"]', has_text="astronaut.jpg").wait_for()
    deadline = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < deadline and not error_texts(page):
        if any(label_counts(page)[label] > before[label] for label in LABELS):
            break
        time.sleep(0.5)
    wait_until_idle(page, PAGE_TIMEOUT)
    screenshot(page, "photo-after-upload")
    assert_no_errors(page, "photo page after uploading the astronaut")
    assert uploader.locator('[data-testid="stFileChipIconError"]').count() == 0, "the upload failed"

    text = main_text(page)
    assert "Grad-CAM for" in text and "No Grad-CAM map" not in text, "no saliency map beside the face:\n" + text[:3000]
    after = label_counts(page)
    shown = [label for label in LABELS if after[label] > before[label]]
    assert shown, (f"no emotion label appeared after the upload (label counts before {before}, after {after}); "
                   "main text:\n" + main_text(page)[:3000])
    if strict_labels():
        assert EXPECTED_ASTRONAUT in shown, f"the astronaut was labelled {shown}, not {EXPECTED_ASTRONAUT}"
