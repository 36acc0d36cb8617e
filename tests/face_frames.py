"""Frames with a real face at a chosen size and place: the inputs of tests and the detection sweep.

A real head-and-shoulders photo (scikit-image's astronaut, face about 150 px wide in the
512 px original) is rescaled so that the face is a given fraction of the frame width and
pasted into a grey frame; the face's box in the frame is known exactly.
"""
from __future__ import annotations

import cv2
import numpy as np

from fer_core.detect import Box

#: The astronaut's head and shoulders in the 512x512 photo, and her face box (x, y, w, h) inside that crop.
HEAD_CROP = (slice(0, 330), slice(90, 370))
FACE_IN_CROP = (83.0, 68.0, 107.0, 107.0)
FACE_WIDTH = 150.0  # the face's width in the original, as the detection notes measure it


def astronaut_frame() -> np.ndarray:
    """A 640x480 RGB frame with one real face: scikit-image's astronaut photo, letterboxed (as ``bench``'s)."""
    from skimage import data

    face = cv2.resize(data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 40, dtype=np.uint8)
    frame[:, 80:560] = face
    return frame


def head_and_shoulders() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[HEAD_CROP])


def face_frame(head: np.ndarray, fraction: float, width: int, height: int,
               centre: tuple[float, float] = (0.5, 0.5)) -> tuple[np.ndarray, Box]:
    """A grey frame with the face ``fraction`` of its width wide, its centre at ``centre`` (relative); and its box."""
    scale = fraction * width / FACE_WIDTH
    size = (max(1, round(head.shape[1] * scale)), max(1, round(head.shape[0] * scale)))
    photo = cv2.resize(head, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    fx, fy, fw, fh = (v * scale for v in FACE_IN_CROP)
    x0, y0 = round(centre[0] * width - fx - fw / 2), round(centre[1] * height - fy - fh / 2)
    frame = np.full((height, width, 3), 128, np.uint8)
    dx, dy, sx, sy = max(0, x0), max(0, y0), max(0, -x0), max(0, -y0)
    w, h = min(width - dx, photo.shape[1] - sx), min(height - dy, photo.shape[0] - sy)
    frame[dy : dy + h, dx : dx + w] = photo[sy : sy + h, sx : sx + w]
    return frame, Box(round(x0 + fx), round(y0 + fy), round(fw), round(fh))
