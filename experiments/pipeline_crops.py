"""Answered: does the app's own crop (BlazeFace box, margin) cost accuracy against FER2013's? No (docs/experiments.md).

FER2013's 48x48 faces were cropped by another detector with another margin. At run time the
studio crops what BlazeFace finds, ``crop_scale`` times its box. Each PublicTest face is enlarged,
set in a larger frame whose border repeats its edge, run through a detector and re-cropped by
:func:`fer_core.inference.infer.detect_and_crop`, exactly as a photo is; the script prints the detection
rate and the accuracy on the original crops and on the pipeline's. PublicTest by default,
because this informs training choices.

    python experiments/pipeline_crops.py [--model DIR] [--detector blazeface] [--split PublicTest] [--limit N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.inference.classifier import Classifier  # noqa: E402
from fer_core.data.fer2013 import load_fer2013  # noqa: E402
from fer_core.inference.detect import DETECTORS, LIVE_DETECTOR, FaceDetector, make_detector  # noqa: E402
from fer_core.inference.crops import detect_and_crop  # noqa: E402
from fer_core.evaluation.sample_frames import frame_face  # noqa: E402




def pipeline_crops(faces: np.ndarray, detector: FaceDetector, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Each face re-cropped as the studio would: ``(crops (N, size, size) uint8, found (N,) bool)``.

    A face the detector misses keeps its original crop (resized to ``size``) and ``found`` False.
    """
    crops = np.empty((len(faces), size, size), dtype=np.uint8)
    found = np.zeros(len(faces), dtype=bool)
    for i, face in enumerate(np.asarray(faces, dtype=np.uint8)):
        _, found_crops = detect_and_crop(frame_face(face), detector)
        if found_crops:
            grey = cv2.cvtColor(found_crops[0], cv2.COLOR_RGB2GRAY)
            crops[i] = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
            found[i] = True
        else:
            crops[i] = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    return crops, found


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
