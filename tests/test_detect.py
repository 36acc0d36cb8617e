"""Face detectors on real photos: one face on the astronaut, none on a blank or a scenery."""
import numpy as np
import pytest

from fer_core.detect import make_detector


@pytest.fixture(scope="module", params=["blazeface", "blazeface-full", "haar"])
def detector(request):
    return make_detector(request.param)


def _iou(a, b):
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)


def test_one_face_on_the_astronaut(detector, astronaut):
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1
    # Her face is around x 170-285, y 60-190 in the 512x512 photo.
    face = boxes[0]
    assert 150 < face.x + face.w / 2 < 300 and 60 < face.y + face.h / 2 < 200
    assert 60 < face.w < 160


def test_detectors_agree_on_the_box(astronaut):
    a, b = make_detector("blazeface").detect(astronaut)[0], make_detector("haar").detect(astronaut)[0]
    assert _iou(a, b) > 0.5


def test_no_face_on_blank_or_scenery(detector):
    from skimage import data

    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert detector.detect(data.coffee()) == []


def test_grey_frame_accepted_by_haar(astronaut):
    grey = astronaut.mean(axis=2).astype(np.uint8)
    assert len(make_detector("haar").detect(grey)) == 1


def test_unknown_detector():
    with pytest.raises(ValueError, match="unknown face detector 'yolo'"):
        make_detector("yolo")
