"""Answered: do fitted member weights or class offsets beat the plain mean? No (docs/experiments.md).

Would weighted members or per-class offsets beat an ensemble's plain mean? Cross-validated on PublicTest.

`fer_core ensemble` averages its members with equal weights. Two tempting refinements can be fitted on
PublicTest: a weight per member (from a small grid) and an offset per class added to the mean's
log-probabilities (a calibration towards the rarer classes). Fitted and scored on the same images they
always "win", so this script fits each on a random half of PublicTest and scores it on the other half,
over several splits, against the plain mean of the same members. PublicTest only: this chooses a setting.

    python experiments/ensemble_weights_cv.py models/vgg32b models/vgg48-camera-s2 models/resnet32-150 \\
        --tta shift --smoothing 0.5 [--cache DIR] [--splits 5]
"""
from __future__ import annotations

import streamlit_webrtc  # noqa: F401  -- before TensorFlow (pylibsrtp after TensorFlow segfaults)

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_core.data.fer2013 import DATA_HELP, load_fer2013  # noqa: E402
from fer_core.catalog.model import TTA_MODES  # noqa: E402

SPLIT = "PublicTest"
WEIGHT_STEPS = (0, 1, 2, 3)  #: each member's weight on the grid; all-zero is skipped
OFFSETS = np.linspace(-0.6, 0.6, 25)  #: candidate per-class offsets to log-probabilities


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(axis=1) == labels).mean())


def best_weights(members: np.ndarray, labels: np.ndarray) -> tuple[int, ...]:
    """The grid weights whose weighted mean of ``members`` (``(n_members, N, n_classes)``) is most accurate."""
    grid = [w for w in itertools.product(WEIGHT_STEPS, repeat=len(members)) if any(w)]
    return max(grid, key=lambda w: accuracy(np.tensordot(np.asarray(w, float), members, axes=1), labels))


def best_offsets(probs: np.ndarray, labels: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-class offsets to ``log(probs)`` that maximise accuracy, one class at a time (coordinate ascent);
    among equally accurate offsets the one nearest 0, so that a class the data say nothing about stays put."""
    logp, offsets = np.log(np.clip(probs, 1e-9, 1.0)), np.zeros(probs.shape[1])
    for _ in range(rounds):
        for k in range(len(offsets)):
            scores = [accuracy(logp + np.where(np.arange(len(offsets)) == k, c, offsets), labels) for c in OFFSETS]
            offsets[k] = max(zip(scores, -np.abs(OFFSETS), OFFSETS))[2]
    return offsets


def cross_validate(members: np.ndarray, labels: np.ndarray, splits: int = 5, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy of the plain mean, the fitted weights and the fitted offsets, averaged over
    ``splits`` random halvings (each half fits once and the other half scores)."""
    rng = np.random.default_rng(seed)
    mean = members.mean(axis=0)
    scores: dict[str, list[float]] = {"mean": [], "weights": [], "offsets": []}
    for _ in range(splits):
        order = rng.permutation(len(labels))
        halves = order[: len(order) // 2], order[len(order) // 2:]
        for fit, held in (halves, halves[::-1]):
            weights = np.asarray(best_weights(members[:, fit], labels[fit]), float)
            offsets = best_offsets(mean[fit], labels[fit])
            scores["mean"].append(accuracy(mean[held], labels[held]))
            scores["weights"].append(accuracy(np.tensordot(weights, members[:, held], axes=1), labels[held]))
            scores["offsets"].append(accuracy(np.log(np.clip(mean[held], 1e-9, 1.0)) + offsets, labels[held]))
    return {name: float(np.mean(values)) for name, values in scores.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="trained (single) model folders: the members")
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--tta", default="shift", choices=TTA_MODES)
    parser.add_argument("--smoothing", type=float, default=0.5, help="input blur (sigma) shared by the members")
    parser.add_argument("--cache", type=Path, help="compare_ensembles.py's probability cache, shared with it")
    parser.add_argument("--splits", type=int, default=5, help="random halvings of PublicTest (default 5)")
    args = parser.parse_args()
    from compare_ensembles import probabilities  # same folder; one way to compute and cache members' outputs

    images, labels = load_fer2013(args.data).split(SPLIT)
    members = np.stack([probabilities(folder, images, [args.tta], [args.smoothing], args.cache)
                        [args.smoothing, args.tta] for folder in args.models])
    print(f"{SPLIT} (n={len(labels)}), {args.tta} + σ {args.smoothing}, {' + '.join(f.name for f in args.models)}")
    print(f"  weights fitted on all of {SPLIT}: {best_weights(members, labels)} (grid {WEIGHT_STEPS})")
    held = cross_validate(members, labels, args.splits)
    print(f"  held-out accuracy over {args.splits} halvings × 2: plain mean {held['mean']:.4f}, "
          f"fitted weights {held['weights']:.4f}, fitted class offsets {held['offsets']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
