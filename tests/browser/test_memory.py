"""Memory ceiling: large photos through the photo page grow the server by a bounded amount, freed after.

Five distinct 8000x8000 PNGs (64 megapixels each, 192 MB of pixels once decoded) are uploaded
one after another, each in its own browser session. The server keeps display-size results
only, in a cache bounded by bytes, and hands the decoding memory back to the OS. The same
photos as neutral references: only a baseline of a few numbers is kept, and the decoding
memory goes back as well.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.browser.helpers import (
    PAGE_TIMEOUT, assert_no_errors, astronaut_rgb, file_uploader, goto, rss_mb, wait_until_idle,
)

pytestmark = pytest.mark.browser

SIDE = 8000
PHOTOS = 5
#: what the server may grow by after its first large photo (the issue's ceiling)
MAX_GROWTH_MB = 400
#: what may remain once the sessions have ended: the bounded result cache (64 MB) and slack
MAX_LEFT_MB = 150


@pytest.fixture(scope="module")
def large_photos(tmp_path_factory) -> list[Path]:
    """Five different 8000x8000 PNGs: the real astronaut photo at a different place and size on each."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("large")
    face = astronaut_rgb()
    paths = []
    for i in range(PHOTOS):
        canvas = np.full((SIDE, SIDE, 3), 60 + 30 * i, dtype=np.uint8)
        side = 1200 + 300 * i
        scaled = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        y, x = 500 + 900 * i, 3000 - 400 * i
        canvas[y : y + side, x : x + side] = scaled
        path = folder / f"large-{i + 1}.png"
        Image.fromarray(canvas).save(path, format="PNG", compress_level=1)  # fast to write; as large once decoded
        paths.append(path)
    return paths


#: what four more 64-megapixel neutral references may grow the server by (issue 41)
MAX_REFERENCE_GROWTH_MB = 100
REFERENCE_UPLOADER = "A neutral reference photo of this person, or a saved baseline file"


def _upload_and_wait(browser, server, photo: Path, reference: bool = False) -> tuple[float, float]:
    """One session uploads one photo and waits for its analysis.

    Returns the server's peak RSS while it analysed the photo (the decoded 64-megapixel arrays
    are transient) and its RSS once the page has settled (what it keeps).
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    context.set_default_timeout(PAGE_TIMEOUT * 1000)
    peak = 0.0
    try:
        page = context.new_page()
        goto(page, "photo")
        if reference:
            page.get_by_text("Neutral baseline (optional)").click()
        uploader = file_uploader(page, REFERENCE_UPLOADER if reference else "Photos")
        uploader.locator('input[type="file"]').set_input_files(str(photo))
        uploader.locator('[data-testid="stFileChipName"]', has_text=photo.name).wait_for()
        caption = page.get_by_text(f"the neutral face in {photo.name}" if reference else f"{photo.name}: ")
        deadline = time.monotonic() + 3 * PAGE_TIMEOUT
        while time.monotonic() < deadline and not caption.count():
            peak = max(peak, rss_mb(server.proc.pid))
            time.sleep(0.2)
        wait_until_idle(page, PAGE_TIMEOUT)
        assert_no_errors(page, f"photo page after uploading {photo.name}")
        assert caption.count(), f"{photo.name} was never analysed"
        time.sleep(1)
        settled = rss_mb(server.proc.pid)
    finally:
        context.close()
    return max(peak, settled), settled


def test_large_photos_grow_the_server_by_a_bounded_amount(browser, streamlit_server, large_photos):
    pid = streamlit_server.proc.pid
    _upload_and_wait(browser, streamlit_server, large_photos[0])
    time.sleep(2)
    baseline = rss_mb(pid)
    rss = [_upload_and_wait(browser, streamlit_server, photo) for photo in large_photos[1:]]
    growth = max(settled for _, settled in rss) - baseline
    print(f"server RSS after the first 8000x8000 photo {baseline:.0f} MB; after each of the next {len(rss)}: "
          f"{', '.join(f'{s:.0f}' for _, s in rss)} MB (growth {growth:.0f} MB; peaks while decoding "
          f"{', '.join(f'{p:.0f}' for p, _ in rss)} MB)")
    assert growth < MAX_GROWTH_MB, f"the server grew by {growth:.0f} MB over {len(rss)} large photos"

    deadline = time.monotonic() + 60  # sessions end when their browser contexts close
    left = rss_mb(pid) - baseline
    while left > MAX_LEFT_MB and time.monotonic() < deadline:
        time.sleep(2)
        left = rss_mb(pid) - baseline
    print(f"server RSS once the sessions ended: {rss_mb(pid):.0f} MB ({left:+.0f} MB from the baseline)")
    assert left <= MAX_LEFT_MB, f"{left:.0f} MB more than after the first photo stayed after the sessions ended"


def test_large_neutral_references_grow_the_server_by_a_bounded_amount(browser, streamlit_server, large_photos):
    pid = streamlit_server.proc.pid
    _upload_and_wait(browser, streamlit_server, large_photos[0], reference=True)
    time.sleep(2)
    baseline = rss_mb(pid)
    rss = [_upload_and_wait(browser, streamlit_server, photo, reference=True) for photo in large_photos[1:]]
    growth = max(settled for _, settled in rss) - baseline
    print(f"server RSS after the first 8000x8000 neutral reference {baseline:.0f} MB; after each of the next "
          f"{len(rss)}: {', '.join(f'{s:.0f}' for _, s in rss)} MB (growth {growth:.0f} MB; peaks while decoding "
          f"{', '.join(f'{p:.0f}' for p, _ in rss)} MB)")
    assert growth < MAX_REFERENCE_GROWTH_MB, f"the server grew by {growth:.0f} MB over {len(rss)} large references"
