"""Answered: which trained networks to average? vgg32b + vgg48-camera-s2 + resnet32-150, mix3c's members (docs/experiments.md).

Which models to ensemble: accuracy of every subset of trained models, with each TTA and smoothing, on PublicTest.

Model selection uses PublicTest only (PrivateTest is the reported test set), so this script
refuses any other split. Each model's probabilities are computed once per TTA (and cached in
``--cache`` when given, keyed by model file and modification time); a subset's ensemble is the
mean of its members' probabilities, exactly what ``python -m fer_core ensemble`` builds. Like an
ensemble, every member sees the same smoothed input (``--smoothing``, one table per value).

``--json OUT`` also writes the table (with the command that made it), which
``python -m fer_core ensemble --selection OUT`` stores in the chosen ensemble's metadata.

Usage: .venv/bin/python experiments/compare_ensembles.py models/vgg32b runs/other/ ... [--smoothing 0 0.6] [--cache DIR] [--json OUT]
"""
from __future__ import annotations

import streamlit_webrtc  # noqa: F401  -- before TensorFlow (pylibsrtp after TensorFlow segfaults)

import argparse
import hashlib
import itertools
import json
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_core.inference.classifier import Classifier  # noqa: E402
from fer_core.data.fer2013 import DATA_HELP, load_fer2013  # noqa: E402
from fer_core.evaluation.evaluate import classification_metrics, require_fer2013_labels  # noqa: E402
from fer_core.common.labels import LABELS  # noqa: E402
from fer_core.catalog.model import TTA_MODES, MODEL_FILE  # noqa: E402

SPLIT = "PublicTest"


def probabilities(folder: Path, images: np.ndarray, ttas: list[str], smoothings: list[float],
                  cache: Path | None) -> dict[tuple[float, str], np.ndarray]:
    """A model's PublicTest probabilities for each (smoothing, TTA), from the cache when it is current.

    The model is loaded once, and only if some setting is not cached.
    """
    weights = folder / MODEL_FILE
    classifier = None
    probs = {}
    for smoothing in smoothings:
        for tta in ttas:
            key = hashlib.sha1(
                f"{weights.resolve()}|{weights.stat().st_mtime}|{tta}|{smoothing}".encode()).hexdigest()[:16]
            path = cache / f"{folder.name}-{tta}-{smoothing}-{key}.npy" if cache else None
            if path and path.is_file():
                probs[smoothing, tta] = np.load(path)
                continue
            if classifier is None:
                classifier = Classifier.load(folder, precision="float32")  # the float networks, as stored selections
                require_fer2013_labels(classifier)  # its outputs are compared with FER2013 codes
            probs[smoothing, tta] = classifier.predict_proba(images, tta, input_blur_sigma=smoothing)
            if path:
                cache.mkdir(parents=True, exist_ok=True)
                np.save(path, probs[smoothing, tta])
    return probs


def combine(member_probs: list[np.ndarray], mean: str) -> np.ndarray:
    """The members' mean probabilities (``arithmetic``), or their normalised geometric mean."""
    if mean == "arithmetic":
        return np.mean(member_probs, axis=0)
    logp = np.mean([np.log(np.clip(p, 1e-7, 1.0)) for p in member_probs], axis=0)
    p = np.exp(logp - logp.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


#: options that say where files go, not what is computed: left out of the recorded command
_LOCAL_OPTIONS = ("--cache", "--json")


def reproducible_command(argv: list[str]) -> str:
    """The command line to store beside a selection: ``argv`` without ``--cache``/``--json`` and their
    values, which name this machine's scratch files (often under /tmp) and do not change the figures."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _LOCAL_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in _LOCAL_OPTIONS)):
            kept.append(arg)
    return "python experiments/compare_ensembles.py " + shlex.join(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="trained (single) model folders")
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--tta", nargs="+", default=list(TTA_MODES), choices=TTA_MODES)
    parser.add_argument("--smoothing", nargs="+", type=float, default=[0.0],
                        help="Gaussian sigma(s) of the input, as inference.input_blur_sigma (default 0)")
    parser.add_argument("--cache", type=Path, help="folder for cached probabilities")
    parser.add_argument("--mean", choices=("arithmetic", "geometric"), default="arithmetic",
                        help="how members are combined: arithmetic (what `fer_core ensemble` does) or geometric "
                             "(the mean of log-probabilities, a tried alternative)")
    parser.add_argument("--json", type=Path, help="also write the accuracies here (for `fer_core ensemble --selection`)")
    args = parser.parse_args()
    images, labels = load_fer2013(args.data).split(SPLIT)
    names = [folder.name for folder in args.models]
    per_model = [probabilities(folder, images, args.tta, args.smoothing, args.cache) for folder in args.models]
    accuracy: dict[str, dict[str, dict[str, float]]] = {}
    for smoothing in args.smoothing:
        print(f"{SPLIT} (n={len(labels)}), smoothing {smoothing}: accuracy / macro-F1 of each subset's "
              f"{args.mean} mean probabilities")
        print(f"{'members':<48}" + "".join(f"{tta:>18}" for tta in args.tta))
        probs = {tta: [model_probs[smoothing, tta] for model_probs in per_model] for tta in args.tta}
        for size in range(1, len(names) + 1):
            for subset in itertools.combinations(range(len(names)), size):
                cells = []
                for tta in args.tta:
                    mean = combine([probs[tta][i] for i in subset], args.mean)
                    m = classification_metrics(labels, mean, LABELS)
                    accuracy.setdefault(str(smoothing), {}).setdefault(tta, {})[
                        " + ".join(names[i] for i in subset)] = round(float(m["accuracy"]), 4)
                    cells.append(f"{m['accuracy']:.4f} / {m['macro_f1']:.3f}")
                print(f"{' + '.join(names[i] for i in subset):<48}" + "".join(f"{c:>18}" for c in cells))
        print()
    if args.json:
        command = reproducible_command(sys.argv[1:])
        args.json.write_text(json.dumps({"split": SPLIT, "command": command, "mean": args.mean,
                                         "accuracy": accuracy}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
