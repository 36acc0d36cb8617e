"""Live webcam: the fake camera (the astronaut) goes through WebRTC, the server labels its face.

Start is pressed inside streamlit-webrtc's iframe; the processed video must play there, the page
must show the current emotion and a growing Plotly timeline; after Stop the video stops and
the page stops changing (the server's live loop has ended).

Fair sharing, on a second server that admits one stream (FER_MAX_STREAMS=1): only a user who
presses Start while the slot is held joins the queue (and loses Start), while the streaming user
keeps at least half of its analysis rate; Stop leaves a user idle, not queued; a closed tab frees
its slot within the heartbeat timeout.
"""
from __future__ import annotations

import re
import time
import warnings

import pytest

from ui.stream_slots import DEFAULT_TTL_S

from tests.browser.helpers import (
    PAGE_TIMEOUT, VIDEO_PLAYING_JS, WEBRTC_IFRAME, assert_no_errors, chart_titles, expected_labels, goto, main_text,
    start_stream, stop_stream, strict_labels, wait_for_text, wait_until_idle, webrtc_frame,
)

pytestmark = pytest.mark.browser

#: The number of points in all traces of the page's Plotly charts (-1: no chart yet). Plotly 6+
#: sends numpy arrays as typed-array specs ({dtype, bdata: base64}), so those are measured too.
PLOT_POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')];
    if (!plots.length) return -1;
    const sizes = {f8: 8, f4: 4, i4: 4, u4: 4, i2: 2, u2: 2, i1: 1, u1: 1, u1c: 1, i8: 8, u8: 8};
    const len = (a) => {
        if (!a) return 0;
        if (typeof a.length === 'number') return a.length;
        if (typeof a.bdata === 'string') {
            const shape = a.shape ? String(a.shape).split(',').map(Number) : null;
            return shape ? shape[0] : atob(a.bdata).length / (sizes[a.dtype] || 8);
        }
        return 0;
    };
    let n = 0;
    for (const gd of plots) for (const t of (gd.data || [])) {
        n += Math.max(len(t.x), len(t.y), len(t.values));
    }
    return n;
}"""


def current_emotion_regex() -> re.Pattern:
    labels = "|".join(expected_labels())
    return re.compile(rf"Current emotion\W*({labels})\b", re.IGNORECASE)


def wait_for_current_emotion(page, timeout: float) -> str:
    """Waits until the page says 'Current emotion: <label>' and returns the label."""
    return wait_for_text(page, current_emotion_regex(), timeout).group(1)


def wait_for_points(page, above: int, timeout: float) -> int:
    """Waits until the timeline chart holds more than `above` points; returns the count."""
    deadline = time.monotonic() + timeout
    points = -1
    while time.monotonic() < deadline:
        points = page.evaluate(PLOT_POINTS_JS)
        if points > above:
            return points
        time.sleep(0.5)
    raise AssertionError(f"the timeline did not grow past {above} points in {timeout:.0f} s (has {points})")


def assert_stable(page, seconds: float, timeout: float) -> None:
    """Waits for the page (main text and chart points) to stay unchanged for `seconds`."""
    deadline = time.monotonic() + timeout
    last = (page.evaluate(PLOT_POINTS_JS), main_text(page))
    since = time.monotonic()
    changes = 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = (page.evaluate(PLOT_POINTS_JS), main_text(page))
        if now != last:
            last, since, changes = now, time.monotonic(), changes + 1
        elif time.monotonic() - since >= seconds:
            return
    raise AssertionError(f"the page still changes {timeout:.0f} s after Stop ({changes} changes; "
                         f"{last[0]} chart points)")


def test_live_webcam_labels_the_face(page, screenshot, server_log):
    goto(page, "webcam")
    assert_no_errors(page, "webcam page before Start")
    iframe_element = page.locator(WEBRTC_IFRAME)
    iframe_element.wait_for(state="visible")
    frame = iframe_element.element_handle().content_frame()
    start = frame.get_by_role("button", name="Start")
    start.wait_for(state="visible")
    screenshot(page, "webcam-before-start")

    start.click()
    try:
        frame.wait_for_function(VIDEO_PLAYING_JS, timeout=PAGE_TIMEOUT * 1000, polling=250)
    except Exception as error:
        screenshot(page, "webcam-video-not-playing")
        raise AssertionError(f"the processed video does not play in the webrtc iframe: {error}\n"
                             f"iframe text: {frame.locator('body').inner_text()[:500]}\n{server_log()}") from error

    label = wait_for_current_emotion(page, PAGE_TIMEOUT)
    if strict_labels():
        assert label.lower() == "happy", f"the astronaut was read as {label}"
    screenshot(page, "webcam-playing")

    first = wait_for_points(page, 0, PAGE_TIMEOUT)
    later = wait_for_points(page, first, 30)
    assert later > first
    assert_no_errors(page, "webcam page while playing")
    assert frame.evaluate(VIDEO_PLAYING_JS), "the video stopped by itself"
    screenshot(page, "webcam-timeline")

    frame.get_by_role("button", name="Stop").click()
    frame.wait_for_function(f"() => !({VIDEO_PLAYING_JS})()", timeout=30_000, polling=250)
    # The page's live loop ends once the stream has stopped: the script run finishes.
    wait_until_idle(page, 60)
    screenshot(page, "webcam-stopped")
    assert_no_errors(page, "webcam page after Stop")
    frame.get_by_role("button", name="Start").wait_for(state="visible", timeout=30_000)

    # Nothing changes any more: the timeline and the texts stay as they are for 3 s.
    assert_stable(page, seconds=3.0, timeout=30.0)
    assert not frame.evaluate(VIDEO_PLAYING_JS), "the video plays again after Stop"
    # The session summary has one timeline per person: the fake camera shows one face, P1.
    titles = chart_titles(page)
    assert "P1: emotions over time" in titles, titles
    assert "Per-person summary (CSV)" in main_text(page)


# --------------------------------------------------------------------------- fair sharing (FER_MAX_STREAMS=1)
#: What the page says while its stream plays: the frames the server has analysed for it.
ANALYSED = re.compile(r"(\d+) frames analysed on the server")
BUSY = re.compile(r"server is busy\W+1 live stream is running, the limit is 1\.\s*You are number\s*1\s*in the queue")
#: A user who only looks while the one slot is held: Start is offered, and joins the queue.
IDLE_FULL = re.compile(r"1 live stream is running, the limit is 1\.\s*Press\s*Start\s*to join the queue")
#: A free slot kept for the first in the queue, as a user who is not that first is told.
PROMISED = re.compile(r"Every free slot is promised\W+0 live streams are running")
TURN = re.compile(r"A live slot is free for you")
PLACE = re.compile(r"You are number\s*(\d+)\s*in the queue")
#: Seconds over which the first stream's rate is measured, before and after the second user arrives.
RATE_WINDOW_S = 8.0


def analysed(page) -> int:
    """Frames the server has analysed for this page's stream so far (-1 when the page does not say)."""
    match = ANALYSED.search(main_text(page))
    return int(match.group(1)) if match else -1


