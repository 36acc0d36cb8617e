"""Face detection behind one small interface: ``detector.detect(rgb) -> list[Box]``.

Back ends:
- ``blazeface-multiscale``: full-range BlazeFace on the whole frame and on overlapping tiles,
  the default for photos, videos and the CLI: faces from 4% of the image's longer side up to
  close-ups; 7 model runs (17-22 ms per 1280x720 frame on two busy cores).
- ``blazeface``: MediaPipe's BlazeFace short-range (selfie/webcam distance), the live webcam's:
  about 2-4 ms per frame, but it sees the frame at 128x128 and misses faces under ~15% of it.
- ``blazeface-full``: BlazeFace full-range on the whole frame (192x192): faces from ~10%.
- ``haar``: OpenCV's frontal-face Haar cascade, as the seed used (opencv < 5).
Nothing is downloaded: the models ship in ``assets/`` or in the OpenCV wheel.
Sizes and timings by face size: ``scripts/detection_sweep.py``.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from fer_core.common.paths import ASSETS_DIR
from fer_core.common.quiet import silenced_stderr

ASSETS = ASSETS_DIR
#: photos, videos and the CLI: small faces in large photos as well as close-ups
DEFAULT_DETECTOR = "blazeface-multiscale"
#: the live webcam: one fast model run per frame, for the large faces in front of a camera
LIVE_DETECTOR = "blazeface"


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

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0 when they do not overlap)."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


#: candidate boxes (n x 4 floats: x, y, w, h in pixels) and their scores, before NMS
Candidates = tuple[np.ndarray, np.ndarray]


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

    def candidates(self, rgb: np.ndarray) -> Candidates:
        """Boxes (x, y, w, h in ``rgb``'s pixels) scoring at least ``min_score``, before NMS.

        Separate from ``detect`` so that a multi-scale detector can pool the candidates of
        several views and suppress duplicates once.
        """
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
        centre = raw_boxes[keep, :2] / size + self._anchors[keep]
        half = raw_boxes[keep, 2:4] / size / 2
        corners = np.concatenate([centre - half, centre + half], axis=1) * (size / scale)  # to pixels
        rects = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
        return rects.astype(np.float32), scores[keep].astype(np.float32)

    def detect(self, rgb: np.ndarray) -> list[Box]:
        rects, scores = self.candidates(rgb)
        return _boxes(rects, scores, _nms(rects, scores, self.iou_threshold), rgb.shape[1], rgb.shape[0])


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


class MultiScaleDetector:
    """Full-range BlazeFace on the whole frame and on overlapping tiles, merged by NMS.

    BlazeFace squeezes the frame into 192 pixels, so faces under ~9% of the frame vanish. Tiles
    of at most ``max_tile_fraction`` of the longer side show small faces 2-2.5x larger; the
    overlap keeps every face that the whole frame misses entirely inside some tile. The frame is
    downscaled once, so the cost is about the same whatever the photo's resolution. More views
    mean more chances for a false positive, so a small face with a low score is confirmed on a
    crop ``confirm_zoom`` times its size (where it spans ~50 model pixels instead of ~20).
    """

    crop_scale = BlazeFaceDetector.crop_scale

    def __init__(self, whole: Sequence[BlazeFaceDetector], tiles: BlazeFaceDetector, *,
                 max_tile_fraction: float = 0.45, overlap_fraction: float = 0.1, iou_threshold: float = 0.3,
                 containment: float = 0.7, confirm_below: float = 0.75, confirm_zoom: float = 4.0,
                 confirm_score: float = 0.6, name: str = "blazeface-multiscale") -> None:
        self.name, self._whole, self._tiles = name, list(whole), tiles
        self.max_tile_fraction, self.overlap_fraction = max_tile_fraction, overlap_fraction
        self.iou_threshold, self.containment = iou_threshold, containment
        self.confirm_below, self.confirm_zoom, self.confirm_score = confirm_below, confirm_zoom, confirm_score

    def layout(self, width: int, height: int) -> TileLayout | None:
        """Where the tiles go in a frame; None when the frame is too small to need them."""
        longest = max(width, height)
        smallest = float(self._tiles.input_size)  # a tile is never upsampled
        largest = max(smallest, self.max_tile_fraction * longest)
        if largest >= longest:
            return None
        return TileLayout.fit(width, height, largest, self.overlap_fraction * longest, smallest)

    def detect(self, rgb: np.ndarray) -> list[Box]:
        height, width = rgb.shape[:2]
        layout = self.layout(width, height)
        if layout is None:
            whole, tiles = _pool([det.candidates(rgb) for det in self._whole]), _pool([])
        else:
            whole, tiles = self._views(rgb, layout)
        rects, scores = _pool([whole, tiles])
        chosen = [i for i in _nms(rects, scores, self.iou_threshold, self.containment)
                  if not self._doubtful(rects[i], scores[i], max(width, height)) or self._confirmed(rgb, rects[i])]
        return _boxes(rects, scores, chosen, width, height)

    def _doubtful(self, rect: np.ndarray, score: float, longest: int) -> bool:
        """A low score on a face small enough to be looked at again, zoomed, inside the frame."""
        return score < self.confirm_below and max(rect[2], rect[3]) * self.confirm_zoom <= longest

    def _views(self, rgb: np.ndarray, layout: TileLayout) -> tuple[Candidates, Candidates]:
        """Candidates of the whole frame and of all the tiles, in frame pixels."""
        height, width = rgb.shape[:2]
        scale = self._tiles.input_size / layout.side  # tiles come out at the model's input size
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        whole = _pool([det.candidates(small) for det in self._whole])
        tiles = _pool([self._tile_candidates(small, round(x * scale), round(y * scale), self._tiles.input_size)
                       for x, y in layout.origins()])
        return (whole[0] / scale, whole[1]), (tiles[0] / scale, tiles[1])

    def _tile_candidates(self, image: np.ndarray, x: int, y: int, side: int) -> Candidates:
        """A tile's candidates in ``image`` pixels, minus those cut by an edge shared with another tile."""
        height, width = image.shape[:2]
        w, h = min(side, width - x), min(side, height - y)
        rects, scores = self._tiles.candidates(image[y : y + h, x : x + w])
        margin = 0.01 * side
        x0, y0, x1, y1 = rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]
        whole = np.ones(len(rects), bool)
        if x > 0:
            whole &= x0 > margin
        if y > 0:
            whole &= y0 > margin
        if x + w < width:
            whole &= x1 < w - margin
        if y + h < height:
            whole &= y1 < h - margin
        return rects[whole] + np.array([x, y, 0, 0], np.float32), scores[whole]

    def _confirmed(self, rgb: np.ndarray, rect: np.ndarray) -> bool:
        """Whether the tile model finds the face again, with ``confirm_score``, on a zoomed crop.

        At ~20 model pixels blobs can pass for faces; at ~50 they rarely do. Measured: the 44
        doubtful boxes on the astronaut's face at 4-10% (210 frames, 6 sizes) re-scored >= 0.77;
        the 4 false positives (galaxies in the enlarged Hubble deep field) <= 0.42.
        """
        zoomed = _zoomed_crop(rgb, rect, self.confirm_zoom, self._tiles.input_size)
        if zoomed is None:
            return False
        crop, expected = zoomed
        found, scores = self._tiles.candidates(crop)
        return bool(np.any((scores >= self.confirm_score) & (_iou(found, expected) > self.iou_threshold)))


