"""A model folder's stored evaluations (``evaluation/<split>[-<tta>].json``), read without scikit-learn.

The evaluation room (:mod:`fer_core.evaluation.evaluate`) writes these files; the catalogue and the app read them here.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

EVALUATION_DIR = "evaluation"
#: The classes real users' faces rarely get right: their recall is reported beside accuracy.
WATCHED_CLASSES = ("Angry", "Disgust", "Fear")


def evaluation_key(split: str, tta: str = "none") -> str:
    """How an evaluation is named in a model folder and its metadata: ``PrivateTest`` or ``PrivateTest-tencrop``."""
    return split if tta == "none" else f"{split}-{tta}"


def headline_key(keys: Iterable[str], split: str, default_tta: str) -> str | None:
    """The one rule for "the" score of a model on a split: its default TTA's, else without TTA, else none."""
    keys = set(keys)
    for key in (evaluation_key(split, default_tta), evaluation_key(split)):
        if key in keys:
            return key
    return None


@dataclass(frozen=True)
class Evaluation:
    """One stored evaluation of a model (``evaluation/<key>.json``)."""

    split: str
    tta: str
    accuracy: float
    macro_f1: float | None
    n: int | None
    details: dict = field(repr=False, default_factory=dict)  # the whole JSON: per class, confusion matrix, ...

    @property
    def key(self) -> str:
        return evaluation_key(self.split, self.tta)

    @property
    def leak_free(self) -> dict | None:
        """Scores on the images with no copy in Training (see :func:`leak_free_metrics`), if stored."""
        return self.details.get("leak_free")

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The labels the per-class table and the confusion matrix are in, if stored."""
        labels = self.details.get("labels")
        return tuple(labels) if isinstance(labels, list) else None

    @property
    def per_class(self) -> Mapping[str, Mapping[str, float]]:
        """Precision, recall, F1 and support per class (empty when not stored)."""
        table = self.details.get("per_class")
        return table if isinstance(table, Mapping) else {}

    @property
    def confusion_matrix(self) -> list[list[int]] | None:
        """Counts, rows the true class and columns the predicted one, in :attr:`labels` order, if stored."""
        matrix = self.details.get("confusion_matrix")
        return matrix if isinstance(matrix, list) and matrix else None

    @property
    def reliability(self) -> Mapping | None:
        """The confidence calibration figures (reliability bins and expected calibration error), if stored."""
        found = self.details.get("calibration")
        return found if isinstance(found, Mapping) and found else None

    @property
    def temperature(self) -> float | None:
        """The confidence temperature the scores were made with, if the evaluation recorded one."""
        value = self.details.get("temperature")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def robustness(self) -> Mapping | None:
        """The robustness report (accuracy under camera-like corruptions), if stored."""
        found = self.details.get("robustness")
        return found if isinstance(found, Mapping) and found else None

    def recall(self, name: str) -> float | None:
        """Recall of one class, if the per-class table was stored."""
        row = self.per_class.get(name)
        return None if row is None else float(row["recall"])


def tta_name(tta: str) -> str:
    """A test-time augmentation mode for people ("ten-crop TTA"): the app and the scripts never show raw mode names."""
    return {"none": "no TTA", "flip": "flip TTA", "tencrop": "ten-crop TTA", "shift": "shift TTA"}.get(tta, f"{tta} TTA")


def load_evaluations(model_dir: str | os.PathLike) -> dict[str, Evaluation]:
    """A model's stored evaluations by key; unreadable files are skipped with a log line."""
    found = {}
    for path in sorted((Path(model_dir) / EVALUATION_DIR).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            split = str(data.get("split") or path.stem.split("-")[0])
            evaluation = Evaluation(split, str(data.get("tta", "none")), float(data["accuracy"]),
                                    data.get("macro_f1"), data.get("n"), data)
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        found[evaluation.key] = evaluation
    return found


def headline(evaluations: dict[str, Evaluation], split: str, default_tta: str) -> Evaluation | None:
    """The headline evaluation of a split (see :func:`headline_key`)."""
    key = headline_key(evaluations, split, default_tta)
    return evaluations[key] if key else None
