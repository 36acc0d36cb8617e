"""One photo, analysed once: detect, crop, classify and (on request) explain every face, in one place.

``analyse_photo`` keeps what a viewer needs and nothing more: the faces, a display-size copy of
the image (at most :data:`DISPLAY_PIXELS`, whatever the upload's size) and one small Grad-CAM
overlay per face, made from the very crops that were classified. ``draw_photo`` labels that
display copy for a confidence threshold, so a new threshold redraws without re-analysing.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace

import numpy as np

from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import Box, FaceDetector
from fer_core.inference.draw import annotate
from fer_core.inference.faces import Face
from fer_core.inference.pipeline import make_pipeline
from fer_core.inference.rows import face_columns, face_rows, rows_to_csv

log = logging.getLogger(__name__)

#: the display copy kept and shown: at most about 2 megapixels (the boxes stay in full-size pixels)
DISPLAY_PIXELS = 2_000_000
#: side of the Grad-CAM overlays kept
OVERLAY_SIDE = 256


@dataclass(frozen=True)
class PhotoResult:
    """A photo's faces (boxes in the original's pixels), its display copy and a Grad-CAM overlay per face."""

    faces: list[Face]
    display: np.ndarray = field(repr=False)  # RGB, at most DISPLAY_PIXELS, not annotated
    scale: float  # display pixels per original pixel
    overlays: list[np.ndarray | None] = field(repr=False)  # None where a face could not be explained

    @property
    def nbytes(self) -> int:
        """What this result holds in memory (the measure of a byte-bounded cache)."""
        overlays = sum(o.nbytes for o in self.overlays if o is not None)
        return self.display.nbytes + overlays + 2048 * (1 + len(self.faces))

    def rows(self, file: str) -> list[dict]:
        """One row per face (``file``, ``face`` from 1): label, confidence, box and every probability."""
        return face_rows(self.faces, file=file)

    def csv(self, file: str) -> bytes:
        labels = list(self.faces[0].scores) if self.faces else []
        return rows_to_csv(self.rows(file), face_columns(labels, ("file", "face")))

    def json(self, file: str, model: str, detector: str, precision: str | None = None) -> bytes:
        return json.dumps({"file": file, "model": model, **({"precision": precision} if precision else {}),
                           "detector": detector,
                           "faces": [f.to_dict() for f in self.faces]}, indent=2).encode()


def analyse_photo(rgb: np.ndarray, classifier: Classifier, detector: FaceDetector, *, explain: bool = True,
                  baseline: NeutralBaseline | None = None) -> PhotoResult:
    """Every face of an RGB photo, with a Grad-CAM overlay each when ``explain`` (read against ``baseline``
    when given); the full-size pixels are not kept."""
    batch = make_pipeline(classifier, detector, baseline=baseline).run(rgb)
    faces = batch.faces()
    overlays = [_small(_explain(classifier, crop, classifier.labels.index(face.label))) if explain else None
                for crop, face in zip(batch.crops, faces)]
    scale = display_scale(rgb.shape)
    return PhotoResult(faces, shrink(rgb, scale), scale, overlays)


def draw_photo(result: PhotoResult, min_confidence: float) -> np.ndarray:
    """The display copy with each face boxed and labelled ('?' below ``min_confidence``)."""
    return annotate(result.display, scale_faces(result.faces, result.scale), min_confidence)


def display_scale(shape: tuple[int, ...], pixels: int = DISPLAY_PIXELS) -> float:
    """The factor that brings an image to at most ``pixels`` (1.0 when it is smaller)."""
    return min(1.0, (pixels / float(shape[0] * shape[1])) ** 0.5)


def shrink(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` scaled down by ``scale`` (unchanged when ``scale`` >= 1)."""
    import cv2

    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def scale_faces(faces: list[Face], scale: float) -> list[Face]:
    """The faces with boxes in the pixels of an image scaled by ``scale`` (for drawing only)."""
    if scale >= 1.0:
        return faces
    return [replace(f, box=Box(round(f.box.x * scale), round(f.box.y * scale), max(1, round(f.box.w * scale)),
                               max(1, round(f.box.h * scale)), f.box.score)) for f in faces]


def _small(overlay: np.ndarray | None) -> np.ndarray | None:
    return None if overlay is None else shrink(overlay, OVERLAY_SIDE / max(overlay.shape[:2]))


def _explain(classifier: Classifier, crop: np.ndarray, class_index: int) -> np.ndarray | None:
    """The Grad-CAM overlay, or None if this model cannot be explained (the results still show)."""
    from fer_core.inference import saliency
    try:
        return saliency.saliency_overlay(classifier, crop, class_index)
    except Exception:  # an explanation is optional: never lose the analysis over it
        log.exception("Grad-CAM failed for %s", classifier.name)
        return None
