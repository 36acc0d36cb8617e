"""A study as data: ``study.csv`` (one row per recording) and ``markers.csv`` (one row per stimulus window).

Both are the spreadsheets a researcher already keeps. Every problem in them is one
:class:`StudyError` naming the file and the line (the header is line 1, as a spreadsheet shows it).

- ``study.csv``: ``participant`` and ``video`` (a path relative to the CSV) required; optional
  ``neutral_image`` (a photo of the participant's neutral face, relative to the CSV) or
  ``neutral_seconds`` (the first N seconds of the video are neutral); every other column is a covariate.
- ``markers.csv``: ``stimulus``, ``onset``, ``offset`` (seconds from the start of the video); an
  optional ``participant`` column gives a participant their own timings (an empty cell: everyone).
"""
from __future__ import annotations

from collections.abc import Sequence

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fer_core.common.labels import LABELS

STUDY_REQUIRED = ("participant", "video")
NEUTRAL_COLUMNS = ("neutral_image", "neutral_seconds")
MARKERS_REQUIRED = ("stimulus", "onset", "offset")
#: the optional markers column that gives a participant their own schedule
MARKER_PARTICIPANT = "participant"
#: column names of the study's tables that a covariate may not take (it would overwrite them)
RESERVED = ("stimulus", "emotion", "mean", "frames", "valid_frames", "ci_low", "ci_high", "participants",
            "pct_participants", "frame", "time_s", "face", "person", "main", "valid", "label", "confidence",
            "vs_neutral", "x", "y", "w", "h", "detector_score", "quality", "onset", "offset", "key", "status",
            "error", "reason", *LABELS)
#: the first data row's line number (line 1 is the header)
FIRST_LINE = 2


class StudyError(ValueError):
    """A study file that cannot be used, with a message naming the file and the line."""


@dataclass(frozen=True)
class Participant:
    """One recording: who, which video, the neutral source (at most one) and the covariates (as text)."""

    id: str
    video: Path
    line: int  # the study.csv line, for messages
    neutral_image: Path | None = None
    neutral_seconds: float | None = None
    covariates: dict[str, str] = field(default_factory=dict)

    @property
    def neutral(self) -> str:
        """The baseline method in words (``none`` without one)."""
        if self.neutral_image is not None:
            return f"image {self.neutral_image.name}"
        if self.neutral_seconds is not None:
            return f"first {self.neutral_seconds:g} s of the video"
        return "none"


@dataclass(frozen=True)
class Window:
    """One stimulus window of one participant: ``onset <= time_s < offset``."""

    participant: str
    stimulus: str
    onset: float
    offset: float


@dataclass(frozen=True)
class Design:
    """A study's recordings and windows, validated."""

    study_csv: Path
    markers_csv: Path
    participants: tuple[Participant, ...]
    windows: tuple[Window, ...]
    covariates: tuple[str, ...]

    @property
    def stimuli(self) -> tuple[str, ...]:
        """The stimulus names in the order markers.csv first gives them."""
        return tuple(dict.fromkeys(w.stimulus for w in self.windows))

    def windows_of(self, participant: str) -> list[Window]:
        return [w for w in self.windows if w.participant == participant]

    def participant(self, pid: str) -> Participant:
        return next(p for p in self.participants if p.id == pid)


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    """A CSV as text cells (nothing guessed), header names stripped.

    Raises:
        StudyError: missing, unreadable or empty.
    """
    if not path.is_file():
        raise StudyError(f"{path}: no such {what} file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise StudyError(f"{path}: not a readable CSV {what} file ({str(exc).splitlines()[0]})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda column: column.str.strip())