@dataclass(frozen=True)
class TileLayout:
    """A grid of ``columns`` x ``rows`` square tiles of ``side`` pixels over a frame."""

    width: int
    height: int
    side: float
    columns: int
    rows: int

    @classmethod
    def fit(cls, width: int, height: int, largest: float, overlap: float, smallest: float = 0.0) -> TileLayout:
        """The fewest tiles of at most ``largest`` pixels overlapping by ``overlap``, shrunk to fit.

        With the count fixed, the tiles shrink (not below ``smallest``) to the least side that
        still covers the frame with that overlap: small faces get as large as they can for the cost.
        """
        columns, rows = (max(1, math.ceil((n - overlap) / (largest - overlap))) for n in (width, height))
        side = max((width + (columns - 1) * overlap) / columns, (height + (rows - 1) * overlap) / rows)
        return cls(width, height, min(max(side, smallest), largest), columns, rows)

    def origins(self) -> list[tuple[float, float]]:
        """Top-left corners, evenly spaced: the first tile at 0, the last flush with the far edge."""
        xs = _spaced(self.width, self.side, self.columns)
        ys = _spaced(self.height, self.side, self.rows)
        return [(x, y) for y in ys for x in xs]


def _spaced(length: int, side: float, count: int) -> list[float]:
    if count == 1:
        return [0.0]
    return [i * max(0.0, length - side) / (count - 1) for i in range(count)]


