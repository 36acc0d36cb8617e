"""The neutral baseline: read one person's emotions against their own neutral face.

A model trained on FER2013 reads some people's resting face as Sad or Angry, and misses a
subtle frown because it never moves the label away from that resting face. A
:class:`NeutralBaseline` stores the model's mean log-probabilities over a few crops of the
person's neutral face; :meth:`NeutralBaseline.apply` then scores every later face as

    softmax(log p - baseline + margin * [label == Neutral])

so a face that has not moved away from the person's baseline stays Neutral, and an emotion
wins only when its odds against Neutral rose by more than ``exp(margin)`` over that baseline.
The result is a probability row like any other, so labels, bars, the temporal EMA and tables work
unchanged. Each face's row says ``vs_neutral``.

The margin is chosen by a rule, never tuned on a test set (see :func:`choose_margin`):
the smallest margin that keeps :data:`KEEP_NEUTRAL` of the baseline's frames Neutral when
each is read against a baseline made without it (leave-one-out), and never below
:data:`MIN_MARGIN` = ln 2 (an emotion must at least double its odds against Neutral) nor
above :data:`MAX_MARGIN` = ln 4. A baseline assumes the reference face is truly neutral: a
smiling reference makes later smiles read as Neutral and a relaxed face read as Sad.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the types only: this module needs neither TensorFlow nor OpenCV
    from fer_core.inference.classifier import Classifier

#: the label a person's resting face is read as
NEUTRAL = "Neutral"
#: an emotion must at least double its odds against Neutral over the baseline (ln 2 nats)
MIN_MARGIN = math.log(2)
#: at most four times: a noisier baseline than that is reported, not absorbed (ln 4 nats)
MAX_MARGIN = math.log(4)
#: the share of leave-one-out baseline frames the margin keeps Neutral
KEEP_NEUTRAL = 0.95
#: probabilities are clipped here before the logarithm (a zero would be minus infinity)
EPSILON = 1e-6
#: the lowest log-probability a baseline can hold: ln of the probability floor
LOG_FLOOR = math.log(EPSILON)
#: a saved file rounds its values to 6 decimals; bounds are checked this loosely
TOLERANCE = 1e-5
#: the live webcam collects this long of the main face to make its baseline
BASELINE_SECONDS = 2.0
#: what a saved baseline file says it is
FORMAT = "fer-studio-neutral-baseline"
#: what older versions wrote (still read)
OLD_FORMATS = ("fer-studio-calibration",)
VERSION = 1


class BaselineError(ValueError):
    """A neutral baseline that cannot be made or used: no face, a bad file, another model's baseline."""


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Natural log of probability rows, clipped at :data:`EPSILON` so that a zero stays finite."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1.0))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def leave_one_out_gaps(log_probs: np.ndarray, neutral: int) -> np.ndarray:
    """For each baseline frame, how far its strongest other label is above Neutral when it is read
    against the mean of the other frames: the margin that frame needs to stay Neutral (<= 0: none).

    Needs at least two frames.
    """
    n = len(log_probs)
    others = (log_probs.sum(axis=0) - log_probs) / (n - 1)  # each frame's baseline without it
    adjusted = log_probs - others
    rivals = np.delete(adjusted, neutral, axis=1).max(axis=1)
    return rivals - adjusted[:, neutral]


def choose_margin(log_probs: np.ndarray, neutral: int) -> tuple[float, float | None]:
    """The margin for a baseline of these frames, and the leave-one-out spread it came from.

    The rule: the :data:`KEEP_NEUTRAL` quantile of :func:`leave_one_out_gaps` (the smallest margin
    that keeps that share of the baseline's frames Neutral), clipped to
    [:data:`MIN_MARGIN`, :data:`MAX_MARGIN`]. With one frame there is no spread to measure, and the
    margin is the floor. The spread is None then.
    """
    if len(log_probs) < 2:
        return MIN_MARGIN, None
    # inverted_cdf: the smallest gap that at least KEEP_NEUTRAL of the frames are at or below
    spread = float(np.quantile(leave_one_out_gaps(log_probs, neutral), KEEP_NEUTRAL, method="inverted_cdf"))
    return float(min(MAX_MARGIN, max(MIN_MARGIN, spread))), spread


def _require_neutral(labels: tuple[str, ...]) -> tuple[str, ...]:
    """``labels``, if they have the label a resting face is read as.

    Raises:
        BaselineError: they have none.
    """
    if NEUTRAL not in labels:
        raise BaselineError(f"a neutral baseline needs a {NEUTRAL!r} label; this model's labels are {', '.join(labels)}")
    return labels


