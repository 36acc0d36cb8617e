"""Neutral-baseline widgets: a neutral reference (photo or saved file) for photos and videos, and the
webcam's Set / Reset / Download / Load panel. The computing is :mod:`fer_core.inference.neutral_baseline`'s.

A baseline lives in one browser session only (Session State), so one user's baseline never
reaches another's. Every problem is one ``st.error`` or ``st.warning``; the state before it is kept.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from fer_core.inference.baseline_file import MAX_BYTES, parse_baseline
from fer_core.common.memory import return_freed_memory
from fer_core.inference.images import IMAGE_TYPES, ImageError, check_size
from fer_core.inference.neutral_baseline import BASELINE_SECONDS, BaselineError, NeutralBaseline
from fer_core.inference.neutral_reference import baseline_from_images, read_reference
from fer_core.inference.live_baseline import COLLECTING, ON, BaselineStatus, LiveBaseline

#: what the person should do while the webcam collects their baseline
INSTRUCTION = "Look at the camera with a relaxed, neutral face"
WHAT_IT_DOES = ("A neutral baseline reads each face against this person's own neutral face: a resting face "
                "that the model would call Sad or Angry stays Neutral, and small changes from it (a frown, a "
                "wrinkled nose) count. It assumes the reference is truly neutral: a smiling reference makes "
                "smiles read as Neutral and a relaxed face read as Sad. Use it for one person at a time.")
BASELINE_FILE = "neutral-baseline.json"


@dataclass(frozen=True)
class _Reference:
    """What a reference photo gave: a baseline, or why it gave none (cached alike: never decoded twice)."""

    baseline: NeutralBaseline | None
    error: str | None = None


@st.cache_data(max_entries=32, show_spinner=False)
def _reference_baseline(digest: str, name: str, _data: bytes, model_dir: str, detector_name: str) -> _Reference:
    """The baseline of a reference photo's largest face, or the reason there is none (cached by the photo's
    hash, model and detector). The photo is decoded no larger than the detector needs, and the heap its
    decoding used goes back to the OS, as the photo path's does."""
    from ui import resources

    classifier, detector = resources.classifier(model_dir), resources.detector(detector_name)
    try:
        return _Reference(baseline_from_images([(name, read_reference(_data, name))], classifier, detector))
    except (BaselineError, ImageError) as exc:
        return _Reference(None, str(exc))
    finally:
        return_freed_memory()


def baseline_from_upload(upload, model, model_dir: str, detector_name: str) -> NeutralBaseline:
    """The baseline an uploaded reference photo or baseline file gives for ``model``.

    Raises:
        BaselineError: no face in the photo, a malformed file, another model's baseline.
        ImageError: a file that is neither a usable image nor a baseline file.
    """
    data = upload.getvalue()
    if upload.name.lower().endswith(".json"):
        try:
            return parse_baseline(data, upload.name, model)
        finally:
            _give_back(len(data))
    check_size(len(data), upload.name)
    digest = hashlib.sha256(data).hexdigest()
    with st.spinner(f"Reading the neutral face in {upload.name}…"):
        reference = _reference_baseline(digest, upload.name, data, model_dir, detector_name)
    if reference.baseline is None:
        raise BaselineError(reference.error)
    baseline = reference.baseline
    try:
        baseline.check_classifier(model)
    except BaselineError as exc:
        raise BaselineError(f"{upload.name}: {exc}") from None
    return baseline


def reference_panel(key: str, model, model_dir: str, detector_name: str, *, first_seconds: bool = False):
    """The optional neutral reference of the photo and video pages, in an expander.

    Returns the baseline (None without one or after an error), or, with ``first_seconds`` and that
    option chosen, the number of seconds at the start of the video that are neutral.
    """
    with st.expander("Neutral baseline (optional): read faces against this person's neutral face"):
        st.caption(WHAT_IT_DOES)
        upload = st.file_uploader("A neutral reference photo of this person, or a saved baseline file",
                                  type=[*IMAGE_TYPES, "json"], key=f"{key}-reference")
        seconds = 0.0
        if first_seconds:
            seconds = st.number_input("…or: the first seconds of the video are neutral (0 = off)", 0.0, 30.0, 0.0,
                                      step=1.0, key=f"{key}-first-seconds",
                                      help="The largest face over these first seconds makes the baseline")
        if upload is None:
            return seconds if seconds > 0 else None
        try:
            baseline = baseline_from_upload(upload, model, model_dir, detector_name)
        except (BaselineError, ImageError) as exc:
            st.error(f"No neutral baseline: {exc}")
            return None
        show_baseline(baseline, f"the neutral face in {upload.name}", key)
        return baseline


