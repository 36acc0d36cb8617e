"""FER2013 faces as the studio's own pipeline would crop them: detector box, margin, resize.

FER2013's 48x48 faces were cropped by another detector with another margin. At run time the
studio crops what BlazeFace finds, ``crop_scale`` times its box. To see (and later train on)
the crop the classifier really gets, each face is enlarged, set in a larger frame whose border
repeats its edge, run through a detector and re-cropped by :func:`fer_core.infer.detect_and_crop`,
exactly as a photo is.
"""
from __future__ import annotations

import cv2
import numpy as np

from fer_core.detect import FaceDetector
from fer_core.infer import detect_and_crop

#: a FER2013 face is enlarged this many times before detection (BlazeFace wants faces of 30+ px)
UPSCALE = 4
#: border added on each side, as a share of the enlarged face: the detector sees a face in a frame
BORDER = 0.5


def frame_face(face: np.ndarray, upscale: int = UPSCALE, border: float = BORDER) -> np.ndarray:
    """A grey ``(48, 48)`` face as an RGB frame: enlarged and framed by its own repeated edge."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    pad = round(big.shape[0] * border)
    framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(framed, cv2.COLOR_GRAY2RGB)


def pipeline_crops(faces: np.ndarray, detector: FaceDetector, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Each face re-cropped as the studio would: ``(crops (N, size, size) uint8, found (N,) bool)``.

    A face the detector misses keeps its original crop (resized to ``size``) and ``found`` False.
    """
    crops = np.empty((len(faces), size, size), dtype=np.uint8)
    found = np.zeros(len(faces), dtype=bool)
    for i, face in enumerate(np.asarray(faces, dtype=np.uint8)):
        _, found_crops = detect_and_crop(frame_face(face), detector)
        if found_crops:
            grey = cv2.cvtColor(found_crops[0], cv2.COLOR_RGB2GRAY)
            crops[i] = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
            found[i] = True
        else:
            crops[i] = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    return crops, found
