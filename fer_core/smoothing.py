"""Per-face label smoothing for live video, so labels do not flicker between frames."""
from __future__ import annotations

import threading

import numpy as np

from fer_core.detect import Box


def _centre_distance(a: Box, b: Box) -> float:
    """Distance of two box centres, relative to the larger box: ~0 for the same face."""
    dx = (a.x + a.w / 2) - (b.x + b.w / 2)
    dy = (a.y + a.h / 2) - (b.y + b.h / 2)
    return float(np.hypot(dx, dy) / max(a.w, a.h, b.w, b.h, 1))


class ProbabilitySmoother:
    """Exponential moving average of each face's probabilities across frames.

    Faces are matched to the previous frame's by box centre; an unmatched face starts
    fresh. Thread-safe: the webcam callback runs in a worker thread.
    """

    def __init__(self, alpha: float = 0.35, max_distance: float = 0.5) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha, self.max_distance = alpha, max_distance
        self._tracks: list[tuple[Box, np.ndarray]] = []
        self._lock = threading.Lock()

    def update(self, boxes: list[Box], probabilities: np.ndarray) -> np.ndarray:
        """Smoothed probabilities for this frame's faces, in the order given."""
        smoothed = np.array(probabilities, dtype=np.float32, copy=True)
        with self._lock:
            free = list(range(len(self._tracks)))
            for i, box in enumerate(boxes):
                if not free:
                    break
                j = min(free, key=lambda k: _centre_distance(box, self._tracks[k][0]))
                if _centre_distance(box, self._tracks[j][0]) <= self.max_distance:
                    smoothed[i] = self.alpha * smoothed[i] + (1 - self.alpha) * self._tracks[j][1]
                    free.remove(j)
            self._tracks = list(zip(boxes, smoothed))
        return smoothed

    def reset(self) -> None:
        with self._lock:
            self._tracks = []
