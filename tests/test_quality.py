"""Quality flags on a real face (the astronaut's, as a detector box crops it) and the threshold rule."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.evaluation.quality_sweep import LOSS, SWEEPS, choose_threshold, flagged
from fer_core.inference.detect import Box
from fer_core.inference.quality import FLAGS, THRESHOLDS, quality_flags
from fer_core.evaluation.sample_frames import FACE_IN_CROP, head_and_shoulders

BOX = Box(*(round(v) for v in FACE_IN_CROP), score=0.9)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    x, y, w, h = BOX.as_list()
    return head_and_shoulders()[y : y + h, x : x + w]


def test_a_clear_face_has_no_flag(crop):
    assert quality_flags(crop, BOX, BOX.score) == ()


@pytest.mark.parametrize("degrade, box, score, expected", [
    (lambda c: (c * 0.2).astype(np.uint8), BOX, 0.9, ("too_dark",)),
    (lambda c: (255 - (255 - c.astype(np.float32)) * 0.2).astype(np.uint8), BOX, 0.9, ("too_bright",)),
    (lambda c: cv2.GaussianBlur(c, (0, 0), 4), BOX, 0.9, ("blurred",)),
    (lambda c: c, Box(0, 0, 20, 20), 0.9, ("too_small",)),
    (lambda c: c, BOX, 0.5, ("low_score",)),
])
def test_each_degradation_raises_its_flag(crop, degrade, box, score, expected):
    assert quality_flags(degrade(crop), box, score) == expected


def test_flags_keep_their_order_and_an_empty_crop_is_too_small():
    dark_and_small = np.zeros((10, 10, 3), np.uint8)
    assert quality_flags(dark_and_small, Box(0, 0, 10, 10), 0.1) == ("too_small", "too_dark", "blurred", "low_score")
    assert set(quality_flags(dark_and_small, Box(0, 0, 10, 10), 0.1)) <= set(FLAGS)
    assert quality_flags(np.zeros((0, 0, 3), np.uint8), Box(0, 0, 0, 0), 0.9)[0] == "too_small"


def test_the_threshold_is_the_edge_of_the_bad_tail_not_one_noisy_bin():
    clean = 0.70
    bad, fine, noisy = clean - LOSS - 0.1, clean, clean - LOSS - 0.01
    table = [(0, 10, 200, bad), (10, 20, 200, bad), (20, 30, 200, fine), (30, 40, 200, noisy), (40, 50, 200, fine)]
    assert choose_threshold(table, clean, low_is_bad=True) == 20
    assert choose_threshold(table, clean, low_is_bad=False) is None  # high is bad: the high end is fine
    assert choose_threshold([(0, 10, 50, bad), *table[2:]], clean, low_is_bad=True) is None  # too few faces to judge


def test_the_sweep_and_the_flags_compare_the_same_way():
    measures = np.array([10.0, 42.9, 50.0])
    assert flagged(measures, THRESHOLDS.min_brightness, low_is_bad=True).tolist() == [True, False, False]
    assert {s.flag for s in SWEEPS} | {"low_score"} == set(FLAGS)
