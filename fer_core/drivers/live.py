"""Live analysis of a frame stream (the webcam): detect, classify, track, average over frames, draw, count FPS.

``LiveAnalyzer.process`` is the whole per-frame job, so the app's WebRTC callback is one
line. It runs in a worker thread: it touches no Streamlit state, and it is thread-safe.
``LiveAnalyzer.reset`` is called when a stream ends, so the next one starts without the
old tracks, temporal averages and FPS history.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.draw import DEFAULT_MIN_CONFIDENCE, annotate, draw_message
from fer_core.inference.faces import Face
from fer_core.inference.live_baseline import LiveBaseline
from fer_core.inference.pipeline import make_pipeline
from fer_core.inference.temporal import DEFAULT_TEMPORAL_EMA, ProbabilityEMA
from fer_core.inference.rows import NO_FACE
from fer_core.inference.tracking import LIVE_FRAME_RATE, FaceTracker


@dataclass(frozen=True)
class FrameResult:
    """What one processed frame showed: its time, the (averaged over frames) faces with their person IDs and the current FPS."""

    timestamp: float
    faces: list[Face]
    fps: float


class FpsMeter:
    """Frames per second over the last ``window`` frames; ``reset`` forgets them, so a pause
    between two streams does not drag the next stream's rate down. Thread-safe."""

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.monotonic) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._clock = clock
        self._lock = threading.Lock()

    def tick(self) -> float:
        """Count one frame now; returns the current rate (0 until two frames were counted)."""
        with self._lock:
            self._times.append(self._clock())
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        with self._lock:
            self._times.clear()


class LiveAnalyzer:
    """Per-stream state for live video: the face tracker, the per-person temporal EMA and an FPS meter.

    ``min_confidence`` only changes how faces are drawn, so the app updates it in place on a
    running analyser (no rebuild, the temporal averages are kept). ``baseline`` reads one followed
    face against that person's neutral baseline once the page has set it.
    """

    def __init__(self, classifier: Classifier, detector: FaceDetector, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 temporal_ema: float = DEFAULT_TEMPORAL_EMA, tta: str = "none", clock: Callable[[], float] = time.monotonic) -> None:
        self.classifier, self.detector = classifier, detector
        self.min_confidence, self.tta = min_confidence, tta
        self.tracker = FaceTracker(LIVE_FRAME_RATE)
        self.ema = ProbabilityEMA(alpha=temporal_ema)
        self.fps_meter = FpsMeter(clock=clock)
        self.baseline = LiveBaseline(classifier.name, classifier.labels, clock=clock)
        self.pipeline = make_pipeline(classifier, detector, tta=tta, tracker=self.tracker,
                                      live_baseline=self.baseline, temporal=self.ema)

    def process(self, rgb: np.ndarray) -> tuple[np.ndarray, FrameResult]:
        """Annotated copy of the frame and what was found in it."""
        faces = self.pipeline.faces(rgb)
        fps = self.fps_meter.tick()
        out = annotate(rgb, faces, self.min_confidence)
        out = draw_message(out, f"{fps:4.1f} fps" + ("" if faces else f"  {NO_FACE}"))
        return out, FrameResult(time.time(), faces, fps)

    def reset(self) -> None:
        """Start the next stream afresh: no tracks or temporal averages carried over, no FPS averaged over the pause.

        A neutral baseline is kept (it is the person's, not the stream's) and attaches to the next main face."""
        self.tracker.reset()
        self.ema.reset()
        self.fps_meter.reset()
        self.baseline.forget_face()
