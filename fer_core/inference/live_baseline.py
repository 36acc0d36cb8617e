"""The neutral baseline on a live stream: collect the main face for a moment, then follow that face.

``LiveBaseline.update`` runs in the stream's worker thread on each frame's raw probabilities
(before the frame-to-frame temporal EMA): while collecting it keeps the main (largest) face's row;
once set it reads the followed face against its baseline and leaves every other face
as the model gave it. The page starts, loads, resets and reads it from the script thread, so
every method takes the one lock. That face is followed by its person ID
(:mod:`fer_core.inference.tracking`); while the tracker has no ID for it (a track's first frame, or a
person back after more than a second away) it is found by its box centre near where it was,
and takes the ID it has there.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fer_core.inference.neutral_baseline import BASELINE_SECONDS, BaselineError, NeutralBaseline
from fer_core.inference.detect import Box

#: a baseline needs at least this many frames with a face (about a third of a second at 15 fps)
MIN_FRAMES = 5
#: a face is the followed one if its centre is within this share of the larger box side of where that face was
FOLLOW_DISTANCE = 0.5

OFF, COLLECTING, ON = "off", "collecting", "on"
#: ``_collecting_since`` between ``start`` and the next frame, whose time starts the collection
_AT_NEXT_FRAME = -1.0


@dataclass(frozen=True)
class BaselineStatus:
    """What the page shows: the state, the collection's progress and frames, the baseline, the last problem."""

    state: str  # OFF, COLLECTING or ON
    progress: float  # 0-1 of the collection time, while collecting
    frames: int  # frames with a face collected so far (collecting) or in the baseline (on)
    baseline: NeutralBaseline | None
    message: str | None = None  # why the last baseline failed (the state before it was kept)


def centre_distance(a: Box, b: Box) -> float:
    """Distance of two box centres, relative to the larger box side: ~0 for the same face."""
    dx = (a.x + a.w / 2) - (b.x + b.w / 2)
    dy = (a.y + a.h / 2) - (b.y + b.h / 2)
    return float(np.hypot(dx, dy) / max(a.w, a.h, b.w, b.h, 1))


def nearest(box: Box, boxes: Sequence[Box], max_distance: float = FOLLOW_DISTANCE) -> int | None:
    """The index of the box in ``boxes`` nearest to ``box`` if within ``max_distance``, else None."""
    if not boxes:
        return None
    index = min(range(len(boxes)), key=lambda i: centre_distance(box, boxes[i]))
    return index if centre_distance(box, boxes[index]) <= max_distance else None


class LiveBaseline:
    """One stream's neutral baseline: off, collecting the main face, or on for one followed face."""

    def __init__(self, model: str, labels: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.model, self.labels = model, tuple(labels)
        self._clock = clock
        self._lock = threading.Lock()
        self._baseline: NeutralBaseline | None = None
        self._where: Box | None = None  # the followed face's last box (None: the next main face)
        self._person: int | None = None  # its person ID, once the tracker has given one
        self._collecting_since: float | None = None
        self._seconds = BASELINE_SECONDS
        self._rows: list[np.ndarray] = []
        self._message: str | None = None

    # ------------------------------------------------------------------ the page's side

    def start(self, seconds: float = BASELINE_SECONDS) -> None:
        """Collect the main face for ``seconds`` from the next frame on; the current baseline stays
        in force until the new one is made (and if it fails)."""
        with self._lock:
            self._collecting_since, self._seconds, self._rows, self._message = _AT_NEXT_FRAME, seconds, [], None

    def load(self, baseline: NeutralBaseline) -> None:
        """Use a saved baseline; it attaches to the main face of the next frame with a face.

        Raises:
            BaselineError: the baseline was made with another model.
        """
        baseline.check(self.model, self.labels)
        with self._lock:
            self._baseline, self._where, self._person = baseline, None, None
            self._collecting_since, self._message = None, None

    def reset(self) -> None:
        """Baseline off: every face as the model reads it."""
        with self._lock:
            self._baseline, self._where, self._person = None, None, None
            self._collecting_since, self._rows, self._message = None, [], None

    def forget_face(self) -> None:
        """A new stream: keep the baseline, but attach it to the next main face (faces moved meanwhile)."""
        with self._lock:
            self._where, self._person = None, None
            if self._collecting_since is not None:
                self._collecting_since, self._rows = None, []

    def status(self) -> BaselineStatus:
        with self._lock:
            if self._collecting_since is not None:
                started = self._collecting_since
                progress = 0.0 if started == _AT_NEXT_FRAME else min(1.0, (self._clock() - started) / self._seconds)
                return BaselineStatus(COLLECTING, progress, len(self._rows), self._baseline, self._message)
            if self._baseline is not None:
                return BaselineStatus(ON, 1.0, self._baseline.frames, self._baseline, self._message)
            return BaselineStatus(OFF, 0.0, 0, None, self._message)

    # ------------------------------------------------------------------ the stream's side

    def update(self, boxes: Sequence[Box], probabilities: np.ndarray,
               people: Sequence[int | None] | None = None) -> tuple[np.ndarray, list[bool]]:
        """This frame's probabilities with the followed face's row read against its baseline, and
        which rows that was. Faces come largest first, so the main face is row 0; ``people`` are
        their person IDs (None: follow by box centre only)."""
        followed = [False] * len(boxes)
        people = list(people) if people is not None else [None] * len(boxes)
        with self._lock:
            if self._collecting_since is not None:
                self._collect(boxes, probabilities, people)
            if self._baseline is None or not len(boxes):
                return probabilities, followed
            index = self._follow(boxes, people)
            if index is None:
                return probabilities, followed
            out = np.array(probabilities, dtype=np.float32, copy=True)
            out[index] = self._baseline.apply(out[index])
            followed[index] = True
            return out, followed

    def _follow(self, boxes: Sequence[Box], people: list[int | None]) -> int | None:
        """The row of the followed face (the main face when none is followed yet), which it remembers."""
        if self._where is None:
            index = 0
        elif self._person is not None and self._person in people:
            index = people.index(self._person)
        else:  # no ID yet, or its ID is gone (away for over a second): the face near where it was
            index = nearest(self._where, boxes)
        if index is not None:
            self._where = boxes[index]
            self._person = people[index] if people[index] is not None else self._person
        return index

    def _collect(self, boxes: Sequence[Box], probabilities: np.ndarray, people: list[int | None]) -> None:
        now = self._clock()
        if self._collecting_since == _AT_NEXT_FRAME:
            self._collecting_since = now
            self._where, self._person = None, None  # the main face of the first frame with one
        if len(boxes):
            index = self._follow(boxes, people)
            if index is None:  # the collected face left: the main face now
                self._where = None
                index = self._follow(boxes, people)
            self._rows.append(np.asarray(probabilities[index], dtype=np.float64))
        if now - self._collecting_since < self._seconds:
            return
        rows, self._collecting_since, self._rows = self._rows, None, []
        if len(rows) < MIN_FRAMES:
            self._message = (f"No face was seen for long enough while making the baseline ({len(rows)} frame"
                             f"{'s' if len(rows) != 1 else ''} with a face in {self._seconds:g} s); face the camera "
                             "and press Set neutral baseline again.")
            if self._baseline is None:
                self._where = None
            return
        try:
            self._baseline = NeutralBaseline.from_probabilities(np.stack(rows), self.model, self.labels)
        except BaselineError as exc:  # e.g. a model without a Neutral label
            self._message = str(exc)
