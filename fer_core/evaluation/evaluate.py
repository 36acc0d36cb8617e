"""Evaluation with scikit-learn: accuracy, macro-F1, per-class report, confusion matrix.

The JSON written here is what the app's metrics page reads.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from fer_core.inference.classifier import Classifier
from fer_core.common.labels import LABELS
from fer_core.catalog.model import ModelError
from fer_core.catalog.evaluations import (EVALUATION_DIR, WATCHED_CLASSES, evaluation_key)
from fer_core.inference.preprocess import INPUT_BLUR_GRID, preprocess_faces

log = logging.getLogger(__name__)


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Metrics of predicted probabilities against true codes (pure: no model involved)."""
    y_pred = np.argmax(probabilities, axis=1)
    codes = np.arange(len(labels))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=codes, zero_division=0)
    confidence = probabilities.max(axis=1)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=codes, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "labels": list(labels),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=codes).tolist(),
        "calibration": reliability_bins(confidence, y_pred == y_true),
    }


def leak_free_metrics(y_true: np.ndarray, probabilities: np.ndarray, labels: tuple[str, ...],
                      images: np.ndarray, training_images: np.ndarray) -> dict:
    """Accuracy, macro-F1 and watched recalls on the images that have no pixel copy in Training.

    PrivateTest shares a few hundred exact duplicates with Training; scoring without them
    says how the model does on faces it has never seen.
    """
    from fer_core.data.explore import seen_in

    keep = ~seen_in(images, training_images)
    subset = classification_metrics(np.asarray(y_true)[keep], probabilities[keep], labels)
    return {"accuracy": subset["accuracy"], "macro_f1": subset["macro_f1"], "n": subset["n"],
            "excluded": int((~keep).sum()),
            "recall": {name: subset["per_class"][name]["recall"] for name in labels}}


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Reliability-diagram data: per confidence bin, mean confidence, accuracy and count; plus ECE."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        conf = float(confidence[mask].mean()) if count else None
        acc = float(correct[mask].mean()) if count else None
        if count:
            ece += count / len(confidence) * abs(acc - conf)
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "confidence": conf, "accuracy": acc, "count": count})
    return {"bins": rows, "ece": float(ece)}


def require_fer2013_labels(classifier: Classifier) -> None:
    """Refuse a model whose outputs are not FER2013's codes in order: its scores would be silently wrong.

    A data set's labels are FER2013 codes (:data:`fer_core.common.labels.LABELS`); scoring compares
    them with the index of the model's top output, which means the same only for that order.

    Raises:
        ModelError: the model's labels are not :data:`LABELS`, in that order.
    """
    if tuple(classifier.labels) != LABELS:
        raise ModelError(f"{classifier.name}: its labels {', '.join(classifier.labels)} are not FER2013's "
                         f"{', '.join(LABELS)} in this order, so its outputs cannot be scored against the "
                         "data set's codes; evaluate a model trained on FER2013's label order")


