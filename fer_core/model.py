"""Saving and loading models: ``model.keras`` plus ``metadata.json`` in one folder.

The metadata carries everything inference needs (labels in order, input spec, default
test-time augmentation) and everything a reader needs to trust the numbers (architecture,
training configuration, data hash, history, metrics). Loading refuses a folder whose
metadata is missing or disagrees with the network, and runs Keras in safe mode.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fer_core.preprocess import InputSpec

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "name", "labels", "input_spec", "architecture")
#: Where bundled models live; ``$FER_MODELS_DIR`` points the CLI and the app elsewhere.
MODELS_DIR = Path(os.environ.get("FER_MODELS_DIR", Path(__file__).resolve().parent.parent / "models"))
DEFAULT_MODEL_NAME = "vgg32"
TTA_MODES = ("none", "flip", "tencrop")


class ModelError(ValueError):
    """A model folder that cannot be used, with a message that says why."""


def save_model(model: Any, folder: str | os.PathLike, metadata: dict) -> Path:
    """Write ``model.keras`` and ``metadata.json`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    full = {"format_version": FORMAT_VERSION, **metadata}
    _check_metadata(full, folder)
    model.save(folder / MODEL_FILE)
    write_metadata(folder, full)
    return folder


def write_metadata(folder: str | os.PathLike, metadata: dict) -> None:
    """Replace a model's metadata atomically (so a crash never leaves half a file)."""
    path = Path(folder) / METADATA_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_metadata(folder: str | os.PathLike) -> dict:
    """A model folder's metadata, checked for the keys inference relies on."""
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: no {METADATA_FILE}; a model folder holds {MODEL_FILE} and {METADATA_FILE}")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
    _check_metadata(metadata, folder)
    return metadata


def _check_metadata(metadata: dict, folder: Path) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise ModelError(f"{folder}: metadata lacks {', '.join(missing)}")
    labels = metadata["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{folder}: metadata 'labels' must be a non-empty list of names")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{folder}: metadata 'labels' has duplicates: {labels}")
    try:
        InputSpec.from_dict(metadata["input_spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{folder}: metadata 'input_spec' is invalid ({exc})") from exc
    tta = metadata.get("inference", {}).get("tta", "none")
    if tta not in TTA_MODES:
        raise ModelError(f"{folder}: metadata inference.tta {tta!r} is not one of {', '.join(TTA_MODES)}")


def load_keras_model(folder: str | os.PathLike) -> tuple[Any, dict]:
    """Load ``model.keras`` (safe mode, not compiled) and check it against its metadata."""
    import keras

    folder = Path(folder)
    metadata = read_metadata(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: no {MODEL_FILE} beside {METADATA_FILE}")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ModelError(f"{path}: cannot be loaded as a Keras model ({exc})") from exc
    spec = InputSpec.from_dict(metadata["input_spec"])
    if tuple(model.input_shape[1:]) != spec.shape:
        raise ModelError(f"{folder}: network input {model.input_shape[1:]} != metadata input_spec {spec.shape}")
    if model.output_shape[-1] != len(metadata["labels"]):
        raise ModelError(
            f"{folder}: network has {model.output_shape[-1]} outputs but metadata lists "
            f"{len(metadata['labels'])} labels"
        )
    return model, metadata


def list_models(root: str | os.PathLike = MODELS_DIR) -> list[Path]:
    """Model folders under ``root`` (those with a metadata file), default model first."""
    root = Path(root)
    found = sorted(p.parent for p in root.glob(f"*/{METADATA_FILE}"))
    return sorted(found, key=lambda p: p.name != DEFAULT_MODEL_NAME)


def default_model_dir() -> Path:
    """The bundled default model, overridable with ``$FER_MODEL``."""
    return Path(os.environ.get("FER_MODEL", MODELS_DIR / DEFAULT_MODEL_NAME))
