"""Video files and live frames, on a clip built from a real photo."""
import threading

import av
import numpy as np
import pytest

from fer_core.evaluation.sample_frames import astronaut_frame as make_frame
from fer_core.inference.detect import LIVE_DETECTOR, make_detector
from fer_core.drivers.live import LiveAnalyzer
from fer_core.drivers.video import VideoError, analyse_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 2-second 640x480 clip: the astronaut sliding sideways, then 10 blank frames."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    frame = make_frame()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        frames = [np.roll(frame, 4 * i, axis=1) for i in range(20)] + [np.full_like(frame, 90)] * 10
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_video_every_second_frame(clip, classifier, tmp_path):
    seen = []
    result = analyse_video(clip, classifier, make_detector(), output=tmp_path / "out.mp4", every=2,
                           progress=lambda done, total: seen.append((done, total)))
    assert result.frames_total == 30 and result.frames_analysed == 15
    assert seen[-1][0] == 30
    labels = [r["label"] for r in result.rows()]
    assert labels[:10].count("Happy") >= 8 and labels[-5:] == ["No face"] * 5
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in out.decode(video=0)) == 30


def test_video_longer_than_the_limit_gives_its_first_frames_and_says_so(clip, classifier, tmp_path):
    result = analyse_video(clip, classifier, make_detector(), output=tmp_path / "out.mp4", every=2, max_frames=7)
    assert result.frames_total == 7 and result.frames_analysed == 4
    assert "first 7 frames" in result.warning
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 7
    with pytest.raises(ValueError, match="max_frames"):
        analyse_video(clip, classifier, make_detector(), max_frames=0)


def test_corrupt_video_is_a_clear_error(tmp_path, clip, classifier):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(VideoError, match="broken.mp4"):
        analyse_video(broken, classifier, make_detector())


def test_live_analyzer_labels_and_counts_fps(classifier):
    analyzer = LiveAnalyzer(classifier, make_detector(LIVE_DETECTOR))
    frame = av.VideoFrame.from_ndarray(make_frame(), format="rgb24")  # as the WebRTC callback receives it
    for _ in range(5):
        out, result = analyzer.process(frame.to_ndarray(format="rgb24"))
    assert out.shape == (480, 640, 3) and not np.array_equal(out, make_frame())
    assert [f.label for f in result.faces] == ["Happy"] and result.fps > 0
    _, empty = analyzer.process(np.full((480, 640, 3), 90, np.uint8))
    assert empty.faces == []


# ------------------------------------------------------------------ live: a stream's state, fair sharing
class FakeClock:
    """An injectable clock: ``now`` moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def live_classifier():
    from fer_core.inference.classifier import Classifier
    from fer_core.catalog.model import live_model_dir

    return Classifier.load(live_model_dir())


def test_live_analyzer_reset_forgets_the_pause_and_the_temporal_average(live_classifier):
    clock = FakeClock()
    kept, reset = (LiveAnalyzer(live_classifier, make_detector(LIVE_DETECTOR), clock=clock) for _ in range(2))
    face, other = make_frame(), (make_frame() * 0.6).astype(np.uint8)  # the same face, darker
    for i in range(5):  # 10 frames per second
        clock.now = i * 0.1
        for analyzer in (kept, reset):
            _, result = analyzer.process(face)
    assert result.fps == pytest.approx(10.0)
    reset.reset()  # Stop ... one minute ... Start
    for i in range(3):
        clock.now = 60.0 + i * 0.1
        _, after_kept = kept.process(other)
        _, after_reset = reset.process(other)
        if i == 0:
            _, fresh = LiveAnalyzer(live_classifier, make_detector(LIVE_DETECTOR)).process(other)
            first_kept, first_reset = after_kept, after_reset
    assert after_reset.fps == pytest.approx(10.0)  # not averaged over the pause
    assert after_kept.fps < 1.0  # what the meter showed before reset() existed
    # No temporal average carried over: the first face after reset() is read as by a fresh analyser.
    assert first_reset.faces[0].scores == pytest.approx(fresh.faces[0].scores, abs=1e-5)
    assert first_kept.faces[0].scores != pytest.approx(fresh.faces[0].scores, abs=1e-5)


class _CountingAnalyzer:
    """LiveAnalyzer's interface: marks each frame (+1) and records which frames it analysed."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.resets = 0
        self.min_confidence = 0.0

    def process(self, rgb):
        from fer_core.drivers.live import FrameResult

        self.seen.append(int(rgb[0, 0, 0]))
        return rgb + 1, FrameResult(float(len(self.seen)), [], 15.0)

    def reset(self) -> None:
        self.resets += 1


