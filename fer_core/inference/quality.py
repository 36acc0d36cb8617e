"""Quality flags of one detected face: too small, too dark, too bright, blurred, a low detector score.

A flagged face is still analysed and shown; studies count only unflagged faces as valid
(:mod:`fer_core.study.epochs`). Every measure is taken on what the classifier sees: the face
crop as a grey 48x48 image (FER2013's size), so a threshold measured on FER2013 faces means the
same on a video's faces. The thresholds and the accuracy each protects are derived on
PublicTest and reported on PrivateTest by ``scripts/quality_thresholds.py`` (docs/quality.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_core.common.sizes import IMAGE_SIZE
from fer_core.inference.detect import Box

#: the flag names, in the order they are reported
FLAGS = ("too_small", "too_dark", "too_bright", "blurred", "low_score")


@dataclass(frozen=True)
class QualityThresholds:
    """Where each flag starts: derived on PublicTest by ``scripts/quality_thresholds.py`` (fast model, first 1,000
    faces; docs/quality.md says how, and what each protects on PrivateTest)."""

    min_side: float = 36.0  # px: the face box's shorter side in the frame
    min_brightness: float = 42.88  # mean grey level (0-255) of the 48x48 crop
    max_brightness: float = 188.7
    min_sharpness: float = 0.1195  # :func:`sharpness` of the 48x48 grey crop
    min_score: float = 0.5789  # the detector's score


#: the thresholds every flag uses unless told otherwise
THRESHOLDS = QualityThresholds()


def grey48(crop_rgb: np.ndarray) -> np.ndarray:
    """The crop as the classifier sees it: grey, :data:`IMAGE_SIZE` square (a grey crop is taken as is)."""
    import cv2

    crop = np.asarray(crop_rgb)
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop[..., :3]), cv2.COLOR_RGB2GRAY)
    if grey.shape != (IMAGE_SIZE, IMAGE_SIZE):
        interpolation = cv2.INTER_AREA if min(grey.shape) > IMAGE_SIZE else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interpolation)
    return grey.astype(np.uint8)


def brightness(grey: np.ndarray) -> float:
    """Mean grey level (0-255)."""
    return float(np.mean(grey))


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian over the variance of the grey levels: low for a blurred face (few fine edges).

    Dividing by the image's own variance makes it blind to brightness and contrast (a darker or
    washed-out face keeps its sharpness: those are the other flags' business).
    """
    import cv2

    values = grey.astype(np.float64)
    return float(cv2.Laplacian(values, cv2.CV_64F).var() / (values.var() + 1.0))


def quality_flags(crop_rgb: np.ndarray, box: Box, detector_score: float,
                  thresholds: QualityThresholds = THRESHOLDS) -> tuple[str, ...]:
    """The flags (a subset of :data:`FLAGS`, in that order) of one face: its crop, its box in the frame and its score.

    An empty crop (a box outside the frame) is flagged ``too_small``.
    """
    t = thresholds
    flags = []
    crop = np.asarray(crop_rgb)
    if crop.size == 0 or min(box.w, box.h) < t.min_side:
        flags.append("too_small")
    if crop.size:
        grey = grey48(crop)
        level = brightness(grey)
        if level < t.min_brightness:
            flags.append("too_dark")
        if level > t.max_brightness:
            flags.append("too_bright")
        if sharpness(grey) < t.min_sharpness:
            flags.append("blurred")
    if detector_score < t.min_score:
        flags.append("low_score")
    return tuple(flags)
