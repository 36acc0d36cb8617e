"""Cached loaders shared by every page and session: models, detectors, data sets, timings and predictions.

Models, detectors and data sets are ``st.cache_resource``: one shared, read-only copy per
process (FER2013 is ~80 MB of pixels; ``st.cache_data`` would copy it on every rerun).
Derived results (statistics, predictions, timings) are ``st.cache_data``; they take a
small key (path and modification time) and receive the big arrays unhashed (``_data``).
"""
from __future__ import annotations

import io
import logging
import os
import shlex
from pathlib import Path

import numpy as np
import streamlit as st

from fer_core.evaluation import bench

from fer_core.data import explore

from fer_core.catalog import model_info
from fer_core.inference.classifier import Classifier
from fer_core.data.fer2013 import FerData, load_csv, load_fer2013, resolve_data_path
from fer_core.inference.detect import make_detector
from fer_core.catalog.evaluations import tta_name
from fer_core.common.labels import LABELS
from fer_core.catalog.model import MODELS_DIR, MODELS_DIR_ENV, list_models
from fer_core.catalog.model_info import file_mtime, model_version
from fer_core.data.parse_cache import load_fer2013_cached

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- models and detectors
@st.cache_resource(show_spinner="Loading the model…")
def load_classifier(folder: str, mtime: float = 0.0) -> Classifier:
    """The classifier of a model folder (``mtime`` reloads it when the model file changes)."""
    return Classifier.load(folder)


def classifier(folder: str | Path) -> Classifier:
    """The cached classifier of a folder, reloaded when its ``model.keras`` changes."""
    return load_classifier(str(folder), model_version(folder))


@st.cache_resource(show_spinner="Loading the face detector…")
def detector(name: str):
    """A face detector by name (thread-safe, shared by all sessions)."""
    return make_detector(name)


def model_folders() -> list[Path]:
    """The model folders a user picks from, the default first: the shipped models (an ensemble's
    members are not offered on their own) and any folder under ``$FER_MODELS_DIR``."""
    return model_info.choices(list_models())


@st.cache_data(show_spinner=False, max_entries=64)
def _model_label(folder: str, version: float) -> str:
    return model_info.label(folder)


def model_label(folder: str | Path) -> str:
    """How the pickers name a model: "Accurate (ensemble of 3, 73.1%)" (see :mod:`fer_core.catalog.model_info`)."""
    return _model_label(str(folder), model_version(folder))


def model_argument(folder: str | Path) -> str:
    """The ``--model`` value that names a model folder in a command the page prints.

    Relative to the working directory when the folder is under it (``models/mix3c``), as
    ``$FER_MODELS_DIR/<name>`` when it is under a ``$FER_MODELS_DIR`` elsewhere (so a hosted
    page does not print the server's paths), else the folder's full path. Quoted for a shell.
    """
    folder = Path(os.path.abspath(folder))  # abspath, not resolve: a symlinked models/ stays relative
    try:
        return shlex.quote(folder.relative_to(Path.cwd()).as_posix())
    except ValueError:
        pass
    if os.environ.get(MODELS_DIR_ENV):
        try:
            return f"${MODELS_DIR_ENV}/" + shlex.quote(folder.relative_to(os.path.abspath(MODELS_DIR)).as_posix())
        except ValueError:
            pass
    return shlex.quote(str(folder))


@st.cache_data(show_spinner="Timing the model…")
def ms_per_face(folder: str, version: float, batch: int = 32, repeats: int = 5) -> float:
    """:func:`fer_core.evaluation.bench.ms_per_face` of a model folder, cached per model version."""
    return bench.ms_per_face(classifier(folder), batch, repeats)


# ---------------------------------------------------------------- data sets
def default_data_path() -> Path:
    """``$FER_DATA`` or the shared default location."""
    return resolve_data_path()


class _BarProgress:
    """``progress(done, total)`` for long cached work: an ``st.progress`` bar, made on the first call.

    It is created inside the cached function (so a cache hit replays it, and its removal, in
    order: nothing is left) and updated at most once per percent. Subclasses say what is done."""

    def __init__(self):
        self.bar, self.shown = None, -1

    def text(self, done: int, total: int) -> str:
        raise NotImplementedError

    def __call__(self, done: int, total: int) -> None:
        percent = min(100, int(100 * done / max(total, 1)))
        if percent == self.shown:
            return
        self.shown = percent
        if self.bar is None:
            self.bar = st.progress(percent, text=self.text(done, total))
        else:
            self.bar.progress(percent, text=self.text(done, total))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.empty()


