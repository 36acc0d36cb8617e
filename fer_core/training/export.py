"""Export trained Keras networks to LiteRT (``model.tflite``), each checked against Keras before it is kept."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fer_core.catalog.model import MODEL_FILE, TFLITE_FILE, is_ensemble, load_keras_model, member_dirs, read_metadata, write_metadata
from fer_core.inference.litert import LiteRTRunner

#: largest |p_litert - p_keras| an export may show on its check batch
PARITY_TOLERANCE = 1e-4


def export_tflite(keras_model, path: str | os.PathLike) -> Path:
    """Write a float32 ``.tflite`` of a Keras model (Keras 3's own LiteRT export), atomically."""
    from fer_core.common.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    path = Path(path)
    tmp = path.with_name("tmp-" + path.name)
    keras_model.export(str(tmp), format="litert", verbose=False)
    os.replace(tmp, path)
    return path


def export_model_folder(folder: str | os.PathLike, check_batch: np.ndarray | None = None) -> list[Path]:
    """Export a model folder (each member of an ensemble) to ``model.tflite`` and record it in the metadata.

    Each export is checked against Keras on ``check_batch`` (default: 64 random inputs) and
    refused if any probability differs by more than :data:`PARITY_TOLERANCE`.
    """
    from fer_core.common.hashing import file_sha256

    folder = Path(folder)
    metadata = read_metadata(folder)
    written = []
    for member in member_dirs(folder, metadata):
        member_meta = read_metadata(member)
        if is_ensemble(member_meta):
            continue
        model, _ = load_keras_model(member)
        path = export_tflite(model, member / TFLITE_FILE)
        batch = check_batch if check_batch is not None else np.random.default_rng(0).random(
            (64, *model.input_shape[1:]), dtype=np.float32)
        expected = np.asarray(model(batch, training=False))
        got = LiteRTRunner(path)(batch)
        worst = float(np.max(np.abs(got - expected)))
        if worst > PARITY_TOLERANCE:
            path.unlink()
            raise RuntimeError(f"{path}: LiteRT differs from Keras by {worst:.2e} (> {PARITY_TOLERANCE:g}); not kept")
        member_meta.setdefault("runtimes", {})["litert"] = {
            "file": TFLITE_FILE, "sha256": file_sha256(path), "keras_sha256": file_sha256(member / MODEL_FILE),
            "max_abs_diff_vs_keras": worst, "exported_with": exporter_versions(),
        }
        write_metadata(member, member_meta)
        written.append(path)
    return written


def exporter_versions() -> str:
    """The converter's libraries, recorded with each exported file."""
    from importlib.metadata import version

    return f"TensorFlow {version('tensorflow')}, Keras {version('keras')}, ai-edge-litert {version('ai-edge-litert')}"
