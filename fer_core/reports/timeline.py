"""Emotion timelines of videos and live streams: per-frame rows -> tables, share of time (pure pandas).

The main face's timeline (:func:`timeline`) follows whoever is largest in each frame; the
per-person ones (:func:`person_timeline`, :func:`person_summary`) follow one person ID
(``person``, :mod:`fer_core.inference.tracking`) through the video or stream.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_core.inference.rows import MAIN_FACE, NO_FACE

#: A gap longer than this between two rows (a paused stream) counts as this long.
MAX_STEP_S = 2.0


def timeline(rows: Sequence[dict], labels: Sequence[str], time_column: str = "time_s") -> pd.DataFrame:
    """One row per frame for the main (largest) face: time, label, confidence and each probability.

    ``rows`` are per-frame-and-face dicts (``VideoResult.rows()`` or the live history); only
    the first face of each frame is kept (faces come largest first). Frames without a face
    keep their time with label ``"No face"`` and empty probabilities, so charts show a gap.
    """
    columns = [time_column, "label", "confidence", *labels]
    kept = [r for r in rows if r.get("face") in (MAIN_FACE, None)]
    frame = pd.DataFrame(kept)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    for column in columns:
        if column not in frame:
            frame[column] = np.nan
    return frame[columns].sort_values(time_column, kind="stable").reset_index(drop=True)


def shares(frame: pd.DataFrame, labels: Sequence[str], time_column: str = "time_s") -> dict[str, float]:
    """Share of time each emotion was the top one (plus ``"No face"`` when it occurred).

    Each row lasts until the next one (the last row as long as the median step); gaps longer
    than :data:`MAX_STEP_S` count as that long. Shares sum to 1 (empty input: all zero).
    """
    out = {label: 0.0 for label in labels}
    if frame.empty:
        return out
    durations = row_durations(frame[time_column].to_numpy(dtype=np.float64))
    totals = pd.Series(durations).groupby(frame["label"].to_numpy()).sum()
    whole = float(durations.sum())
    for label, seconds in totals.items():
        if label in out or label == NO_FACE:
            out[label] = float(seconds) / whole
    return out


def row_durations(times: np.ndarray) -> np.ndarray:
    """How long each of the sorted ``times`` lasts: until the next one, the last as long as the median
    step, gaps capped at :data:`MAX_STEP_S`; all ones when every time is the same."""
    steps = np.diff(times)
    last = float(np.median(steps)) if len(steps) else 1.0
    durations = np.clip(np.append(steps, last), 0.0, MAX_STEP_S)
    return durations if durations.sum() > 0 else np.ones_like(durations)


def shares_table(share: dict[str, float]) -> pd.DataFrame:
    """The shares as a table for display and CSV download."""
    return pd.DataFrame({"emotion": list(share), "share": [round(v, 4) for v in share.values()]})


# ------------------------------------------------------------------ per person (the ``person`` column)


def people(rows: Sequence[dict]) -> list[int]:
    """The person IDs in ``rows``, in increasing order."""
    return sorted({int(r["person"]) for r in rows if r.get("person") is not None and not pd.isna(r["person"])})


def person_timeline(rows: Sequence[dict], labels: Sequence[str], person: int,
                    time_column: str = "time_s") -> pd.DataFrame:
    """One row per analysed frame for one person, as :func:`timeline` gives for the main face.

    Frames where the person is not seen keep their time with label ``"No face"`` and empty
    probabilities, so the person's chart shows a gap there.
    """
    columns = [time_column, "label", "confidence", *labels]
    frame = pd.DataFrame(list(rows))
    if frame.empty or "person" not in frame:
        return pd.DataFrame(columns=columns)
    times = pd.DataFrame({time_column: frame[time_column].drop_duplicates().sort_values()})
    mine = frame[frame["person"] == person].drop_duplicates(time_column)
    for column in columns:
        if column not in mine:
            mine = mine.assign(**{column: np.nan})
    out = times.merge(mine[columns], on=time_column, how="left")
    out["label"] = out["label"].fillna(NO_FACE)
    return out.reset_index(drop=True)


def person_summary(rows: Sequence[dict], labels: Sequence[str], time_column: str = "time_s") -> pd.DataFrame:
    """One row per person: seconds on screen, frames seen, dominant emotion and each emotion's share of their time.

    Each analysed frame lasts until the next one (:func:`row_durations` over the times of every
    row), so a person's time on screen is the sum over the frames they are in.
    """
    columns = ["person", "seconds", "frames", "dominant", *labels]
    frame = pd.DataFrame(list(rows))
    if frame.empty or "person" not in frame or frame["person"].isna().all():
        return pd.DataFrame(columns=columns)
    times = np.sort(frame[time_column].dropna().unique().astype(np.float64))
    duration = dict(zip(times, row_durations(times)))
    seen = frame[frame["person"].notna()].drop_duplicates(["person", time_column])
    seen = seen.assign(seconds=seen[time_column].map(duration))
    out = []
    for person, group in seen.groupby("person", sort=True):
        total = float(group["seconds"].sum())
        by_label = group.groupby("label")["seconds"].sum()
        share = {label: float(by_label.get(label, 0.0)) / total if total > 0 else 0.0 for label in labels}
        out.append({"person": int(person), "seconds": round(total, 3), "frames": len(group),
                    "dominant": max(share, key=share.get), **{k: round(v, 4) for k, v in share.items()}})
    return pd.DataFrame(out, columns=columns)
