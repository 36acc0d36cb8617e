"""The stages of the frame pipeline: each takes a :class:`~fer_core.inference.faces.FaceBatch`, fills what
it knows, and returns it (``stage(batch) -> batch``), as supervision passes ``Detections`` through a tracker
and a smoother.

Find the faces (:class:`Detect`, or :class:`WholeImage` for an aligned crop) -> :class:`Quality` -> :class:`Classify` ->
:class:`Track` -> a neutral baseline (:class:`EveryFaceBaseline` or :class:`FollowedFaceBaseline`) ->
:class:`TemporalAverage`. :func:`fer_core.inference.pipeline.make_pipeline` puts them in that order.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import numpy as np

from fer_core.inference.classifier import Classifier
from fer_core.inference.crops import detect_and_crop
from fer_core.inference.detect import Box, FaceDetector
from fer_core.inference.faces import Face, FaceBatch, ScoreKind
from fer_core.inference.live_baseline import LiveBaseline
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.quality import THRESHOLDS, QualityThresholds, quality_flags
from fer_core.inference.rows import MAIN_FACE
from fer_core.inference.temporal import ProbabilityEMA
from fer_core.inference.tracking import FaceTracker


class Stage(Protocol):
    """One step of the pipeline: reads and fills a frame's faces."""

    def __call__(self, batch: FaceBatch) -> FaceBatch: ...


def _found(rgb: np.ndarray, boxes: list[Box], crops: list[np.ndarray]) -> FaceBatch:
    """A batch of found faces: each its own person (1 the largest) and its size (``face_px``) measured."""
    return FaceBatch(rgb, boxes, crops, list(range(MAIN_FACE, MAIN_FACE + len(boxes))),
                     fields={"face_px": [max(b.w, b.h) for b in boxes]})


class Detect:
    """Find the faces with ``detector``, largest first, and cut their crops."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        return _found(batch.image, *detect_and_crop(batch.image, self.detector))


class WholeImage:
    """The whole image is one face crop (FER2013-style input): no detector."""

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        rgb = batch.image
        return _found(rgb, [Box(0, 0, rgb.shape[1], rgb.shape[0])], [rgb])


class Quality:
    """Flag the faces whose reading is less to be trusted (too small, too dark or bright, blurred, weakly detected),
    measured on the crops the classifier reads: ``fields["quality"]``, a tuple of flags per face."""

    def __init__(self, thresholds: QualityThresholds = THRESHOLDS) -> None:
        self.thresholds = thresholds

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        batch.fields["quality"] = [quality_flags(crop, box, box.score, self.thresholds)
                                   for crop, box in zip(batch.crops, batch.boxes)]
        return batch


class Classify:
    """Score every crop in one batch with the model (and its ``tta``): the scores are probabilities."""

    def __init__(self, classifier: Classifier, tta: str | None = None) -> None:
        self.classifier, self.tta = classifier, tta

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        batch.scores = self.classifier.predict_proba(batch.crops, self.tta)
        batch.labels = self.classifier.labels
        batch.kinds = [ScoreKind.PROBABILITY] * len(batch)
        return batch


class Track:
    """Replace the faces' numbers by stable person IDs (track IDs, :class:`FaceTracker`)."""

    def __init__(self, tracker: FaceTracker) -> None:
        self.tracker = tracker

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        batch.people = list(self.tracker.update(batch.boxes))
        return batch


class EveryFaceBaseline:
    """Read every face against one person's neutral baseline (photos, videos, batch: the baseline is theirs).

    Raises:
        BaselineError: at construction, when ``baseline`` was made by another model than ``classifier``.
    """

    def __init__(self, baseline: NeutralBaseline, classifier: Classifier) -> None:
        baseline.check_classifier(classifier)
        self.baseline = baseline

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        if len(batch):
            batch.scores = self.baseline.apply(batch.scores)
            batch.kinds = [ScoreKind.VS_NEUTRAL] * len(batch)
        return batch


def read_against(faces: list[Face], baseline: NeutralBaseline) -> list[Face]:
    """Faces already read as the model gave them, read again against ``baseline`` (as :class:`EveryFaceBaseline` would
    have): for a baseline made after those faces were analysed, from the video's own first seconds."""
    out = []
    for face in faces:
        scores = baseline.apply(np.array([[face.scores[label] for label in baseline.labels]]))[0]
        out.append(replace(face, label=baseline.labels[int(np.argmax(scores))], kind=ScoreKind.VS_NEUTRAL,
                           scores={label: float(v) for label, v in zip(baseline.labels, scores)}))
    return out


class FollowedFaceBaseline:
    """Read one followed face against its neutral baseline (the webcam), collecting one while asked to."""

    def __init__(self, live: LiveBaseline) -> None:
        self.live = live

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        batch.scores, marked = self.live.update(batch.boxes, batch.scores, batch.people)
        batch.kinds = [ScoreKind.VS_NEUTRAL if mark else kind for kind, mark in zip(batch.kinds, marked)]
        return batch


class TemporalAverage:
    """Average each person's scores over frames (the live temporal EMA), so labels do not flicker."""

    def __init__(self, ema: ProbabilityEMA) -> None:
        self.ema = ema

    def __call__(self, batch: FaceBatch) -> FaceBatch:
        batch.scores = self.ema.update(batch.people, batch.scores)
        return batch
