"""Robustness report in the style of ImageNet-C: accuracy under corruptions a real camera brings.

FER2013's faces are clean, centred, evenly lit 48x48 crops; the studio's faces come through
webcams, compression, blur and detector boxes that jitter. Each corruption here has three
severities and works on grey ``(N, 48, 48)`` uint8 faces, so any split can be scored under it.
The mean accuracy over every corruption and severity is the figure to compare models by.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

SEVERITIES = (1, 2, 3)


def _brightness(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    shift = (25, 50, 75)[level - 1] * rng.choice((-1, 1), size=(len(images), 1, 1))
    return np.clip(images.astype(np.int16) + shift, 0, 255).astype(np.uint8)


def _contrast(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.6, 0.4, 0.25)[level - 1]
    mean = images.mean(axis=(1, 2), keepdims=True)
    return np.clip(mean + factor * (images - mean), 0, 255).astype(np.uint8)


def _blur(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    sigma = (0.8, 1.3, 2.0)[level - 1]
    return np.stack([cv2.GaussianBlur(img, (0, 0), sigma) for img in images])


def _jpeg(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    quality = (30, 15, 7)[level - 1]
    out = []
    for img in images:
        _, encoded = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE))
    return np.stack(out)


def _noise(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    std = (8, 16, 28)[level - 1]
    return np.clip(images + rng.normal(0, std, images.shape), 0, 255).astype(np.uint8)


def _box_jitter(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """The crop a jittery detector box gives: shifted and rescaled, edges reflected."""
    shift, scale = (0.04, 0.08, 0.12)[level - 1], (0.05, 0.10, 0.15)[level - 1]
    size = images.shape[1]
    out = []
    for img in images:
        s = 1 + rng.uniform(-scale, scale)
        tx, ty = rng.uniform(-shift, shift, 2) * size
        matrix = np.array([[s, 0, (1 - s) * size / 2 + tx], [0, s, (1 - s) * size / 2 + ty]], dtype=np.float32)
        out.append(cv2.warpAffine(img, matrix, (size, size), borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def _glasses(images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """A dark band across the eyes, like sunglasses (FER2013 faces have their eyes near row 18)."""
    height = (4, 7, 10)[level - 1]
    out = images.copy()
    size = images.shape[1]
    for img in out:
        top = int(rng.integers(15, 19)) - height // 2
        img[max(0, top) : top + height, size // 8 : size - size // 8] = rng.integers(0, 40)
    return out


#: name -> corrupt(images, severity, rng)
CORRUPTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "brightness": _brightness, "contrast": _contrast, "blur": _blur, "jpeg": _jpeg,
    "noise": _noise, "box_jitter": _box_jitter, "glasses": _glasses,
}


def corrupt(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``images`` (grey ``(N, H, W)`` uint8) under one corruption at severity 1-3; reproducible by seed."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; expected one of {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    return CORRUPTIONS[name](np.asarray(images, dtype=np.uint8), severity, np.random.default_rng(seed))


def corruption_report(classifier, images: np.ndarray, labels: np.ndarray, tta: str | None = None) -> dict:
    """Accuracy clean and under every corruption and severity, and their mean (the headline)."""
    def accuracy(batch: np.ndarray) -> float:
        return float(np.mean(classifier.predict_proba(batch, tta).argmax(axis=1) == labels))

    table = {name: {str(level): accuracy(corrupt(images, name, level)) for level in SEVERITIES}
             for name in CORRUPTIONS}
    scores = [value for row in table.values() for value in row.values()]
    return {"clean": accuracy(images), "corruptions": table, "mean": float(np.mean(scores)),
            "tta": tta or classifier.tta, "n": int(len(labels))}


def format_corruption_report(report: dict) -> str:
    lines = [f"robustness (tta={report['tta']}, n={report['n']}): clean {report['clean']:.4f}, "
             f"mean under corruptions {report['mean']:.4f}",
             f"{'corruption':<12}" + "".join(f"{'severity ' + str(s):>12}" for s in SEVERITIES)]
    for name, row in report["corruptions"].items():
        lines.append(f"{name:<12}" + "".join(f"{row[str(s)]:>12.4f}" for s in SEVERITIES))
    return "\n".join(lines)
