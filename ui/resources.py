"""Cached loaders shared by every page and session: models, detectors, data sets, evaluations.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from fer_core import bench, catalog, explore
from fer_core.classifier import Classifier
from fer_core.data import FerData, load_csv, load_fer2013, resolve_data_path
from fer_core.detect import make_detector
from fer_core.evaluate import WATCHED_CLASSES, Evaluation, headline, load_evaluations, tta_name
from fer_core.labels import LABELS
from fer_core.model import (METADATA_FILE, MODEL_FILE, MODELS_DIR, TFLITE_FILE, ModelError, list_models, read_metadata,
                            weight_files)
from fer_core.parse_cache import load_fer2013_cached

log = logging.getLogger(__name__)

#: The splits the evaluation page reports, in this order.
EVAL_SPLITS = ("PrivateTest", "PublicTest", "RandomTest")


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
    return catalog.choices(list_models())


@st.cache_data(show_spinner=False, max_entries=64)
def _model_label(folder: str, version: float) -> str:
    return catalog.label(folder)


def model_label(folder: str | Path) -> str:
    """How the pickers name a model: "Accurate (ensemble of 3, 73.1%)" (see :mod:`fer_core.catalog`)."""
    return _model_label(str(folder), model_version(folder))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _weight_files(folder: str | Path) -> list[Path]:
    try:
        return weight_files(folder)
    except ModelError:
        return []  # unreadable metadata: loading the model says why


def model_version(folder: str | Path) -> float:
    """Latest modification time of the weight files a model loads (an ensemble's members',
    ``model.keras`` and ``model.tflite``, and the metadata that vouches for the latter):
    part of cache keys, so a retrained or re-exported model is reloaded."""
    paths = [p.with_name(name) for p in _weight_files(folder) for name in (MODEL_FILE, TFLITE_FILE, METADATA_FILE)]
    return max((_mtime(path) for path in paths), default=0.0)


def folder_size(folder: Path) -> int:
    """Bytes of the ``model.keras`` files a model loads (what the app reads)."""
    return sum(path.stat().st_size for path in _weight_files(folder) if path.is_file())


@dataclass(frozen=True)
class ModelCard:
    """What the app says about a model without loading it (from its metadata)."""

    folder: Path
    name: str
    architecture: str
    params: int | None
    size_bytes: int
    tta: str
    metadata: dict

    def headline(self, split: str = "PrivateTest") -> Evaluation | None:
        """The headline evaluation of a split, by the one rule of :func:`fer_core.evaluate.headline`."""
        return headline(load_evaluations(self.folder), split, self.tta)


def model_card(folder: str | Path) -> ModelCard:
    """Read a model folder's metadata into a :class:`ModelCard` (raises ModelError)."""
    folder = Path(folder)
    meta = read_metadata(folder)
    arch = meta.get("architecture", {})
    name = str(arch.get("name", "?"))
    if arch.get("member_names"):
        name += f" of {' + '.join(arch['member_names'])}"
    return ModelCard(
        folder=folder, name=meta["name"], architecture=name,
        params=arch.get("params"), size_bytes=folder_size(folder),
        tta=meta.get("inference", {}).get("tta", "none"), metadata=meta,
    )


def format_params(params: int | None) -> str:
    """A parameter count as every page shows it: "2.35 M", or "–" when the metadata has none."""
    return "–" if not params else f"{params / 1e6:.2f} M"


#: The environment variable that moves the model folders (:data:`fer_core.model.MODELS_DIR`).
MODELS_ENV = "FER_MODELS_DIR"


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
    if os.environ.get(MODELS_ENV):
        try:
            return f"${MODELS_ENV}/" + shlex.quote(folder.relative_to(os.path.abspath(MODELS_DIR)).as_posix())
        except ValueError:
            pass
    return shlex.quote(str(folder))


