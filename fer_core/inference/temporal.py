"""Per-person temporal average of live probabilities, so labels do not flicker between frames."""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

#: Weight of the newest frame in each person's exponential moving average (1: no averaging).
DEFAULT_TEMPORAL_EMA = 0.35


class ProbabilityEMA:
    """Exponential moving average of each person's probabilities across frames.

    Faces are followed by their person ID (:class:`fer_core.inference.tracking.FaceTracker`): a person keeps
    its average while the tracker keeps its ID, and a face without an ID is not averaged. A person
    unseen for ``forget_after`` updates is forgotten (the tracker will not give that ID again).
    Thread-safe: the webcam callback runs in a worker thread.
    """

    def __init__(self, alpha: float = DEFAULT_TEMPORAL_EMA, forget_after: int = 60) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha (the temporal EMA weight) must be in (0, 1], got {alpha}")
        self.alpha, self.forget_after = alpha, forget_after
        self._people: dict[int, tuple[int, np.ndarray]] = {}  # person -> (update last seen, average)
        self._updates = 0
        self._lock = threading.Lock()

    def update(self, people: Sequence[int | None], probabilities: np.ndarray) -> np.ndarray:
        """Averaged probabilities for this frame's faces, in the order given; ``people`` is each face's ID."""
        averaged = np.array(probabilities, dtype=np.float32, copy=True)
        with self._lock:
            self._updates += 1
            for i, person in enumerate(people):
                if person is None:
                    continue
                if person in self._people:
                    averaged[i] = self.alpha * averaged[i] + (1 - self.alpha) * self._people[person][1]
                self._people[person] = (self._updates, averaged[i])
            self._people = {p: v for p, v in self._people.items() if self._updates - v[0] < self.forget_after}
        return averaged

    def reset(self) -> None:
        with self._lock:
            self._people, self._updates = {}, 0
