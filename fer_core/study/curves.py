"""Stimulus-locked group curves: each emotion's mean over participants against time from the window's onset.

Each participant's valid frames of a window are put in bins of ``bin_s`` seconds from their own
onset and averaged per bin; the curve is the mean of those per-participant values over the
participants counted in that window's group figures, with a 95 % bootstrap band over participants
(:func:`fer_core.study.summary.bootstrap_ci`, fewer resamples than the summary: it is drawn, not cited).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_core.study.epochs import included
from fer_core.study.summary import bootstrap_ci

CURVE_COLUMNS = ("stimulus", "emotion", "t", "mean", "ci_low", "ci_high", "participants")
#: resamples per curve point (a band for the eye; the summary's intervals use 9,999)
CURVE_RESAMPLES = 999


def stimulus_curves(frames: pd.DataFrame, windows: pd.DataFrame, epoch_rows: pd.DataFrame, labels: Sequence[str],
                    bin_s: float = 0.5) -> pd.DataFrame:
    """:data:`CURVE_COLUMNS` rows, ``t`` the start of each bin in seconds from onset.

    ``windows``: the store's ``markers`` table (participant, stimulus, onset, offset).
    """
    counted = epoch_rows[included(epoch_rows)][["participant", "stimulus"]].drop_duplicates()
    keep = set(zip(counted["participant"], counted["stimulus"]))
    valid = frames[frames["valid"].astype(bool)]
    parts = []
    for w in windows.itertuples():
        if (w.participant, w.stimulus) not in keep:
            continue
        rows = valid[(valid["participant"] == w.participant) & (valid["time_s"] >= w.onset)
                     & (valid["time_s"] < w.offset)]
        if rows.empty:
            continue
        t = np.floor((rows["time_s"].to_numpy() - w.onset) / bin_s) * bin_s
        binned = rows[list(labels)].groupby(t).mean()
        binned.index.name = "t"
        parts.append(binned.reset_index().assign(participant=w.participant, stimulus=w.stimulus))
    if not parts:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    per_participant = pd.concat(parts, ignore_index=True)
    records = []
    for (stimulus, t), group in per_participant.groupby(["stimulus", "t"], sort=False):
        for emotion in labels:
            values = group[emotion].to_numpy()
            low, high = bootstrap_ci(values, resamples=CURVE_RESAMPLES)
            records.append({"stimulus": stimulus, "emotion": emotion, "t": float(t), "mean": float(values.mean()),
                            "ci_low": low, "ci_high": high, "participants": len(values)})
    return pd.DataFrame(records, columns=list(CURVE_COLUMNS)).sort_values(["stimulus", "emotion", "t"],
                                                                          ignore_index=True)
