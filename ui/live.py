"""The live webcam path: ICE configuration, the per-session frame callback and its history rows,
and the fair sharing of the server's stream slots (``ui.stream_slots``) between sessions.

The frame callback runs in streamlit-webrtc's worker thread: it calls no ``st.*`` and
touches no session state. Results leave it through a bounded ``queue.Queue`` that the
page's loop drains. Frames are processed in memory only; nothing is written to disk.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import streamlit as st

from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.draw import draw_message
from fer_core.drivers.live import FrameResult, LiveAnalyzer
from fer_core.common.memory import return_freed_memory
from fer_core.inference.faces import ScoreKind
from fer_core.inference.rows import face_rows, no_face_row, rows_to_csv
from fer_core.study.design import markers_from_marks
from ui.stream_slots import MAX_STREAMS_ENV, Admission, StreamSlots, max_streams

log = logging.getLogger(__name__)

ICE_ENV = "FER_ICE_SERVERS"
#: Local default: no STUN/TURN (an empty list, not None: None makes streamlit-webrtc use a public STUN server).
LOCAL_RTC = {"iceServers": []}
#: History rows kept per session (about 20 minutes at 15 frames per second).
MAX_HISTORY = 18_000


def rtc_configuration(secret: Any = None, env: str | None = None) -> dict:
    """The WebRTC configuration: from a secret, else the ``FER_ICE_SERVERS`` JSON, else no ICE servers.

    Either source may be a list of ICE servers (``[{"urls": ["stun:..."]}]``) or a whole
    configuration (``{"iceServers": [...]}``); the secret may also be a JSON string.

    Raises:
        ValueError: the value is not valid JSON or not a list / mapping of that shape.
    """
    value, origin = (secret, "secret FER_ICE_SERVERS") if secret not in (None, "") else (env, f"${ICE_ENV}")
    if value in (None, ""):
        return dict(LOCAL_RTC)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin} is not valid JSON ({exc}); expected e.g. "
                             '[{"urls": ["stun:stun.example.org:3478"]}]') from exc
    if isinstance(value, Mapping):
        value = dict(value)
        if not isinstance(value.get("iceServers"), list):
            raise ValueError(f"{origin} must be a list of ICE servers or a mapping with an 'iceServers' list")
        return {**value, "iceServers": [dict(s) for s in value["iceServers"]]}
    if isinstance(value, (list, tuple)) and all(isinstance(s, Mapping) for s in value):
        return {"iceServers": [dict(s) for s in value]}
    raise ValueError(f"{origin} must be a list of ICE servers or a mapping with an 'iceServers' list, got {type(value).__name__}")


class LiveSession:
    """One browser session's live state: the analyser (with its temporal EMA) and the results queue."""

    def __init__(self, analyzer: LiveAnalyzer, settings_key: tuple, maxsize: int = 120) -> None:
        self.analyzer = analyzer
        self.settings_key = settings_key
        self.results: queue.Queue[FrameResult] = queue.Queue(maxsize=maxsize)

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Analyse one RGB frame; returns the annotated frame (the original, marked, if analysis fails)."""
        try:
            annotated, result = self.analyzer.process(rgb)
        except Exception as exc:  # a failing frame must not kill the stream
            log.exception("live frame analysis failed")
            return draw_message(rgb, f"analysis failed: {type(exc).__name__}")
        try:
            self.results.put_nowait(result)
        except queue.Full:  # the page is not reading (e.g. busy): drop the oldest result
            try:
                self.results.get_nowait()
            except queue.Empty:
                pass
            self.results.put_nowait(result)
        return annotated

    def callback(self, frame):
        """One ``av.VideoFrame`` in, its annotated ``av.VideoFrame`` out."""
        import av

        annotated = self.process(frame.to_ndarray(format="rgb24"))
        return av.VideoFrame.from_ndarray(annotated, format="rgb24")

    async def queued_callback(self, frames: list) -> list:
        """streamlit-webrtc's ``queued_video_frames_callback``: the frames that arrived while the
        previous one was analysed; only the newest is analysed, so the latency stays one frame."""
        return [self.callback(frames[-1])]

    def drain(self, timeout: float = 1.0) -> list[FrameResult]:
        """Every result waiting, blocking up to ``timeout`` seconds for the first one."""
        try:
            batch = [self.results.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self.results.get_nowait())
            except queue.Empty:
                return batch

    def reset(self) -> None:
        """Forget the temporal averages, the FPS meter and the queued results (when a stream ends)."""
        self.analyzer.reset()
        while True:
            try:
                self.results.get_nowait()
            except queue.Empty:
                return


def history_rows(result: FrameResult, started: float, labels: tuple[str, ...]) -> list[dict]:
    """The history rows of a processed frame, its time counted from ``started``: one per face (``face``
    1 the largest, ``person`` its track ID, stable over the stream), or one "No face" row."""
    context = {"time_s": round(result.timestamp - started, 3), "timestamp": round(result.timestamp, 3),
               "faces": len(result.faces), "fps": round(result.fps, 1)}
    return face_rows(result.faces, **context) or [no_face_row(labels, **context, face=None)]


def append_history(history: list[dict], results: list[FrameResult], started: float,
                   labels: tuple[str, ...], limit: int = MAX_HISTORY) -> None:
    """Add rows for ``results`` to ``history`` in place, keeping the newest ``limit`` rows."""
    history.extend(row for r in results for row in history_rows(r, started, labels))
    if len(history) > limit:
        del history[: len(history) - limit]


def latest_row(history: list[dict]) -> dict:
    """The newest frame's first row: its main (largest) face, or its "No face" row."""
    first = len(history) - 1
    while first > 0 and history[first - 1]["timestamp"] == history[-1]["timestamp"]:
        first -= 1
    return history[first]


