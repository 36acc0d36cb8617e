"""What made an output file: the model and its weights' sha256, the package version, the detector,
the TTA, the confidence temperature and the neutral baseline.

Why: a researcher writing a methods section must be able to say exactly which model made a CSV,
a JSON or a Parquet table, and two files from different models must not look alike. Every
output writer (``predict --json/--csv``, ``batch``, the app's downloads) records
:func:`provenance`'s dictionary; ``python -m fer_core --version`` prints :func:`version_text`.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Protocol

from fer_core.common.version import __version__
from fer_core.catalog.model import (DEFAULT_PRECISION, ModelError, requested_precision, default_model_dir, input_blur_sigma, litert_files,
                                    live_model_dir, read_metadata, stored_temperature, weight_files)
from fer_core.common.hashing import file_sha256
from fer_core.common.paths import ROOT_DIR

#: what a provenance record says it is (and its version), so a reader can tell it from other JSON
FORMAT, VERSION = "fer-studio-provenance", 1
#: ``<file>`` + this: the sidecar that carries a CSV's provenance (a CSV reader never sees it)
SIDECAR_SUFFIX = ".provenance.json"


class _Classifier(Protocol):  # what is read of fer_core.inference.classifier.Classifier (a layer above)
    folder: Path | None
    name: str
    tta: str
    runtime: str
    precision: str


def display_path(path: str | os.PathLike) -> str:
    """A path as outputs record it: relative to the checkout when inside it (portable), else absolute."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(ROOT_DIR.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


@functools.lru_cache(maxsize=64)
def _sha256(path: str, mtime_ns: int, size: int) -> str:  # keyed by mtime and size: a changed file is hashed again
    return file_sha256(path)


def weights_sha256(folder: str | os.PathLike, runtime: str = "auto", precision: str | None = None) -> dict[str, str]:
    """``{weight file: sha256}`` of the files a model folder runs (its members' for an ensemble) at ``precision``
    (default: what ``Classifier.load`` runs): the ``.tflite`` files under LiteRT (``auto``: when up to date), the
    ``.keras`` files otherwise."""
    precision = requested_precision(precision.split("+")[0] if precision else None)  # int8+float32: int8 where kept
    files = litert_files(folder, precision=precision) if runtime != "keras" else []
    files = files or weight_files(folder)
    hashes = {}
    for path in files:
        stat = path.stat()
        hashes[display_path(path)] = _sha256(str(path), stat.st_mtime_ns, stat.st_size)
    return hashes


def resolved_runtime(folder: str | os.PathLike, runtime: str = "auto") -> str:
    """The runtime ``Classifier.load(folder, runtime)`` runs: ``auto`` is LiteRT where the folder's exports are up to date."""
    if runtime != "auto":
        return runtime
    return "litert" if litert_files(folder) else "keras"


def provenance(folder: str | os.PathLike, *, runtime: str = "auto", precision: str = DEFAULT_PRECISION,
               detector: str | None, tta: str | None = None, baseline_fingerprint: str | None = None) -> dict[str, Any]:
    """The provenance record of outputs made with this model folder and these settings.

    ``detector`` None means the inputs were already face crops (``predict --aligned``);
    ``tta`` None means the model's default.
    """
    metadata = read_metadata(folder)
    runtime = resolved_runtime(folder, runtime)
    tta = tta or (metadata.get("inference") or {}).get("tta", "none")
    return {
        "format": FORMAT, "format_version": VERSION,
        "software": "fer-studio", "version": __version__,
        "model": {
            "name": metadata["name"], "folder": display_path(folder), "runtime": runtime, "precision": precision,
            "weights_sha256": weights_sha256(folder, runtime, precision),
            "labels": list(metadata["labels"]),
        },
        "detector": detector or "none (the inputs are face crops)",
        "tta": tta,
        "input_blur_sigma": input_blur_sigma(metadata),
        "temperature": stored_temperature(metadata, tta, precision),
        "neutral_baseline": baseline_fingerprint,
    }


def of_classifier(classifier: _Classifier, detector: str | None, tta: str | None = None,
                  baseline: Any = None) -> dict[str, Any]:
    """:func:`provenance` of a loaded classifier (``baseline``: a NeutralBaseline or None)."""
    if classifier.folder is None:
        raise ModelError(f"{classifier.name}: a classifier without a model folder has no provenance")
    return provenance(classifier.folder, runtime=classifier.runtime, precision=getattr(classifier, "precision", DEFAULT_PRECISION),
                      detector=detector, tta=tta or classifier.tta,
                      baseline_fingerprint=getattr(baseline, "fingerprint", None))


def to_json(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2) + "\n"


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where a CSV's provenance goes: ``results.csv`` -> ``results.csv.provenance.json``."""
    return Path(str(path) + SIDECAR_SUFFIX)


def version_text() -> str:
    """``--version``: the package version, then each default model's weight files and their sha256."""
    lines = [f"fer-studio {__version__}"]
    seen = set()
    for role, folder in (("default model", default_model_dir()), ("live model", live_model_dir())):
        if folder in seen:
            continue
        seen.add(folder)
        try:
            hashes = weights_sha256(folder)
        except (ModelError, OSError) as exc:
            lines.append(f"{role} {display_path(folder)}: cannot be read ({exc})")
            continue
        lines.append(f"{role} {display_path(folder)}:")
        lines += [f"  sha256 {digest}  {path}" for path, digest in hashes.items()]
    return "\n".join(lines)
