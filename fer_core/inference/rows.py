"""The one row schema of every output: a face's columns and their types, its JSON, and the CSV writer.

A face becomes a table row by :func:`face_row` and a JSON object by :func:`face_json`; photos,
videos, the live history, ``predict --csv/--json`` and the batch Parquet all use them, and the
batch's Arrow types come from :data:`FACE_FIELDS`. A new per-face value is one more
:class:`Field` here (read from :attr:`Face.fields <fer_core.inference.faces.Face>`), filled by one stage.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from fer_core.inference.faces import Face

#: the label of a frame without a face
NO_FACE = "No face"
#: Faces are numbered from 1, largest first, in every table (photos, videos, live, batch).
MAIN_FACE = 1
#: the digits kept of every score in rows and JSON
SCORE_DIGITS = 4


@dataclass(frozen=True)
class Field:
    """One column of a face row: its name, its type (``int``, ``float``, ``str`` or ``bool``) and how a face gives it."""

    name: str
    type: type
    value: Callable[[Face], Any]


def _box(i: int) -> Callable[[Face], int]:
    return lambda face: face.box.as_list()[i]


#: the columns of every face row after its context and before one column per label:
#: ``person`` (the face's person ID, see :class:`fer_core.inference.faces.Face`), ``vs_neutral`` (read against a
#: neutral baseline, see :class:`~fer_core.inference.faces.ScoreKind`), the box, and ``face_px`` (the box's larger
#: side in the analysed image's pixels), ``detector_score`` and ``quality`` (the face's quality flags, ";"-joined,
#: empty when none: :mod:`fer_core.inference.quality`)
FACE_FIELDS: tuple[Field, ...] = (
    Field("person", int, lambda face: face.person),
    Field("label", str, lambda face: face.label),
    Field("confidence", float, lambda face: round(face.confidence, SCORE_DIGITS)),
    Field("vs_neutral", bool, lambda face: face.kind.vs_neutral),
    Field("x", int, _box(0)), Field("y", int, _box(1)), Field("w", int, _box(2)), Field("h", int, _box(3)),
    Field("face_px", int, lambda face: face.fields.get("face_px")),
    Field("detector_score", float, lambda face: round(face.box.score, SCORE_DIGITS)),
    Field("quality", str, lambda face: ";".join(face.fields.get("quality", ()))),
)
FACE_COLUMNS = tuple(f.name for f in FACE_FIELDS)
#: the columns a face's JSON gives as one ``box`` list
BOX_COLUMNS = ("x", "y", "w", "h")
#: the types of the context columns outputs put before a face's (which file, frame, time and face number)
CONTEXT_TYPES: dict[str, type] = {"file": str, "frame": int, "time_s": float, "face": int}


def face_columns(labels: Sequence[str] = (), context: Sequence[str] = ()) -> list[str]:
    """The columns of :func:`face_row` rows: ``context``, then :data:`FACE_COLUMNS`, then ``labels``."""
    return [*context, *FACE_COLUMNS, *labels]


def column_types(labels: Sequence[str] = (), context: Sequence[str] = ()) -> dict[str, type]:
    """Each column of :func:`face_columns` with its type (a label's score is a float)."""
    fields = {f.name: f.type for f in FACE_FIELDS}
    return {c: CONTEXT_TYPES.get(c) or fields.get(c, float) for c in face_columns(labels, context)}


def face_row(face: Face, /, **context) -> dict:
    """One flat table row: ``context`` first (e.g. file, frame, time_s, face), then :data:`FACE_FIELDS`, then
    one column per label."""
    return {**context, **{f.name: f.value(face) for f in FACE_FIELDS},
            **{k: round(v, SCORE_DIGITS) for k, v in face.scores.items()}}


def face_json(face: Face) -> dict:
    """A face as JSON: ``box`` as [x, y, w, h], the other :data:`FACE_FIELDS`, then every score in ``probabilities``."""
    return {"box": face.box.as_list(), **{f.name: f.value(face) for f in FACE_FIELDS if f.name not in BOX_COLUMNS},
            "probabilities": {k: round(v, SCORE_DIGITS) for k, v in face.scores.items()}}


def face_rows(faces: Iterable[Face], first: int = MAIN_FACE, /, **context) -> list[dict]:
    """:func:`face_row` of each face with ``context``, numbered from ``first`` in the ``face`` column."""
    return [face_row(face, **context, face=number) for number, face in enumerate(faces, first)]


def no_face_row(labels: Sequence[str] = (), **context) -> dict:
    """The row of a frame without a face: its context, label :data:`NO_FACE`, every number empty."""
    return {**context, **dict.fromkeys(face_columns(labels)), "label": NO_FACE}


def rows_to_csv(rows: Iterable[dict] | pd.DataFrame, columns: Sequence[str] | None = None) -> bytes:
    """CSV bytes (UTF-8, no index) of dict rows or a table.

    ``columns`` fixes the header and its order (the header stays when there is no row);
    by default it is every key in order of first appearance. Missing values are empty.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if columns is not None:
        frame = frame.reindex(columns=list(columns))
    return frame.to_csv(index=False).encode()
