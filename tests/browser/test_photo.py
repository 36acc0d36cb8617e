"""Photo analysis: a real photo uploaded through the file uploader gets its face's emotion shown."""
from __future__ import annotations

import re

import pytest

from tests.browser.helpers import (
    LABELS, PAGE_TIMEOUT, assert_no_errors, expected_labels, goto, label_pattern, strict_labels,
    wait_until_idle,
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
    texts = "\n".join(el.inner_text() for el in page.locator(TEXT_SELECTOR).all())
    return {label: len(re.findall(rf"\b{label}\b", texts)) for label in LABELS}


def test_uploaded_photo_shows_its_label(page, screenshot, astronaut_jpeg, server_log):
    goto(page, "photo")
    assert_no_errors(page, "photo page before upload")
    before = label_counts(page)
    uploader = page.locator('[data-testid="stFileUploader"]').first
    uploader.wait_for(state="visible")
    screenshot(page, "photo-before-upload")

    uploader.locator('input[type="file"]').set_input_files(str(astronaut_jpeg))
    # The file shows up as a chip in the uploader (Streamlit 1.67), then the run analysing it ends.
    uploader.locator('[data-testid="stFileChipName"]', has_text="astronaut.jpg").wait_for()
    wait_until_idle(page, PAGE_TIMEOUT)
    screenshot(page, "photo-after-upload")
    assert_no_errors(page, "photo page after uploading the astronaut")
    assert uploader.locator('[data-testid="stFileChipIconError"]').count() == 0, "the upload failed"

    after = label_counts(page)
    grown = [label for label in expected_labels() if after[label] > before[label]]
    assert grown, (
        f"no {'label Happy' if strict_labels() else 'emotion label'} appeared after the upload "
        f"(label counts before {before}, after {after}); main text:\n"
        + page.locator('[data-testid="stMain"]').inner_text()[:3000]
    )
    assert label_pattern().search(page.locator('[data-testid="stMain"]').inner_text())
