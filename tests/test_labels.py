import pytest

from fer_core.common.labels import LABELS, label_index


def test_labels_are_fer2013_codes_in_order():
    assert LABELS == ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")


@pytest.mark.parametrize("name, code", [("angry", 0), ("Disgust", 1), (" HAPPY ", 3), ("neutral", 6)])
def test_label_index_by_name(name, code):
    assert label_index(name) == code


def test_label_index_rejects_unknown():
    with pytest.raises(ValueError, match="unknown emotion 'contempt'"):
        label_index("contempt")