def _zoomed_crop(rgb: np.ndarray, rect: np.ndarray, zoom: float,
                 size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A square ``zoom`` times the box around it, at most ``size`` pixels wide, and the box inside it.

    Only the part inside the frame is resized (never a full-resolution copy of a big square);
    the rest replicates the frame's border. None when the square misses the frame.
    """
    height, width = rgb.shape[:2]
    side = max(rect[2], rect[3]) * zoom
    x0, y0 = rect[0] + rect[2] / 2 - side / 2, rect[1] + rect[3] / 2 - side / 2
    scale = min(1.0, size / side)
    left, top = max(0, round(x0)), max(0, round(y0))
    right, bottom = min(width, round(x0 + side)), min(height, round(y0 + side))
    if right <= left or bottom <= top:
        return None
    region = rgb[top:bottom, left:right]
    region = cv2.resize(region, (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA)
    out = max(1, round(side * scale))
    pad_left, pad_top = round((left - x0) * scale), round((top - y0) * scale)
    pads = (pad_top, max(0, out - pad_top - region.shape[0]), pad_left, max(0, out - pad_left - region.shape[1]))
    crop = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REPLICATE)
    expected = np.array([rect[0] - x0, rect[1] - y0, rect[2], rect[3]], np.float32) * scale
    return crop, expected


def _pool(parts: Sequence[Candidates]) -> Candidates:
    """Candidates of several views as one pair of arrays."""
    rects = np.concatenate([r for r, _ in parts] or [np.zeros((0, 4), np.float32)])
    return rects, np.concatenate([s for _, s in parts] or [np.zeros(0, np.float32)])


def _nms(rects: np.ndarray, scores: np.ndarray, iou_threshold: float, containment: float = 1.0) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best first.

    A box is also dropped when more than ``containment`` of the smaller box lies inside a
    better one: one view's loose box around a face another view found tightly is no second face.
    """
    kept: list[int] = []
    areas = rects[:, 2] * rects[:, 3]
    for i in np.argsort(-scores, kind="stable"):
        if kept:
            inter = _intersection(rects[kept], rects[i])
            iou = inter / (areas[kept] + areas[i] - inter)
            nested = inter / np.minimum(areas[kept], areas[i])
            if np.any(iou > iou_threshold) or np.any(nested > containment):
                continue
        kept.append(int(i))
    return kept


def _intersection(rects: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """Area shared by each of ``rects`` (x, y, w, h) and ``rect``."""
    x0, y0 = np.maximum(rects[:, 0], rect[0]), np.maximum(rects[:, 1], rect[1])
    x1 = np.minimum(rects[:, 0] + rects[:, 2], rect[0] + rect[2])
    y1 = np.minimum(rects[:, 1] + rects[:, 3], rect[1] + rect[3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def _iou(rects: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """Intersection over union of each of ``rects`` with ``rect``."""
    inter = _intersection(rects, rect)
    return inter / (rects[:, 2] * rects[:, 3] + rect[2] * rect[3] - inter)


def _boxes(rects: np.ndarray, scores: np.ndarray, chosen: Sequence[int], width: int, height: int) -> list[Box]:
    """The chosen candidates as boxes clipped to the image (empty ones dropped)."""
    boxes = [_clip_box(rects[i], float(scores[i]), width, height) for i in chosen]
    return [b for b in boxes if b.w > 0 and b.h > 0]


def _clip_box(rect: Sequence[float], score: float, width: int, height: int) -> Box:
    x0, y0 = max(0.0, float(rect[0])), max(0.0, float(rect[1]))
    x1, y1 = min(float(width), float(rect[0] + rect[2])), min(float(height), float(rect[1] + rect[3]))
    return Box(round(x0), round(y0), round(x1 - x0), round(y1 - y0), score)


def _multiscale(full: BlazeFaceDetector) -> MultiScaleDetector:
    """The default: one full-range model (one interpreter) for the whole frame and the tiles."""
    return MultiScaleDetector([full], full)


DETECTORS = {
    "blazeface-multiscale": lambda: _multiscale(BlazeFaceDetector("full")),
    "blazeface": lambda: BlazeFaceDetector("short"),
    "blazeface-full": lambda: BlazeFaceDetector("full"),
    "haar": HaarDetector,
}


@dataclass(frozen=True)
class MinFaceSize:
    """Roughly the smallest face a detector finds every time, as a fraction of one side of the image."""

    fraction: float
    side: str = "longer side"

    def __str__(self) -> str:
        return f"{self.fraction:.0%} of the image's {self.side}"


#: Per detector, the smallest face it found at every position tried: a real face in 800x600,
#: 1280x720 and 4000x3000 frames (``scripts/detection_sweep.py``; README, "Faces at every size").
#: For what the app tells users when no face was found; smaller faces are sometimes found too.
MIN_FACE_SIZE: dict[str, MinFaceSize] = {
    "blazeface-multiscale": MinFaceSize(0.04),
    "blazeface": MinFaceSize(0.15),
    "blazeface-full": MinFaceSize(0.10),
    "haar": MinFaceSize(0.08),
}


def alternative_detector(name: str) -> str:
    """The detector to suggest when ``name`` found no face.

    After the default, Haar: another method, which sometimes finds faces BlazeFace scores
    too low. After any other, the default: it finds the small faces the others miss.
    """
    return "haar" if name == DEFAULT_DETECTOR else DEFAULT_DETECTOR


def make_detector(name: str = DEFAULT_DETECTOR) -> FaceDetector:
    """A detector by name: one of ``DETECTORS`` (``DEFAULT_DETECTOR`` for photos, ``LIVE_DETECTOR`` live).

    Raises:
        ValueError: the name is none of ``DETECTORS``.
    """
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; expected one of {', '.join(DETECTORS)}")
    return DETECTORS[name]()