def test_live_session_analyses_only_the_newest_queued_frame():
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from ui.live import LiveSession

    analyzer = _CountingAnalyzer()
    session = LiveSession(analyzer, ("k",))
    frames = [av.VideoFrame.from_ndarray(np.full((16, 16, 3), v, np.uint8), format="rgb24") for v in (10, 20, 30)]
    # in a thread of its own, as streamlit-webrtc runs it (and the browser suite's Playwright may
    # have left an event loop on this thread)
    with ThreadPoolExecutor(1) as pool:
        out = pool.submit(asyncio.run, session.queued_callback(frames)).result()
    assert analyzer.seen == [30] and len(out) == 1  # the two older frames are skipped, not queued up
    assert out[0].to_ndarray(format="rgb24")[0, 0, 0] == 31
    assert len(session.drain(timeout=0.1)) == 1


def test_stream_ended_resets_the_analyser_and_frees_only_its_own_slot():
    from ui.live import LiveSession, on_stream_ended
    from ui.stream_slots import StreamSlots

    slots, analyzer = StreamSlots(limit=1), _CountingAnalyzer()
    session = LiveSession(analyzer, ("k",))
    old = slots.acquire("me").ticket
    slots.release("me")
    new = slots.acquire("me").ticket
    on_stream_ended(session, slots, "me", old)()  # a late end of the previous stream
    assert analyzer.resets == 1 and slots.active() == 1
    on_stream_ended(session, slots, "me", new)()
    assert analyzer.resets == 2 and slots.active() == 0
    on_stream_ended(session, slots, "me", None)()  # a stream that held no slot frees nothing
    assert analyzer.resets == 3


def test_max_streams_from_the_environment():
    from ui.stream_slots import DEFAULT_MAX_STREAMS, available_cores, derived_max_streams, max_streams

    assert max_streams(None) == max_streams("  ") == DEFAULT_MAX_STREAMS == derived_max_streams(available_cores())
    assert max_streams("3") == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValueError, match="FER_MAX_STREAMS"):
            max_streams(bad)


@pytest.mark.parametrize("cores, stream_cores, reserved, limit", [
    (2, 0.30, 0.5, 5),  # (2 - 0.5) / 0.3 = 5 exactly: a float quotient of 4.999... must not lose a stream
    (2, 0.31, 0.5, 4),
    (8, 0.30, 0.5, 25),
    (1, 0.60, 0.5, 1),  # the floor: one stream always
    (1, 2.00, 0.5, 1),
    (0.4, 0.30, 0.5, 1),  # fewer cores than the reserve
    (16, 1.50, 1.0, 10),
])
def test_derived_max_streams(cores, stream_cores, reserved, limit):
    from ui.stream_slots import derived_max_streams

    assert derived_max_streams(cores, stream_cores, reserved) == limit


def test_derived_max_streams_needs_a_positive_cost():
    from ui.stream_slots import derived_max_streams

    for bad in (0, -0.1):
        with pytest.raises(ValueError, match="stream_cores must be positive"):
            derived_max_streams(2, bad)


def test_stream_slots_first_come_first_served():
    from ui.stream_slots import StreamSlots

    slots = StreamSlots(limit=1, clock=FakeClock())
    first = slots.acquire("a")
    assert first.granted and first.can_start and first.position == 0 and first.active == 1
    assert slots.acquire("a").ticket == first.ticket  # pressing on: the same hold
    waiting = slots.acquire("b")  # presses Start while the server is full: queued
    assert (waiting.granted, waiting.can_start, waiting.position, waiting.active, waiting.limit, waiting.queued) == (
        False, False, 1, 1, 1, 1)
    assert slots.acquire("c").position == 2
    assert slots.check("b").position == 1  # asking again keeps the place
    assert slots.release("a") and not slots.release("a")
    assert not slots.acquire("c").granted  # a slot is free, but b came first
    turn = slots.check("b")
    assert turn.can_start and not turn.granted and turn.position == 1  # b may start; the slot is not taken yet
    assert slots.acquire("d").position == 3  # a newcomer does not jump the queue
    assert slots.acquire("b").granted
    assert slots.check("c").position == 1 and slots.check("d").position == 2
    slots.leave("c")
    assert slots.check("d").position == 1