class WebcamRecording:
    """The webcam page's state in one object: the session's history of rows, whether a stream is on, when
    its first frame came, how many frames were analysed and the event marks set with **Mark**. A new stream
    starts a new history."""

    def __init__(self) -> None:
        self.history: list[dict] = []
        self.playing = False
        self.started: float | None = None
        self.analysed = 0
        self.marks: list[tuple[float, str]] = []  # (time_s from the first frame, name)

    def begin(self) -> None:
        """A stream is on: a new one (after a stop) starts a new history."""
        if not self.playing:
            self.history.clear()
            self.marks.clear()
            self.started, self.analysed = None, 0
        self.playing = True

    def mark(self, name: str, now: float) -> float | None:
        """An event mark named ``name`` at ``now`` (a ``time.time()``), in the stream's time; None before its first frame."""
        if self.started is None:
            return None
        at = round(now - self.started, 3)
        self.marks.append((at, name.strip() or f"Mark {len(self.marks) + 1}"))
        return at

    def csv(self) -> bytes:
        """The history as CSV, each mark's name in the ``marker`` column of the first row at or after it."""
        rows = [dict(r) for r in self.history]
        for at, name in self.marks:
            row = next((r for r in rows if r["time_s"] >= at), None)
            if row is not None:
                row["marker"] = f"{row['marker']}; {name}" if row.get("marker") else name
        return history_csv(rows)

    def markers_csv(self) -> bytes:
        """The marks as a study's markers.csv: each opens a window the next (or the session's end) closes."""
        end = self.history[-1]["time_s"] if self.history else 0.0
        return rows_to_csv(markers_from_marks(self.marks, end))

    def add(self, results: list[FrameResult], labels: tuple[str, ...]) -> None:
        """The stream's newest results; times count from its first frame."""
        if self.started is None:
            self.started = results[0].timestamp
        append_history(self.history, results, self.started, labels)
        self.analysed += len(results)

    def end(self) -> None:
        """The stream stopped (its analyser was reset by :func:`on_stream_ended`); the history stays to be read."""
        self.playing = False

    def current_text(self, verb: str = "Current") -> str:
        """The newest frame's main face for people: "### Current emotion: Happy (87%)", or "Sad (vs neutral)"."""
        row = latest_row(self.history)
        return f"### {verb} emotion: {ScoreKind.of_row(row).headline(row['label'], row['confidence'])}"


RECORDING_KEY = "webcam_recording"


def recording() -> WebcamRecording:
    """This browser session's :class:`WebcamRecording` (made on first use)."""
    return st.session_state.setdefault(RECORDING_KEY, WebcamRecording())


def history_csv(history: list[dict]) -> bytes:
    """The whole session history (one row per face of each processed frame, or a "No face" row) as CSV bytes."""
    return rows_to_csv(history)


# ------------------------------------------------------------------ one session's analyser, shared stream slots
# From here on the helpers run in the page's script thread (they may call st.*), except the
# callables handed to streamlit-webrtc (``on_stream_ended``, ``unanalysed``).
SESSION_KEY = "webcam_session"
OWNER_KEY = "webcam_owner"
#: Seconds between two looks at the queue while the server is busy.
QUEUE_POLL_S = 2.0


def live_session(model: Classifier, detector: FaceDetector, key: tuple, min_confidence: float) -> LiveSession:
    """This browser session's LiveSession, rebuilt only when ``key`` (model, detector) changes.

    The confidence threshold only changes what is drawn: it is set on the running analyser, so
    moving the slider keeps the temporal averages and the FPS meter.
    """
    session = st.session_state.get(SESSION_KEY)
    if session is None or session.settings_key != key:
        session = LiveSession(LiveAnalyzer(model, detector, min_confidence=min_confidence, tta="none"), key)
        st.session_state[SESSION_KEY] = session
    session.analyzer.min_confidence = min_confidence
    return session


@st.cache_resource(show_spinner=False)
def shared_slots() -> StreamSlots:
    """The server process's stream slots, one object for every session (limit: ``$FER_MAX_STREAMS``).

    Raises:
        ValueError: ``$FER_MAX_STREAMS`` is not a whole number of at least 1.
    """
    return StreamSlots(max_streams(os.environ.get(MAX_STREAMS_ENV)))