def evaluations(folder: str | Path) -> dict[str, Evaluation]:
    """A model's stored evaluations, in the order of :data:`EVAL_SPLITS` (the page says what is missing)."""
    found = load_evaluations(folder)

    def order(key: str) -> tuple[int, str]:
        split = found[key].split
        return (EVAL_SPLITS.index(split) if split in EVAL_SPLITS else len(EVAL_SPLITS), key)

    return {k: found[k] for k in sorted(found, key=order)}


@st.cache_data(show_spinner="Timing the model…")
def ms_per_face(folder: str, version: float, batch: int = 32, repeats: int = 5) -> float:
    """:func:`fer_core.bench.ms_per_face` of a model folder, cached per model version."""
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
        """``kept``: the parse is stored on disk (:mod:`fer_core.parse_cache`), so the text says it is done once."""
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
    # A CSV is parsed once per content and kept in $FER_CACHE_DIR (fer_core.parse_cache), so
    # after the first start this reads arrays back; the bar shows only while a parse runs
    # (no spinner: the cache's spinner would cover the bar's text).
    progress = _ParseProgress(Path(path).name)
    try:
        return _freeze(load_fer2013_cached(path, skip_bad_rows=skip_bad_rows, progress=progress))
    finally:
        progress.close()


def load_path(path: str | Path, skip_bad_rows: bool = False) -> FerData:
    """FER2013 from a CSV file or image folder (cached in memory, and a CSV's parse on disk
    by :mod:`fer_core.parse_cache`; raises FileNotFoundError or DataError)."""
    path = Path(path).expanduser()
    if not path.exists():  # not cached, so it is noticed when the file appears
        return load_fer2013(path)  # raises FileNotFoundError with the how-to message
    if path.is_dir():  # an image folder is read anew on each start, with no progress bar
        with st.spinner("Loading the image folder…"):
            return _load_path(str(path), _mtime(path), skip_bad_rows)
    return _load_path(str(path), _mtime(path), skip_bad_rows)


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
    from fer_core.prediction_cache import cached_probabilities

    images, _ = _data.split(split)
    progress = _ClassifyProgress(split, tta)
    try:
        return cached_probabilities(classifier(folder), images, tta, progress=progress)
    finally:
        progress.close()


@st.cache_data(show_spinner=False, max_entries=4)
def duplicate_table(key: str, _data: FerData):
    """The duplicate groups of a data set as a table (see :func:`fer_core.explore.duplicate_groups_table`)."""
    return explore.duplicate_groups_table(quality(key, _data), _data.labels, _data.usage)


def comparison(folders: list[Path], timings: dict[str, float] | None = None):
    """One row per model folder: name, architecture, parameters, size on disk, test scores, speed."""
    import pandas as pd

    rows = []
    for folder in folders:
        try:
            card = model_card(folder)
        except ModelError as exc:
            rows.append({"model": Path(folder).name, "architecture": f"unreadable: {exc}"})
            continue
        row = {"model": card.name, "architecture": card.architecture,
               "parameters": format_params(card.params),
               "size (MB)": round(card.size_bytes / 2**20, 1), "default TTA": tta_name(card.tta)}
        for split in EVAL_SPLITS[:2]:
            best = card.headline(split)
            row[f"{split} accuracy"] = round(best.accuracy, 4) if best else None
            row[f"{split} macro-F1"] = best.macro_f1 if best else None
            row[f"{split} TTA"] = tta_name(best.tta) if best else None
            row[f"{split} leak-free accuracy"] = round(best.leak_free["accuracy"], 4) if best and best.leak_free else None
        private = card.headline("PrivateTest")
        for name in WATCHED_CLASSES:  # the classes real faces rarely get right
            row[f"{name} recall"] = round(private.recall(name), 3) if private and private.recall(name) is not None else None
        if timings is not None:
            row["ms per face"] = timings.get(str(folder))
        rows.append(row)
    return pd.DataFrame(rows)
