"""The sidebar controls every page shares: models, face detector, minimum confidence.

Two model choices: the most accurate model for photos and evaluation, and the fast model
for the live webcam and video analysis (the distilled student on LiteRT by default). Their
defaults are the CLI's (``$FER_MODEL``, ``$FER_LIVE_MODEL``; see :mod:`fer_core.catalog.model`).

``render()`` draws them (once, in ``streamlit_app.py``, so they persist across pages);
``current()`` reads them on any page, with defaults when the sidebar has not run (a page
run on its own, as in tests).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from fer_core.inference.detect import DEFAULT_DETECTOR, DETECTORS, LIVE_DETECTOR, MIN_FACE_SIZE, alternative_detector
from fer_core.inference.draw import DEFAULT_MIN_CONFIDENCE
from fer_core.catalog.model import LIVE_MODEL_ENV, MODEL_ENV, MODELS_DIR_ENV, ModelError, default_model_dir, live_model_dir
from ui import resources

MODEL_KEY = "fer_model"
LIVE_MODEL_KEY = "fer_live_model"
DETECTOR_KEY = "fer_detector"
CONFIDENCE_KEY = "fer_min_confidence"
DEFAULT_CONFIDENCE = DEFAULT_MIN_CONFIDENCE  # one default for the app and `predict --annotate`
#: What every page says when no model folder is found (the sidebar, Home, and pages that need a model).
NO_MODEL_ADVICE = ("No model found among the bundled models. Train one with `python -m fer_core train` and copy "
                   f"its folder into models/, or set {MODELS_DIR_ENV} to a folder of models.")

DETECTOR_HELP = {
    "blazeface-multiscale": "BlazeFace full range on the whole image and on overlapping tiles: faces from "
                            f"{MIN_FACE_SIZE['blazeface-multiscale']} to close-ups (default for photos and videos; "
                            f"while it is chosen, the live webcam uses the fast {LIVE_DETECTOR})",
    "blazeface": "BlazeFace short range: fastest, for the large faces of selfies and webcams (from about "
                 f"{MIN_FACE_SIZE['blazeface']})",
    "blazeface-full": f"BlazeFace full range on the whole image: faces from about {MIN_FACE_SIZE['blazeface-full']}",
    "haar": "OpenCV Haar cascade: the classic detector (slower, frontal faces only, from about "
            f"{MIN_FACE_SIZE['haar']})",
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

    def no_face_hint(self) -> str:
        """What to try when the chosen detector found no face: the other detector, where to choose it."""
        return f"try the {alternative_detector(self.detector)} detector (sidebar: Face detector)"


def _listed(path: Path, folders: list[str]) -> str | None:
    """The listed folder that is ``path`` (compared resolved: "models/mix3c" and its absolute path match)."""
    target = path.resolve()
    return next((f for f in folders if Path(f).resolve() == target), None)


def _default_model(folders: list[str]) -> str | None:
    """The CLI's default (``$FER_MODEL``, else the bundled default) if listed, else the first folder."""
    return _listed(default_model_dir(), folders) or (folders[0] if folders else None)


def _default_live(folders: list[str]) -> str | None:
    """The CLI's live model (``$FER_LIVE_MODEL``, else the bundled student) if listed, else the default model."""
    return _listed(live_model_dir(), folders) or _default_model(folders)


def current(webcam: bool = False) -> Settings:
    """The chosen settings, or defaults (the default model, the fast live model, multi-scale BlazeFace, ``DEFAULT_CONFIDENCE``).

    With ``webcam``, the photo default detector becomes the fast ``LIVE_DETECTOR``: webcam faces
    are large, and every frame counts. Another detector chosen in the sidebar is kept.
    """
    folders = [str(p) for p in resources.model_folders()]
    chosen = st.session_state.get(MODEL_KEY)
    model = chosen if chosen in folders else _default_model(folders)
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
            st.selectbox("Model for photos and evaluation", folders, key=MODEL_KEY, format_func=resources.model_label,
                         index=folders.index(_default_model(folders)),
                         help=f"Accurate by default: an ensemble of three networks ({MODEL_ENV} chooses another). "
                              f"The figure is its accuracy on FER2013's PrivateTest. Set {MODELS_DIR_ENV} to list "
                              "a folder of your own models")
            st.selectbox("Model for webcam and video", folders, key=LIVE_MODEL_KEY, format_func=resources.model_label,
                         index=folders.index(_default_live(folders)),
                         help="Fast by default: a small network distilled from the accurate one, run by LiteRT "
                              f"without test-time augmentation, as on the live webcam ({LIVE_MODEL_ENV} chooses another)")
            for env, path in ((MODEL_ENV, default_model_dir()), (LIVE_MODEL_ENV, live_model_dir())):
                if os.environ.get(env) and _listed(path, folders) is None:
                    st.warning(f"{env} names {path.name}, which is not among the models listed here "
                               f"({MODELS_DIR_ENV}); another model is preselected.")
        else:
            st.warning(NO_MODEL_ADVICE)
        # defaults through the widgets' own arguments (not Session State), so page switches keep them
        st.selectbox("Face detector", list(DETECTORS), index=list(DETECTORS).index(DEFAULT_DETECTOR),
                     key=DETECTOR_KEY, help="\n\n".join(f"**{k}**: {v}" for k, v in DETECTOR_HELP.items()))
        st.slider("Minimum confidence", 0.0, 1.0, DEFAULT_CONFIDENCE, step=0.05, key=CONFIDENCE_KEY,
                  help="Faces whose top emotion is less likely than this are labelled '?' on images. Every shipped "
                       "model's confidences are calibrated (a temperature fitted on PublicTest), so the same "
                       "threshold means the same for each: of faces shown at 60 %, about 60 % are right on "
                       "FER2013's test faces")
    return current()


def live_detector_text(settings: Settings) -> str:
    """How the webcam page names its detector: it says so when it is not the one the sidebar shows."""
    shown = current().detector
    if settings.detector == shown:
        return f"detector {settings.detector}"
    return (f"detector **{settings.detector}**, not the sidebar's {shown}: webcam faces are large and every frame "
            f"counts, so the live path uses the fast short-range BlazeFace (any other detector chosen in the "
            f"sidebar is used as chosen)")


def require_classifier(settings: Settings, live: bool = False):
    """The selected classifier (the live one with ``live``), or None after showing why there is none."""
    folder = settings.live_model_dir if live else settings.model_dir
    if folder is None:
        st.error(f"No model available. {NO_MODEL_ADVICE}")
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
