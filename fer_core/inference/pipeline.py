"""The one frame pipeline: find faces -> quality flags -> classify -> track -> neutral baseline -> temporal average.

Photos, videos, the webcam, batch and ``predict`` all run :func:`make_pipeline`'s pipeline; they only
choose its options. A new per-face step is a new stage (:mod:`fer_core.inference.stages`) placed here.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.faces import Face, FaceBatch
from fer_core.inference.live_baseline import LiveBaseline
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.stages import (Classify, Detect, EveryFaceBaseline, FollowedFaceBaseline, Quality, Stage,
                                       TemporalAverage, Track, WholeImage)
from fer_core.inference.temporal import ProbabilityEMA
from fer_core.inference.tracking import FaceTracker


class Pipeline:
    """Stages run in order on each frame."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    def run(self, rgb: np.ndarray) -> FaceBatch:
        """The frame's faces after every stage (an RGB uint8 image in)."""
        batch = FaceBatch(rgb, [], [], [])
        for stage in self.stages:
            batch = stage(batch)
        return batch

    def faces(self, rgb: np.ndarray) -> list[Face]:
        """:meth:`run`, as :class:`Face` objects."""
        return self.run(rgb).faces()


def make_pipeline(classifier: Classifier, detector: FaceDetector | None, *, tta: str | None = None,
                  aligned: bool = False, tracker: FaceTracker | None = None,
                  baseline: NeutralBaseline | None = None, live_baseline: LiveBaseline | None = None,
                  temporal: ProbabilityEMA | None = None) -> Pipeline:
    """The pipeline for these options, its stages in the one order.

    ``aligned`` takes the whole image as one face (no detector); ``tracker`` gives person IDs across frames;
    ``baseline`` reads every face against one neutral baseline, ``live_baseline`` one followed face (the
    webcam); ``temporal`` averages each person over frames.

    Raises:
        ValueError: no ``detector`` without ``aligned``, or both kinds of baseline.
        BaselineError: ``baseline`` was made by another model.
    """
    if not aligned and detector is None:
        raise ValueError("a face detector is needed unless aligned=True")
    if baseline is not None and live_baseline is not None:
        raise ValueError("one neutral baseline at a time: every face's, or the followed face's")
    stages: list[Stage] = [WholeImage() if aligned else Detect(detector), Quality(), Classify(classifier, tta)]
    if tracker is not None:
        stages.append(Track(tracker))
    if baseline is not None:
        stages.append(EveryFaceBaseline(baseline, classifier))
    if live_baseline is not None:
        stages.append(FollowedFaceBaseline(live_baseline))
    if temporal is not None:
        stages.append(TemporalAverage(temporal))
    return Pipeline(stages)
