"""The emotion classifier: a loaded model plus its metadata, predicting many faces at once.

Labels, input spec and the default test-time augmentation come from the model's own
metadata, never from elsewhere.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_core.model import TTA_MODES, default_model_dir, load_keras_model
from fer_core.preprocess import InputSpec, preprocess_faces

#: ten-crop side relative to the input (the 4 corners and the centre, each also flipped)
TENCROP_FRACTION = 0.9


class Classifier:
    """A model and its metadata: ``predict_proba(face_crops) -> (N, classes)``."""

    def __init__(self, model, metadata: dict, folder: Path | None = None) -> None:
        from fer_core.quiet import import_tensorflow_quietly

        tf = import_tensorflow_quietly()
        self.model = model
        self.metadata = metadata
        self.folder = folder
        self.name: str = metadata["name"]
        self.labels: tuple[str, ...] = tuple(metadata["labels"])
        self.spec = InputSpec.from_dict(metadata["input_spec"])
        self.tta: str = metadata.get("inference", {}).get("tta", "none")
        # One traced graph for every batch size: much faster than eager calls per frame.
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> Classifier:
        """Load a model folder (default: the bundled default model)."""
        folder = Path(folder) if folder else default_model_dir()
        model, metadata = load_keras_model(folder)
        return cls(model, metadata, folder)

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    def predict_batch(self, batch: np.ndarray, tta: str | None = None, batch_size: int = 256) -> np.ndarray:
        """Probabilities for preprocessed input ``(N, size, size, channels)``."""
        tta = tta or self.tta
        if tta not in TTA_MODES:
            raise ValueError(f"unknown test-time augmentation {tta!r}; expected one of {', '.join(TTA_MODES)}")
        views = _tta_views(batch, tta)
        stacked = np.concatenate(views) if len(views) > 1 else batch  # one forward pass for all views
        probs = np.concatenate([
            np.asarray(self._forward(stacked[start : start + batch_size]), dtype=np.float64)
            for start in range(0, len(stacked), batch_size)
        ])
        return probs.reshape(len(views), len(batch), -1).mean(axis=0).astype(np.float32)

    def predict_proba(self, faces: np.ndarray | Sequence[np.ndarray], tta: str | None = None) -> np.ndarray:
        """Probabilities for face crops of any size and colour (see :func:`preprocess_faces`)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.predict_batch(preprocess_faces(faces, self.spec), tta)


def _tta_views(batch: np.ndarray, tta: str) -> list[np.ndarray]:
    if tta == "none":
        return [batch]
    if tta == "flip":
        return [batch, batch[:, :, ::-1]]
    import cv2

    size = batch.shape[1]
    crop = round(size * TENCROP_FRACTION)
    starts = [(0, 0), (0, size - crop), (size - crop, 0), (size - crop, size - crop), ((size - crop) // 2,) * 2]
    views = []
    for y, x in starts:
        cropped = batch[:, y : y + crop, x : x + crop]
        resized = np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR) for img in cropped])
        resized = resized.reshape(batch.shape)
        views += [resized, resized[:, :, ::-1]]
    return views
