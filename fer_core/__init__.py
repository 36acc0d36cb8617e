"""fer_core: facial expression recognition trained on FER2013, the library under the CLI and the studio.

The public API is this handful; everything in the subpackages is internal and may change::

    import fer_core

    model = fer_core.load_model()                     # the bundled default (or a folder / a name)
    faces = fer_core.analyse_image("photo.jpg", model)
    print(faces[0].label, faces[0].confidence)        # e.g. Happy 0.94
    video = fer_core.analyse_video("clip.mp4", model, every=5)
    baseline = fer_core.make_baseline(["neutral.jpg"], model)
    faces = fer_core.analyse_image("photo.jpg", model, baseline=baseline)

Each function imports what it needs when called, so ``import fer_core`` stays cheap.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from fer_core.common.labels import LABELS, NUM_CLASSES
from fer_core.common.version import __version__

if TYPE_CHECKING:
    import numpy as np

    from fer_core.catalog.model_info import ModelInfo
    from fer_core.drivers.video import VideoResult
    from fer_core.inference.classifier import Classifier
    from fer_core.inference.faces import Face
    from fer_core.inference.neutral_baseline import NeutralBaseline

__all__ = ["LABELS", "NUM_CLASSES", "analyse_image", "analyse_video", "list_models", "load_baseline", "load_model",
           "make_baseline"]


def list_models() -> list[ModelInfo]:
    """The bundled models (and those under ``$FER_MODELS_DIR``), each described by its metadata and evaluations."""
    from fer_core.catalog.model import list_models as folders
    from fer_core.catalog.model_info import describe

    return [describe(folder) for folder in folders()]


def load_model(model: str | os.PathLike | None = None) -> Classifier:
    """A model ready to classify faces: a folder, a bundled model's name (``"student16"``), or the default."""
    from fer_core.catalog.model import MODELS_DIR
    from fer_core.inference.classifier import Classifier

    if model is not None and not Path(model).exists() and (MODELS_DIR / str(model)).is_dir():
        model = MODELS_DIR / str(model)
    return Classifier.load(model)


def analyse_image(image: str | os.PathLike | np.ndarray, model: Classifier | None = None, *,
                  detector: str | None = None, baseline: NeutralBaseline | None = None) -> list[Face]:
    """Every face in an image file or an RGB array, largest first, with its label and scores.

    ``detector`` names a face detector (default: the CLI's); with a ``baseline`` each face is read against
    that person's neutral face. Raises ``ImageError`` for an unreadable file.
    """
    from fer_core.inference.detect import DEFAULT_DETECTOR, make_detector
    from fer_core.inference.images import read_image
    from fer_core.inference.infer import analyse_image as analyse

    rgb = image if not isinstance(image, (str, os.PathLike)) else read_image(image)
    return analyse(rgb, model or load_model(), make_detector(detector or DEFAULT_DETECTOR), baseline=baseline)


def analyse_video(path: str | os.PathLike, model: Classifier | None = None, *, every: int = 5,
                  output: str | os.PathLike | None = None, baseline: NeutralBaseline | None = None) -> VideoResult:
    """Every ``every``-th frame of a video: faces with person IDs, as rows (``result.rows()``); ``output`` also
    writes the annotated MP4. Raises ``VideoError`` for a file that cannot be decoded."""
    from fer_core.drivers.video import analyse_video as analyse
    from fer_core.inference.detect import DEFAULT_DETECTOR, make_detector

    return analyse(path, model or load_model(), make_detector(DEFAULT_DETECTOR), every=every, output=output,
                   baseline=baseline)


def make_baseline(neutral_images: list[str | os.PathLike], model: Classifier) -> NeutralBaseline:
    """A person's neutral baseline from photos of their relaxed face (the largest face of each)."""
    from fer_core.inference.detect import DEFAULT_DETECTOR, make_detector
    from fer_core.inference.neutral_reference import baseline_from_images, read_reference

    images = [(str(path), read_reference(path)) for path in neutral_images]
    return baseline_from_images(images, model, make_detector(DEFAULT_DETECTOR))


def load_baseline(path: str | os.PathLike, model: Classifier | None = None) -> NeutralBaseline:
    """A saved neutral baseline file, checked against ``model`` when given."""
    from fer_core.inference.baseline_file import read_baseline_file

    return read_baseline_file(path, model)
