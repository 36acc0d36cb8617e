"""Face crops: the square, context-padded cut of each detected face that the classifier reads."""
from __future__ import annotations

import numpy as np

from fer_core.inference.detect import Box, FaceDetector


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


def detect_and_crop(rgb: np.ndarray, detector: FaceDetector) -> tuple[list[Box], list[np.ndarray]]:
    """Faces in an image and their crops, largest face first."""
    boxes = sorted(detector.detect(rgb), key=lambda b: b.w * b.h, reverse=True)
    return boxes, [crop_face(rgb, b, detector.crop_scale) for b in boxes]
