"""A neutral baseline from reference photos: each photo's largest face, read by the model.

A reference is decoded no larger than the detector needs (:data:`REFERENCE_PIXELS`): a 64-megapixel
photo of a person's face makes the same baseline as its 4-megapixel copy, at a fraction of the
memory (a JPEG is decoded at a reduced scale, never at full size). The photo path's limits apply
first (:data:`fer_core.inference.images.MAX_BYTES` and ``MAX_PIXELS``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from fer_core.inference.images import read_image
from fer_core.inference.crops import detect_and_crop
from fer_core.inference.neutral_baseline import BaselineError, NeutralBaseline

if TYPE_CHECKING:
    from fer_core.inference.classifier import Classifier
    from fer_core.inference.detect import FaceDetector

#: a reference is read at most this large: the default detector finds faces from 4 % of the longer
#: side, which at 4 megapixels (2309 x 1732) is 92 pixels, about twice the model's 48-pixel input;
#: a neutral reference's face is its main subject, far larger than that
REFERENCE_PIXELS = 4_000_000


def read_reference(source: str | os.PathLike | bytes, name: str | None = None) -> np.ndarray:
    """A reference photo (a path or its bytes) as RGB, shrunk to at most :data:`REFERENCE_PIXELS`.

    Raises:
        ImageError: empty, corrupt, unsupported, or over the photo path's size limits.
    """
    return read_image(source, name, max_pixels=REFERENCE_PIXELS)


def baseline_from_images(images: Sequence[tuple[str, np.ndarray]], classifier: Classifier,
                         detector: FaceDetector | None, *, aligned: bool = False,
                         tta: str | None = None) -> NeutralBaseline:
    """The baseline of the largest face of each reference image (``(name, rgb)`` pairs).

    ``aligned=True`` takes each whole image as the face crop.

    Raises:
        BaselineError: a reference image in which no face is found.
    """
    crops = []
    for name, rgb in images:
        if aligned:
            crops.append(rgb)
            continue
        if detector is None:
            raise ValueError("a face detector is needed unless aligned=True")
        _, found = detect_and_crop(rgb, detector)
        if not found:
            raise BaselineError(f"{name}: no face found in this neutral reference; give a photo in which "
                                "the person's face is upright, well lit and looking at the camera")
        crops.append(found[0])
    return NeutralBaseline.from_faces(crops, classifier, tta)
