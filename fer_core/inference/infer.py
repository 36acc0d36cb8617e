"""Inference on images and frames: detect faces, classify them in one batch, return ``Face``s."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import Box, FaceDetector
from fer_core.inference.images import ImageError, read_image
from fer_core.inference.rows import MAIN_FACE


@dataclass(frozen=True)
class Face:
    """One face: where it is, the top label, every class's probability and whose face it is.

    ``person`` is the face's person ID: in videos and live streams the track ID
    (:mod:`fer_core.inference.tracking`), stable from frame to frame; in a photo each face is its own person
    (1 the largest); None where nothing numbered it. ``calibrated``: the probabilities were read
    against the person's neutral baseline (:mod:`fer_core.inference.neutral_baseline`), not as the model gave them.
    """

    box: Box
    label: str
    probabilities: dict[str, float]
    person: int | None = None
    calibrated: bool = False

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict:
        return {"box": self.box.as_list(), "person": self.person, "label": self.label,
                "confidence": round(self.confidence, 4), "calibrated": self.calibrated,
                "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()}}

    def to_row(self, **context) -> dict:
        """One flat table row: ``context`` first (e.g. file, frame, time_s, face), then person, label,
        confidence, calibrated, x, y, w, h and one column per label (see :func:`fer_core.inference.rows.face_columns`)."""
        x, y, w, h = self.box.as_list()
        return {**context, "person": self.person, "label": self.label, "confidence": round(self.confidence, 4),
                "calibrated": self.calibrated,
                "x": x, "y": y, "w": w, "h": h, **{k: round(v, 4) for k, v in self.probabilities.items()}}


def face_rows(faces: Iterable[Face], first: int = MAIN_FACE, /, **context) -> list[dict]:
    """:meth:`Face.to_row` of each face with ``context``, numbered from ``first`` in the ``face`` column."""
    return [face.to_row(**context, face=number) for number, face in enumerate(faces, first)]


@dataclass(frozen=True)
class ImageResult:
    """What happened to one input file: its faces, or the error that stopped it."""

    file: str
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        if self.error:
            return {"file": self.file, "error": self.error}
        return {"file": self.file, "faces": [f.to_dict() for f in self.faces]}

    def rows(self) -> list[dict]:
        """One row per face (``file``, ``face`` from 1, then :meth:`Face.to_row`); none for an error."""
        return face_rows(self.faces, file=self.file)


def crop_face(rgb: np.ndarray, box: Box, scale: float = 1.0) -> np.ndarray:
    """A square crop centred on ``box``, ``scale`` times its larger side; edges padded by replication."""
    import cv2

    side = max(1, round(max(box.w, box.h) * scale))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    pad = max(0, -x0, -y0, x0 + side - rgb.shape[1], y0 + side - rgb.shape[0])
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return rgb[y0 : y0 + side, x0 : x0 + side]


def faces_from_probabilities(boxes: list[Box], probabilities: np.ndarray, labels: tuple[str, ...],
                             people: Sequence[int | None] | None = None, calibrated: bool = False) -> list[Face]:
    """Pair boxes with probability rows (and ``people``'s IDs); the label is the most likely class.

    ``people`` None numbers the faces 1, 2, ... in the order given: each face its own person (photos).
    ``calibrated`` marks rows that were read against a neutral baseline.
    """
    people = range(MAIN_FACE, MAIN_FACE + len(boxes)) if people is None else people
    return [
        Face(box, labels[int(np.argmax(p))], {name: float(v) for name, v in zip(labels, p)}, person, calibrated)
        for box, p, person in zip(boxes, probabilities, people, strict=True)
    ]


def detect_and_crop(rgb: np.ndarray, detector: FaceDetector) -> tuple[list[Box], list[np.ndarray]]:
    """Faces in an image and their crops, largest face first."""
    boxes = sorted(detector.detect(rgb), key=lambda b: b.w * b.h, reverse=True)
    return boxes, [crop_face(rgb, b, detector.crop_scale) for b in boxes]


def analyse_image(
    rgb: np.ndarray, classifier: Classifier, detector: FaceDetector | None = None,
    *, aligned: bool = False, tta: str | None = None, baseline: NeutralBaseline | None = None,
) -> list[Face]:
    """Every face in an RGB image with its label and probabilities.

    ``aligned=True`` treats the whole image as one face crop (FER2013-style input), and
    then no detector is needed. With a ``baseline`` every face is read against that
    person's neutral face (made by the same model, or a ``BaselineError``).
    """
    if aligned:
        boxes, crops = [Box(0, 0, rgb.shape[1], rgb.shape[0])], [rgb]
    else:
        if detector is None:
            raise ValueError("a face detector is needed unless aligned=True")
        boxes, crops = detect_and_crop(rgb, detector)
    return classify_faces(boxes, crops, classifier, tta=tta, baseline=baseline)


def classify_faces(boxes: list[Box], crops: list[np.ndarray], classifier: Classifier, *, tta: str | None = None,
                   baseline: NeutralBaseline | None = None) -> list[Face]:
    """The faces of these boxes and their crops, classified in one batch (against ``baseline`` when given:
    made by the same model, or a ``BaselineError``)."""
    probabilities = classifier.predict_proba(crops, tta)
    if baseline is None:
        return faces_from_probabilities(boxes, probabilities, classifier.labels)
    baseline.check_classifier(classifier)
    return faces_from_probabilities(boxes, baseline.apply(probabilities), classifier.labels, calibrated=True)


def analyse_files(
    files: Iterable[str | os.PathLike], classifier: Classifier, detector: FaceDetector | None,
    *, aligned: bool = False, tta: str | None = None, baseline: NeutralBaseline | None = None,
) -> Iterator[ImageResult]:
    """Analyse image files one by one; a bad file yields an error result and the rest go on."""
    for path in files:
        try:
            rgb = read_image(path)
        except ImageError as exc:
            yield ImageResult(str(path), error=str(exc))
            continue
        yield ImageResult(str(path), analyse_image(rgb, classifier, detector, aligned=aligned, tta=tta,
                                                         baseline=baseline), image=rgb)