def session_owner() -> str:
    """A random id for this browser session: its name among the slot holders and in the queue."""
    return st.session_state.setdefault(OWNER_KEY, uuid.uuid4().hex)


def stream_requested(context: Any) -> bool:
    """True when the webrtc component (its context, from Session State) is starting or playing a stream.

    Read before ``webrtc_streamer`` runs: the component's state is updated before the script
    starts, so a pressed Start is known in time to let the stream play or to stop it.
    """
    state = getattr(context, "state", None)
    return bool(state is not None and (state.playing or state.signalling))


def admit(slots: StreamSlots, owner: str, requested: bool) -> Admission:
    """A requested stream (Start pressed) takes or keeps a slot, or joins the queue; a session whose
    stream is not playing gives its slot back and is idle (it stays queued only if it already was)."""
    if requested:
        return slots.acquire(owner)
    slots.release(owner)
    return slots.check(owner)


def keep_slot(slots: StreamSlots, owner: str) -> None:
    """The live loop's heartbeat; a lost slot (expired) reruns the page, which takes a free one or stops the stream."""
    if not slots.heartbeat(owner):
        st.rerun()


def on_stream_ended(session: LiveSession, slots: StreamSlots, owner: str, ticket: int | None) -> Callable[[], None]:
    """streamlit-webrtc's ``on_video_ended`` (its worker thread, no st.*): the next stream starts
    afresh, the slot of this stream (its ``ticket``; none for a stream that held none) is freed,
    and the heap its frames and codecs freed goes back to the OS (glibc keeps it otherwise, and a
    server that has served many streams would sit at its highest level)."""
    def ended() -> None:
        session.reset()
        if ticket is not None:
            slots.release(owner, ticket)
        return_freed_memory()
    return ended


async def unanalysed(frames: list) -> list:
    """The frame callback of a stream that holds no slot, until the browser has stopped it: no analysis."""
    return [frames[-1]]


def waiting(admission: Admission) -> bool:
    """True for a session in the queue whose turn has not come: its page offers no Start."""
    return bool(admission.position) and not admission.can_start


def busy_message(admission: Admission) -> str:
    """Why this session cannot stream now: the streams running, the limit, the queue and its place.

    Says "busy" only when every slot is held; a free slot promised to the queue is called so.
    """
    n, ahead = admission.active, admission.queued if not admission.position else admission.position - 1
    running = f"{n} live stream is running" if n == 1 else f"{n} live streams are running"
    users = f"{ahead} user" if ahead == 1 else f"{ahead} users"
    if admission.free:
        state = (f"**Every free slot is promised**: {running}, the limit is {admission.limit}, and the "
                 f"{users} {'ahead of you ' if admission.position else ''}in the queue may start first.")
    else:
        state = f"**The server is busy**: {running}, the limit is {admission.limit}."
    if not admission.position:
        return f"{state} Press **Start** to join the queue ({users} waiting)."
    return (f"{state} You are number **{admission.position}** in the queue. This page checks every "
            f"{QUEUE_POLL_S:.0f} s and offers **Start** as soon as a slot is free for you.")


def turn_message(seconds_left: float) -> str:
    """For the first in the queue once a slot is free: its turn lasts ``seconds_left`` more."""
    return f"A live slot is free for you: press **Start** (your turn is kept for {seconds_left:.0f} s more)."


def turn_left(slots: StreamSlots, owner: str, poll_s: float = QUEUE_POLL_S) -> float | None:
    """Seconds left of ``owner``'s turn, or None when it has none to be told of.

    A turn that would lapse before the next look (``poll_s``) is given up now, so that the page
    stops offering the slot before the next in line can be offered it: at most one page at a
    time says a slot is free for it.
    """
    left = slots.turn_left(owner)
    if left is not None and left <= poll_s:
        slots.leave(owner)
        return None
    return left


@st.fragment(run_every=QUEUE_POLL_S)
def turn_notice(slots: StreamSlots, owner: str) -> None:
    """"A live slot is free for you", refreshed every ``QUEUE_POLL_S`` while shown (its seconds count
    down); once the turn has lapsed or gone to another session, the whole page reruns and says where
    this session stands now."""
    left = turn_left(slots, owner)
    if left is None:
        st.rerun()
    st.info(turn_message(left), icon=":material/play_circle:")


@st.fragment(run_every=QUEUE_POLL_S)
def waiting_room(slots: StreamSlots, owner: str, queued: bool) -> None:
    """Why this session cannot stream now, refreshed every ``QUEUE_POLL_S`` so that it never says
    "busy" after a slot has freed: for a ``queued`` session its place (the look also keeps the
    place) and a way out; for an idle one that Start joins the queue. The whole page reruns once
    a slot is free for this session or it has left the queue."""
    if queued and st.button("Leave the queue", icon=":material/logout:"):
        slots.leave(owner)
    admission = slots.check(owner)
    if admission.can_start or waiting(admission) != queued:
        st.rerun()
    if queued:
        st.warning(busy_message(admission), icon=":material/hourglass_top:")
    else:
        st.info(busy_message(admission), icon=":material/group:")