def analysis_rate(page, seconds: float) -> float:
    """Frames per second the server analyses for this page's stream, measured over ``seconds``."""
    first, start = analysed(page), time.monotonic()
    time.sleep(seconds)
    return (analysed(page) - first) / (time.monotonic() - start)


def best_effort_screenshot(screenshot, page, name: str) -> None:
    """A viewport screenshot that may fail: on a loaded machine a shot of a playing page can time out."""
    try:
        screenshot(page, name, full_page=False)
    except Exception as error:  # playwright's TimeoutError: the shot is a by-product, not the test
        warnings.warn(f"no screenshot {name}: {error}", stacklevel=2)


def queue_place(page) -> int:
    """This page's place in the queue as it says it (0: it says none)."""
    match = PLACE.search(main_text(page))
    return int(match.group(1)) if match else 0


def wait_for_no_start(frame, timeout: float = 30.0) -> None:
    """Waits until the webrtc iframe offers no Start (a queued user's component hides it)."""
    deadline = time.monotonic() + timeout
    while frame.get_by_role("button", name="Start").count() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not frame.get_by_role("button", name="Start").count(), "a queued user is offered Start"


def press_start_and_queue(page, place: int, pattern: re.Pattern) -> object:
    """Presses Start while no slot is free for this page: it must join the queue at ``place``."""
    frame = webrtc_frame(page)
    frame.get_by_role("button", name="Start").click()
    wait_for_text(page, pattern, PAGE_TIMEOUT)
    assert queue_place(page) == place, main_text(page)[:2000]
    wait_for_no_start(frame)
    return frame


