"""Validate the whole pipeline on your own labelled photos (``python -m fer_core validate FOLDER``).

Why: ``evaluate`` scores FER2013's 48x48 crops, but a researcher needs to know how the studio
does on *their* people, through the same detector and model the app runs. FOLDER holds one
sub-folder per emotion, named as the model's labels in any case (``happy/``, ``Sad/``), with
full-size photos. Each photo's largest face is classified; photos without a face are listed,
not scored. Accuracy, macro-F1 and each class's recall come with a 95 % bootstrap interval
(:func:`scipy.stats.bootstrap`, percentile method, over the photos), because a few dozen photos
per class leave wide uncertainty that a single figure hides.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import bootstrap
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.images import IMAGE_TYPES
from fer_core.inference.infer import analyse_files

#: bootstrap resamples of each interval (a fixed seed: the same photos give the same interval)
RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
IMAGE_SUFFIXES = tuple(f".{kind}" for kind in IMAGE_TYPES)


class ValidationError(ValueError):
    """A folder that cannot be validated on: one line that says what to fix."""


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    label: int  # index into the model's labels


def labelled_photos(folder: str | os.PathLike, labels: Sequence[str]) -> list[LabelledPhoto]:
    """The photos of ``folder/<label>/`` (searched recursively), labelled by their sub-folder's name, any case.

    Raises:
        ValidationError: no such folder, a sub-folder that names no label, or no photo at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder}: not a folder; give a folder with one sub-folder per emotion "
                              f"({', '.join(label.lower() for label in labels)})")
    by_name = {label.lower(): index for index, label in enumerate(labels)}
    photos = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name.lower() not in by_name:
            raise ValidationError(f"{sub}: '{sub.name}' is not one of the model's labels "
                                  f"({', '.join(labels)}; any case); rename or remove the folder")
        photos += [LabelledPhoto(path, by_name[sub.name.lower()]) for path in sorted(sub.rglob("*"))
                   if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        raise ValidationError(f"{folder}: no photo ({' '.join(IMAGE_SUFFIXES)}) in sub-folders named after the "
                              f"labels ({', '.join(label.lower() for label in labels)})")
    return photos


def interval(data: Sequence[np.ndarray], statistic: Callable[..., float],
             vectorized: bool = False) -> tuple[float | None, float | None]:
    """The 95 % percentile-bootstrap interval of ``statistic`` over paired samples (None, None with fewer than 2)."""
    if len(data[0]) < 2:
        return None, None
    result = bootstrap(tuple(data), statistic, paired=True, vectorized=vectorized, n_resamples=RESAMPLES,
                       confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(SEED))
    low, high = result.confidence_interval
    return float(low), float(high)


def validation_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class recall with 95 % bootstrap intervals, and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    codes = np.arange(len(labels))
    correct = (y_true == y_pred).astype(float)
    accuracy = float(correct.mean()) if len(correct) else float("nan")
    low, high = interval([correct], np.mean, vectorized=True)

    def macro_f1(t: np.ndarray, p: np.ndarray) -> float:  # sklearn's macro F1 (zero_division=0) from counts: fast
        counts = np.bincount(t * len(codes) + p, minlength=len(codes) ** 2).reshape(len(codes), len(codes))
        both = counts.sum(axis=0) + counts.sum(axis=1)
        return float(np.mean(np.divide(2 * np.diag(counts), both, out=np.zeros(len(codes)), where=both > 0)))

    f1_low, f1_high = interval([y_true, y_pred], macro_f1)
    precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=codes, zero_division=0)
    per_class = {}
    for code, name in enumerate(labels):
        hits = correct[y_true == code]
        r_low, r_high = interval([hits], np.mean, vectorized=True) if len(hits) else (None, None)
        per_class[name] = {"recall": float(recall[code]) if support[code] else None, "ci_low": r_low, "ci_high": r_high,
                           "precision": float(precision[code]), "support": int(support[code])}
    return {
        "n": int(len(y_true)), "accuracy": accuracy, "ci_low": low, "ci_high": high,
        "macro_f1": float(f1_score(y_true, y_pred, labels=codes, average="macro", zero_division=0)),
        "macro_f1_ci_low": f1_low, "macro_f1_ci_high": f1_high,
        "per_class": per_class, "labels": list(labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=codes).tolist(),
        "confidence_level": CONFIDENCE, "bootstrap": f"percentile, {RESAMPLES} resamples over the photos",
    }


def validate(folder: str | os.PathLike, classifier: Classifier, detector: FaceDetector, *,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run detection and the model on every labelled photo of ``folder`` and score the largest face of each.

    Raises:
        ValidationError: see :func:`labelled_photos`; or no photo had a usable face.
    """
    photos = labelled_photos(folder, classifier.labels)
    y_true, y_pred, no_face, errors = [], [], [], []
    for done, (photo, result) in enumerate(zip(photos, analyse_files([p.path for p in photos], classifier, detector)), 1):
        if result.error:
            errors.append({"file": str(photo.path), "error": result.error})
        elif not result.faces:
            no_face.append(str(photo.path))
        else:  # faces come largest first: the photo's subject
            y_true.append(photo.label)
            y_pred.append(classifier.labels.index(result.faces[0].label))
        if progress:
            progress(done, len(photos))
    if not y_true:
        raise ValidationError(f"{folder}: no face found in any of its {len(photos)} photo(s); try another --detector")
    metrics = validation_metrics(np.array(y_true), np.array(y_pred), classifier.labels)
    metrics.update(photos=len(photos), no_face=no_face, errors=errors, folder=str(folder))
    return metrics


def format_validation(metrics: dict[str, Any]) -> str:
    """The report for people: headline figures with intervals, per class, the confusion matrix, the photos left out."""
    def ci(low: float | None, high: float | None) -> str:
        return "(interval needs 2 or more photos)" if low is None else f"(95% CI {low:.3f}-{high:.3f})"

    labels = metrics["labels"]
    lines = [f"{metrics['n']} of {metrics['photos']} photo(s) scored; {len(metrics['no_face'])} without a face, "
             f"{len(metrics['errors'])} unreadable",
             f"accuracy  {metrics['accuracy']:.3f} {ci(metrics['ci_low'], metrics['ci_high'])}",
             f"macro-F1  {metrics['macro_f1']:.3f} {ci(metrics['macro_f1_ci_low'], metrics['macro_f1_ci_high'])}",
             "", f"{'class':<10}{'recall':>8}  {'95% CI':<13}{'precision':>10}{'support':>9}"]
    for name in labels:
        row = metrics["per_class"][name]
        recall = "-" if row["recall"] is None else f"{row['recall']:.3f}"
        interval_text = "-" if row["ci_low"] is None else f"{row['ci_low']:.2f}-{row['ci_high']:.2f}"
        lines.append(f"{name:<10}{recall:>8}  {interval_text:<13}{row['precision']:>10.3f}{row['support']:>9}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)", " " * 10 + "".join(f"{n[:7]:>8}" for n in labels)]
    lines += [f"{name:<10}" + "".join(f"{v:>8}" for v in row) for name, row in zip(labels, metrics["confusion_matrix"])]
    if metrics["no_face"]:
        lines += ["", "no face found in:"] + [f"  {path}" for path in metrics["no_face"]]
    if metrics["errors"]:
        lines += ["", "could not be read:"] + [f"  {e['error']}" for e in metrics["errors"]]
    return "\n".join(lines)
