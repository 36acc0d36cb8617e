"""The sidebar controls every page shares: models, face detector, minimum confidence.

Two model choices: the most accurate model for photos and evaluation, and the fast model
for the live webcam and video analysis (the distilled student on LiteRT by default).

``render()`` draws them (once, in ``streamlit_app.py``, so they persist across pages);
``current()`` reads them on any page, with defaults when the sidebar has not run (a page
run on its own, as in tests).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from fer_core.detect import DEFAULT_DETECTOR, DETECTORS, LIVE_DETECTOR, alternative_detector
from fer_core.model import ModelError, live_model_dir
from ui import resources

MODEL_KEY = "fer_model"
LIVE_MODEL_KEY = "fer_live_model"
DETECTOR_KEY = "fer_detector"
CONFIDENCE_KEY = "fer_min_confidence"
DEFAULT_CONFIDENCE = 0.4

DETECTOR_HELP = {
    "blazeface-multiscale": "BlazeFace full range on the whole image and on overlapping tiles: faces from 4% of "
                            "the image's longer side to close-ups (default for photos and videos; while it is chosen, "
                            f"the live webcam uses the fast {LIVE_DETECTOR})",
    "blazeface": "BlazeFace short range: fastest, for the large faces of selfies and webcams",
    "blazeface-full": "BlazeFace full range on the whole image: faces from about 10% of its width",
    "haar": "OpenCV Haar cascade: the classic detector (slower, frontal faces only)",
}


@dataclass(frozen=True)
class Settings:
    """What the user chose: model folders (None when there is none), detector, confidence threshold.

    ``model_dir`` serves photos and evaluation, ``live_model_dir`` the webcam and videos.
    """

    model_dir: Path | None
    detector: str
    min_confidence: float
    live_model_dir: Path | None = None

    @property
    def key(self) -> tuple:
        """Hashable identity, for caches and per-session state that depend on the settings."""
        return (str(self.model_dir), str(self.live_model_dir), self.detector, self.min_confidence)

    def no_face_hint(self) -> str:
        """What to try when the chosen detector found no face: the other detector, where to choose it."""
        return f"try the {alternative_detector(self.detector)} detector (sidebar: Face detector)"


def _default_live(folders: list[str]) -> str | None:
    live = str(live_model_dir())
    return live if live in folders else (folders[0] if folders else None)


def current(webcam: bool = False) -> Settings:
    """The chosen settings, or defaults (the default model, the fast live model, multi-scale BlazeFace, 0.4).

    With ``webcam``, the photo default detector becomes the fast ``LIVE_DETECTOR``: webcam faces
    are large, and every frame counts. Another detector chosen in the sidebar is kept.
    """
    folders = [str(p) for p in resources.model_folders()]
    chosen = st.session_state.get(MODEL_KEY)
    model = chosen if chosen in folders else (folders[0] if folders else None)
    chosen_live = st.session_state.get(LIVE_MODEL_KEY)
    live = chosen_live if chosen_live in folders else _default_live(folders)
    detector = st.session_state.get(DETECTOR_KEY)
    if detector not in DETECTORS:
        detector = DEFAULT_DETECTOR
    if webcam and detector == DEFAULT_DETECTOR:
        detector = LIVE_DETECTOR
    confidence = st.session_state.get(CONFIDENCE_KEY, DEFAULT_CONFIDENCE)
    return Settings(Path(model) if model else None, detector, float(confidence), Path(live) if live else None)


def render() -> Settings:
    """Draw the shared controls in the sidebar and return the settings."""
    folders = [str(p) for p in resources.model_folders()]
    for key, valid in ((MODEL_KEY, folders), (LIVE_MODEL_KEY, folders), (DETECTOR_KEY, list(DETECTORS))):
        if key in st.session_state and st.session_state[key] not in valid:
            del st.session_state[key]  # e.g. a model folder that has since been removed
    with st.sidebar:
        st.header("Settings")
        if folders:
            st.selectbox("Model for photos and evaluation", folders, key=MODEL_KEY, format_func=lambda p: Path(p).name,
                         help="The most accurate model by default. Every bundled model is listed "
                              "(set FER_MODELS_DIR to use another folder of models)")
            default_live = _default_live(folders)
            st.selectbox("Model for webcam and video", folders, key=LIVE_MODEL_KEY, format_func=lambda p: Path(p).name,
                         index=folders.index(default_live) if default_live in folders else 0,
                         help="The fast model by default: a small network distilled from the most accurate one, "
                              "run by LiteRT")
        else:
            st.warning("No model found among the bundled models. Train one with `python -m fer_core train` "
                       "and copy its folder into models/, or set FER_MODELS_DIR.")
        # defaults through the widgets' own arguments (not Session State), so page switches keep them
        st.selectbox("Face detector", list(DETECTORS), index=list(DETECTORS).index(DEFAULT_DETECTOR),
                     key=DETECTOR_KEY, help="\n\n".join(f"**{k}**: {v}" for k, v in DETECTOR_HELP.items()))
        st.slider("Minimum confidence", 0.0, 1.0, DEFAULT_CONFIDENCE, step=0.05, key=CONFIDENCE_KEY,
                  help="Faces whose top emotion is less likely than this are labelled '?' on images")
    return current()


def require_classifier(settings: Settings, live: bool = False):
    """The selected classifier (the live one with ``live``), or None after showing why there is none."""
    folder = settings.live_model_dir if live else settings.model_dir
    if folder is None:
        st.error("No model available: no model folder among the bundled models. Train one with "
                 "`python -m fer_core train`, copy its folder there, or point FER_MODELS_DIR at a folder of models.")
        return None
    try:
        return resources.classifier(folder)
    except (ModelError, ValueError, OSError) as exc:
        st.error(f"The model {folder.name} cannot be loaded: {exc}")
        return None


def require_detector(settings: Settings):
    """The selected face detector, or None after showing why it is unavailable."""
    try:
        return resources.detector(settings.detector)
    except (RuntimeError, ValueError, OSError, ImportError) as exc:
        st.error(f"The face detector {settings.detector} is not available: {exc}")
        return None


def require_pipeline(settings: Settings, live: bool = False):
    """The selected classifier (the fast one with ``live``) and face detector; stops the page if either is missing."""
    model, detector = require_classifier(settings, live), require_detector(settings)
    if model is None or detector is None:
        st.stop()
    return model, detector
