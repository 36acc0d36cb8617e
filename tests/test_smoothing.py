import numpy as np
import pytest

from fer_core.detect import Box
from fer_core.smoothing import ProbabilitySmoother


def test_flicker_is_damped_for_the_same_face():
    smoother = ProbabilitySmoother(alpha=0.3)
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    box = Box(100, 100, 80, 80)
    for _ in range(10):
        smoother.update([box], happy[None])
    out = smoother.update([Box(104, 102, 80, 80)], sad[None])  # one odd frame, face moved a little
    assert np.argmax(out[0]) == 3 and out[0][4] == pytest.approx(0.3)


def test_new_face_is_not_mixed_with_another():
    smoother = ProbabilitySmoother(alpha=0.3)
    smoother.update([Box(0, 0, 50, 50)], np.eye(7)[[3]])
    out = smoother.update([Box(400, 300, 50, 50)], np.eye(7)[[4]])
    np.testing.assert_array_equal(out[0], np.eye(7)[4])


def test_alpha_is_validated():
    with pytest.raises(ValueError):
        ProbabilitySmoother(alpha=0)
