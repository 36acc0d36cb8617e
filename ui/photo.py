"""Photo analysis of one uploaded file, for Streamlit: the shared result cache, the rendering, the downloads.

The analysis is :func:`fer_core.drivers.photo.analyse_photo`; a bad file ends in ``st.error`` for that
file only, and the page goes on with the others. Memory has a ceiling: results are cached for
every session in one LRU bounded by bytes (``$FER_PHOTO_CACHE_MB``, default 64), and a result
keeps a display-size copy, small Grad-CAM overlays and the numbers, never the full-size pixels.
The confidence threshold only changes the drawing, so moving the slider redraws and never re-analyses.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.detect import MIN_FACE_SIZE
from fer_core.inference.images import IMAGE_TYPES as _IMAGE_TYPES
from fer_core.inference.images import ImageError, check_size, encode_png, read_image
from fer_core.inference.faces import Face
from fer_core.common.memory import ByteBoundedCache, photo_cache_bytes, return_freed_memory
from fer_core.catalog import provenance
from fer_core.catalog.model_info import model_version
from fer_core.drivers.photo import PhotoResult, analyse_photo, draw_photo
from ui import downloads, resources
from ui.photo_faces import render_face
from ui.sidebar import Settings

IMAGE_TYPES = list(_IMAGE_TYPES)


@dataclass(frozen=True)
class PhotoAnalysis:
    """One analysed file: its name, what analysed it, the result, and its key in the result cache."""

    name: str
    model: str
    detector: str
    result: PhotoResult = field(repr=False)
    key: tuple = field(repr=False)
    #: what made it (model, weights' sha256, detector, TTA, baseline): :func:`fer_core.catalog.provenance.provenance`
    provenance: dict = field(repr=False, default_factory=dict)

    @property
    def faces(self) -> list[Face]:
        return self.result.faces

    @property
    def nbytes(self) -> int:
        return self.result.nbytes

    def rows(self) -> list[dict]:
        return self.result.rows(self.name)

    def json(self) -> bytes:
        """The JSON download: the file's faces, with what made them under ``provenance``."""
        precision = self.provenance.get("model", {}).get("precision")
        document = json.loads(self.result.json(self.name, self.model, self.detector, precision))
        return json.dumps({**document, "provenance": self.provenance}, indent=2).encode()


@dataclass(frozen=True)
class _Drawn:
    """An annotated PNG, as the result cache holds it (the cache measures entries by ``nbytes``)."""

    png: bytes

    @property
    def nbytes(self) -> int:
        return len(self.png) + 256


@st.cache_resource
def result_cache() -> ByteBoundedCache:
    """The photo results of every session, one process-wide LRU bounded by bytes."""
    return ByteBoundedCache(photo_cache_bytes())


def _analyse_uncached(data: bytes, name: str, model_dir: str, detector_name: str,
                      baseline: NeutralBaseline | None) -> PhotoResult:
    return analyse_photo(read_image(data, name), resources.classifier(model_dir), resources.detector(detector_name),
                         baseline=baseline)


def analyse(name: str, data: bytes, settings: Settings, baseline: NeutralBaseline | None = None) -> PhotoAnalysis:
    """Detect, classify and explain every face of an image file's bytes (cached, whatever the threshold).

    Raises:
        ImageError: the bytes are not a usable image (too large included, checked before hashing).
        ValueError: no model is selected.
    """
    check_size(len(data), name)
    if settings.model_dir is None:
        raise ValueError("no model is selected")
    model_dir = str(settings.model_dir)
    key = (hashlib.sha256(data).hexdigest(), name, model_dir, model_version(model_dir), settings.detector,
           baseline.fingerprint if baseline else None)
    cache = result_cache()
    analysis = cache.get(key)
    if analysis is None:
        with st.spinner(f"Analysing {name}…"):
            result = _analyse_uncached(data, name, model_dir, settings.detector, baseline)
        classifier = resources.classifier(model_dir)
        analysis = PhotoAnalysis(name, classifier.name, settings.detector, result, key,
                                 provenance.of_classifier(classifier, settings.detector, baseline=baseline))
        cache.put(key, analysis)
        return_freed_memory()
    return analysis


def annotated_png(analysis: PhotoAnalysis, min_confidence: float) -> bytes:
    """The display image with each face boxed and labelled, '?' below ``min_confidence``, as PNG.

    Cached by which faces are labelled: a threshold that no face crosses reuses the drawing.
    """
    labelled = tuple(f.kind.passes(f.confidence, min_confidence) for f in analysis.faces)
    key = (*analysis.key, "annotated", labelled)
    cache = result_cache()
    drawn = cache.get(key)
    if drawn is None:
        drawn = _Drawn(encode_png(draw_photo(analysis.result, min_confidence)))
        cache.put(key, drawn)
    return drawn.png


def render(name: str, data: bytes, settings: Settings, key: str,
           baseline: NeutralBaseline | None = None) -> PhotoAnalysis | None:
    """Show one file's analysis (read against ``baseline`` when given); ``st.error`` (and None) when it
    cannot be analysed."""
    st.subheader(name)
    try:
        analysis = analyse(name, data, settings, baseline)
    except (ImageError, ValueError) as exc:  # ImageError is a ValueError; both are for the user
        st.error(str(exc))
        return None
    png = annotated_png(analysis, settings.min_confidence)
    st.image(png, caption=f"{name}: {len(analysis.faces)} face(s)", width="stretch")
    if not analysis.faces:
        st.info(f"No face found in {name} by the {settings.detector} detector. Faces should be upright and, for "
                f"this detector, at least about {MIN_FACE_SIZE[settings.detector]} wide; {settings.no_face_hint()}.")
    for i, face in enumerate(analysis.faces, 1):
        render_face(i, face, analysis.result.overlays[i - 1], settings, f"{key}-{i}")
    stem = Path(name).stem
    cols = st.columns(4)
    cols[0].download_button("Annotated PNG", png, f"{stem}.annotated.png", "image/png",
                            key=f"{key}-png", on_click="ignore", icon=":material/download:")
    cols[1].download_button("Results CSV", analysis.result.csv(name), f"{stem}.emotions.csv", "text/csv",
                            key=f"{key}-csv", on_click="ignore", icon=":material/download:")
    downloads.provenance_button(cols[2], analysis.provenance, f"{stem}.emotions.csv", key=f"{key}-provenance")
    cols[3].download_button("Results JSON", analysis.json(), f"{stem}.emotions.json", "application/json",
                            key=f"{key}-json", on_click="ignore", icon=":material/download:")
    return analysis
