"""Constants and helpers of the real-browser suite (the fixtures are in conftest.py)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np

import pytest

from fer_core.evaluation.sample_frames import CHROMIUM_FLAGS, astronaut_rgb, camera_frame, write_y4m  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
APP_DIR = Path(os.environ.get("FER_APP_DIR") or REPO)
APP_FILE = "streamlit_app.py"
CHROMIUM = os.environ.get("FER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FER_ARTIFACTS") or REPO / "artifacts")
SCREENSHOTS = ARTIFACTS / "screenshots"
#: Seconds to wait for a page to be ready (script run finished, model load included).
PAGE_TIMEOUT = float(os.environ.get("FER_BROWSER_TIMEOUT", "90"))

#: Every emotion the app can show.
LABELS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
#: With the repo's own model (no FER_MODELS_DIR), the astronaut must be read as this.
EXPECTED_ASTRONAUT = "Happy"

#: The app's pages: (title, url path) -- the fixed contract with the app.
PAGES = (
    ("Home", ""),
    ("Dataset explorer", "dataset"),
    ("Photo analysis", "photo"),
    ("Live webcam", "webcam"),
    ("Video analysis", "video"),
    ("Studies", "study"),
    ("Model evaluation", "evaluation"),
)

#: What Streamlit 1.67 renders for st.error (stAlertContentError) and for st.exception or an
#: uncaught exception (stException, which also holds a stAlertContentError).
ERROR_SELECTOR = '[data-testid="stAlertContentError"], [data-testid="stException"]'

#: The streamlit-webrtc component's iframe.
WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'



def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str):
    """In CI a missing prerequisite is a failure; elsewhere a skip with the reason."""
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def strict_labels() -> bool:
    """True when the repo's own model is used (no FER_MODELS_DIR): the astronaut must be Happy.

    FER_STRICT_LABELS=1 (or 0) forces the strict (or lenient) check whatever the model."""
    forced = os.environ.get("FER_STRICT_LABELS", "").strip()
    if forced:
        return forced.lower() not in ("0", "false", "no")
    return not os.environ.get("FER_MODELS_DIR")


def expected_labels() -> tuple[str, ...]:
    return (EXPECTED_ASTRONAUT,) if strict_labels() else LABELS


def label_pattern() -> re.Pattern:
    """Any emotion label as a word, or only the expected one with the repo's own model."""
    return re.compile(r"\b(" + "|".join(expected_labels()) + r")\b")


# --------------------------------------------------------------------------- test media


# --------------------------------------------------------------------------- the server process


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------- page helpers


def file_uploader(page, label: str):
    """The page's file uploader labelled exactly ``label`` (the photo and video pages have two: the
    neutral reference's and the main one)."""
    return page.locator('[data-testid="stFileUploader"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))


def wait_until_idle(page, timeout: float = PAGE_TIMEOUT) -> None:
    """Waits until the app is connected and its script run has finished.

    Streamlit 1.67 marks the app root ``[data-testid="stApp"]`` with ``data-test-script-state``
    (initial before the first run, then running / rerunRequested / stopRequested / notRunning /
    compilationError) and ``data-test-connection-state`` (CONNECTED once up). A run counts as
    finished once it is "notRunning" with no spinner and stays so for 1 s (a rerun can follow).
    The 1 s counts from this call: an idle moment seen by an earlier wait, before a click whose
    rerun has not started yet, does not count (on a busy machine that rerun can take a while).
    """
    page.evaluate("window.__ferIdleSince = null")
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const done = !!app
                && app.getAttribute('data-test-connection-state') === 'CONNECTED'
                && ['notRunning', 'compilationError'].includes(app.getAttribute('data-test-script-state'))
                && !document.querySelector('[data-testid="stSpinner"]');
            if (!done) { window.__ferIdleSince = null; return false; }
            window.__ferIdleSince = window.__ferIdleSince || Date.now();
            return Date.now() - window.__ferIdleSince > 1000;
        }""",
        timeout=timeout * 1000,
        polling=250,
    )


def goto(page, path: str, timeout: float = PAGE_TIMEOUT) -> None:
    """Opens a page by its url path and waits until it has settled (see settle)."""
    page.goto("/" + path.lstrip("/"), wait_until="domcontentloaded", timeout=timeout * 1000)
    settle(page, timeout)


def settle(page, timeout: float = PAGE_TIMEOUT) -> None:
    """Waits for the script run to finish; on a page with the webrtc component also for the
    component to render its button, and for the rerun that the component triggers when it mounts."""
    wait_until_idle(page, timeout)
    if page.locator(WEBRTC_IFRAME).count():
        frame = page.frame_locator(WEBRTC_IFRAME).first
        frame.get_by_role("button").first.wait_for(state="visible", timeout=timeout * 1000)
        wait_until_idle(page, timeout)


def error_texts(page) -> list[str]:
    """The text of every error alert and exception on the page."""
    return page.evaluate("s => [...document.querySelectorAll(s)].map(e => e.innerText)", ERROR_SELECTOR)


def assert_no_errors(page, where: str) -> None:
    errors = error_texts(page)
    assert not errors, f"{where}: the app shows errors:\n" + "\n---\n".join(errors)


def main_text(page) -> str:
    """Everything the main area (not the sidebar) shows as text."""
    return page.locator('[data-testid="stMain"]').inner_text()


# --------------------------------------------------------------------------- the live stream
#: True while the iframe's <video> plays a live stream.
VIDEO_PLAYING_JS = """() => {
    const v = document.querySelector('video');
    return !!v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused && !v.ended
        && (!v.srcObject || v.srcObject.active);
}"""


def webrtc_frame(page):
    """The webrtc component's iframe (as a Playwright Frame), once it is on the page."""
    element = page.locator(WEBRTC_IFRAME)
    element.wait_for(state="visible")
    return element.element_handle().content_frame()


def wait_for_text(page, pattern: re.Pattern, timeout: float) -> re.Match:
    """Waits until the main area's text matches ``pattern``; returns the match."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = main_text(page)
        match = pattern.search(text)
        if match:
            return match
        time.sleep(0.5)
    raise AssertionError(f"no {pattern.pattern!r} within {timeout:.0f} s; main text:\n{text[:3000]}")


def start_stream(page, server_log) -> object:
    """Presses Start in the page's webrtc iframe and waits for analysed frames; returns the iframe."""
    frame = webrtc_frame(page)
    frame.get_by_role("button", name="Start").click()
    try:
        frame.wait_for_function(VIDEO_PLAYING_JS, timeout=PAGE_TIMEOUT * 1000, polling=250)
    except Exception as error:
        raise AssertionError(f"the processed video does not play: {error}\n{server_log()}") from error
    wait_for_text(page, re.compile(r"\b([1-9]\d*) frames analysed on the server"), PAGE_TIMEOUT)
    return frame


def stop_stream(frame) -> None:
    frame.get_by_role("button", name="Stop").click()
    frame.wait_for_function(f"() => !({VIDEO_PLAYING_JS})()", timeout=30_000, polling=250)


def chart_titles(page) -> list[str]:
    """The titles of the page's Plotly charts, in page order."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .gtitle')]
        .map(e => e.textContent)""")
