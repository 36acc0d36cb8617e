"""What a model folder is, read once from its metadata and stored evaluations: :class:`ModelInfo`.

The app's pages, the pickers and the README's tables read a model through this, never through
its ``metadata.json`` keys. A shipped model's metadata may hold a ``display`` entry, e.g.
``{"name": "Fast", "purpose": "live video", "tta": "none"}``: the name and purpose the app and
the README show, and the TTA of the accuracy quoted with them (the live path runs the fast model
without TTA; left out, the model's default TTA). The accuracy itself is never written there: it
is read from the model's stored PrivateTest evaluation (``evaluate --record``), by the one rule
of :func:`fer_core.evaluation.evaluate.headline`. A folder without ``display`` (a user's own model) is named
by its folder.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fer_core.catalog.evaluations import Evaluation, headline, load_evaluations
from fer_core.catalog.training_run import TrainingRun
from fer_core.catalog.model import (INT8_FILE, METADATA_FILE, MODEL_FILE, TFLITE_FILE, ModelError, input_blur_sigma,
                            is_ensemble, list_models, member_dirs, read_metadata, weight_files)

#: The split a model's quoted accuracy is measured on.
HEADLINE_SPLIT = "PrivateTest"
#: The splits the app reports, in this order.
EVAL_SPLITS = ("PrivateTest", "PublicTest", "RandomTest")


@dataclass(frozen=True)
class ModelInfo:
    """A model folder as the app and the tables describe it, without loading its network."""

    folder: Path
    name: str  # the metadata's name ("mix3c")
    display_name: str  # what the user sees ("Accurate"); the folder's name when the metadata has no display entry
    purpose: str | None  # "live video"
    architecture: str  # "vgg", or "ensemble of vgg32b + vgg48-camera-s2 + resnet32-150"
    members: tuple[Path, ...]  # the networks averaged: (folder,) for a single network
    tta: str  # the default test-time augmentation
    quoted_tta: str  # the TTA of the accuracy quoted with the display name
    input_blur_sigma: float  # the default Gaussian input blur (0: none)
    labels: tuple[str, ...]
    params: int | None
    size_bytes: int  # the model.keras files it loads
    evaluations: Mapping[str, Evaluation]  # stored evaluations, in the order of EVAL_SPLITS
    class_counts: Mapping[str, Mapping[str, int]] | None  # images per split and class it was trained and tested on
    data_source: str | None
    history: tuple[Mapping[str, Any], ...]  # per-epoch training metrics (none for an ensemble)
    training: TrainingRun  # how it was trained (command, epochs, hardware; an ensemble's per member)
    speed: Mapping[str, Any] | None  # the stored ``bench`` figures (ms_per_face, faces_per_s, command, date, conditions)
    #: ``fit-temperature``'s record per precision: temperature, NLL and PrivateTest ECE before and after, per TTA
    temperature_fit: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def headline(self, split: str = HEADLINE_SPLIT) -> Evaluation | None:
        """The headline evaluation of a split at the default TTA (the rule of :func:`fer_core.evaluation.evaluate.headline`)."""
        return headline(dict(self.evaluations), split, self.tta)

    @property
    def quoted(self) -> Evaluation | None:
        """The PrivateTest evaluation behind the accuracy quoted with the display name."""
        return headline(dict(self.evaluations), HEADLINE_SPLIT, self.quoted_tta)

    @property
    def accuracy(self) -> float | None:
        quoted = self.quoted
        return quoted.accuracy if quoted else None

    @property
    def label(self) -> str:
        """"Accurate (ensemble of 3, 73.1%)", "Fast (live video, 70.3%)", or "my-model (68.2%)"."""
        detail = [f"ensemble of {len(self.members)}" if len(self.members) > 1 else self.purpose]
        if self.accuracy is not None:
            detail.append(f"{self.accuracy:.1%}")
        inside = ", ".join(d for d in detail if d)
        return f"{self.display_name} ({inside})" if inside else self.display_name


def describe(folder: str | os.PathLike) -> ModelInfo:
    """The :class:`ModelInfo` of a model folder (raises ModelError when its metadata is unreadable)."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    display = metadata.get("display") or {}
    inference = metadata.get("inference") or {}
    architecture = metadata["architecture"]
    kind = str(architecture["name"])
    if architecture.get("member_names"):
        kind += f" of {' + '.join(architecture['member_names'])}"
    data = metadata.get("data") or {}
    tta = str(inference.get("tta", "none"))
    return ModelInfo(
        folder=folder, name=metadata["name"], display_name=str(display.get("name") or folder.name),
        purpose=display.get("purpose"), architecture=kind, members=tuple(member_dirs(folder, metadata)),
        tta=tta, quoted_tta=str(display.get("tta") or tta), input_blur_sigma=input_blur_sigma(metadata),
        labels=tuple(metadata["labels"]), params=architecture.get("params"), size_bytes=folder_size(folder),
        evaluations=MappingProxyType(_in_split_order(load_evaluations(folder))),
        class_counts=data.get("class_counts"), data_source=data.get("source"),
        history=tuple(metadata.get("history") or ()), training=TrainingRun.from_metadata(metadata.get("training")),
        speed=metadata.get("speed") or None,
        temperature_fit=MappingProxyType(inference.get("temperature_fit") or {}),
    )


def _in_split_order(found: dict[str, Evaluation]) -> dict[str, Evaluation]:
    def order(key: str) -> tuple[int, str]:
        split = found[key].split
        return (EVAL_SPLITS.index(split) if split in EVAL_SPLITS else len(EVAL_SPLITS), key)

    return {key: found[key] for key in sorted(found, key=order)}


def label(folder: str | os.PathLike) -> str:
    """How pickers name a model folder; the folder's name when its metadata cannot be read."""
    try:
        return describe(folder).label
    except ModelError:
        return Path(folder).name


def choices(folders: list[Path] | None = None) -> list[Path]:
    """The model folders a user picks from (default: :func:`fer_core.catalog.model.list_models`), the
    default first: every listed folder except those that are members of a listed ensemble."""
    folders = list_models() if folders is None else folders
    members: set[Path] = set()
    for folder in folders:
        try:
            metadata = read_metadata(folder)
            if is_ensemble(metadata):
                members.update(m.resolve() for m in member_dirs(folder, metadata))
        except ModelError:
            continue  # listed as it is: loading it says what is wrong
    return [f for f in folders if f.resolve() not in members]


def _weight_files(folder: str | os.PathLike) -> list[Path]:
    try:
        return weight_files(folder)
    except ModelError:
        return []  # unreadable metadata: loading the model says why


def file_mtime(path: Path) -> float:
    """A file's modification time, 0 when it is missing (a cache key part that changes when it appears)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def model_version(folder: str | os.PathLike) -> float:
    """Latest modification time of the weight files a model loads (an ensemble's members',
    ``model.keras``, ``model.tflite`` and ``model.int8.tflite``, and the metadata that vouches for the
    latter): part of cache keys, so a retrained or re-exported model is reloaded."""
    names = (MODEL_FILE, TFLITE_FILE, INT8_FILE, METADATA_FILE)
    paths = [p.with_name(name) for p in _weight_files(folder) for name in names]
    return max((file_mtime(path) for path in paths), default=0.0)


def folder_size(folder: str | os.PathLike) -> int:
    """Bytes of the ``model.keras`` files a model loads (what the app reads)."""
    return sum(path.stat().st_size for path in _weight_files(folder) if path.is_file())


def format_params(params: int | None) -> str:
    """A parameter count as every page shows it: "2.35 M", or "–" when the metadata has none."""
    return "–" if not params else f"{params / 1e6:.2f} M"
