"""fer_core.drivers.photo: one photo analysed once (detect, crop, classify, explain), a bounded display copy."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.inference.detect import make_detector
from fer_core.drivers.photo import DISPLAY_PIXELS, OVERLAY_SIDE, analyse_photo, draw_photo


@pytest.fixture(scope="module")
def fast():
    from fer_core.inference.classifier import Classifier
    from fer_core.catalog.model import live_model_dir

    return Classifier.load(live_model_dir())


def test_a_large_photo_keeps_a_display_copy_and_full_size_boxes(fast, astronaut):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)  # 4.2 megapixels
    result = analyse_photo(big, fast, make_detector())
    [face] = result.faces
    assert face.label == "Happy" and face.box.w > 300  # boxes in the original's pixels
    assert result.display.shape[0] * result.display.shape[1] <= DISPLAY_PIXELS
    assert result.scale == pytest.approx(result.display.shape[0] / 2048, abs=1e-3)
    [overlay] = result.overlays
    assert overlay is not None and max(overlay.shape[:2]) <= OVERLAY_SIDE
    assert result.nbytes >= result.display.nbytes + overlay.nbytes
    rows = result.rows("big.png")
    assert [r["face"] for r in rows] == [1] and rows[0]["file"] == "big.png"
    assert result.csv("big.png").splitlines()[0].startswith(b"file,face,person,label,confidence,vs_neutral")


def test_the_threshold_changes_the_drawing_not_the_result(fast, astronaut):
    result = analyse_photo(astronaut, fast, make_detector(), explain=False)
    assert result.overlays == [None]
    labelled, uncertain = draw_photo(result, 0.0), draw_photo(result, 1.0)
    assert labelled.shape == astronaut.shape and not np.array_equal(labelled, uncertain)
    assert not np.array_equal(labelled, astronaut)  # drawn on a copy