def test_stream_slots_stop_leaves_the_session_idle_not_queued():
    """The issue's case: a stopped session holds nothing and waits for nothing until it presses Start again."""
    from ui.live import admit, busy_message, waiting
    from ui.stream_slots import StreamSlots

    slots = StreamSlots(limit=1, clock=FakeClock())
    assert admit(slots, "a", requested=True).granted  # A streams
    b = admit(slots, "b", requested=True)  # B presses Start: queued
    assert waiting(b) and b.position == 1
    assert admit(slots, "b", requested=False).position == 1  # B's stream was stopped: B keeps its place
    a = admit(slots, "a", requested=False)  # A presses Stop
    assert (a.granted, a.position, a.active, a.queued, a.can_start) == (False, 0, 0, 1, False)  # idle, not queued
    assert not waiting(a) and "busy" not in busy_message(a)  # a slot is free: not "busy", but promised to B
    assert "Every free slot is promised" in busy_message(a) and "Press **Start** to join the queue" in busy_message(a)
    turn = slots.check("b")
    assert turn.can_start and turn.position == 1  # B is offered the slot
    a = admit(slots, "a", requested=True)  # A presses Start again: behind B
    assert waiting(a) and a.position == 2 and not a.granted
    assert "ahead of you" in busy_message(a) and "number **2** in the queue" in busy_message(a)
    assert admit(slots, "b", requested=True).granted
    a = admit(slots, "a", requested=False)
    assert a.position == 1 and "**The server is busy**: 1 live stream is running" in busy_message(a)
    assert slots.leave("a") is None and admit(slots, "a", requested=False).position == 0  # left the queue


def test_busy_message_never_says_busy_with_a_free_slot():
    from ui.live import busy_message
    from ui.stream_slots import Admission

    for active in range(3):
        for position in range(4):
            for queued in range(max(position, 1), 5):
                text = busy_message(Admission(False, False, position, active, 2, queued=queued))
                assert ("server is busy" in text) == (active == 2), text
                assert ("in the queue." in text) == bool(position), text


def test_stream_slots_new_sessions_start_at_once_while_slots_are_free():
    from ui.stream_slots import StreamSlots

    slots = StreamSlots(limit=2, clock=FakeClock())
    viewer = slots.check("viewer")  # only looking at the page: neither holds nor queues
    assert viewer.can_start and not viewer.granted and viewer.position == 0 and viewer.active == 0
    assert slots.acquire("a").granted and slots.acquire("b").granted
    viewer = slots.check("viewer")  # still only looking, while the server is full: still not queued
    assert viewer.position == 0 and not viewer.can_start and viewer.queued == 0 and slots.active() == 2


def test_stream_slots_one_winner_when_sessions_press_start_together():
    from ui.stream_slots import StreamSlots

    slots, barrier = StreamSlots(limit=1), threading.Barrier(8)
    results = {}

    def press_start(owner: str) -> None:
        barrier.wait()
        results[owner] = slots.acquire(owner)

    threads = [threading.Thread(target=press_start, args=(f"s{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o, a in results.items() if a.granted]
    assert len(winners) == 1 and slots.active() == 1
    assert sorted(a.position for a in results.values() if not a.granted) == list(range(1, 8))


def test_stream_slots_drop_silent_sessions():
    from ui.stream_slots import StreamSlots

    clock = FakeClock()
    slots = StreamSlots(limit=1, ttl=15.0, clock=clock)
    ticket = slots.acquire("a").ticket
    slots.acquire("b")
    slots.acquire("c")
    clock.now = 10.0
    assert slots.heartbeat("a")  # the live loop of a's page
    slots.check("c")  # c's page polls, b's tab was closed
    clock.now = 20.0
    assert slots.check("c").position == 1 and slots.active() == 1  # b dropped after 20 s of silence
    clock.now = 30.0  # a silent for 20 s: its session is gone, the slot is reclaimed
    assert not slots.heartbeat("a")
    turn = slots.check("c")
    assert turn.can_start and turn.active == 0
    assert not slots.release("a", ticket)  # a late on_video_ended of the dropped stream changes nothing
    assert slots.acquire("c").granted
