"""Where each quality flag should start: accuracy against the measure a flag reads, under graded degradations.

For each flag of :mod:`fer_core.inference.quality` the faces of a split are degraded at
graded strengths (darker, brighter, more blurred, smaller; the detector's score comes from pasting each
face into a frame and detecting it), each degraded face is classified and its measure taken. The faces
are then pooled and cut into bins of that measure. From the bad end of the measure, the threshold is the
edge of the run of bins whose accuracy is each more than :data:`LOSS` below the split's clean accuracy:
the flag marks the faces the model reads clearly worse. Thresholds are chosen on PublicTest; PrivateTest
then reports the accuracy of the faces each flag keeps and of those it flags
(``scripts/quality_thresholds.py``; docs/quality.md).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.common.sizes import IMAGE_SIZE
from fer_core.inference.quality import brightness, sharpness

#: the accuracy drop (in accuracy, 0.05 = 5 points) below clean that a flag marks
LOSS = 0.05
#: bins hold at least this many faces (fewer: too noisy to judge)
MIN_BIN = 100
#: the number of bins (by quantiles of the pooled measure) for continuous measures
BINS = 24


def _scale(images: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(images.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def _wash(images: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(255 - (255 - images.astype(np.float32)) * factor, 0, 255).astype(np.uint8)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    return images if sigma == 0 else np.stack([cv2.GaussianBlur(i, (0, 0), sigma) for i in images])


def _shrink(images: np.ndarray, side: float) -> np.ndarray:
    """What the model sees of a face ``side`` px wide: down to that size, then up to the input size."""
    side = int(side)
    if side >= IMAGE_SIZE:
        return images
    return np.stack([cv2.resize(cv2.resize(i, (side, side), interpolation=cv2.INTER_AREA), (IMAGE_SIZE, IMAGE_SIZE),
                                interpolation=cv2.INTER_LINEAR) for i in images])


@dataclass(frozen=True)
class Sweep:
    """One flag's degradation: levels (mildest first), how to degrade, what to measure, and which end is bad."""

    flag: str
    measure: str
    levels: tuple[float, ...]
    degrade: Callable[[np.ndarray, float], np.ndarray]
    read: Callable[[np.ndarray, float], float]  # (degraded face, level) -> the measure
    low_is_bad: bool


SWEEPS = (
    Sweep("too_dark", "mean grey level", (1.0, 0.7, 0.5, 0.35, 0.25, 0.15), _scale, lambda i, _: brightness(i), True),
    Sweep("too_bright", "mean grey level", (1.0, 0.7, 0.5, 0.35, 0.25, 0.15), _wash, lambda i, _: brightness(i),
          False),
    Sweep("blurred", "sharpness (Laplacian / grey variance)", (0.0, 0.6, 1.0, 1.5, 2.2, 3.0), _blur,
          lambda i, _: sharpness(i), True),
    Sweep("too_small", "face side (px)", (48, 36, 28, 22, 16, 12), _shrink, lambda _, level: float(level), True),
)


def sweep_points(sweep: Sweep, images: np.ndarray, labels: np.ndarray,
                 predict: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The measure and whether the model was right, for every face at every level (pooled)."""
    measures, correct = [], []
    for level in sweep.levels:
        degraded = sweep.degrade(images, level)
        measures.append([sweep.read(i, level) for i in degraded])
        correct.append(predict(degraded).argmax(axis=1) == labels)
    return np.concatenate(measures).astype(np.float64), np.concatenate(correct)


def bins(measures: np.ndarray, discrete: bool) -> np.ndarray:
    """Bin edges: each distinct value for a discrete measure, else quantiles of the pooled measure (at most
    :data:`BINS` bins, fewer so that each holds :data:`MIN_BIN` faces)."""
    if discrete:
        values = np.unique(measures)
        return np.concatenate([values, [values[-1] + 1]])
    count = max(1, min(BINS, len(measures) // MIN_BIN))
    return np.unique(np.quantile(measures, np.linspace(0, 1, count + 1)))


def bin_accuracy(measures: np.ndarray, correct: np.ndarray, edges: np.ndarray) -> list[tuple[float, float, int, float]]:
    """(low edge, high edge, faces, accuracy) per bin, ``low <= measure < high`` (the last bin closed)."""
    out = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (measures >= low) & ((measures < high) if i < len(edges) - 2 else (measures <= high))
        if inside.any():
            out.append((float(low), float(high), int(inside.sum()), float(correct[inside].mean())))
    return out


def choose_threshold(table: list[tuple[float, float, int, float]], clean: float, low_is_bad: bool) -> float | None:
    """The edge of the bad tail: from the bad end of the measure, the bins (of :data:`MIN_BIN` faces or more) whose
    accuracy is each more than :data:`LOSS` under ``clean``, up to the first that is not. Below that edge (above it
    when high is bad) a face is flagged. None: the worst bin itself is not that bad.

    A contiguous tail, not the first bad bin seen from the good end: one bin's sampling noise (about 3 points
    for 250 faces) must not move the threshold deep into good faces.
    """
    edge = None
    for low, high, count, accuracy in (table if low_is_bad else reversed(table)):
        if count < MIN_BIN:
            continue
        if accuracy >= clean - LOSS:
            break
        edge = high if low_is_bad else low
    return edge


def flagged(measures: np.ndarray, threshold: float | None, low_is_bad: bool) -> np.ndarray:
    """Which faces the threshold flags (the same comparison as :func:`fer_core.inference.quality.quality_flags`)."""
    if threshold is None:
        return np.zeros(len(measures), dtype=bool)
    return measures < threshold if low_is_bad else measures > threshold


def report(measures: np.ndarray, correct: np.ndarray, threshold: float | None, low_is_bad: bool,
           clean: int = 0) -> dict:
    """Accuracy of all the sweep's faces, of those kept and of those flagged, and the share flagged; with ``clean``
    (the number of undegraded faces, first in the sweep) also the share of undegraded faces flagged."""
    mask = flagged(measures, threshold, low_is_bad)
    out = {"threshold": threshold, "faces": int(len(correct)), "accuracy_all": float(correct.mean()),
           "accuracy_kept": float(correct[~mask].mean()) if (~mask).any() else None,
           "accuracy_flagged": float(correct[mask].mean()) if mask.any() else None,
           "share_flagged": float(mask.mean())}
    if clean:
        out["share_clean_flagged"] = float(mask[:clean].mean())
    return out


def detector_points(images: np.ndarray, labels: np.ndarray, classifier, detector) -> tuple[np.ndarray, np.ndarray]:
    """The detector's score and whether the model was right, for each face pasted 120 px wide in a 240 px grey
    frame and found there (a face not found has no score to flag and is left out)."""
    from fer_core.inference.infer import analyse_image

    scores, correct = [], []
    for image, label in zip(images, labels):
        frame = np.full((240, 240, 3), 128, np.uint8)
        frame[60:180, 60:180] = cv2.resize(image, (120, 120), interpolation=cv2.INTER_CUBIC)[..., None]
        faces = analyse_image(frame, classifier, detector)
        if faces:
            scores.append(faces[0].box.score)
            correct.append(classifier.labels.index(faces[0].label) == label)
    return np.array(scores, dtype=np.float64), np.array(correct, dtype=bool)
