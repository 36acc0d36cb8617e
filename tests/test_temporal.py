import numpy as np
import pytest

from fer_core.inference.temporal import ProbabilityEMA


def test_flicker_is_damped_for_the_same_person():
    ema = ProbabilityEMA(alpha=0.3)
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    for _ in range(10):
        ema.update([1], happy[None])
    out = ema.update([1], sad[None])  # one odd frame
    assert np.argmax(out[0]) == 3 and out[0][4] == pytest.approx(0.3)


def test_people_are_averaged_apart_whatever_their_order():
    ema = ProbabilityEMA(alpha=0.5)
    ema.update([1, 2], np.eye(7)[[3, 4]])
    out = ema.update([2, 1], np.eye(7)[[3, 3]])  # the faces come in the other order (sizes crossed)
    assert out[0][4] == pytest.approx(0.5) and out[1][3] == pytest.approx(1.0)


def test_a_new_or_unknown_person_is_not_mixed_with_another():
    ema = ProbabilityEMA(alpha=0.3)
    ema.update([1], np.eye(7)[[3]])
    np.testing.assert_array_equal(ema.update([2], np.eye(7)[[4]])[0], np.eye(7)[4])
    np.testing.assert_array_equal(ema.update([None], np.eye(7)[[5]])[0], np.eye(7)[5])


def test_a_person_unseen_for_long_is_forgotten_and_reset_forgets_all():
    ema = ProbabilityEMA(alpha=0.3, forget_after=3)
    ema.update([1], np.eye(7)[[3]])
    ema.update([1], np.eye(7)[[4]])  # seen again soon: averaged
    for _ in range(3):
        ema.update([], np.empty((0, 7)))
    np.testing.assert_array_equal(ema.update([1], np.eye(7)[[5]])[0], np.eye(7)[5])
    ema.reset()
    np.testing.assert_array_equal(ema.update([1], np.eye(7)[[6]])[0], np.eye(7)[6])


def test_alpha_is_validated():
    with pytest.raises(ValueError):
        ProbabilityEMA(alpha=0)
