"""Shared fixtures: the real FER2013 file, a real photo, the two bundled models."""
from __future__ import annotations

import streamlit_webrtc  # noqa: F401  -- must load before TensorFlow: importing aiortc's pylibsrtp after TensorFlow segfaults

import io
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from fer_core.data.fer2013 import resolve_data_path

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
    from fer_core.data.fer2013 import load_fer2013

    return load_fer2013(data_path)


def write_fer_csv(path: Path, images: np.ndarray, labels: np.ndarray, usage: str) -> Path:
    """Real FER2013 faces as a classic ``emotion,pixels,Usage`` CSV (a slice for a CLI run that is
    not about the accuracy on a whole split); the file stays in the test's tmp_path."""
    import pandas as pd

    pixels = [" ".join(map(str, image.ravel())) for image in images]
    pd.DataFrame({"emotion": labels, "pixels": pixels, "Usage": usage}).to_csv(path, index=False)
    return path


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
    from fer_core.inference.classifier import Classifier
    from fer_core.catalog.model import live_model_dir

    return Classifier.load(live_model_dir())


@pytest.fixture(scope="session")
def tracking_clips(tmp_path_factory) -> dict:
    """The tracking scenes (two real faces moving, :func:`fer_core.evaluation.sample_frames.tracking_scene`) as
    H.264 clips: ``{name: (path, true boxes per frame)}``."""
    import av

    from fer_core.evaluation.sample_frames import SCENE_FPS, SCENE_SIZE, TRACKING_SCENES, tracking_scene

    folder = tmp_path_factory.mktemp("tracking")
    clips = {}
    for name in TRACKING_SCENES:
        scene = tracking_scene(name)
        path = folder / f"{name}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=SCENE_FPS)
            stream.width, stream.height, stream.pix_fmt = *SCENE_SIZE, "yuv420p"
            for rgb, _ in scene:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            container.mux(stream.encode())
        clips[name] = (path, [truth for _, truth in scene])
    return clips


def true_person(row: dict, truth: list) -> int | None:
    """Which true person (0, 1) a face row is, by IoU > 0.5 with the scene's boxes (None: neither)."""
    from fer_core.inference.detect import Box

    box = Box(int(row["x"]), int(row["y"]), int(row["w"]), int(row["h"]))
    scores = [box.iou(t) if t is not None else 0.0 for t in truth]
    return scores.index(max(scores)) if max(scores) > 0.5 else None


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run first (a stable sort keeps the rest in order): under pytest-xdist
    the longest unit test then starts beside the browser tests instead of running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
