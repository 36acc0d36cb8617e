"""Inference on images and image files: every face with its label and scores, through the one pipeline."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.faces import Face
from fer_core.inference.images import ImageError, read_image
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.pipeline import make_pipeline
from fer_core.inference.rows import face_rows


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
        """One row per face (``file``, ``face`` from 1, then :func:`~fer_core.inference.rows.face_row`); none for an error."""
        return face_rows(self.faces, file=self.file)


def analyse_image(
    rgb: np.ndarray, classifier: Classifier, detector: FaceDetector | None = None,
    *, aligned: bool = False, tta: str | None = None, baseline: NeutralBaseline | None = None,
) -> list[Face]:
    """Every face in an RGB image with its label and scores, largest first.

    ``aligned=True`` treats the whole image as one face crop (FER2013-style input), and
    then no detector is needed. With a ``baseline`` every face is read against that
    person's neutral face (made by the same model, or a ``BaselineError``).
    """
    return make_pipeline(classifier, detector, aligned=aligned, tta=tta, baseline=baseline).faces(rgb)


def analyse_files(
    files: Iterable[str | os.PathLike], classifier: Classifier, detector: FaceDetector | None,
    *, aligned: bool = False, tta: str | None = None, baseline: NeutralBaseline | None = None,
) -> Iterator[ImageResult]:
    """Analyse image files one by one; a bad file yields an error result and the rest go on."""
    pipeline = make_pipeline(classifier, detector, aligned=aligned, tta=tta, baseline=baseline)
    for path in files:
        try:
            rgb = read_image(path)
        except ImageError as exc:
            yield ImageResult(str(path), error=str(exc))
            continue
        yield ImageResult(str(path), pipeline.faces(rgb), image=rgb)
