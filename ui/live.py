"""The live webcam path: ICE configuration, the per-session frame callback and its history rows.

The frame callback runs in streamlit-webrtc's worker thread: it calls no ``st.*`` and
touches no session state. Results leave it through a bounded ``queue.Queue`` that the
page's loop drains. Frames are processed in memory only; nothing is written to disk.
"""
from __future__ import annotations

import json
import logging
import queue
from collections.abc import Mapping
from typing import Any

import numpy as np

from fer_core.draw import draw_message
from fer_core.live import FrameResult, LiveAnalyzer
from ui.timeline import NO_FACE

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
    """One browser session's live state: the analyser (with its smoother) and the results queue."""

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
        """streamlit-webrtc's ``video_frame_callback``: ``av.VideoFrame`` in, annotated ``av.VideoFrame`` out."""
        import av

        annotated = self.process(frame.to_ndarray(format="rgb24"))
        return av.VideoFrame.from_ndarray(annotated, format="rgb24")

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
        """Forget the smoothing state and queued results (when a stream ends)."""
        self.analyzer.smoother.reset()
        while True:
            try:
                self.results.get_nowait()
            except queue.Empty:
                return


def history_row(result: FrameResult, started: float, labels: tuple[str, ...]) -> dict:
    """One history row for a processed frame: its time since ``started`` and the main (largest) face."""
    row = {"time_s": round(result.timestamp - started, 3), "timestamp": round(result.timestamp, 3),
           "faces": len(result.faces), "fps": round(result.fps, 1), "face": None, "label": NO_FACE,
           "confidence": None, **{label: None for label in labels}}
    if result.faces:
        face = result.faces[0]
        row.update(face=0, label=face.label, confidence=round(face.confidence, 4),
                   **{k: round(v, 4) for k, v in face.probabilities.items()})
    return row


def append_history(history: list[dict], results: list[FrameResult], started: float,
                   labels: tuple[str, ...], limit: int = MAX_HISTORY) -> None:
    """Add rows for ``results`` to ``history`` in place, keeping the newest ``limit`` rows."""
    history.extend(history_row(r, started, labels) for r in results)
    if len(history) > limit:
        del history[: len(history) - limit]


def history_csv(history: list[dict]) -> bytes:
    """The whole session history (one row per processed frame) as CSV bytes."""
    import pandas as pd

    return pd.DataFrame(history).to_csv(index=False).encode()
