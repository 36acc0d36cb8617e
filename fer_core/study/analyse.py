"""Running a study's videos: each participant's neutral baseline, every analysed face with its quality flags.

Two engines, as ``batch`` has: ``local`` (one video after another in this process) and ``ray``
(an actor per CPU with Ray Data, each writing its participant's rows as a Parquet part that the
study then reads). A participant whose video or neutral source fails is reported, never raised:
the others are still analysed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.catalog.provenance import weights_sha256
from fer_core.common.hashing import file_sha256
from fer_core.drivers.batch_engines import load_worker, start_ray
from fer_core.drivers.video import analyse_video
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.neutral_reference import baseline_from_images, read_reference
from fer_core.inference.quality import THRESHOLDS
from fer_core.inference.rows import face_columns
from fer_core.study.design import Participant

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
#: the columns of one participant's rows, before the per-label scores (``face`` empty: a frame without a face)
CONTEXT = ("participant", "frame", "time_s", "face")
#: ``progress(participants_done, participants_total)``
Progress = Callable[[int, int], None]
#: ``frames(participant, frames_decoded, frames_total)`` during one video (the local engine; total is an estimate)
FrameProgress = Callable[[str, int, int], None]


def frame_columns(labels: Sequence[str]) -> list[str]:
    return face_columns(labels, CONTEXT)


def typed_rows(table: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """A participant's rows in :func:`frame_columns`' order and types (the same whether just analysed, read from
    a Parquet part or from the store)."""
    table = table.reindex(columns=frame_columns(labels))
    return table.astype({"frame": "int64", "time_s": "float64", "face": "Int64", "person": "Int64",
                         "vs_neutral": "boolean", **dict.fromkeys(["x", "y", "w", "h", "face_px"], "Int64"),
                         **dict.fromkeys([*labels, "confidence", "detector_score"], "float64"),
                         "label": "string", "quality": "string", "participant": "string"})


@dataclass(frozen=True)
class Outcome:
    """One participant's analysis: their rows, or the error that stopped it."""

    participant: str
    key: str  # :func:`analysis_key`: the same key means the same rows
    rows: pd.DataFrame | None = None
    error: str | None = None
    fps: float | None = None
    frames_total: int | None = None
    warning: str | None = None
    baseline: str | None = None  # the baseline in words (its margin), None without one


