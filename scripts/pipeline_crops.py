"""How the classifier does on FER2013 faces cropped by the studio's own pipeline (issue 12).

Each PublicTest face is enlarged, framed, found by a detector and re-cropped as a photo would be
(:mod:`fer_core.pipeline_crops`); the script prints the detection rate and the accuracy on the
original crops and on the pipeline's. PublicTest by default, because this informs training choices.

    python scripts/pipeline_crops.py [--model DIR] [--detector blazeface] [--split PublicTest] [--limit N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.classifier import Classifier  # noqa: E402
from fer_core.data import load_fer2013  # noqa: E402
from fer_core.detect import DETECTORS, LIVE_DETECTOR, make_detector  # noqa: E402
from fer_core.pipeline_crops import pipeline_crops  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the bundled default)")
    parser.add_argument("--detector", default=LIVE_DETECTOR, choices=list(DETECTORS))
    parser.add_argument("--split", default="PublicTest")
    parser.add_argument("--limit", type=int, default=0, help="first N faces only (0: all)")
    parser.add_argument("--tta", default="none")
    args = parser.parse_args(argv)
    images, labels = load_fer2013().require_split(args.split)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    classifier = Classifier.load(args.model)
    started = time.perf_counter()
    crops, found = pipeline_crops(images, make_detector(args.detector))
    seconds = time.perf_counter() - started
    original = classifier.predict_proba(images, args.tta).argmax(axis=1) == labels
    pipeline = classifier.predict_proba(crops, args.tta).argmax(axis=1) == labels
    print(f"{classifier.name} ({args.tta}) on {len(labels)} {args.split} faces, detector {args.detector} "
          f"({seconds:.0f} s): found {found.mean():.1%}")
    print(f"accuracy on FER2013's crops   {original.mean():.4f}")
    print(f"accuracy on the pipeline's    {pipeline.mean():.4f}  (faces found: {pipeline[found].mean():.4f} "
          f"against {original[found].mean():.4f} on their FER2013 crops)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
