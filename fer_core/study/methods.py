"""What a researcher cites and what reproduces a study: the methods paragraph and ``manifest.json``.

The manifest records the model's weights' sha256, every setting and each input file's size and
sha256; the paragraph says in words how the figures were made, with the exclusions and why.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.common.version import __version__
from fer_core.catalog.evaluations import tta_name
from fer_core.catalog.model_info import describe
from fer_core.common.hashing import file_sha256
from fer_core.inference.detect import DEFAULT_DETECTOR
from fer_core.inference.quality import THRESHOLDS
from fer_core.catalog.provenance import weights_sha256
from fer_core.study.analyse import Outcome
from fer_core.study.design import Design
from fer_core.study.epochs import MIN_VALID_SHARE
from fer_core.study.summary import CONFIDENCE, RESAMPLES, SEED

#: the packages whose versions the manifest and the paragraph name
PACKAGES = ("numpy", "pandas", "scipy", "opencv-python-headless", "ai-edge-litert", "av", "duckdb", "pyarrow", "ray")


def versions() -> dict[str, str]:
    """Python's and the named packages' versions (those installed)."""
    found = {"fer-studio": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _file(path: Path, role: str, participant: str | None = None) -> dict:
    record = {"role": role, "path": str(path), "participant": participant}
    if path.is_file():
        record.update(size=path.stat().st_size, sha256=file_sha256(path))
    else:
        record.update(size=None, sha256=None, missing=True)
    return record


def inputs(design: Design) -> list[dict]:
    """Each input file (the two CSVs, every video and neutral photo) with its size and sha256."""
    files = [_file(design.study_csv, "study"), _file(design.markers_csv, "markers")]
    for p in design.participants:
        files.append(_file(p.video, "video", p.id))
        if p.neutral_image is not None:
            files.append(_file(p.neutral_image, "neutral_image", p.id))
    return files


def manifest(design: Design, outcomes: Sequence[Outcome], *, model_dir: str | os.PathLike, engine: str, every: int,
             by: str | None) -> dict:
    """The reproducibility record of a run."""
    info = describe(model_dir)
    private = info.headline("PrivateTest")
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "software": versions(),
        "model": {"folder": str(model_dir), "name": info.name, "display_name": info.display_name, "tta": info.tta,
                  "labels": list(info.labels),
                  "privatetest_accuracy": None if private is None else private.accuracy,
                  "weights_sha256": weights_sha256(model_dir)},
        "detector": DEFAULT_DETECTOR,
        "settings": {"engine": engine, "every": every, "by": by, "min_valid_share": MIN_VALID_SHARE,
                     "quality_thresholds": asdict(THRESHOLDS),
                     "participant_face": "the person tracked longest, with the tracks that continue it",
                     "bootstrap": {"method": "BCa", "confidence": CONFIDENCE, "resamples": RESAMPLES, "seed": SEED}},
        "inputs": inputs(design),
        "participants": [{"participant": o.participant, "status": "failed" if o.error else "analysed",
                          "error": o.error, "baseline": o.baseline, "fps": o.fps, "frames_total": o.frames_total,
                          "warning": o.warning} for o in outcomes],
    }


def _coverage(analysed: list[dict]) -> str:
    shares = sorted(p["face_share"] for p in analysed if p.get("face_share") is not None)
    if not shares:
        return ""
    return (f" That face was found in a median of {np.median(shares):.0%} of a participant's analysed frames "
            f"(range {shares[0]:.0%}-{shares[-1]:.0%}).")


def methods_text(design: Design, record: dict, epochs: pd.DataFrame, exclusions: pd.DataFrame) -> str:
    """The methods paragraph (Markdown) a researcher can paste into a paper, from the manifest and the tables."""
    model, settings, software = record["model"], record["settings"], record["software"]
    analysed = [p for p in record["participants"] if p["status"] == "analysed"]
    failed = [p for p in record["participants"] if p["status"] == "failed"]
    accuracy = (f"{model['privatetest_accuracy']:.1%} accuracy on FER2013's PrivateTest split"
                if model["privatetest_accuracy"] is not None else "no stored PrivateTest accuracy")
    fps = sorted({round(p["fps"], 2) for p in analysed if p["fps"]})
    sampling = (f"one video frame in {settings['every']}" if settings["every"] > 1 else "every video frame")
    if fps:
        sampling += f" (videos at {', '.join(f'{f:g}' for f in fps)} frames per second)"
    with_baseline = sum(1 for p in analysed if p["baseline"])
    windows = exclusions[exclusions["stimulus"] != ""]
    thresholds = settings["quality_thresholds"]
    parts = [
        f"Facial expressions were analysed with FER Studio {software['fer-studio']} (Python {software['python']}; "
        f"{', '.join(f'{k} {v}' for k, v in software.items() if k not in ('fer-studio', 'python'))}). "
        f"Faces were found with the {record['detector']} detector in {sampling}, and each face was classified "
        f"into seven emotions (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral) by the {model['display_name']} "
        f"model ({model['name']}, run with {tta_name(model['tta'])}; {accuracy}). "
        "In each video the participant's face was taken to be the person "
        "tracked longest (ByteTrack person IDs), joined by the tracks that continue it after the face left the "
        "view (person IDs never seen in the same frame as it, with a median face at least half as wide); other "
        "faces were not counted."
        + _coverage(analysed),
        f"{with_baseline} of {len(analysed)} participants had a neutral baseline (a photo of their neutral face or "
        "the first seconds of their video): their scores were read against it as softmax(log p - baseline + margin "
        "for Neutral), the margin set by a leave-one-out rule on the neutral frames."
        if with_baseline else "No neutral baseline was used: the scores are the model's probabilities.",
        f"A face was valid unless flagged as too small (shorter box side under {thresholds['min_side']:g} px), "
        f"too dark or too bright (mean grey level of its 48x48 crop under {thresholds['min_brightness']:g} or over "
        f"{thresholds['max_brightness']:g}), blurred (variance of its Laplacian over that of its grey levels under "
        f"{thresholds['min_sharpness']:g}) or "
        f"of low detector score (under {thresholds['min_score']:g}); each threshold is where FER2013 PublicTest "
        "faces degraded that way lost more than 5 points of accuracy. For each participant and stimulus window the "
        "mean score of each emotion was taken over the valid frames; a participant with fewer than "
        f"{settings['min_valid_share']:.0%} of a window's frames valid was excluded from that window's group figures.",
        f"Group means are given with {settings['bootstrap']['confidence']:.0%} BCa bootstrap confidence intervals "
        f"over participants ({settings['bootstrap']['resamples']:,} resamples, seed {settings['bootstrap']['seed']}); "
        "the share of participants is the share whose strongest mean emotion in the window it was.",
        f"{len(design.participants)} participants were recorded; {len(analysed)} were analysed"
        + (f" and {len(failed)} could not be ({'; '.join(p['error'] for p in failed)})." if failed else ".")
        + (f" {len(windows)} participant-window{'s were' if len(windows) != 1 else ' was'} excluded: "
           + "; ".join(f"{r.participant} in {r.stimulus} ({r.reason})" for r in windows.itertuples()) + "."
           if len(windows) else " No participant-window was excluded."),
    ]
    return "# Methods\n\n" + "\n\n".join(parts) + "\n"
