"""Answered: does post-hoc logit adjustment help Disgust and Fear without costing accuracy? No (docs/experiments.md).

Post-hoc logit adjustment on PublicTest: does dividing by the class prior help Disgust and Fear?

p_adjusted ∝ p / prior**tau (Menon et al., "Long-tail learning via logit adjustment"), with the
prior = class shares of Training. Prints PublicTest accuracy, macro-F1 and per-class recall for
each tau; PublicTest only, because this chooses a setting.

    python experiments/logit_adjustment.py [MODEL_DIR TTA ...]   # default: models/mix3c shift models/student16 none
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.inference.classifier import Classifier  # noqa: E402
from fer_core.data.fer2013 import load_fer2013  # noqa: E402
from fer_core.evaluation.evaluate import classification_metrics  # noqa: E402

TAUS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def adjust(probabilities: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """Probabilities divided by ``prior ** tau``, renormalised (tau 0: unchanged)."""
    adjusted = probabilities / prior**tau
    return adjusted / adjusted.sum(axis=1, keepdims=True)


def main(argv: list[str]) -> int:
    pairs = list(zip(argv[::2], argv[1::2])) or [("models/mix3c", "shift"), ("models/student16", "none")]
    data = load_fer2013()
    _, train_labels = data.split("Training")
    prior = np.bincount(train_labels, minlength=7) / len(train_labels)
    images, labels = data.split("PublicTest")
    for folder, tta in pairs:
        classifier = Classifier.load(folder)
        probabilities = classifier.predict_proba(images, tta)
        for tau in TAUS:
            metrics = classification_metrics(labels, adjust(probabilities, prior, tau), classifier.labels)
            recall = "  ".join(f"{k} {v['recall']:.3f}" for k, v in metrics["per_class"].items())
            print(f"{classifier.name} {tta} tau {tau:<4} accuracy {metrics['accuracy']:.4f} "
                  f"macro-F1 {metrics['macro_f1']:.4f}  recall {recall}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
