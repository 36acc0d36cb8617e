"""Answered: how far should the shift TTA move the face? 2 px; diagonals and zooms add nothing (docs/experiments.md).

How far should the shift TTA move the face? PublicTest accuracy of flip TTA averaged over shifted copies.

For each distance (1-3 px of 48), the face is moved right, left, down and up ("cross", 10 views with
flip) and also along the diagonals ("cross+diag", 18 views), after the model's input blur, exactly
as ``tta="shift"`` does at its 2 px. With ``--zoom``, it also tries adding flip views of the face
zoomed in or out (a factor each, centred; borders mirrored) to the shift TTA's 10 views.
PublicTest only, because this chooses a setting.

    python experiments/shift_tta_sweep.py [MODEL_DIR ...] [--smoothing 0.6] [--zoom 0.9 1.1]   # default: models/student16
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.inference.classifier import Classifier, shifts  # noqa: E402
from fer_core.data.fer2013 import DATA_HELP, load_fer2013  # noqa: E402
from fer_core.evaluation.evaluate import classification_metrics, require_fer2013_labels  # noqa: E402
from fer_core.inference.preprocess import input_blur, preprocess_faces  # noqa: E402

DISTANCES = (1, 2, 3)


def zoomed(batch: np.ndarray, factor: float) -> np.ndarray:
    """Each face scaled by ``factor`` about its centre, cropped (zoom in) or mirror-padded (zoom out) to its size."""
    size = batch.shape[1]
    scaled = max(1, round(size * factor))
    out = np.empty_like(batch)
    for i, face in enumerate(batch):
        image = cv2.resize(face, (scaled, scaled), interpolation=cv2.INTER_LINEAR).reshape(scaled, scaled, -1)
        if scaled >= size:
            start = (scaled - size) // 2
            out[i] = image[start:start + size, start:start + size]
        else:
            before = (size - scaled) // 2
            pad = ((before, size - scaled - before),) * 2 + ((0, 0),)
            out[i] = np.pad(image, pad, mode="reflect")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["models/student16"], help="model folders")
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--smoothing", type=float, default=0.6, help="input blur (sigma) before shifting")
    parser.add_argument("--zoom", type=float, nargs="*", default=[],
                        help="also try adding flip views zoomed by each factor to shift's views (e.g. 0.9 1.1)")
    args = parser.parse_args()
    images, labels = load_fer2013(args.data).split("PublicTest")
    for folder in args.models:
        classifier = Classifier.load(folder)
        require_fer2013_labels(classifier)
        batch = input_blur(preprocess_faces(images, classifier.spec), args.smoothing)

        def flip_tta(views: np.ndarray) -> np.ndarray:
            return classifier.predict_batch(views, "flip", input_blur_sigma=0.0)

        def accuracy(probabilities: list[np.ndarray]) -> float:
            return classification_metrics(labels, np.mean(probabilities, axis=0), classifier.labels)["accuracy"]

        plain = flip_tta(batch)
        print(f"{classifier.name}, PublicTest, smoothing {args.smoothing}: flip {accuracy([plain]):.4f}")
        cross = {}  # distance -> the 5 flip-averaged views of the cross (at 2 px: exactly tta="shift")
        for d in DISTANCES:
            moved = [flip_tta(view) for view in shifts(batch, d, diagonal=True)]
            cross[d] = [plain, *moved[:4]]
            print(f"  {d} px: cross (10 views) {accuracy(cross[d]):.4f}   "
                  f"cross+diag (18 views) {accuracy([plain, *moved]):.4f}", flush=True)
        for factor in args.zoom:
            zoom = flip_tta(zoomed(batch, factor))
            print(f"  zoom {factor}: the 2 px cross + the zoomed flip (12 views) {accuracy([*cross[2], zoom]):.4f}   "
                  f"the zoomed flip alone {accuracy([zoom]):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
