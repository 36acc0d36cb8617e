"""The app's pages in one place: ``streamlit_app.py`` registers them, the home page links to them.

The page files live in ``app_pages/``, deliberately not ``pages/``: Streamlit treats a ``pages/``
folder beside the entry point as an old-style multipage app until the first ``st.navigation``
call, so a fresh server's first visitor opening e.g. ``/dataset`` would get that file run on
its own, without this navigation and without the shared sidebar.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSpec:
    file: str  # relative to the repository root
    title: str
    url_path: str
    icon: str
    blurb: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("app_pages/home.py", "Home", "", ":material/home:", "What the studio does and which model is loaded."),
    PageSpec("app_pages/dataset.py", "Dataset explorer", "dataset", ":material/dataset:",
             "Class balance, sample faces, mean faces, pixel statistics and data quality of FER2013."),
    PageSpec("app_pages/photo.py", "Photo analysis", "photo", ":material/photo_camera:",
             "Emotions of every face in your photos, with Grad-CAM and downloads."),
    PageSpec("app_pages/webcam.py", "Live webcam", "webcam", ":material/videocam:",
             "Real-time emotions from your camera, with a timeline and a session summary."),
    PageSpec("app_pages/video.py", "Video analysis", "video", ":material/movie:",
             "An annotated copy of a video and a per-frame emotion timeline."),
    PageSpec("app_pages/study.py", "Studies", "study", ":material/groups:",
             "Many participants' videos, stimulus windows, group curves and figures with 95 % intervals."),
    PageSpec("app_pages/evaluation.py", "Model evaluation", "evaluation", ":material/analytics:",
             "Test-set accuracy, confusion matrix, calibration, training curves and misclassified faces."),
)


def make_page(spec: PageSpec) -> st.Page:
    """The ``st.Page`` of a spec; the first page (Home) is the default."""
    path = ROOT / spec.file
    if spec is PAGES[0]:
        return st.Page(path, title=spec.title, icon=spec.icon, default=True)
    return st.Page(path, title=spec.title, icon=spec.icon, url_path=spec.url_path)


def all_pages() -> list[st.Page]:
    return [make_page(spec) for spec in PAGES]