def show_baseline(baseline: NeutralBaseline, source: str, key: str) -> None:
    """Say that the baseline is on and offer its file."""
    st.success(f"Neutral baseline on: every face is read against {source} ({baseline.describe()}).",
               icon=":material/tune:")
    if baseline.warning:
        st.warning(f"This baseline may be poor: {baseline.warning}.")
    st.download_button("Download neutral baseline", baseline.to_json(), BASELINE_FILE, "application/json",
                       key=f"{key}-download", on_click="ignore", icon=":material/download:")


def baseline_caption(baseline: NeutralBaseline | None) -> str:
    """A line under results: whether they are read against a neutral baseline."""
    if baseline is None:
        return ""
    return (" Faces are read **against a neutral baseline**: against the person's neutral face, so their percentages are odds "
            "against that face, not the model's own confidence.")


# ------------------------------------------------------------------ the webcam


def webcam_panel(baseline: LiveBaseline, playing: bool, key: str = "webcam-baseline"):
    """Set / Reset / Download / Load for the live stream; returns the placeholder :func:`show_status` fills."""
    st.subheader("Neutral baseline")
    st.caption(WHAT_IT_DOES)
    cols = st.columns([1, 1, 1.4])
    if cols[0].button("Set neutral baseline", key=f"{key}-start", icon=":material/tune:", disabled=not playing,
                      help=f"{INSTRUCTION} for {BASELINE_SECONDS:g} s" + ("" if playing else " (press Start first)")):
        baseline.start()
    if cols[1].button("Reset baseline", key=f"{key}-reset", icon=":material/restart_alt:",
                      help="Baseline off: every face as the model reads it"):
        baseline.reset()
    made = baseline.status().baseline
    cols[2].download_button("Download neutral baseline", made.to_json() if made else "", BASELINE_FILE,
                            "application/json", key=f"{key}-download", on_click="ignore",
                            icon=":material/download:", disabled=made is None,
                            help="Save it, and load it next time instead of setting it again")
    saved = st.file_uploader("Load a saved neutral baseline", type=["json"], key=f"{key}-load")
    if saved is not None and st.session_state.get(f"{key}-loaded") != saved.file_id:
        try:
            load_file(baseline, saved.getvalue(), saved.name)
            st.session_state[f"{key}-loaded"] = saved.file_id
        except BaselineError as exc:
            st.error(f"Not loaded: {exc}")
        _give_back(saved.size)
    return st.empty()


def _give_back(size: int) -> None:
    """After an oversized baseline file of ``size`` bytes (read, then refused): give its heap back to the OS."""
    if size > MAX_BYTES:
        return_freed_memory()


def load_file(live: LiveBaseline, data: bytes, name: str) -> None:
    """Turn on the baseline saved in a file's content ``data``.

    Raises:
        BaselineError: a bad file or another model's baseline, the file named.
    """
    baseline = parse_baseline(data, name)
    try:
        live.load(baseline)
    except BaselineError as exc:
        raise BaselineError(f"{name}: {exc}") from None


def status_text(status: BaselineStatus) -> str:
    """One line on the baseline's state."""
    if status.state == COLLECTING:
        return (f"**Making the neutral baseline**: {INSTRUCTION.lower()}… {status.progress:.0%} "
                f"({status.frames} frames with a face)")
    if status.state == ON:
        return (f"**Neutral baseline on** for the face marked *(vs neutral)*, {status.baseline.describe()}. Other "
                "faces are read as the model sees them.")
    return "Neutral baseline off: faces are read as the model sees them."


def show_status(placeholder, status: BaselineStatus) -> None:
    """Fill the panel's placeholder: the state, a progress bar while collecting, the last problem."""
    with placeholder.container():
        if status.state == COLLECTING:
            st.progress(status.progress, text=status_text(status))
        else:
            st.markdown(status_text(status))
        if status.message:
            st.warning(status.message, icon=":material/face:")
        elif status.baseline is not None and status.baseline.warning:
            st.warning(f"This baseline may be poor: {status.baseline.warning}.")
