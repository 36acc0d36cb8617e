"""The faces of one frame: :class:`FaceBatch`, the carrier every pipeline stage reads and fills, and
:class:`Face`, one face as drivers, drawings and tables see it.

Modelled on supervision's ``Detections``: one object per frame holds parallel per-face values
(boxes, crops, scores with their :class:`ScoreKind`, person IDs) plus a ``fields`` dict for further
per-face values (``face_px`` today, quality flags next). A stage (:mod:`fer_core.inference.stages`)
fills what it knows; nothing is zipped back by hand.

How each kind of score is labelled, drawn, printed and tabled is decided here, by :class:`ScoreKind`,
so no consumer branches on it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

import numpy as np

from fer_core.inference.detect import Box
from fer_core.inference.rows import face_json, face_row


class ScoreKind(str, Enum):
    """What a face's scores are: the model's probabilities, or odds against the person's neutral baseline."""

    #: the model's class probabilities (after its TTA)
    PROBABILITY = "probability"
    #: softmax(log p - neutral baseline + margin on Neutral): odds against the person's own resting face
    #: (:mod:`fer_core.inference.neutral_baseline`)
    VS_NEUTRAL = "vs_neutral"

    @property
    def vs_neutral(self) -> bool:
        """Read against a neutral baseline (the ``vs_neutral`` column of every table)."""
        return self is ScoreKind.VS_NEUTRAL

    def label_text(self, label: str, score: float, min_confidence: float) -> str:
        """What is drawn beside a face after its person: "Happy 87%", "?" below ``min_confidence``, or
        "Sad (vs neutral)".

        A face read against its neutral baseline shows no percentage and never "?": its scores are odds
        against the person's own neutral face (Neutral at rest has 1 / (1 + 6 / e^margin), e.g. 25%), and the
        baseline's margin is already what an emotion must pass to be shown.
        """
        if self.vs_neutral:
            return f"{label}{VS_NEUTRAL_MARK}"
        return f"{label} {score:.0%}" if score >= min_confidence else "?"

    def passes(self, score: float, min_confidence: float) -> bool:
        """Whether a face with this top score counts as confident (always, when read against a baseline)."""
        return self.vs_neutral or score >= min_confidence

    def printed(self) -> str:
        """The words the CLI prints after a face's label and score."""
        return ", vs neutral" if self.vs_neutral else ""

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> ScoreKind:
        """The kind of a table row's scores (its ``vs_neutral`` column)."""
        return cls.VS_NEUTRAL if row.get("vs_neutral") else cls.PROBABILITY

    def headline(self, label: str, score: float | None) -> str:
        """A face's label for a heading: "Happy (87%)", or "Sad (vs neutral)" (odds are not a confidence)."""
        if self.vs_neutral:
            return f"{label}{VS_NEUTRAL_MARK}"
        return f"{label} ({score:.0%})" if score is not None else label

    def caption(self, score: float) -> str | None:
        """A line for people under a face's scores (None for plain probabilities)."""
        return f"vs neutral: {score:.0%} odds against the neutral reference" if self.vs_neutral else None


#: after the label of a face read against its person's neutral baseline
VS_NEUTRAL_MARK = " (vs neutral)"


@dataclass(frozen=True)
class Face:
    """One face: where it is, the top label, every class's score, the scores' kind, whose face it is, and
    further per-face ``fields`` (``face_px``: the box's larger side in the analysed image's pixels).

    ``person`` is the face's person ID: in videos and live streams the track ID
    (:mod:`fer_core.inference.tracking`), stable from frame to frame; in a photo each face is its own person
    (1 the largest); None where nothing numbered it.
    """

    box: Box
    label: str
    scores: dict[str, float]
    person: int | None = None
    kind: ScoreKind = ScoreKind.PROBABILITY
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def confidence(self) -> float:
        """The top label's score."""
        return self.scores[self.label]

    def to_dict(self) -> dict:
        """The face as JSON (``predict --json``, the photo page's download): see :func:`fer_core.inference.rows.face_json`."""
        return face_json(self)

    def to_row(self, **context) -> dict:
        """One flat table row with ``context`` first: see :func:`fer_core.inference.rows.face_row`."""
        return face_row(self, **context)


@dataclass
class FaceBatch:
    """The faces of one frame as parallel per-face values, passed from stage to stage.

    ``people`` start as 1, 2, ... (largest first: each face its own person, as in a photo) until a tracker
    replaces them with track IDs. ``scores`` is None until a classifier ran; ``kinds`` says per face what
    its row of ``scores`` is. ``fields`` holds further per-face values, one list per name.
    """

    image: np.ndarray
    boxes: list[Box]
    crops: list[np.ndarray]
    people: list[int | None]
    labels: tuple[str, ...] = ()
    scores: np.ndarray | None = None
    kinds: list[ScoreKind] = field(default_factory=list)
    fields: dict[str, list] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def faces(self) -> list[Face]:
        """The batch as :class:`Face` objects (the label is each row's highest score)."""
        if self.scores is None:
            raise ValueError("no scores yet: a classify stage must run before faces are read")
        faces = []
        for i, (box, row, person, kind) in enumerate(zip(self.boxes, self.scores, self.people, self.kinds, strict=True)):
            scores = {name: float(v) for name, v in zip(self.labels, row)}
            extra = MappingProxyType({name: values[i] for name, values in self.fields.items()})
            faces.append(Face(box, self.labels[int(np.argmax(row))], scores, person, kind, extra))
        return faces
