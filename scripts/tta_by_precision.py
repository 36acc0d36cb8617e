"""PublicTest accuracy and cost of each TTA mode of one model at one precision: is a stronger default affordable?

    python scripts/tta_by_precision.py [--model models/mix3c] [--precision int8]

PublicTest only (model selection never looks at PrivateTest). ``select-tta`` stores the defaults from the
float32 networks; this asks the same question of the precision that runs.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer_core.catalog.model import PRECISIONS, TTA_MODES, default_model_dir  # noqa: E402
from fer_core.data.fer2013 import DATA_HELP, load_fer2013  # noqa: E402
from fer_core.inference.classifier import Classifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--precision", default="int8", choices=list(PRECISIONS))
    parser.add_argument("--data", help=DATA_HELP)
    args = parser.parse_args()
    images, labels = load_fer2013(args.data).split("PublicTest")
    classifier = Classifier.load(args.model, precision=args.precision)
    print(f"{classifier.name}, {classifier.runtime_label}, PublicTest ({len(images)} faces)")
    for tta in TTA_MODES:
        started = time.perf_counter()
        scores = classifier.predict_proba(images, tta)
        ms = 1000 * (time.perf_counter() - started) / len(images)
        print(f"  {tta:8s} accuracy {np.mean(scores.argmax(1) == labels):.4f}   {ms:.2f} ms/face")


if __name__ == "__main__":
    main()
