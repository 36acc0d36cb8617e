"""Derive the quality flags' thresholds on PublicTest, report what they protect on PrivateTest (docs/quality.md).

    FER_DATA=... python scripts/quality_thresholds.py [--model models/student16] [--faces 1500] [--json out.json]

For each flag (fer_core/evaluation/quality_sweep.py): the split's first ``--faces`` faces are
degraded at graded strengths, classified with the model's default test-time augmentation (as
videos are) and binned by the measure the flag reads; the threshold is the edge of the run of
bins, from the bad end, whose accuracy is each more than 5 points below clean accuracy. The
thresholds are chosen on PublicTest only; the PrivateTest figures are computed once with those
thresholds. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from fer_core.catalog.model import live_model_dir  # noqa: E402
from fer_core.data.fer2013 import load_fer2013, resolve_data_path  # noqa: E402
from fer_core.evaluation.quality_sweep import (LOSS, SWEEPS, bin_accuracy, bins, choose_threshold,  # noqa: E402
                                               detector_points, report, sweep_points)
from fer_core.inference.classifier import Classifier  # noqa: E402
from fer_core.inference.detect import DEFAULT_DETECTOR, make_detector  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(live_model_dir()))
    parser.add_argument("--faces", type=int, default=1500, help="faces per split (the first N)")
    parser.add_argument("--json", help="also write every figure here")
    args = parser.parse_args()
    data = load_fer2013(resolve_data_path())
    classifier = Classifier.load(args.model)
    detector = make_detector(DEFAULT_DETECTOR)
    splits = {name: tuple(a[: args.faces] for a in data.require_split(name)) for name in ("PublicTest", "PrivateTest")}
    results = {}
    for name, (images, labels) in splits.items():
        results[name] = {"clean": float(np.mean(classifier.predict_proba(images).argmax(axis=1) == labels))}
    public_clean = results["PublicTest"]["clean"]
    rows = []
    for sweep in SWEEPS:
        points = {name: sweep_points(sweep, *splits[name], classifier.predict_proba) for name in splits}
        table = bin_accuracy(*points["PublicTest"], bins(points["PublicTest"][0], sweep.flag == "too_small"))
        threshold = choose_threshold(table, public_clean, sweep.low_is_bad)
        rows.append((sweep.flag, sweep.measure, "<" if sweep.low_is_bad else ">", threshold,
                     report(*points["PrivateTest"], threshold, sweep.low_is_bad, clean=len(splits["PrivateTest"][1])),
                     table))
    points = {name: detector_points(*splits[name], classifier, detector) for name in splits}
    table = bin_accuracy(*points["PublicTest"], bins(points["PublicTest"][0], False))
    threshold = choose_threshold(table, float(points["PublicTest"][1].mean()), True)
    rows.append(("low_score", f"{DEFAULT_DETECTOR} score", "<", threshold,
                 report(*points["PrivateTest"], threshold, True, clean=len(points["PrivateTest"][1])), table))
    print(f"model {classifier.name} (TTA {classifier.tta}); first {args.faces} faces of each split; "
          f"clean accuracy PublicTest {results['PublicTest']['clean']:.1%}, "
          f"PrivateTest {results['PrivateTest']['clean']:.1%}; loss that flags: {LOSS:.0%} points\n")
    print("| flag | measure | flagged when | threshold (PublicTest) | PrivateTest faces in the sweep | accuracy, all "
          "| accuracy, kept | accuracy, flagged | share flagged | undegraded faces flagged |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for flag, measure, side, threshold, private, _ in rows:
        def pct(v):
            return "–" if v is None else f"{v:.1%}"
        print(f"| {flag} | {measure} | {side} | {'none' if threshold is None else f'{threshold:.4g}'} "
              f"| {private['faces']:,} | {pct(private['accuracy_all'])} | {pct(private['accuracy_kept'])} "
              f"| {pct(private['accuracy_flagged'])} | {pct(private['share_flagged'])} "
              f"| {pct(private['share_clean_flagged'])} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"clean": results, "flags": [
            {"flag": f, "measure": m, "flagged_when": s, "threshold": t, "privatetest": p,
             "publictest_bins": [dict(zip(("low", "high", "faces", "accuracy"), b)) for b in table]}
            for f, m, s, t, p, table in rows]}, indent=2))


if __name__ == "__main__":
    main()
