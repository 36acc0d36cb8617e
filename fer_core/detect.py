"""Face detection behind one small interface: ``detector.detect(rgb) -> list[Box]``.

Back ends:
- ``blazeface``: MediaPipe's BlazeFace short-range (selfie/webcam distance), the default:
  about 3-4 ms per 640x480 frame on two cores. Model file bundled in ``assets/``.
- ``blazeface-full``: BlazeFace full-range, for photos with smaller, more distant faces.
- ``haar``: OpenCV's frontal-face Haar cascade, as the seed used (opencv < 5).
Nothing is downloaded: the models ship in the package or in the OpenCV wheel.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from fer_core.quiet import silenced_stderr

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_DETECTOR = "blazeface"


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the image it was found in, with the detector's score."""

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


class FaceDetector(Protocol):
    name: str
    #: side of the square crop given to the classifier, relative to the box's larger side
    crop_scale: float

    def detect(self, rgb: np.ndarray) -> list[Box]: ...


def _ssd_anchors(input_size: int, strides: list[int], per_layer: int) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD: layers of equal stride share one grid."""
    centres = []
    i = 0
    while i < len(strides):
        stride, repeats = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            repeats += per_layer
            i += 1
        cells = input_size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, repeats, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFaceDetector:
    """BlazeFace (short- or full-range) on LiteRT, with a ~30-line anchor decoder."""

    crop_scale = 1.25  # BlazeFace boxes are tight; FER2013 crops show the whole head

    _VARIANTS = {
        "short": ("face_detection_short_range.tflite", 128, [8, 16, 16, 16], 2),
        "full": ("face_detection_full_range.tflite", 192, [4], 1),
    }

    def __init__(self, variant: str = "short", min_score: float = 0.5, iou_threshold: float = 0.3) -> None:
        from ai_edge_litert.interpreter import Interpreter

        filename, self.input_size, strides, per_layer = self._VARIANTS[variant]
        self.name = "blazeface" if variant == "short" else "blazeface-full"
        self.min_score, self.iou_threshold = min_score, iou_threshold
        with silenced_stderr():  # LiteRT announces its XNNPACK delegate on stderr
            self._interpreter = Interpreter(model_path=str(ASSETS / filename), num_threads=2)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["shape"][-1])
        self._scores, self._boxes = outputs[0]["index"], outputs[1]["index"]
        self._anchors = _ssd_anchors(self.input_size, strides, per_layer)
        self._lock = threading.Lock()  # one interpreter, shared across app sessions

    def detect(self, rgb: np.ndarray) -> list[Box]:
        height, width = rgb.shape[:2]
        size = self.input_size
        scale = size / max(height, width)
        resized = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        tensor = np.zeros((1, size, size, 3), dtype=np.float32)  # letterbox: pad right/bottom
        tensor[0, : resized.shape[0], : resized.shape[1]] = resized.astype(np.float32) / 127.5 - 1.0
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            raw_boxes = self._interpreter.get_tensor(self._boxes)[0]
            raw_scores = self._interpreter.get_tensor(self._scores)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -80, 80)))
        keep = np.flatnonzero(scores >= self.min_score)
        if not keep.size:
            return []
        centre = raw_boxes[keep, :2] / size + self._anchors[keep]
        half = raw_boxes[keep, 2:4] / size / 2
        corners = np.concatenate([centre - half, centre + half], axis=1) * (size / scale)  # to pixels
        rects = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in corners]
        chosen = cv2.dnn.NMSBoxes(rects, scores[keep].tolist(), self.min_score, self.iou_threshold)
        boxes = [_clip_box(rects[i], float(scores[keep][i]), width, height) for i in np.ravel(chosen)]
        return [b for b in boxes if b.w > 0 and b.h > 0]


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, the seed's detector (slow: ~90 ms per VGA frame)."""

    name = "haar"
    crop_scale = 1.0

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 30) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError("this OpenCV has no Haar cascades (removed in 5.0); install opencv-python-headless<5")
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self._params = dict(scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size))
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[Box]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        with self._lock:
            found = self._cascade.detectMultiScale(grey, **self._params)
        return [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def _clip_box(rect: list[float], score: float, width: int, height: int) -> Box:
    x0, y0 = max(0.0, rect[0]), max(0.0, rect[1])
    x1, y1 = min(float(width), rect[0] + rect[2]), min(float(height), rect[1] + rect[3])
    return Box(round(x0), round(y0), round(x1 - x0), round(y1 - y0), score)


DETECTORS = {
    "blazeface": lambda: BlazeFaceDetector("short"),
    "blazeface-full": lambda: BlazeFaceDetector("full"),
    "haar": HaarDetector,
}


def make_detector(name: str = DEFAULT_DETECTOR) -> FaceDetector:
    """A detector by name: ``blazeface`` (default), ``blazeface-full`` or ``haar``."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; expected one of {', '.join(DETECTORS)}")
    return DETECTORS[name]()
