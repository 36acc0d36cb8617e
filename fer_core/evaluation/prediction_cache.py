"""A model's probabilities on a set of images, computed once per model weights, images and TTA.

The evaluation page's gallery classifies the 3,589 PrivateTest faces: seconds of work that
would otherwise be redone after every server restart. The result is kept as ``.npy`` beside
the parse cache (``$FER_CACHE_DIR``); its key hashes the weight files the model loads, the
images' bytes and the TTA, so a retrained model or other images never read a stale file.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import numpy as np

from fer_core.inference.classifier import Classifier
from fer_core.common.hashing import file_sha256
from fer_core.catalog.model import weight_files
from fer_core.common.files import atomic_write
from fer_core.data.parse_cache import cache_dir

log = logging.getLogger(__name__)
#: faces classified between two progress reports
CHUNK = 256


def prediction_key(classifier: Classifier, images: np.ndarray, tta: str) -> str:
    """sha256 of (the weight files' hashes, the images, the TTA, the labels, the confidence temperature)."""
    digest = hashlib.sha256()
    for path in weight_files(classifier.folder):
        digest.update(file_sha256(path).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(f"{images.shape}|{tta}|{','.join(classifier.labels)}".encode())
    temperature = classifier.temperature(tta)
    if temperature != 1.0:  # (keys of models without one are unchanged)
        digest.update(f"|T={temperature!r}".encode())
    return digest.hexdigest()


def cached_probabilities(classifier: Classifier, images: np.ndarray, tta: str,
                         progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``classifier.predict_proba(images, tta)``, read from the cache when it is there.

    When it is computed, ``progress(done, total)`` follows it chunk by chunk (ten-crop on a
    test split takes about a minute on 2 cores).
    """
    path = cache_dir() / f"predictions-{prediction_key(classifier, images, tta)}.npy"
    try:
        probabilities = np.load(path, allow_pickle=False)
        if probabilities.shape == (len(images), len(classifier.labels)):
            return probabilities
        log.warning("%s has the wrong shape; recomputing", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:  # a damaged file: recomputed and replaced
        log.warning("ignoring %s: %s", path, exc)
    chunks = []
    for start in range(0, len(images), CHUNK):
        chunks.append(classifier.predict_proba(images[start:start + CHUNK], tta))
        if progress:
            progress(min(start + CHUNK, len(images)), len(images))
    probabilities = np.concatenate(chunks) if chunks else classifier.predict_proba(images, tta)
    atomic_write(path, lambda handle: np.save(handle, probabilities))  # a refusing disk costs only the next start
    return probabilities
