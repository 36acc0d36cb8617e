"""Video analysis in memory: uploaded bytes in, annotated MP4 bytes and rows out (nothing on disk)."""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fer_core import timeline
from fer_core.results import rows_to_csv
from fer_core.video import VIDEO_TYPES as _VIDEO_TYPES
from fer_core.video import VideoResult, analyse_video

VIDEO_TYPES = list(_VIDEO_TYPES)


@dataclass(frozen=True)
class VideoOutcome:
    """A finished analysis, kept in the session: the result, the annotated MP4 and what produced it."""

    job: tuple
    stem: str
    result: VideoResult
    video: bytes
    seconds: float
    labels: tuple[str, ...]

    @property
    def frames_with_face(self) -> int:
        return sum(1 for r in self.result.results if r.faces)

    def csv(self) -> bytes:
        return rows_to_csv(self.result.rows())

    def timeline(self):
        return timeline.timeline(self.result.rows(), self.labels)

    def shares(self) -> dict[str, float]:
        return timeline.shares(self.timeline(), self.labels)


def analyse(name: str, data: bytes, model, detector, *, every: int, min_confidence: float, job: tuple,
            progress: Callable[[int, int], None] | None = None) -> VideoOutcome:
    """Analyse uploaded video bytes, decoding and encoding in memory: no user file is written.

    Raises:
        VideoError: not a decodable video.
    """
    started = time.perf_counter()
    output = io.BytesIO()
    result = analyse_video(io.BytesIO(data), model, detector, output=output, every=every, progress=progress,
                           min_confidence=min_confidence, name=name)
    return VideoOutcome(job, Path(name).stem, result, output.getvalue(), time.perf_counter() - started,
                        tuple(model.labels))


def progress_updater(bar, min_step: float = 0.01) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that moves an ``st.progress`` bar, at most every 1%."""
    last = [-1.0]

    def update(done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        if fraction - last[0] >= min_step:
            last[0] = fraction
            bar.progress(fraction, text=f"Frame {done} of about {total}")

    return update