@dataclass(frozen=True)
class NeutralBaseline:
    """One person's neutral face as a model sees it: mean log-probabilities, the margin and their origin."""

    model: str
    labels: tuple[str, ...]
    log_probabilities: tuple[float, ...]
    frames: int
    margin: float
    #: the leave-one-out spread the margin came from (None with one frame)
    spread: float | None = None

    def __post_init__(self) -> None:
        _require_neutral(self.labels)
        if len(self.log_probabilities) != len(self.labels):
            raise BaselineError(f"the baseline has {len(self.log_probabilities)} values for "
                                f"{len(self.labels)} labels")
        if not all(math.isfinite(v) and LOG_FLOOR - TOLERANCE <= v <= 0 for v in self.log_probabilities):
            raise BaselineError(f"the baseline's log-probabilities must be numbers from ln {EPSILON:g} "
                                f"({LOG_FLOOR:.4f}, the probability floor) to 0")
        if not (isinstance(self.frames, int) and not isinstance(self.frames, bool) and self.frames >= 1):
            raise BaselineError(f"a baseline is made from at least 1 frame, not {self.frames!r}")
        if not (math.isfinite(self.margin) and MIN_MARGIN - TOLERANCE <= self.margin <= MAX_MARGIN + TOLERANCE):
            raise BaselineError(f"the margin must be a number from {MIN_MARGIN:.4f} (ln 2) to {MAX_MARGIN:.4f} "
                                f"(ln 4), not {self.margin!r}")
        if self.spread is not None and not math.isfinite(self.spread):
            raise BaselineError(f"the spread must be a finite number, not {self.spread!r}")

    # ------------------------------------------------------------------ making one

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, model: str, labels: Sequence[str]) -> NeutralBaseline:
        """The baseline of these probability rows (one per neutral frame), its margin by :func:`choose_margin`.

        Raises:
            BaselineError: no rows, or rows that do not match ``labels``.
        """
        rows = np.asarray(probabilities, dtype=np.float64)
        if rows.ndim != 2 or len(rows) == 0:
            raise BaselineError("no neutral face to make a baseline from: give at least one face")
        if rows.shape[1] != len(labels):
            raise BaselineError(f"{rows.shape[1]} probabilities per face for {len(labels)} labels")
        labels = _require_neutral(tuple(labels))
        logs = log_probabilities(rows)
        margin, spread = choose_margin(logs, labels.index(NEUTRAL))
        return cls(model, labels, tuple(float(v) for v in logs.mean(axis=0)), len(rows), margin, spread)

    @classmethod
    def from_faces(cls, crops: Sequence[np.ndarray], classifier: Classifier, tta: str | None = None) -> NeutralBaseline:
        """The baseline of face crops of one person's neutral face, read by ``classifier`` (with ``tta``)."""
        if len(crops) == 0:
            raise BaselineError("no neutral face to make a baseline from: give at least one face")
        return cls.from_probabilities(classifier.predict_proba(list(crops), tta), classifier.name, classifier.labels)

    # ------------------------------------------------------------------ using one

    @property
    def neutral_index(self) -> int:
        return self.labels.index(NEUTRAL)

    def check(self, model: str, labels: Sequence[str]) -> None:
        """Refuse a model other than the one that made this baseline.

        Raises:
            BaselineError: another model name or another label list.
        """
        if tuple(labels) != self.labels:
            raise BaselineError(f"this baseline was made with the labels {', '.join(self.labels)}; the model "
                                f"{model!r} has {', '.join(labels)}. Set the neutral baseline again with this model")
        if model != self.model:
            raise BaselineError(f"this baseline was made with the model {self.model!r}, not {model!r}: each "
                                "model reads a face its own way. Choose that model, or set the neutral baseline again with this one")

    def check_classifier(self, classifier: Classifier) -> None:
        """:meth:`check` against a loaded classifier."""
        self.check(classifier.name, classifier.labels)

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Probability rows read against the baseline (float32, same shape): the softmax of ``log p - baseline`` with
        the margin added to Neutral. One subtraction and a softmax of a few numbers per face."""
        rows = np.asarray(probabilities)
        if rows.shape[-1] != len(self.labels):
            raise BaselineError(f"{rows.shape[-1]} probabilities per face for a baseline of {len(self.labels)} labels")
        adjusted = log_probabilities(rows) - np.asarray(self.log_probabilities)
        adjusted[..., self.neutral_index] += self.margin
        return _softmax(adjusted).astype(np.float32)

    # ------------------------------------------------------------------ saving and loading

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "model": self.model, "labels": list(self.labels),
                "log_probabilities": [round(v, 6) for v in self.log_probabilities], "frames": self.frames,
                "margin": round(self.margin, 6), "spread": None if self.spread is None else round(self.spread, 6)}

    def to_json(self) -> str:
        """A small JSON document (a few hundred bytes) that :func:`fer_core.inference.baseline_file.parse_baseline`
        reads back."""
        return json.dumps(self.to_dict(), indent=2)

    @property
    def fingerprint(self) -> str:
        """A short id of this baseline (its JSON), for cache keys and table metadata."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def describe(self) -> str:
        """For people: "from 30 frames, margin 0.69"."""
        return f"from {self.frames} frame{'s' if self.frames != 1 else ''}, margin {self.margin:.2f}"

    @property
    def warning(self) -> str | None:
        """Why this baseline may be poor (its frames disagreed more than :data:`MAX_MARGIN` allows), or None."""
        if self.spread is None or self.spread <= MAX_MARGIN:
            return None
        return (f"the {self.frames} baseline frames disagreed (spread {self.spread:.2f} over the largest margin "
                f"{MAX_MARGIN:.2f}): the face moved or changed expression while it was made, or they show several "
                "people. Set it again holding a relaxed face still")
