"""Cutting each participant's rows by stimulus window: per participant x stimulus x emotion means, and exclusions.

- The participant's face is the person tracked longest in their video (the most analysed
  frames; a tie goes to the lower track ID, the one seen first), with the tracks that continue
  it after the face left the view (:func:`main_people`). Other faces stay in ``frames.parquet``
  but count for nothing.
- A window's ``frames`` are the analysed frames with ``onset <= time_s < offset``; its
  ``valid_frames`` are those in which the participant's face was found without a quality flag
  (:mod:`fer_core.inference.quality`). ``mean`` is the mean score over the valid frames.
- A participant with fewer than :data:`MIN_VALID_SHARE` of a window's frames valid is excluded from
  that window's group figures (:func:`exclusions`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_core.study.design import Design

#: the share of a window's analysed frames that must be valid for the participant to count in that window
MIN_VALID_SHARE = 0.5
#: epochs.csv's columns, before the covariates
EPOCH_COLUMNS = ("participant", "stimulus", "emotion", "mean", "frames", "valid_frames")
#: a track continues the participant's only if its median face width is at least this share of theirs
SAME_SIZE = 0.5
#: how frames.parquet joins the names of overlapping windows in its ``stimulus`` column
STIMULUS_JOIN = ";"


def main_people(rows: pd.DataFrame) -> set[int]:
    """The person IDs that are the participant in one participant's rows (empty: no face at all).

    The person tracked in the most frames (a tie: the lower ID), joined by every track that continues it: a
    face that leaves the view for longer than the tracker's buffer comes back with a new ID. A track continues
    the participant when it never appears in a frame beside a track already chosen and its median face is at
    least :data:`SAME_SIZE` of the longest track's (a smaller face elsewhere in the picture is someone else).
    Longer tracks are considered first.
    """
    faces = rows.dropna(subset=["person"])
    if faces.empty:
        return set()
    by_person = {int(p): group for p, group in faces.groupby("person")}
    order = sorted(by_person, key=lambda p: (-by_person[p]["frame"].nunique(), p))
    main = order[0]
    size = float(by_person[main]["w"].median())
    chosen, seen = {main}, set(by_person[main]["frame"])
    for person in order[1:]:
        frames = set(by_person[person]["frame"])
        if not frames & seen and float(by_person[person]["w"].median()) >= SAME_SIZE * size:
            chosen.add(person)
            seen |= frames
    return chosen


def label_frames(frames: pd.DataFrame, design: Design) -> pd.DataFrame:
    """``frames`` with the covariates, ``stimulus`` (the windows a row is in, or empty), ``main`` (the
    participant's own face) and ``valid`` (``main`` and unflagged); columns in frames.parquet's order."""
    out = []
    for pid, rows in frames.groupby("participant", sort=False):
        rows = rows.copy()
        rows["main"] = rows["person"].isin(main_people(rows)).fillna(False).astype(bool)
        rows["valid"] = rows["main"] & rows["quality"].fillna("").eq("")
        names = np.full(len(rows), "", dtype=object)
        times = rows["time_s"].to_numpy()
        for window in design.windows_of(str(pid)):
            inside = (times >= window.onset) & (times < window.offset)
            names[inside] = [f"{n}{STIMULUS_JOIN}{window.stimulus}" if n else window.stimulus for n in names[inside]]
        rows["stimulus"] = names
        for column, value in design.participant(str(pid)).covariates.items():
            rows[column] = value
        out.append(rows)
    if not out:
        return pd.DataFrame(columns=[*frames.columns, "main", "valid", "stimulus", *design.covariates])
    table = pd.concat(out, ignore_index=True)
    first = ["participant", *design.covariates, "stimulus", "frame", "time_s", "face", "person", "main", "valid"]
    return table[first + [c for c in table.columns if c not in first]].astype({"stimulus": "string"})


def epochs(labelled: pd.DataFrame, design: Design, labels: Sequence[str]) -> pd.DataFrame:
    """One row per analysed participant x stimulus x emotion (:data:`EPOCH_COLUMNS`, then the covariates)."""
    records = []
    for pid, rows in labelled.groupby("participant", sort=False):
        participant = design.participant(str(pid))
        times = rows["time_s"].to_numpy()
        for window in design.windows_of(participant.id):
            inside = rows[(times >= window.onset) & (times < window.offset)]
            frames = int(inside["frame"].nunique())
            valid = inside[inside["valid"]]
            for emotion in labels:
                mean = float(valid[emotion].mean()) if len(valid) else float("nan")
                records.append({"participant": participant.id, "stimulus": window.stimulus, "emotion": emotion,
                                "mean": mean, "frames": frames, "valid_frames": int(len(valid)),
                                **participant.covariates})
    return pd.DataFrame(records, columns=[*EPOCH_COLUMNS, *design.covariates])


def included(epoch_rows: pd.DataFrame, min_share: float = MIN_VALID_SHARE) -> pd.Series:
    """Which epoch rows count in the group figures: some valid frames, and at least ``min_share`` of the window's."""
    return (epoch_rows["valid_frames"] > 0) & (epoch_rows["valid_frames"] >= min_share * epoch_rows["frames"])


def exclusions(epoch_rows: pd.DataFrame, failed: dict[str, str] | None = None,
               min_share: float = MIN_VALID_SHARE) -> pd.DataFrame:
    """One row per participant x stimulus left out of the group figures, and per failed participant
    (stimulus empty): ``participant``, ``stimulus``, ``frames``, ``valid_frames``, ``reason``."""
    windows = epoch_rows.drop_duplicates(["participant", "stimulus"])
    out = windows[~included(windows, min_share)]
    records = [{"participant": r.participant, "stimulus": r.stimulus, "frames": r.frames,
                "valid_frames": r.valid_frames, "reason": _reason(r.frames, r.valid_frames, min_share)}
               for r in out.itertuples()]
    records += [{"participant": pid, "stimulus": "", "frames": 0, "valid_frames": 0, "reason": error}
                for pid, error in (failed or {}).items()]
    return pd.DataFrame(records, columns=["participant", "stimulus", "frames", "valid_frames", "reason"])


def _reason(frames: int, valid: int, min_share: float) -> str:
    if frames == 0:
        return "no analysed frame in the window (the video ends before it?)"
    if valid == 0:
        return f"the face was absent or flagged in all {frames} frames of the window"
    return f"{valid} of {frames} frames valid, under {min_share:.0%}"
