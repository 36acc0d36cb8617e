"""Shared fixtures: the real FER2013 file, a real photo, the two bundled models."""
from __future__ import annotations

import streamlit_webrtc  # noqa: F401  -- must load before TensorFlow: importing aiortc's pylibsrtp after TensorFlow segfaults

import io
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from fer_core.data import resolve_data_path

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_path() -> Path:
    """The real FER2013 file (CI always has it beside the repo)."""
    path = resolve_data_path()
    if not path.exists():
        pytest.fail(f"FER2013 not found at {path}: set FER_DATA")
    return path


@pytest.fixture(scope="session")
def fer_data(data_path):
    from fer_core.data import load_fer2013

    return load_fer2013(data_path)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo: a real, smiling face (RGB uint8)."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(astronaut).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def classifier():
    """The fast model (models/student16, or $FER_LIVE_MODEL), loaded once: tests of behaviour need a
    real trained network, not the accurate ensemble's three networks and 10-view TTA. Tests of the
    accurate model itself load it (``Classifier.load()``, the CLI's default)."""
    from fer_core.classifier import Classifier
    from fer_core.model import live_model_dir

    return Classifier.load(live_model_dir())
