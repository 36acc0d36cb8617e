"""The emotion classifier: a loaded model plus its metadata, predicting many faces at once.

Labels, input spec and the default test-time augmentation come from the model's own
metadata, never from elsewhere. Two runtimes run the same network: LiteRT, when the
folder (every member, for an ensemble) has an up-to-date ``model.tflite`` from
``python -m fer_core export``, and Keras otherwise. ``runtime`` says which one is in use.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_core.catalog.model import (DEFAULT_PRECISION, TTA_MODES, default_model_dir, file_precision, input_blur_sigma,
                                    litert_files, load_keras_model, read_metadata, requested_precision,
                                    stored_temperature)
from fer_core.catalog.input_spec import InputSpec
from fer_core.inference.preprocess import input_blur, preprocess_faces

RUNTIMES = ("auto", "litert", "keras")

#: ten-crop side relative to the input (the 4 corners and the centre, each also flipped)
TENCROP_FRACTION = 0.9
#: shift TTA: the face moved by this fraction of its side (2 px of 48) left, right, up and down
SHIFT_FRACTION = 2 / 48


class Classifier:
    """A model and its metadata: ``predict_proba(face_crops) -> (N, classes)``."""

    def __init__(self, model, metadata: dict, folder: Path | None = None, *, runners: Sequence | None = None) -> None:
        """``model`` is a Keras model, or None with ``runners`` (one LiteRT runner per member)."""
        self._model = model
        self.metadata = metadata
        self.folder = folder
        self.name: str = metadata["name"]
        self.labels: tuple[str, ...] = tuple(metadata["labels"])
        self.spec = InputSpec.from_dict(metadata["input_spec"])
        self.tta: str = metadata.get("inference", {}).get("tta", "none")
        #: Gaussian blur (input pixels) before the network, chosen on PublicTest with the TTA (0: none)
        self.input_blur_sigma: float = input_blur_sigma(metadata)
        #: the precision the network runs at: the key of its stored confidence temperatures
        self.precision: str = DEFAULT_PRECISION
        if runners:
            self.runtime = "litert"
            self.threads = runners[0].num_threads
            #: "int8", "float32", or "int8+float32" for an ensemble whose members differ
            self.precision = "+".join(sorted({file_precision(r.path) for r in runners}, reverse=True))
            self._forward = _mean_of(list(runners))
        else:
            from fer_core.common.quiet import import_tensorflow_quietly

            tf = import_tensorflow_quietly()
            self.runtime = "keras"
            self.threads = None
            self.precision = "float32"
            # One traced graph for every batch size: much faster than eager calls per frame.
            self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None, runtime: str = "auto", threads: int | None = None,
             precision: str | None = None) -> Classifier:
        """Load a model folder (default: the bundled default model).

        ``runtime``: ``auto`` uses LiteRT where the folder has up-to-date ``.tflite`` files,
        ``litert`` requires them, ``keras`` never uses them. ``precision`` (default
        ``$FER_PRECISION``, else int8): int8 runs each member's accepted integer network where it
        has one and float32 otherwise; float32 never runs them. Keras is always float32.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
        precision = requested_precision(precision)
        folder = Path(folder) if folder else default_model_dir()
        if runtime != "keras":
            metadata = read_metadata(folder)
            files = litert_files(folder, metadata, required=runtime == "litert", precision=precision)
            if files:
                from fer_core.inference.litert import LiteRTRunner

                runners = [LiteRTRunner(path, threads) for path in files]
                _check_runners(folder, runners, metadata)
                return cls(None, metadata, folder, runners=runners)
        model, metadata = load_keras_model(folder)
        return cls(model, metadata, folder)

    @property
    def model(self):
        """The Keras model (loaded on first use under LiteRT: Grad-CAM needs its gradients)."""
        if self._model is None:
            self._model, _ = load_keras_model(self.folder)
        return self._model

    @property
    def runtime_label(self) -> str:
        """What runs the network, for people: "LiteRT int8, 2 threads" or "Keras (TensorFlow) float32"."""
        if self.runtime == "litert":
            return f"LiteRT {self.precision}, {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"Keras (TensorFlow) {self.precision}"

    @property
    def params(self) -> int:
        stored = self.metadata.get("architecture", {}).get("params")
        return int(stored) if stored and self._model is None else int(self.model.count_params())

    def temperature(self, tta: str | None = None) -> float:
        """The confidence temperature scores are made with at this TTA (1.0 where none was fitted)."""
        return stored_temperature(self.metadata, tta or self.tta, self.precision)

    def predict_batch(self, batch: np.ndarray, tta: str | None = None, batch_size: int = 256,
                      input_blur_sigma: float | None = None, temperature: float | None = None) -> np.ndarray:
        """Probabilities for preprocessed input ``(N, size, size, channels)``: the mean over the TTA's views,
        rescaled by the model's confidence temperature so that a confidence means the same for every model.

        ``tta``, ``input_blur_sigma`` and ``temperature`` default to the model's stored settings
        (``temperature=1`` gives the raw mean, what fitting the temperature starts from).
        """
        mean = self.predict_views(batch, tta, batch_size, input_blur_sigma).mean(axis=0)
        return apply_temperature(mean, self.temperature(tta) if temperature is None else temperature).astype(np.float32)

    def predict_views(self, batch: np.ndarray, tta: str | None = None, batch_size: int = 256,
                      input_blur_sigma: float | None = None) -> np.ndarray:
        """Float64 probabilities of each TTA view, ``(n_views, N, n_labels)``; flip's first view is the plain one.

        Why separate from :meth:`predict_batch`: choosing a TTA can score "none" from flip's first
        view instead of running the network on the plain faces twice.
        """
        tta = tta or self.tta
        if tta not in TTA_MODES:
            raise ValueError(f"unknown test-time augmentation {tta!r}; expected one of {', '.join(TTA_MODES)}")
        batch = input_blur(batch, self.input_blur_sigma if input_blur_sigma is None else input_blur_sigma)
        views = _tta_views(batch, tta)
        stacked = np.concatenate(views) if len(views) > 1 else batch  # one forward pass for all views
        probs = np.concatenate([
            np.asarray(self._forward(stacked[start : start + batch_size]), dtype=np.float64)
            for start in range(0, len(stacked), batch_size)
        ])
        return probs.reshape(len(views), len(batch), -1)

    def predict_proba(self, faces: np.ndarray | Sequence[np.ndarray], tta: str | None = None,
                      input_blur_sigma: float | None = None, temperature: float | None = None) -> np.ndarray:
        """Probabilities for face crops of any size and colour (see :func:`preprocess_faces`)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.predict_batch(preprocess_faces(faces, self.spec), tta, input_blur_sigma=input_blur_sigma,
                                  temperature=temperature)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row: T > 1 softens over-confident scores, T < 1 sharpens
    under-confident ones (an average over many views); the top label never changes."""
    if temperature == 1.0:
        return probabilities
    logs = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)) / temperature
    logs -= logs.max(axis=-1, keepdims=True)
    scaled = np.exp(logs)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def _mean_of(runners: list):
    """One forward function averaging the members' probabilities (an ensemble), or the one member's."""
    if len(runners) == 1:
        return runners[0]
    return lambda x: np.mean([runner(np.asarray(x)) for runner in runners], axis=0)


