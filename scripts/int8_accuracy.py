"""PrivateTest accuracy of every shipped network in float32 and int8 (one pass), and the accurate ensemble with its TTA.

The reported test figures of the integer networks (README's results table, docs/model-card.md).
Nothing here chooses anything: the integer networks were accepted on PublicTest by the export.

    python scripts/int8_accuracy.py [--tta-precisions int8] [--json docs/int8_privatetest.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_core.catalog.model import PRECISIONS, default_model_dir, live_model_dir, member_dirs  # noqa: E402
from fer_core.data.parse_cache import load_fer2013_cached  # noqa: E402
from fer_core.evaluation.evaluate import evaluate  # noqa: E402
from fer_core.inference.classifier import Classifier  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="FER2013 CSV (default $FER_DATA)")
    parser.add_argument("--split", default="PrivateTest")
    parser.add_argument("--tta-precisions", nargs="*", default=["int8"], choices=list(PRECISIONS),
                        help="precisions the accurate ensemble is also scored in with its default TTA (slow in float32)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    images, labels = load_fer2013_cached(args.data).require_split(args.split)
    ensemble = default_model_dir()
    folders = [*dict.fromkeys([*member_dirs(ensemble), live_model_dir()]), ensemble]
    rows = []
    for folder in folders:
        for precision in PRECISIONS:
            classifier = Classifier.load(folder, precision=precision)
            metrics, _ = evaluate(classifier, images, labels, tta="none")
            rows.append({"model": classifier.name, "precision": classifier.precision, "tta": "none",
                         "accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
                         "seconds": metrics["seconds"]})
            print(json.dumps(rows[-1]), flush=True)
    for precision in args.tta_precisions:
        classifier = Classifier.load(ensemble, precision=precision)
        started = time.perf_counter()
        metrics, _ = evaluate(classifier, images, labels)
        rows.append({"model": classifier.name, "precision": classifier.precision, "tta": classifier.tta,
                     "accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
                     "seconds": round(time.perf_counter() - started, 1)})
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"split": args.split, "n": int(len(labels)), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
