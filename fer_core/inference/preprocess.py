"""The one preprocessing function: face crop -> 48x48 grey -> float /255 (-> RGB if asked).

Training, evaluation and every inference path call :func:`preprocess_faces`, driven by
the :class:`InputSpec` stored with the model, so they cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_core.catalog.input_spec import InputSpec


#: Gaussian blurs (sigma, input pixels) that select-tta tries by default; 0 is none
INPUT_BLUR_GRID = (0.0, 0.5, 0.6, 0.7)


def input_blur(batch: np.ndarray, sigma: float) -> np.ndarray:
    """A preprocessed batch ``(N, size, size, channels)`` under a Gaussian blur of ``sigma`` input pixels.

    Why: training augmentation resamples every face (zoom, shift, rotation: bilinear), so the
    network learns slightly soft images and sees sharper ones at test time (the train/test
    discrepancy of Touvron et al., 2019). A small blur at inference, chosen on PublicTest
    (:func:`fer_core.evaluation.evaluate.select_tta`), removes that gap. OpenCV per face: about 3 µs each,
    cheap on the live path's single face and on a batch alike.
    """
    if sigma <= 0:
        return batch
    blurred = np.stack([cv2.GaussianBlur(np.asarray(img, dtype=np.float32), (0, 0), sigma) for img in batch])
    return blurred.reshape(np.shape(batch))  # GaussianBlur drops a trailing 1-channel axis


def to_grey(image: np.ndarray) -> np.ndarray:
    """An RGB, RGBA or grey uint8 image as 2-D grey uint8 (RGB order, as everywhere in fer_core)."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
    raise ValueError(f"expected a grey, RGB or RGBA image, got shape {image.shape}")


def preprocess_faces(faces: np.ndarray | Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """Model input for face crops of any size: ``(N, size, size, channels)`` float32 in [0, 1].

    ``faces`` is a sequence of uint8 crops (grey, RGB or RGBA) or an ``(N, H, W)`` grey batch,
    such as FER2013 images.
    """
    if isinstance(faces, np.ndarray) and faces.ndim == 3 and faces.shape[1:] == (spec.size, spec.size):
        grey = faces  # already a grey batch at model size: the training/evaluation fast path
    else:
        grey = np.stack([_resize(to_grey(np.asarray(f)), spec.size) for f in faces]) if len(faces) else (
            np.zeros((0, spec.size, spec.size), dtype=np.uint8)
        )
    if grey.dtype != np.uint8:
        raise ValueError(f"face crops must be uint8, got {grey.dtype}")
    batch = grey.astype(np.float32)[..., np.newaxis] / np.float32(spec.scale)
    if spec.channels == 3:
        batch = np.repeat(batch, 3, axis=-1)
    return batch


def _resize(grey: np.ndarray, size: int) -> np.ndarray:
    if grey.shape == (size, size):
        return grey
    if grey.size == 0:
        raise ValueError("empty face crop")
    shrinking = grey.shape[0] > size or grey.shape[1] > size
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
