"""Emotion timelines of videos and live streams: per-frame rows -> table, share of time (pure pandas)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

NO_FACE = "No face"
#: Faces are numbered from 1, largest first, in every table (photos, videos, live, batch).
MAIN_FACE = 1
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
    times = frame[time_column].to_numpy(dtype=np.float64)
    steps = np.diff(times)
    last = float(np.median(steps)) if len(steps) else 1.0
    durations = np.clip(np.append(steps, last), 0.0, MAX_STEP_S)
    if durations.sum() <= 0:
        durations = np.ones_like(durations)
    totals = pd.Series(durations).groupby(frame["label"].to_numpy()).sum()
    whole = float(durations.sum())
    for label, seconds in totals.items():
        if label in out or label == NO_FACE:
            out[label] = float(seconds) / whole
    return out


def shares_table(share: dict[str, float]) -> pd.DataFrame:
    """The shares as a table for display and CSV download."""
    return pd.DataFrame({"emotion": list(share), "share": [round(v, 4) for v in share.values()]})