def analysis_key(participant: Participant, model_dir: str | os.PathLike, every: int) -> str:
    """What a participant's rows depend on: their video, their neutral source, the model, ``every`` and the quality
    thresholds. A stored participant with the same key is not analysed again."""
    parts = {"video": _sha_or_missing(participant.video), "every": every, "model": weights_sha256(model_dir),
             "neutral_image": None if participant.neutral_image is None else _sha_or_missing(participant.neutral_image),
             "neutral_seconds": participant.neutral_seconds, "quality": asdict(THRESHOLDS)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _sha_or_missing(path: Path) -> str:
    return file_sha256(path) if path.is_file() else f"missing:{path}"


def participant_baseline(participant: Participant, classifier: Classifier,
                         detector: FaceDetector) -> NeutralBaseline | None:
    """The participant's neutral baseline from their photo (None without one: a baseline from their video's first
    seconds is made while the video is analysed, by :func:`~fer_core.drivers.video.analyse_video`).

    Raises:
        ValueError: the photo cannot be read, or has no face (BaselineError, ImageError).
    """
    if participant.neutral_image is None:
        return None
    rgb = read_reference(participant.neutral_image)
    return baseline_from_images([(str(participant.neutral_image), rgb)], classifier, detector)


def analyse_participant(participant: Participant, classifier: Classifier, detector: FaceDetector, *,
                        every: int, key: str = "", frames: FrameProgress | None = None) -> Outcome:
    """Every ``every``-th frame of the participant's video: a row per face (a frame without one: one empty row).

    Never raises for a bad input: the outcome then carries the error, naming the study.csv line.
    """
    where = f"study.csv line {participant.line}: participant {participant.id!r}"
    try:
        if not participant.video.is_file():
            raise FileNotFoundError(f"{participant.video}: no such video file")
        baseline = participant_baseline(participant, classifier, detector)
        result = analyse_video(participant.video, classifier, detector, every=every, name=str(participant.video),
                               baseline=baseline, neutral_seconds=participant.neutral_seconds,
                               progress=None if frames is None else lambda done, total: frames(participant.id, done,
                                                                                               total))
    except (ValueError, OSError) as exc:  # VideoError, ImageError, BaselineError, a missing file
        return Outcome(participant.id, key, error=f"{where}: {exc}")
    except Exception as exc:  # noqa: BLE001 -- one odd video must not stop a study of many
        log.debug("%s failed", participant.video, exc_info=True)
        return Outcome(participant.id, key, error=f"{where}: unexpected {type(exc).__name__}: {exc}")
    rows = []
    start = result.results[0].time_s if result.results else 0.0  # a stream whose first timestamp is not 0
    for frame in result.results:
        context = {"participant": participant.id, "frame": frame.index, "time_s": round(frame.time_s - start, 3)}
        if not frame.faces:
            rows.append({**context, "face": None, "label": "No face"})
        for number, face in enumerate(frame.faces, 1):
            rows.append(face.to_row(**context, face=number))  # with its quality flags (the pipeline's Quality stage)
    table = typed_rows(pd.DataFrame(rows), classifier.labels)
    return Outcome(participant.id, key, table, fps=result.fps, frames_total=result.frames_total,
                   warning=result.warning, baseline=None if result.baseline is None else result.baseline.describe())


def run_local(participants: Sequence[Participant], keys: Sequence[str], *, model: str | os.PathLike, every: int,
              progress: Progress | None = None, frames: FrameProgress | None = None) -> list[Outcome]:
    """Analyse the participants in this process, one after another (``frames`` follows each video)."""
    classifier, detector = load_worker(model)
    outcomes = []
    for done, (participant, key) in enumerate(zip(participants, keys, strict=True), 1):
        outcomes.append(analyse_participant(participant, classifier, detector, every=every, key=key, frames=frames))
        if progress:
            progress(done, len(participants))
    return outcomes


def _to_json(participant: Participant) -> str:
    return json.dumps({**asdict(participant), "video": str(participant.video),
                       "neutral_image": None if participant.neutral_image is None else str(participant.neutral_image)})


def _from_json(text: str) -> Participant:
    data = json.loads(text)
    return Participant(data["id"], Path(data["video"]), data["line"],
                       None if data["neutral_image"] is None else Path(data["neutral_image"]),
                       data["neutral_seconds"], data["covariates"])


class StudyWorker:
    """A Ray Data actor: loads the model once, analyses one participant per call and writes their rows as a
    Parquet part (the table that travels back is one small row per participant)."""

    def __init__(self, model: str, every: int, parts: str) -> None:
        self.classifier, self.detector = load_worker(model, threads=1)
        self.every, self.parts = every, Path(parts)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in ("participant", "key", "part", "error", "fps", "frames_total",
                                                     "warning", "baseline")}
        for text, key in zip(batch["participant"].tolist(), batch["key"].tolist()):
            outcome = analyse_participant(_from_json(text), self.classifier, self.detector, every=self.every, key=key)
            part = None
            if outcome.rows is not None:
                part = str(self.parts / f"{key}.parquet")
                outcome.rows.to_parquet(part, index=False)
            for name in out:
                out[name].append(part if name == "part" else getattr(outcome, name))
        return out


def run_ray(participants: Sequence[Participant], keys: Sequence[str], *, model: str | os.PathLike, every: int,
            parts: str | os.PathLike, address: str | None = None, progress: Progress | None = None) -> list[Outcome]:
    """Analyse the participants on Ray Data actors (one per CPU), each writing Parquet parts into ``parts``.

    Uses the Ray this process is connected to, else starts one (:func:`fer_core.drivers.batch_engines.start_ray`)
    and shuts it down at the end. On a cluster, the videos, the model and ``parts`` must be at the same paths on
    every node (a shared file system).

    Raises:
        ValueError: Ray is not installed.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ValueError('--engine ray needs Ray Data: pip install "fer-studio[batch]"; '
                         "--engine local needs nothing more") from exc
    Path(parts).mkdir(parents=True, exist_ok=True)
    started = not ray.is_initialized()
    if started:
        start_ray(address)
    outcomes = []
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        pool = max(1, min(int(ray.cluster_resources().get("CPU", 1)), len(participants)))
        dataset = ray.data.from_items(
            [{"participant": _to_json(p), "key": k} for p, k in zip(participants, keys, strict=True)]
        ).map_batches(StudyWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=1,
                      fn_constructor_kwargs={"model": str(Path(model).resolve()), "every": every,
                                             "parts": str(Path(parts).resolve())})
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            for row in batch.to_dict("records"):
                rows = pd.read_parquet(row["part"]) if row["part"] else None
                outcomes.append(Outcome(row["participant"], row["key"], rows, _none(row["error"]), _none(row["fps"]),
                                        _none(row["frames_total"]), _none(row["warning"]), _none(row["baseline"])))
                if progress:
                    progress(len(outcomes), len(participants))
    finally:
        if started:
            ray.shutdown()
    order = {p.id: i for i, p in enumerate(participants)}
    return sorted(outcomes, key=lambda o: order[o.participant])


def _none(value):
    """None for pandas' missing values (Ray's tables turn None into NaN)."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value
