"""Group figures per stimulus x emotion: the mean over participants with a 95 % bootstrap interval, and the share
of participants whose strongest emotion in the window it was.

Only the participants :func:`fer_core.study.epochs.included` in a window count there. The interval
is ``scipy.stats.bootstrap``'s BCa interval of the mean over participants (9,999 resamples, a
fixed seed, so that a rerun gives the same table); with fewer than two participants it is empty.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_core.study.epochs import included

SUMMARY_COLUMNS = ("stimulus", "emotion", "mean", "ci_low", "ci_high", "participants", "pct_participants")
CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0


def bootstrap_ci(values: np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> tuple[float, float]:
    """The BCa bootstrap interval of the mean of ``values`` (NaN, NaN for fewer than two values)."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:  # no spread: every resample has the same mean
        return float(values[0]), float(values[0])
    with warnings.catch_warnings():  # BCa warns on small, lumpy samples; the interval is still its answer
        warnings.simplefilter("ignore")
        result = bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=resamples,
                           method="BCa", vectorized=True, rng=np.random.default_rng(SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def strongest(epoch_rows: pd.DataFrame) -> pd.Series:
    """Each participant x stimulus's strongest emotion (the highest window mean; a tie goes to the first label)."""
    wide = epoch_rows.pivot_table(index=["participant", "stimulus"], columns="emotion", values="mean", sort=False)
    return wide.idxmax(axis=1)


def summary(epoch_rows: pd.DataFrame, labels: Sequence[str], stimuli: Sequence[str]) -> pd.DataFrame:
    """One row per stimulus x emotion (:data:`SUMMARY_COLUMNS`); ``pct_participants`` in percent (0-100)."""
    counted = epoch_rows[included(epoch_rows)]
    top = strongest(counted) if len(counted) else pd.Series(dtype=object)
    records = []
    for stimulus in stimuli:
        window = counted[counted["stimulus"] == stimulus]
        people = window["participant"].nunique()
        winners = top[top.index.get_level_values("stimulus") == stimulus] if len(top) else top
        for emotion in labels:
            values = window.loc[window["emotion"] == emotion, "mean"].to_numpy()
            low, high = bootstrap_ci(values)
            records.append({"stimulus": stimulus, "emotion": emotion,
                            "mean": float(values.mean()) if len(values) else float("nan"),
                            "ci_low": low, "ci_high": high, "participants": int(people),
                            "pct_participants": 100.0 * float((winners == emotion).sum()) / people if people
                            else float("nan")})
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))


def summary_by(epoch_rows: pd.DataFrame, labels: Sequence[str], stimuli: Sequence[str], column: str) -> pd.DataFrame:
    """:func:`summary` per value of a covariate ``column``, that column first.

    Raises:
        ValueError: ``column`` is not a covariate of the study.
    """
    if column not in epoch_rows.columns or column in ("participant", "stimulus", "emotion", "mean", "frames",
                                                      "valid_frames"):
        raise ValueError(f"--by {column}: not a covariate column of study.csv")
    parts = [summary(rows, labels, stimuli).assign(**{column: value})
             for value, rows in epoch_rows.groupby(column, sort=True)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(SUMMARY_COLUMNS) + [column])
    return table[[column, *SUMMARY_COLUMNS]]
