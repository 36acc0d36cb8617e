"""Result rows as tables: the columns of a face row and the one CSV writer of every output.

A face becomes a row by :meth:`fer_core.inference.infer.Face.to_row`; photos, videos, the live history
and ``predict --csv`` all write their rows with :func:`rows_to_csv`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd


#: the label of a frame without a face
NO_FACE = "No face"
#: Faces are numbered from 1, largest first, in every table (photos, videos, live, batch).
MAIN_FACE = 1

#: the columns of every face row after its context and before one column per label
#: (``person``: the face's person ID, see :class:`fer_core.inference.infer.Face`; ``calibrated``: read against a
#: neutral baseline, see :mod:`fer_core.inference.neutral_baseline`)
FACE_COLUMNS = ("person", "label", "confidence", "calibrated", "x", "y", "w", "h")


def face_columns(labels: Sequence[str] = (), context: Sequence[str] = ()) -> list[str]:
    """The columns of :meth:`Face.to_row` rows: ``context``, then :data:`FACE_COLUMNS`, then ``labels``."""
    return [*context, *FACE_COLUMNS, *labels]


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
