"""One analysed photo's faces for Streamlit: a card per face (top emotion, scores, Grad-CAM) and the table of all."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from fer_core.inference.faces import Face
from fer_core.inference.rows import rows_to_csv
from fer_core.reports import plots
from ui.sidebar import Settings

if TYPE_CHECKING:
    from ui.photo import PhotoAnalysis


def render_face(number: int, face: Face, overlay, settings: Settings, key: str) -> None:
    """Top emotion, probability chart and Grad-CAM overlay of one face."""
    with st.container(border=True):
        left, middle, right = st.columns([1, 2, 1])
        left.metric(f"Face {number}", face.label, help="The most likely emotion")
        left.caption(face.kind.caption(face.confidence) or f"confidence {face.confidence:.0%}")
        if not face.kind.passes(face.confidence, settings.min_confidence):
            left.warning(f"Below the {settings.min_confidence:.0%} confidence threshold: uncertain.")
        middle.plotly_chart(plots.probabilities(face.scores), key=f"{key}-probs")
        if overlay is not None:
            right.image(overlay, caption=f"Grad-CAM for {face.label}", width="stretch")
        else:
            right.caption("No Grad-CAM map for this model.")


def results_table(analyses: list[PhotoAnalysis]) -> pd.DataFrame:
    """Every face of every analysed file in one table."""
    return pd.DataFrame([row for a in analyses for row in a.rows()])


#: the page's CSV of :func:`results_table` (the one CSV writer of fer_core)
to_csv = rows_to_csv
