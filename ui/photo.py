"""Photo analysis of one uploaded file: ``analyse(name, bytes, settings)`` and ``render(...)``.

A bad file ends in ``st.error`` for that file only; the page goes on with the others.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from fer_core import plots, saliency
from fer_core.draw import annotate
from fer_core.images import ImageError, encode_png, read_image
from fer_core.infer import Face, analyse_image, crop_face
from ui import resources
from ui.sidebar import Settings

log = logging.getLogger(__name__)
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"]


@dataclass(frozen=True)
class PhotoAnalysis:
    """One analysed photo: the faces, the annotated image and a Grad-CAM overlay per face."""

    name: str
    model: str
    detector: str
    faces: list[Face]
    annotated: np.ndarray = field(repr=False)
    overlays: list[np.ndarray | None] = field(default_factory=list, repr=False)

    def rows(self) -> list[dict]:
        """One row per face: box, label, confidence and every probability."""
        out = []
        for i, face in enumerate(self.faces, 1):
            x, y, w, h = face.box.as_list()
            out.append({"file": self.name, "face": i, "label": face.label, "confidence": round(face.confidence, 4),
                        "x": x, "y": y, "w": w, "h": h, **{k: round(v, 4) for k, v in face.probabilities.items()}})
        return out

    def csv(self) -> bytes:
        columns = ["file", "face", "label", "confidence", "x", "y", "w", "h"]
        if self.faces:
            columns += list(self.faces[0].probabilities)
        return to_csv(pd.DataFrame(self.rows(), columns=columns))

    def json(self) -> bytes:
        return json.dumps({"file": self.name, "model": self.model, "detector": self.detector,
                           "faces": [f.to_dict() for f in self.faces]}, indent=2).encode()

    def png(self) -> bytes:
        return encode_png(self.annotated)


@st.cache_data(show_spinner="Analysing…", max_entries=32)
def _analyse(data: bytes, name: str, model_dir: str, detector_name: str, min_confidence: float) -> PhotoAnalysis:
    rgb = read_image(data, name)
    model = resources.classifier(model_dir)
    detector = resources.detector(detector_name)
    faces = analyse_image(rgb, model, detector)
    overlays = [_explain(model, crop_face(rgb, f.box, detector.crop_scale), model.labels.index(f.label))
                for f in faces]
    return PhotoAnalysis(name, model.name, detector_name, faces, annotate(rgb, faces, min_confidence), overlays)


def _explain(model, crop: np.ndarray, class_index: int) -> np.ndarray | None:
    """The Grad-CAM overlay, or None if this model cannot be explained (the results still show)."""
    try:
        return saliency.saliency_overlay(model, crop, class_index)
    except Exception:  # an explanation is optional: never lose the analysis over it
        log.exception("Grad-CAM failed for %s", model.name)
        return None


def analyse(name: str, data: bytes, settings: Settings) -> PhotoAnalysis:
    """Detect, classify and explain every face of an image file's bytes (cached).

    Raises:
        ImageError: the bytes are not a usable image.
        ValueError: no model is selected.
    """
    if settings.model_dir is None:
        raise ValueError("no model is selected")
    return _analyse(data, name, str(settings.model_dir), settings.detector, settings.min_confidence)


def render(name: str, data: bytes, settings: Settings, key: str) -> PhotoAnalysis | None:
    """Show one file's analysis; ``st.error`` (and None) when it cannot be analysed."""
    st.subheader(name)
    try:
        result = analyse(name, data, settings)
    except (ImageError, ValueError) as exc:  # ImageError is a ValueError; both are for the user
        st.error(str(exc))
        return None
    st.image(result.annotated, caption=f"{name}: {len(result.faces)} face(s)", width="stretch")
    if not result.faces:
        st.info(f"No face found in {name}. Faces should be upright and reasonably large; for small or "
                "distant faces choose the blazeface-full detector in the sidebar.")
    for i, face in enumerate(result.faces, 1):
        render_face(i, face, result.overlays[i - 1], settings, f"{key}-{i}")
    stem = Path(name).stem
    cols = st.columns(3)
    cols[0].download_button("Annotated PNG", result.png(), f"{stem}.annotated.png", "image/png",
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
        left.caption(f"confidence {face.confidence:.0%}")
        if face.confidence < settings.min_confidence:
            left.warning(f"Below the {settings.min_confidence:.0%} confidence threshold: uncertain.")
        middle.plotly_chart(plots.probabilities(face.probabilities), key=f"{key}-probs")
        if overlay is not None:
            right.image(overlay, caption=f"Grad-CAM for {face.label}", width="stretch")
        else:
            right.caption("No Grad-CAM map for this model.")


def results_table(results: list[PhotoAnalysis]) -> pd.DataFrame:
    """Every face of every analysed file in one table."""
    return pd.DataFrame([row for r in results for row in r.rows()])


def to_csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()
