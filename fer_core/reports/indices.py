"""Two derived indices of a face's emotion scores, each shown with its formula and the words "index, not validated".

- expressiveness = 1 - P(Neutral): how far the face is from neutral, whatever the emotion;
- valence index = P(Happy) - max(P(Sad), P(Angry), P(Fear), P(Disgust)), after FaceReader's
  definition: from -1 (negative) to +1 (positive).

Both are arithmetic on the model's (or a neutral baseline's) scores; nothing here was checked
against people's own reports, hence the words. No arousal: nothing here can measure it.
"""
from __future__ import annotations

import pandas as pd

#: what every display of an index says beside it
NOT_VALIDATED = "index, not validated"
NEGATIVE = ("Sad", "Angry", "Fear", "Disgust")
#: the indices' names and formulas, as shown
FORMULAS = {
    "expressiveness": "1 − P(Neutral)",
    "valence_index": "P(Happy) − max(P(Sad), P(Angry), P(Fear), P(Disgust))",
}


def expressiveness(scores: pd.DataFrame) -> pd.Series:
    """1 - P(Neutral) per row of a table with a ``Neutral`` column."""
    return (1.0 - scores["Neutral"]).rename("expressiveness")


def valence_index(scores: pd.DataFrame) -> pd.Series:
    """P(Happy) - max(P(Sad), P(Angry), P(Fear), P(Disgust)) per row."""
    return (scores["Happy"] - scores[list(NEGATIVE)].max(axis=1)).rename("valence_index")


def with_indices(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the two index columns added."""
    return scores.assign(expressiveness=expressiveness(scores), valence_index=valence_index(scores))
