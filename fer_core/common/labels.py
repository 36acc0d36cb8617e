"""The one canonical emotion label list: FER2013 codes 0-6, in code order.

Every model stores its own copy in its metadata; inference reads labels from the
model, never from here, so a model trained with another order stays correct.
"""
from __future__ import annotations

LABELS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
NUM_CLASSES = len(LABELS)


def label_index(name: str) -> int:
    """Code of an emotion name, case-insensitive (``"happy"`` -> 3).

    Raises:
        ValueError: for a name that is not one of :data:`LABELS`.
    """
    lowered = name.strip().lower()
    for code, label in enumerate(LABELS):
        if label.lower() == lowered:
            return code
    raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(LABELS)}")