def _check_runners(folder: Path, runners: list, metadata: dict) -> None:
    from fer_core.catalog.model import ModelError

    spec = InputSpec.from_dict(metadata["input_spec"])
    for runner in runners:
        if runner.input_shape != spec.shape:
            raise ModelError(f"{runner.path}: input {runner.input_shape} != metadata input_spec {spec.shape}")
        if runner.num_outputs != len(metadata["labels"]):
            raise ModelError(f"{runner.path}: {runner.num_outputs} outputs but metadata lists {len(metadata['labels'])} labels")


def _tta_views(batch: np.ndarray, tta: str) -> list[np.ndarray]:
    if tta == "none":
        return [batch]
    if tta == "flip":
        return [batch, batch[:, :, ::-1]]
    if tta == "shift":  # flip's two views first (select_tta reads "none" and "flip" off them)
        pixels = max(1, round(batch.shape[1] * SHIFT_FRACTION))
        return [view for moved in [batch, *shifts(batch, pixels)] for view in (moved, moved[:, :, ::-1])]
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


def shifts(batch: np.ndarray, pixels: int, diagonal: bool = False) -> list[np.ndarray]:
    """The batch moved ``pixels`` right, left, down and up (and, with ``diagonal``, along the 4 diagonals),
    borders mirrored as training's ``RandomTranslation(fill_mode="reflect")`` fills them."""
    size, d = batch.shape[1], pixels
    padded = np.pad(batch, ((0, 0), (d, d), (d, d), (0, 0)), mode="symmetric")
    moves = [(d, 0), (-d, 0), (0, d), (0, -d)] + ([(d, d), (-d, d), (d, -d), (-d, -d)] if diagonal else [])
    return [padded[:, d - dy : d - dy + size, d - dx : d - dx + size] for dx, dy in moves]
