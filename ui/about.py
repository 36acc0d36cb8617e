"""What the studio is and is not, and which model is loaded: the words Home shows.

One source for the limits, so the app and the README (checked by tests/test_trust.py) say the
same thing; the model is described from its :class:`ModelInfo`, never from a fixed sentence.
"""
from __future__ import annotations

from pathlib import Path

from fer_core.catalog.evaluations import tta_name
from fer_core.catalog.model_info import ModelInfo

ROOT = Path(__file__).resolve().parent.parent
MODEL_CARD = ROOT / "docs" / "model-card.md"
MODEL_CARD_URL_PATH = "docs/model-card.md"

TITLE = "What this is and is not"
#: one bullet per limit; tests/test_trust.py checks the README carries each sentence
LIMITS: tuple[str, ...] = (
    "**Apparent expressions, not felt emotions.** A label such as \"P1 Happy 87%\" says how a face "
    "*looks* to a model trained on posed and web photos, not what the person feels, intends or is like.",
    "**Trained on FER2013.** 35,887 small grey web faces, mostly frontal and exaggerated; faces unlike "
    "them (subtle or spontaneous expressions, turned heads, poor light, children, older people, groups "
    "the data under-represents) fare worse. Check it on your own people first: "
    "`python -m fer_core validate FOLDER`.",
    "**The EU AI Act.** Emotion recognition in workplaces and education institutions is prohibited, "
    "except for medical or safety reasons (Art. 5(1)(f), applicable since 2 February 2025). Anyone "
    "deploying it must inform the people exposed to it (Art. 50(3)).",
    "**Consent.** Analyse only faces of people who know and agree; faces are biometric data. The "
    "studio keeps uploads and webcam frames in memory only.",
)


def markdown() -> str:
    """The limits as a Markdown list."""
    return "\n".join(f"- {limit}" for limit in LIMITS)


def model_card() -> str | None:
    """The model card's Markdown (None when the checkout has no docs/, e.g. an installed wheel)."""
    try:
        return MODEL_CARD.read_text(encoding="utf-8")
    except OSError:
        return None


def model_summary(info: ModelInfo) -> str:
    """The loaded model in one sentence: "Accurate (`mix3c`): an ensemble averaging 3 networks (...), with shift TTA"."""
    if len(info.members) > 1:
        what = (f"an ensemble averaging the probabilities of {len(info.members)} networks "
                f"({', '.join(member.name for member in info.members)})")
    else:
        what = f"one {info.architecture} network"
    name = info.display_name if info.display_name == info.name else f"{info.display_name} (`{info.name}`)"
    return f"{name}: {what}, run with {tta_name(info.tta)}"
