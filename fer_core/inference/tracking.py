"""Stable person IDs across the frames of a video or a live stream (ByteTrack, from ``supervision``).

Faces are detected frame by frame and numbered largest first, so "face 1" is whoever is nearest
the camera. A tracker follows each face's box from frame to frame (a Kalman filter predicts where
it goes, boxes are matched by overlap), so one person keeps one ID through size changes, a missed
detection, a brief occlusion, or leaving and coming back within :data:`LOST_S`. IDs count from 1
in the order people first appear. Why ByteTrack from ``supervision``, and its figures on the
project's clips: docs/tracking.md (``python scripts/tracker_fit.py``).
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence

import numpy as np

from fer_core.inference.detect import Box

#: how long (seconds) a person may be out of sight and still come back with the same ID
LOST_S = 1.0
#: the frame rate assumed for the live webcam (frames analysed per second), which varies
LIVE_FRAME_RATE = 15.0

# ByteTrack is deprecated in supervision 0.30, which is pinned for it (docs/tracking.md says why); a
# filter rather than catch_warnings, which is not thread-safe (trackers are made in worker threads too)
warnings.filterwarnings("ignore", message="The `ByteTrack` was deprecated", category=FutureWarning)


def person_name(person: int) -> str:
    """How a person ID is shown, on annotated frames and in the app: ``P1``, ``P2``, ..."""
    return f"P{person}"


class FaceTracker:
    """Person IDs for the face boxes of consecutive frames; one tracker per video or stream.

    ``frame_rate`` is the rate of the frames given to :meth:`update` (a video's fps divided by
    the analysis step), so that :data:`LOST_S` seconds become a number of frames. Thread-safe:
    the webcam callback runs in a worker thread, and ``reset`` comes from another.

    Raises:
        ValueError: ``frame_rate`` or ``lost_s`` is not positive.
    """

    def __init__(self, frame_rate: float, lost_s: float = LOST_S) -> None:
        if not frame_rate > 0 or not lost_s > 0:
            raise ValueError(f"frame_rate and lost_s must be positive, got {frame_rate} and {lost_s}")
        self.frame_rate, self.lost_s = float(frame_rate), float(lost_s)
        self._lock = threading.Lock()
        self._tracker = self._new_tracker()

    def _new_tracker(self):
        import supervision as sv

        # lost_track_buffer counts 30-fps frames: 30 * lost_s of them is lost_s seconds at any frame_rate
        return sv.ByteTrack(frame_rate=self.frame_rate, lost_track_buffer=round(30 * self.lost_s),
                            minimum_consecutive_frames=1)

    def update(self, boxes: Sequence[Box]) -> list[int | None]:
        """The person ID of each of this frame's boxes, in the order given.

        None for a box without an ID yet: a face that appears after the first frame is confirmed
        (and numbered) on its second frame; a detection scoring below the tracker's activation
        threshold gets none. A frame without faces must be given too (an empty list): it ages the tracks.
        """
        import supervision as sv

        xyxy = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes], dtype=np.float32).reshape(-1, 4)
        detections = sv.Detections(xyxy=xyxy, confidence=np.array([b.score for b in boxes], dtype=np.float32),
                                   data={"index": np.arange(len(boxes))})
        with self._lock:
            tracked = self._tracker.update_with_detections(detections)
        people: list[int | None] = [None] * len(boxes)
        if len(tracked):
            for index, person in zip(tracked.data["index"], tracked.tracker_id):
                people[int(index)] = int(person)
        return people

    def reset(self) -> None:
        """Forget every track: the next stream's people count from 1 again."""
        with self._lock:
            self._tracker = self._new_tracker()