class _ParseProgress(_BarProgress):
    """The bar of a CSV parse (FER2013 has 35,887 rows)."""

    def __init__(self, name: str, kept: bool = True):
        """``kept``: the parse is stored on disk (:mod:`fer_core.data.parse_cache`), so the text says it is done once."""
        super().__init__()
        self.name, self.kept = name, kept

    def text(self, done: int, total: int) -> str:
        return (f"Parsing {self.name} for the first time: {done:,} of about {total:,} rows (kept for the next start)"
                if self.kept else f"Parsing {self.name}: {done:,} of about {total:,} rows")


class _ClassifyProgress(_BarProgress):
    """The bar of a first classification of a test split (1–3 minutes with a 10-view TTA on 2 cores)."""

    def __init__(self, split: str, tta: str):
        super().__init__()
        self.split, self.tta = split, tta

    def text(self, done: int, total: int) -> str:
        return (f"Classifying {self.split} with {tta_name(self.tta)}: {done:,} of {total:,} faces "
                "(kept for the next start)")


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_path(path: str, mtime: float, skip_bad_rows: bool) -> FerData:
    # A CSV is parsed once per content and kept in $FER_CACHE_DIR (fer_core.data.parse_cache), so
    # after the first start this reads arrays back; the bar shows only while a parse runs
    # (no spinner: the cache's spinner would cover the bar's text).
    progress = _ParseProgress(Path(path).name)
    try:
        return _freeze(load_fer2013_cached(path, skip_bad_rows=skip_bad_rows, progress=progress))
    finally:
        progress.close()


def load_path(path: str | Path, skip_bad_rows: bool = False) -> FerData:
    """FER2013 from a CSV file or image folder (cached in memory, and a CSV's parse on disk
    by :mod:`fer_core.data.parse_cache`; raises FileNotFoundError or DataError)."""
    path = Path(path).expanduser()
    if not path.exists():  # not cached, so it is noticed when the file appears
        return load_fer2013(path)  # raises FileNotFoundError with the how-to message
    if path.is_dir():  # an image folder is read anew on each start, with no progress bar
        with st.spinner("Loading the image folder…"):
            return _load_path(str(path), file_mtime(path), skip_bad_rows)
    return _load_path(str(path), file_mtime(path), skip_bad_rows)


@st.cache_resource(show_spinner=False, max_entries=1)
def load_upload(file_id: str, name: str, _data: bytes, skip_bad_rows: bool = False) -> FerData:
    """FER2013 from uploaded bytes (CSV or gzip-compressed CSV), cached by the upload's id.

    The same progress bar as a first parse of the default file (a whole FER2013 takes a while);
    no spinner, which would cover the bar's text."""
    progress = _ParseProgress(name, kept=False)
    try:
        return _freeze(load_csv(io.BytesIO(_data), skip_bad_rows=skip_bad_rows, source=name, progress=progress))
    finally:
        progress.close()


def _freeze(data: FerData) -> FerData:
    """Shared between sessions: make the arrays read-only so no page can change them."""
    for array in (data.images, data.labels, data.usage):
        array.flags.writeable = False
    return data


def data_key(data: FerData) -> str:
    """A short cache key for derived statistics of a loaded data set."""
    return f"{data.source}|{len(data)}|{data.skipped}|{id(data)}"


@st.cache_data(show_spinner="Checking data quality…", max_entries=4)
def quality(key: str, _data: FerData) -> explore.QualityReport:
    return explore.quality_report(_data.images, _data.labels, _data.usage)


@st.cache_data(show_spinner=False, max_entries=4)
def mean_faces(key: str, _data: FerData) -> dict[str, np.ndarray]:
    return explore.mean_faces(_data.images, _data.labels)


@st.cache_data(show_spinner=False, max_entries=8)
def intensity(key: str, by: str, _data: FerData):
    """Intensity histogram overall (``by="All"``), per split (``"split"``) or per class (``"class"``)."""
    groups = {"All": None, "split": _data.usage, "class": np.array(LABELS)[_data.labels]}[by]
    return explore.intensity_histogram(_data.images, groups)


@st.cache_data(show_spinner=False, max_entries=4)
def split_predictions(folder: str, version: float, key: str, split: str, tta: str, _data: FerData) -> np.ndarray:
    """Probabilities of a model on one split of a data set, ``(n, classes)``; a bar while it is first computed."""
    from fer_core.evaluation.prediction_cache import cached_probabilities

    images, _ = _data.split(split)
    progress = _ClassifyProgress(split, tta)
    try:
        return cached_probabilities(classifier(folder), images, tta, progress=progress)
    finally:
        progress.close()


@st.cache_data(show_spinner=False, max_entries=4)
def duplicate_table(key: str, _data: FerData):
    """The duplicate groups of a data set as a table (see :func:`fer_core.data.explore.duplicate_groups_table`)."""
    return explore.duplicate_groups_table(quality(key, _data), _data.labels, _data.usage)