def evaluate(classifier: Classifier, images: np.ndarray, labels: np.ndarray, *, tta: str | None = None,
             input_blur_sigma: float | None = None) -> tuple[dict, np.ndarray]:
    """Score a classifier on FER2013-style 48x48 grey images: (metrics, probabilities).

    ``tta`` and ``input_blur_sigma`` default to the model's stored inference settings.

    Raises:
        ModelError: the model's labels are not FER2013's (:func:`require_fer2013_labels`).
        ValueError: no images, or not one label per image (checked here because
            scikit-learn's own message would not say which input was wrong).
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels; pass one label per image")
    if not len(labels):
        raise ValueError("no images to evaluate; choose a split that has rows (FerData.require_split names an empty one)")
    require_fer2013_labels(classifier)
    started = time.perf_counter()
    probabilities = classifier.predict_proba(images, tta, input_blur_sigma=input_blur_sigma)
    seconds = time.perf_counter() - started
    metrics = classification_metrics(labels, probabilities, classifier.labels)
    metrics.update(model=classifier.name, tta=tta or classifier.tta, temperature=classifier.temperature(tta),
                   input_blur_sigma=classifier.input_blur_sigma if input_blur_sigma is None else input_blur_sigma,
                   seconds=round(seconds, 2))
    return metrics, probabilities


def format_report(metrics: dict) -> str:
    """A human-readable report: headline numbers, the per-class table and the confusion matrix."""
    labels = metrics["labels"]
    lines = [
        f"model {metrics.get('model', '?')}  split {metrics.get('split', '?')}  n={metrics['n']}  tta={metrics.get('tta', 'none')}"
        + (f"  input blur={metrics['input_blur_sigma']}" if metrics.get("input_blur_sigma") else ""),
        f"accuracy  {metrics['accuracy']:.4f}",
        f"macro-F1  {metrics['macro_f1']:.4f}",
        "recall    " + "  ".join(f"{name} {metrics['per_class'][name]['recall']:.3f}"
                                 for name in WATCHED_CLASSES if name in metrics["per_class"]),
    ]
    if metrics.get("leak_free"):
        free = metrics["leak_free"]
        lines.append(f"leak-free accuracy {free['accuracy']:.4f}  (n={free['n']}: without the {free['excluded']} "
                     "image(s) that have an exact copy in Training)")
    lines += [
        "",
        f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for name in labels:
        row = metrics["per_class"][name]
        lines.append(f"{name:<10}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>10d}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)", " " * 10 + "".join(f"{n[:7]:>8}" for n in labels)]
    for name, row in zip(labels, metrics["confusion_matrix"]):
        lines.append(f"{name:<10}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)


def write_json(metrics: dict, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")


def record_in_model(folder: str | os.PathLike, metrics: dict) -> Path:
    """Keep an evaluation with its model: ``evaluation/<split>[-<tta>].json`` and a summary in the metadata."""
    from fer_core.catalog.model import read_metadata, write_metadata

    folder = Path(folder)
    tta = metrics.get("tta", "none")
    key = evaluation_key(metrics["split"], tta)
    path = folder / EVALUATION_DIR / f"{key}.json"
    write_json(metrics, path)
    metadata = read_metadata(folder)
    metadata.setdefault("metrics", {})[key] = {
        "accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
        "n": metrics["n"], "tta": tta,
    }
    if metrics.get("leak_free"):
        metadata["metrics"][key]["leak_free_accuracy"] = round(metrics["leak_free"]["accuracy"], 4)
    write_metadata(folder, metadata)
    return path


def select_tta(classifier: Classifier, images: np.ndarray, labels: np.ndarray,
               blur_sigmas: Sequence[float] = INPUT_BLUR_GRID,
               modes: Sequence[str] | None = None) -> tuple[str, float, dict[float, dict[str, float]]]:
    """The test-time augmentation and input blur with the best accuracy on the given (validation) images.

    Returns ``(tta, input_blur_sigma, {sigma: {tta: accuracy}})``. Ties go to the cheaper TTA, then
    to less blur. ``modes`` narrows the TTAs tried (all by default): a large ensemble's
    ten-crop at every blur costs minutes. Call it on PublicTest only: PrivateTest is for reporting.
    """
    from fer_core.catalog.model import TTA_MODES

    modes = [mode for mode in TTA_MODES if modes is None or mode in modes]  # cheapest first, for the ties
    require_fer2013_labels(classifier)
    batch = preprocess_faces(images, classifier.spec)  # once, for every setting
    scores = {float(s): _accuracy_by_tta(classifier, batch, labels, modes, s) for s in blur_sigmas}
    tta, sigma = max(((mode, s) for s in scores for mode in modes),
                         key=lambda pair: (round(scores[pair[1]][pair[0]], 4), -TTA_MODES.index(pair[0]), -pair[1]))
    return tta, sigma, scores


def _accuracy_by_tta(classifier: Classifier, batch: np.ndarray, labels: np.ndarray,
                     modes: Sequence[str], sigma: float) -> dict[str, float]:
    """Accuracy of each TTA at one input blur, on a preprocessed batch. The views are shared: "none" is
    flip's first view and "flip" shift's first two, so none + flip + shift cost 10 passes, not 13."""
    probabilities = {}
    widest = "shift" if "shift" in modes else "flip" if "flip" in modes else None
    if widest:
        views = classifier.predict_views(batch, widest, input_blur_sigma=sigma)
        for mode, n in (("none", 1), ("flip", 2), (widest, len(views))):
            probabilities[mode] = views[:n].mean(axis=0).astype(np.float32)  # as predict_batch averages
    for mode in modes:
        if mode not in probabilities:
            probabilities[mode] = classifier.predict_batch(batch, mode, input_blur_sigma=sigma)
    return {mode: classification_metrics(labels, probabilities[mode], classifier.labels)["accuracy"] for mode in modes}


def store_default_tta(folder: str | os.PathLike, tta: str, input_blur_sigma: float,
                      scores: dict[float, dict[str, float]], split: str) -> None:
    """Make ``tta`` and ``input_blur_sigma`` the model's default inference settings, noting how they were chosen."""
    from fer_core.catalog.model import read_metadata, write_metadata

    metadata = read_metadata(folder)
    metadata["inference"] = {
        "tta": tta, "input_blur_sigma": input_blur_sigma, "selected_on": split,
        "accuracy_by_tta": {k: round(v, 4) for k, v in scores[input_blur_sigma].items()},
        "accuracy_by_input_blur": {str(s): {k: round(v, 4) for k, v in by_tta.items()} for s, by_tta in scores.items()},
    }
    write_metadata(folder, metadata)


# ---------------------------------------------------------------- predictions of a split, for the gallery
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predicted codes equal to the true ones."""
    return float(accuracy_score(y_true, y_pred))


def confusions(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """The ``(n_labels, n_labels)`` confusion matrix: rows are true codes, columns predicted codes."""
    return confusion_matrix(y_true, y_pred, labels=np.arange(n_labels))


def top_confusion(matrix) -> tuple[int, int]:
    """(true, predicted) codes of the most frequent error in a confusion matrix ((0, 1) if none)."""
    errors = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(errors, 0)
    if errors.max(initial=0) == 0:
        return 0, 1
    true, pred = np.unravel_index(int(np.argmax(errors)), errors.shape)
    return int(true), int(pred)


def most_confident_mistakes(probabilities: np.ndarray, y_true: np.ndarray, true_code: int, pred_code: int,
                            limit: int | None = None) -> np.ndarray:
    """Indices of the images of class ``true_code`` predicted as ``pred_code``, most confident first
    (at most ``limit``; all by default). With ``true_code == pred_code`` they are correct predictions."""
    y_pred = probabilities.argmax(axis=1)
    picked = np.flatnonzero((np.asarray(y_true) == true_code) & (y_pred == pred_code))
    return picked[np.argsort(-probabilities[picked].max(axis=1), kind="stable")][:limit]
