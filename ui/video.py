"""Video analysis in memory: uploaded bytes in, annotated MP4 bytes and rows out (nothing on disk)."""
from __future__ import annotations

import io
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fer_core.common.memory import return_freed_memory
from fer_core.catalog import provenance
from fer_core.reports import timeline
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.rows import rows_to_csv
from fer_core.drivers.video import VIDEO_TYPES as _VIDEO_TYPES
from fer_core.drivers.video import VideoResult, analyse_video

if TYPE_CHECKING:  # the type only: this module stays free of Streamlit
    from ui.sidebar import Settings

VIDEO_TYPES = list(_VIDEO_TYPES)
#: where a session keeps its finished analysis (one at most)
OUTCOME_KEY = "video_outcome"
#: the most frames one upload is analysed for (20 min at 30 fps): bounds the work and the MP4 a session keeps
MAX_FRAMES = 36_000


@dataclass(frozen=True)
class VideoOutcome:
    """A finished analysis, kept in the session: the result, the annotated MP4 and what produced it."""

    job: tuple
    stem: str
    result: VideoResult
    video: bytes
    seconds: float
    labels: tuple[str, ...]
    #: the neutral baseline every face was read against , if any
    baseline: NeutralBaseline | None = None
    #: what made the rows (:func:`fer_core.catalog.provenance.provenance`), for the CSV's sidecar
    provenance: dict | None = None

    @property
    def frames_with_face(self) -> int:
        return sum(1 for r in self.result.results if r.faces)

    def csv(self) -> bytes:
        return rows_to_csv(self.result.rows())

    def timeline(self):
        return timeline.timeline(self.result.rows(), self.labels)

    def shares(self) -> dict[str, float]:
        return timeline.shares(self.timeline(), self.labels)


def job_key(file_id: str, every: int, settings: Settings, reference: NeutralBaseline | float | None = None) -> tuple:
    """What a video analysis depends on: the upload, the frame step, the live model, detector, threshold and
    neutral reference (a baseline, or the seconds at the start that are neutral).

    Not the photo model: choosing another one for photos keeps an analysed video.
    """
    reference = reference.fingerprint if isinstance(reference, NeutralBaseline) else reference
    return (file_id, every, str(settings.live_model_dir), settings.detector, settings.min_confidence, reference)


def kept_outcome(state: MutableMapping, file_id: str | None) -> VideoOutcome | None:
    """The session's finished analysis if it is of the upload ``file_id``; one of another (or no) upload
    is dropped from ``state``, so a session never holds more than one annotated MP4."""
    outcome = state.get(OUTCOME_KEY)
    if outcome is not None and outcome.job[0] != file_id:
        del state[OUTCOME_KEY]
        return_freed_memory()  # its annotated MP4
        return None
    return outcome


def analyse(name: str, data: bytes, model, detector, *, every: int, min_confidence: float, job: tuple,
            progress: Callable[[int, int], None] | None = None, max_frames: int = MAX_FRAMES,
            reference: NeutralBaseline | float | None = None) -> VideoOutcome:
    """Analyse uploaded video bytes, decoding and encoding in memory: no user file is written.

    ``reference``: a neutral baseline every face is read against, or the seconds at the start of
    the video whose largest face makes that baseline.

    Raises:
        VideoError: not a decodable video.
        BaselineError: no face in the neutral seconds, or another model's baseline.
    """
    started = time.perf_counter()
    try:
        first_seconds = float(reference) if isinstance(reference, (int, float)) else None  # made in the same pass
        output = io.BytesIO()
        result = analyse_video(io.BytesIO(data), model, detector, output=output, every=every, progress=progress,
                               min_confidence=min_confidence, name=name, max_frames=max_frames,
                               baseline=None if first_seconds else reference, neutral_seconds=first_seconds)
        baseline = result.baseline
        made_by = provenance.of_classifier(model, getattr(detector, "name", None), baseline=baseline)
        return VideoOutcome(job, Path(name).stem, result, output.getvalue(), time.perf_counter() - started,
                            tuple(model.labels), baseline, made_by)
    finally:
        return_freed_memory()  # the decoded frames and codec buffers, as the photo path gives its pixels back


def progress_updater(bar, min_step: float = 0.01) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that moves an ``st.progress`` bar, at most every 1%."""
    last = [-1.0]

    def update(done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        if fraction - last[0] >= min_step:
            last[0] = fraction
            bar.progress(fraction, text=f"Frame {done} of about {total}")

    return update
