"""Drawing results on images with OpenCV: a box, label and confidence per face."""
from __future__ import annotations

import cv2
import numpy as np

from fer_core.inference.faces import Face
from fer_core.common.labels import LABELS
from fer_core.inference.tracking import person_name

#: Below this confidence a face is drawn as "?": the app's slider starts here and ``predict --annotate`` uses it.
DEFAULT_MIN_CONFIDENCE = 0.4

#: RGB colour per emotion, shared by the drawn boxes and the app's charts. Zipped (strictly) with
#: :data:`LABELS` in code order, so a label added there without a colour fails at import.
EMOTION_COLORS: dict[str, tuple[int, int, int]] = dict(zip(LABELS, (
    (220, 50, 47), (133, 153, 0), (108, 113, 196), (255, 196, 0), (38, 139, 210), (211, 54, 130), (147, 161, 161),
), strict=True))


def hex_color(label: str) -> str:
    """An emotion's colour as ``#rrggbb`` (grey for a label outside :data:`LABELS`)."""
    r, g, b = EMOTION_COLORS.get(label, (200, 200, 200))
    return f"#{r:02x}{g:02x}{b:02x}"


def label_text(face: Face, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> str:
    """What is drawn beside a face: its person, then its kind of score's text (:meth:`ScoreKind.label_text
    <fer_core.inference.faces.ScoreKind.label_text>`): "P1 Happy 87%", "P1 ?" below ``min_confidence``, "P1 Sad (vs neutral)"."""
    text = face.kind.label_text(face.label, face.confidence, min_confidence)
    return text if face.person is None else f"{person_name(face.person)} {text}"


def annotate(rgb: np.ndarray, faces: list[Face], min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> np.ndarray:
    """A copy of ``rgb`` with each face boxed and labelled after its person (:func:`label_text`:
    "P2 Happy 80%"); low-confidence faces say ``?`` ("P2 ?")."""
    out = np.ascontiguousarray(rgb.copy())
    thickness = max(2, round(max(out.shape[:2]) / 320))
    font_scale = max(0.5, max(out.shape[:2]) / 900)
    for face in faces:
        b = face.box
        color = EMOTION_COLORS.get(face.label, (255, 255, 255))
        text = label_text(face, min_confidence)
        cv2.rectangle(out, (b.x, b.y), (b.x + b.w, b.y + b.h), color, thickness)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = b.y - th - base - 4 if b.y - th - base - 4 >= 0 else b.y + b.h
        cv2.rectangle(out, (b.x, top), (b.x + tw + 6, top + th + base + 4), color, cv2.FILLED)
        cv2.putText(out, text, (b.x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    max(1, thickness - 1), cv2.LINE_AA)
    return out


def draw_message(rgb: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``rgb`` with a message in the top-left corner (e.g. "No face", FPS)."""
    out = np.ascontiguousarray(rgb.copy())
    scale = max(0.6, max(out.shape[:2]) / 900)
    cv2.putText(out, text, (10, round(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, text, (10, round(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out
