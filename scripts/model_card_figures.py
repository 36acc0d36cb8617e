"""Print the model card's PrivateTest figures with 95 % bootstrap intervals, and the per-class table.

Why: a single accuracy hides how uncertain it is (Disgust's recall rests on 55 test faces). Each
figure here comes with a percentile-bootstrap interval over the PrivateTest faces (the same
:func:`fer_core.evaluation.validate.validation_metrics` that ``validate`` reports), and the
calibration error before and after the stored temperature (``fit-temperature``).

    python scripts/model_card_figures.py models/mix3c:shift models/student16:none models/student16:shift

Probabilities come through the prediction cache ($FER_CACHE_DIR): the ensemble's shift TTA on
PrivateTest takes minutes on 2 cores the first time.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.data.fer2013 import load_fer2013  # noqa: E402
from fer_core.evaluation.prediction_cache import cached_probabilities  # noqa: E402
from fer_core.evaluation.temperature import REPORT_SPLIT, expected_calibration_error  # noqa: E402
from fer_core.evaluation.validate import validation_metrics  # noqa: E402
from fer_core.inference.classifier import Classifier  # noqa: E402


def ci(row: dict, key: str) -> str:
    """"73.1% (71.6%–74.5%)": a figure and its interval."""
    return f"{row[key]:.1%} ({row['ci_low']:.1%}–{row['ci_high']:.1%})"


def main(argv: list[str]) -> int:
    data = load_fer2013()
    images, labels = data.require_split(REPORT_SPLIT)
    headline, per_class = [], []
    for spec in argv or ["models/mix3c:shift", "models/student16:none", "models/student16:shift"]:
        folder, _, tta = spec.partition(":")
        classifier = Classifier.load(folder)
        tta = tta or classifier.tta
        probabilities = cached_probabilities(classifier, images, tta)
        m = validation_metrics(labels, probabilities.argmax(axis=1), classifier.labels)
        fit = (classifier.metadata.get("inference", {}).get("temperature_fit", {}).get(classifier.precision, {})
               .get("by_tta", {}).get(tta, {}))
        before = fit.get(f"{REPORT_SPLIT}_ece_before")
        after = expected_calibration_error(probabilities, labels)
        headline.append(f"| {classifier.name} | {tta} | {ci(m, 'accuracy')} | {m['macro_f1']:.3f} "
                        f"({m['macro_f1_ci_low']:.3f}–{m['macro_f1_ci_high']:.3f}) | "
                        f"{'–' if before is None else f'{before:.3f}'} → {after:.3f} (T {classifier.temperature(tta):.2f}) |")
        for name, row in m["per_class"].items():
            per_class.append(f"| {classifier.name} ({tta}) | {name} | {row['precision']:.2f} | {row['recall']:.2f} "
                             f"({row['ci_low']:.2f}–{row['ci_high']:.2f}) | {row['support']} |")
    print(f"| model | TTA | {REPORT_SPLIT} accuracy (95 % CI) | macro-F1 (95 % CI) | ECE before → after |")
    print("|---|---|---|---|---|")
    print("\n".join(headline))
    print()
    print("| model | class | precision | recall (95 % CI) | support |")
    print("|---|---|---:|---|---:|")
    print("\n".join(per_class))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
