"""Photo analysis of one uploaded file: ``analyse(name, bytes, settings)`` and ``render(...)``.

A bad file ends in ``st.error`` for that file only; the page goes on with the others.

Memory has a ceiling: results are cached for every session in one LRU bounded by bytes
(``$FER_PHOTO_CACHE_MB``, default 64), and a result keeps only a display-size image (at
most :data:`DISPLAY_PIXELS`, PNG-encoded), small Grad-CAM overlays and the numbers, never
the full-resolution arrays (an 8000x8000 photo is 192 MB of pixels).

The confidence threshold is not part of an analysis: it only changes how faces are labelled
on the image, so moving the slider redraws (:func:`annotated_png`) and never re-analyses.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from fer_core import plots, saliency
from fer_core.calibration import NeutralBaseline
from fer_core.detect import MIN_FACE_SIZE
from fer_core.draw import annotate
from fer_core.images import IMAGE_TYPES as _IMAGE_TYPES
from fer_core.images import ImageError, check_size, encode_png, read_image
from fer_core.infer import Face, analyse_image, crop_face, face_rows
from fer_core.results import face_columns, rows_to_csv
from ui import resources
from ui.sidebar import Settings

log = logging.getLogger(__name__)
IMAGE_TYPES = list(_IMAGE_TYPES)
#: the annotated image kept and shown: at most about 2 megapixels (the boxes stay in full-size pixels)
DISPLAY_PIXELS = 2_000_000
#: side of the Grad-CAM overlays kept
OVERLAY_SIDE = 256
CACHE_ENV = "FER_PHOTO_CACHE_MB"
DEFAULT_CACHE_MB = 64


def cache_megabytes(value: str | None) -> int:
    """The photo cache's size in MB from ``$FER_PHOTO_CACHE_MB`` (``DEFAULT_CACHE_MB`` when unset or empty).

    Raises:
        ValueError: the value is not a whole number of at least 0 (0 turns the cache off).
    """
    if value is None or not value.strip():
        return DEFAULT_CACHE_MB
    try:
        megabytes = int(value)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise ValueError(f"${CACHE_ENV} must be a whole number of megabytes (0 turns the cache off), got {value!r}")
    return megabytes


def cache_bytes() -> int:
    """The photo cache's bound in bytes, from the environment (read on each call: a page checks it first).

    Raises:
        ValueError: ``$FER_PHOTO_CACHE_MB`` is not a whole number of megabytes.
    """
    return cache_megabytes(os.environ.get(CACHE_ENV)) * 2**20


@dataclass(frozen=True)
class PhotoAnalysis:
    """One analysed photo: the faces, the display-size image and a Grad-CAM overlay per face.

    Independent of the confidence threshold: :func:`annotated_png` draws the labels for one.
    """

    name: str
    model: str
    detector: str
    faces: list[Face]
    image_png: bytes = field(repr=False)  # display size (see DISPLAY_PIXELS), not annotated
    scale: float  # display pixels per image pixel (the faces' boxes are in image pixels)
    overlays: list[np.ndarray | None] = field(repr=False)
    key: tuple = field(repr=False)  # its key in the result cache

    @property
    def nbytes(self) -> int:
        """What this result holds in memory (the cache's measure)."""
        overlays = sum(o.nbytes for o in self.overlays if o is not None)
        return len(self.image_png) + overlays + 2048 * (1 + len(self.faces))

    def rows(self) -> list[dict]:
        """One row per face (``face`` from 1): label, confidence, box and every probability."""
        return face_rows(self.faces, file=self.name)

    def csv(self) -> bytes:
        labels = list(self.faces[0].probabilities) if self.faces else []
        return rows_to_csv(self.rows(), face_columns(labels, ("file", "face")))

    def json(self) -> bytes:
        return json.dumps({"file": self.name, "model": self.model, "detector": self.detector,
                           "faces": [f.to_dict() for f in self.faces]}, indent=2).encode()


@dataclass(frozen=True)
class _Drawn:
    """An annotated PNG, as the result cache holds it (the cache measures entries by ``nbytes``)."""

    png: bytes

    @property
    def nbytes(self) -> int:
        return len(self.png) + 256


class ByteBoundedCache:
    """A thread-safe LRU whose entries' ``nbytes`` add up to at most ``max_bytes`` (cachetools)."""

    def __init__(self, max_bytes: int) -> None:
        from cachetools import LRUCache

        self._cache = LRUCache(maxsize=max_bytes, getsizeof=lambda r: r.nbytes)
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self._cache.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            try:
                self._cache[key] = value
            except ValueError:  # larger than the whole cache: shown, not kept
                pass

    @property
    def nbytes(self) -> int:
        with self._lock:
            return int(self._cache.currsize)


@st.cache_resource
def result_cache() -> ByteBoundedCache:
    """The photo results of every session, one process-wide LRU bounded by bytes."""
    return ByteBoundedCache(cache_bytes())


def _analyse(data: bytes, name: str, model_dir: str, detector_name: str,
             baseline: NeutralBaseline | None = None) -> PhotoAnalysis:
    key = (hashlib.sha256(data).hexdigest(), name, model_dir, resources.model_version(model_dir), detector_name,
           baseline.fingerprint if baseline else None)
    cache = result_cache()
    result = cache.get(key)
    if result is None:
        with st.spinner(f"Analysing {name}…"):
            result = _analyse_uncached(data, name, model_dir, detector_name, key, baseline)
        cache.put(key, result)
        _return_freed_memory()
    return result


def _analyse_uncached(data: bytes, name: str, model_dir: str, detector_name: str, key: tuple,
                      baseline: NeutralBaseline | None) -> PhotoAnalysis:
    rgb = read_image(data, name)
    model = resources.classifier(model_dir)
    detector = resources.detector(detector_name)
    faces = analyse_image(rgb, model, detector, baseline=baseline)
    overlays = [_small(_explain(model, crop_face(rgb, f.box, detector.crop_scale), model.labels.index(f.label)))
                for f in faces]
    return PhotoAnalysis(name, model.name, detector_name, faces, encode_png(display_size(rgb)),
                         display_scale(rgb.shape), overlays, key)


def annotated_png(result: PhotoAnalysis, min_confidence: float) -> bytes:
    """The display image with each face boxed and labelled, '?' below ``min_confidence``.

    Cached by which faces are labelled: a threshold that no face crosses reuses the drawing.
    """
    if not result.faces:
        return result.image_png
    labelled = tuple(f.confidence >= min_confidence for f in result.faces)
    key = (*result.key, "annotated", labelled)
    cache = result_cache()
    drawn = cache.get(key)
    if drawn is None:
        image = read_image(result.image_png, result.name)
        drawn = _Drawn(encode_png(annotate(image, scale_faces(result.faces, result.scale), min_confidence)))
        cache.put(key, drawn)
    return drawn.png


def display_scale(shape: tuple[int, ...]) -> float:
    """The factor that brings an image to at most :data:`DISPLAY_PIXELS` (1.0 when it is smaller)."""
    return min(1.0, (DISPLAY_PIXELS / float(shape[0] * shape[1])) ** 0.5)


def display_size(rgb: np.ndarray) -> np.ndarray:
    return _shrunk(rgb, display_scale(rgb.shape))


def _shrunk(image: np.ndarray, scale: float) -> np.ndarray:
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
    from dataclasses import replace

    from fer_core.detect import Box

    return [replace(f, box=Box(round(f.box.x * scale), round(f.box.y * scale), max(1, round(f.box.w * scale)),
                               max(1, round(f.box.h * scale)), f.box.score)) for f in faces]


def _small(overlay: np.ndarray | None) -> np.ndarray | None:
    return None if overlay is None else _shrunk(overlay, OVERLAY_SIDE / max(overlay.shape[:2]))


def _return_freed_memory() -> None:
    """Hand the freed heap of a large photo back to the OS (glibc keeps it otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _explain(model, crop: np.ndarray, class_index: int) -> np.ndarray | None:
    """The Grad-CAM overlay, or None if this model cannot be explained (the results still show)."""
    try:
        return saliency.saliency_overlay(model, crop, class_index)
    except Exception:  # an explanation is optional: never lose the analysis over it
        log.exception("Grad-CAM failed for %s", model.name)
        return None


def analyse(name: str, data: bytes, settings: Settings, baseline: NeutralBaseline | None = None) -> PhotoAnalysis:
    """Detect, classify and explain every face of an image file's bytes (cached, whatever the threshold).

    Raises:
        ImageError: the bytes are not a usable image (too large included, checked before hashing).
        ValueError: no model is selected.
    """
    check_size(len(data), name)
    if settings.model_dir is None:
        raise ValueError("no model is selected")
    return _analyse(data, name, str(settings.model_dir), settings.detector, baseline)


def render(name: str, data: bytes, settings: Settings, key: str,
           baseline: NeutralBaseline | None = None) -> PhotoAnalysis | None:
    """Show one file's analysis (read against ``baseline`` when given); ``st.error`` (and None) when it
    cannot be analysed."""
    st.subheader(name)
    try:
        result = analyse(name, data, settings, baseline)
    except (ImageError, ValueError) as exc:  # ImageError is a ValueError; both are for the user
        st.error(str(exc))
        return None
    png = annotated_png(result, settings.min_confidence)
    st.image(png, caption=f"{name}: {len(result.faces)} face(s)", width="stretch")
    if not result.faces:
        st.info(f"No face found in {name} by the {settings.detector} detector. Faces should be upright and, for "
                f"this detector, at least about {MIN_FACE_SIZE[settings.detector]} wide; {settings.no_face_hint()}.")
    for i, face in enumerate(result.faces, 1):
        render_face(i, face, result.overlays[i - 1], settings, f"{key}-{i}")
    stem = Path(name).stem
    cols = st.columns(3)
    cols[0].download_button("Annotated PNG", png, f"{stem}.annotated.png", "image/png",
                            key=f"{key}-png", on_click="ignore", icon=":material/download:")
    cols[1].download_button("Results CSV", result.csv(), f"{stem}.emotions.csv", "text/csv",
                            key=f"{key}-csv", on_click="ignore", icon=":material/download:")
    cols[2].download_button("Results JSON", result.json(), f"{stem}.emotions.json", "application/json",
                            key=f"{key}-json", on_click="ignore", icon=":material/download:")
    return result


def render_face(number: int, face: Face, overlay: np.ndarray | None, settings: Settings, key: str) -> None:
    """Top emotion, probability chart and Grad-CAM overlay of one face."""
    with st.container(border=True):
        left, middle, right = st.columns([1, 2, 1])
        left.metric(f"Face {number}", face.label, help="The most likely emotion")
        if face.calibrated:
            left.caption(f"calibrated: {face.confidence:.0%} odds against the neutral reference")
        else:
            left.caption(f"confidence {face.confidence:.0%}")
        if face.confidence < settings.min_confidence and not face.calibrated:
            left.warning(f"Below the {settings.min_confidence:.0%} confidence threshold: uncertain.")
        middle.plotly_chart(plots.probabilities(face.probabilities), key=f"{key}-probs")
        if overlay is not None:
            right.image(overlay, caption=f"Grad-CAM for {face.label}", width="stretch")
        else:
            right.caption("No Grad-CAM map for this model.")


def results_table(results: list[PhotoAnalysis]) -> pd.DataFrame:
    """Every face of every analysed file in one table."""
    return pd.DataFrame([row for r in results for row in r.rows()])


#: the page's CSV of :func:`results_table` (the one CSV writer of fer_core)
to_csv = rows_to_csv