def test_the_queue_holds_only_users_who_pressed_start(open_page, one_stream_server, screenshot):
    """One slot, two users. A streams; B opens the page (idle: Start offered, nobody queued) and
    presses Start (queued, no Start) while A keeps at least half its analysis rate; A stops, so B
    is offered the slot and A is idle, not queued (and not told the server is busy); A presses
    Start and queues behind B; B starts, A is number 1; B's tab closes, so A is offered the slot
    within the heartbeat timeout."""
    def server_log() -> str:
        return one_stream_server.log.read_text(errors="replace")[-4000:]

    a = open_page(one_stream_server, "a")
    goto(a, "webcam")
    a_frame = start_stream(a, server_log)
    time.sleep(2.0)  # past the start-up
    before = analysis_rate(a, RATE_WINDOW_S)
    assert before > 0, "A's stream analyses no frames"

    b = open_page(one_stream_server, "b")
    goto(b, "webcam")
    wait_for_text(b, IDLE_FULL, PAGE_TIMEOUT)  # only looking: told why, offered Start, not queued
    assert queue_place(b) == 0 and webrtc_frame(b).get_by_role("button", name="Start").count() == 1
    b_frame = press_start_and_queue(b, 1, BUSY)
    best_effort_screenshot(screenshot, b, "webcam-busy-queue")
    after = analysis_rate(a, RATE_WINDOW_S)  # B waits (its page polls the queue)
    print(f"A's stream: {before:.1f} analysed frames/s alone, {after:.1f} while B waits")
    assert after >= 0.5 * before, f"A's stream slowed down from {before:.1f} to {after:.1f} frames/s while B waited"
    assert a_frame.evaluate(VIDEO_PLAYING_JS), "A's stream stopped by itself"
    assert BUSY.search(main_text(b)), "the busy notice went away while A streams"
    assert_no_errors(b, "webcam page of a queued user")

    stop_stream(a_frame)
    b_start = b.frame_locator(WEBRTC_IFRAME).first.get_by_role("button", name="Start")
    b_start.wait_for(state="visible", timeout=60_000)  # B's page polls the queue every 2 s
    wait_for_text(b, TURN, 10)
    wait_for_text(a, PROMISED, PAGE_TIMEOUT)  # A: idle, told the free slot is B's
    a_text = main_text(a)
    assert queue_place(a) == 0 and "server is busy" not in a_text, a_text[:2000]
    assert a_frame.get_by_role("button", name="Start").is_visible(), "a stopped user is not offered Start"
    best_effort_screenshot(screenshot, a, "webcam-stopped-idle")

    press_start_and_queue(a, 2, PLACE)  # A asks again: behind B
    assert PROMISED.search(main_text(a)) and "server is busy" not in main_text(a)
    start_stream(b, server_log)
    wait_for_text(a, BUSY, 30)  # B streams: now the server is busy, and A is first in line
    assert_no_errors(a, "webcam page of the user queued behind B")

    b.context.close()  # B's tab goes: its slot is freed within the heartbeat timeout
    closed = time.monotonic()
    a.frame_locator(WEBRTC_IFRAME).first.get_by_role("button", name="Start").wait_for(
        state="visible", timeout=(DEFAULT_TTL_S + 30) * 1000)
    print(f"A offered the slot {time.monotonic() - closed:.1f} s after B's tab closed (timeout {DEFAULT_TTL_S:.0f} s)")
    wait_for_text(a, TURN, 10)
    start_stream(a, server_log)
    assert_no_errors(a, "webcam page of A, streaming again")
    stop_stream(webrtc_frame(a))