def _require(table: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise StudyError(f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         f"(the header has {', '.join(table.columns) or 'nothing'})")


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StudyError(f"{path}: line {line}: {column} {text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise StudyError(f"{path}: line {line}: {column} {text!r} is not a finite number of seconds")
    return value


def _relative(base: Path, text: str) -> Path:
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else base / path


def read_study(path: str | os.PathLike) -> tuple[tuple[Participant, ...], tuple[str, ...]]:
    """The participants of a study.csv and its covariate columns.

    Files are not opened here: a video that is missing or does not decode fails that
    participant's analysis only (reported and skipped).

    Raises:
        StudyError: a missing column, an empty or repeated participant, an empty video cell, both
            neutral sources, or a neutral_seconds that is not a positive number.
    """
    path = Path(path)
    table = _read_csv(path, "study")
    _require(table, path, STUDY_REQUIRED)
    if table.empty:
        raise StudyError(f"{path}: no participant rows under the header")
    covariates = tuple(c for c in table.columns if c not in STUDY_REQUIRED + NEUTRAL_COLUMNS)
    clashing = [c for c in covariates if c in RESERVED or not c]
    if clashing:
        raise StudyError(f"{path}: line 1: covariate column {clashing[0]!r} has the name of a column of the study's "
                         "tables (or none); rename it")
    base, seen, participants = path.resolve().parent, {}, []  # absolute: Ray workers run elsewhere
    for line, row in enumerate(table.to_dict("records"), FIRST_LINE):
        pid, video = row["participant"], row["video"]
        if not pid:
            raise StudyError(f"{path}: line {line}: the participant cell is empty")
        if pid in seen:
            raise StudyError(f"{path}: line {line}: participant {pid!r} is already on line {seen[pid]}")
        seen[pid] = line
        if not video:
            raise StudyError(f"{path}: line {line}: participant {pid!r} has no video")
        image, seconds = row.get("neutral_image", ""), row.get("neutral_seconds", "")
        if image and seconds:
            raise StudyError(f"{path}: line {line}: participant {pid!r} has both neutral_image and neutral_seconds; "
                             "give one neutral source")
        neutral_seconds = None
        if seconds:
            neutral_seconds = _number(seconds, path, line, "neutral_seconds")
            if neutral_seconds <= 0:
                raise StudyError(f"{path}: line {line}: neutral_seconds {seconds} must be more than 0")
        participants.append(Participant(pid, _relative(base, video), line,
                                        _relative(base, image) if image else None, neutral_seconds,
                                        {c: row[c] for c in covariates}))
    return tuple(participants), covariates


def read_markers(path: str | os.PathLike, participants: tuple[str, ...]) -> tuple[Window, ...]:
    """The stimulus windows of a markers.csv for these participant IDs (a row without a participant: everyone's).

    Raises:
        StudyError: a missing column, an empty stimulus, an onset or offset that is not a number,
            a negative onset, offset <= onset, an unknown participant, or a window given twice.
    """
    path = Path(path)
    table = _read_csv(path, "markers")
    _require(table, path, MARKERS_REQUIRED)
    if table.empty:
        raise StudyError(f"{path}: no stimulus rows under the header")
    has_participant = MARKER_PARTICIPANT in table.columns
    shared: dict[str, tuple[int, float, float]] = {}  # stimulus -> (line, onset, offset), everyone's
    own: dict[tuple[str, str], tuple[int, float, float]] = {}  # (participant, stimulus) -> ...
    for line, row in enumerate(table.to_dict("records"), FIRST_LINE):
        stimulus = row["stimulus"]
        if not stimulus:
            raise StudyError(f"{path}: line {line}: the stimulus cell is empty")
        onset = _number(row["onset"], path, line, "onset")
        offset = _number(row["offset"], path, line, "offset")
        if onset < 0:
            raise StudyError(f"{path}: line {line}: onset {row['onset']} is before the start of the video")
        if offset <= onset:
            raise StudyError(f"{path}: line {line}: offset {row['offset']} must be after onset {row['onset']}")
        who = row[MARKER_PARTICIPANT] if has_participant else ""
        if who and who not in participants:
            raise StudyError(f"{path}: line {line}: participant {who!r} is not in the study "
                             f"({', '.join(participants)})")
        target, key = (own, (who, stimulus)) if who else (shared, stimulus)
        if key in target:
            whose = f" of participant {who!r}" if who else ""
            raise StudyError(f"{path}: line {line}: stimulus {stimulus!r}{whose} is already on line {target[key][0]}")
        target[key] = (line, onset, offset)
    # a participant's own row replaces everyone's row of the same stimulus; windows in line order
    chosen = [(own.get((pid, stimulus), shared.get(stimulus)), pid, stimulus)
              for pid in participants for stimulus in dict.fromkeys([*shared, *(s for _, s in own)])]
    return tuple(Window(pid, stimulus, onset, offset)
                 for (line, onset, offset), pid, stimulus in sorted((c for c in chosen if c[0]), key=lambda c: c[0][0]))


def read_design(study_csv: str | os.PathLike, markers_csv: str | os.PathLike) -> Design:
    """Both files, validated together (see the module's docstring).

    Raises:
        StudyError: the first problem found, naming the file and the line.
    """
    participants, covariates = read_study(study_csv)
    windows = read_markers(markers_csv, tuple(p.id for p in participants))
    return Design(Path(study_csv), Path(markers_csv), participants, windows, covariates)


def markers_from_marks(marks: Sequence[tuple[float, str]], end: float) -> pd.DataFrame:
    """A markers.csv table (:data:`MARKERS_REQUIRED`) from point marks ``(time_s, name)`` set during a recording:
    each mark opens a window that the next mark (or ``end``, the recording's last second) closes.

    The webcam's **Mark** button makes such marks, so a session recorded while someone watched stimuli
    becomes a study recording's markers. A mark at or after ``end`` opens no window.
    """
    ordered = sorted(marks)
    rows = [{"stimulus": name, "onset": round(onset, 3), "offset": round(nxt, 3)}
            for (onset, name), nxt in zip(ordered, [m[0] for m in ordered[1:]] + [end]) if nxt > onset]
    return pd.DataFrame(rows, columns=list(MARKERS_REQUIRED))
