"""Person IDs (fer_core.inference.tracking) on clips of two real faces: sizes crossing over, a face gone and back,
two faces passing close; in videos (fer_core.drivers.video) and live (fer_core.drivers.live)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from fer_core.inference.detect import LIVE_DETECTOR, Box, make_detector
from fer_core.inference.draw import annotate
from fer_core.evaluation.sample_frames import tracking_scene
from fer_core.inference.faces import Face
from fer_core.drivers.live import LiveAnalyzer
from fer_core.inference.tracking import FaceTracker
from fer_core.drivers.video import analyse_video
from tests.conftest import true_person


def ids_by_person(rows: list[dict], truths: list, column: str = "person") -> dict[int, list]:
    """Each true person's ``column`` values over the frames, in order (rows of one frame per index)."""
    out: dict[int, list] = defaultdict(list)
    for row in rows:
        if row.get("x") is None:
            continue
        person = true_person(row, truths[row["frame"]])
        assert person is not None, f"a face where there is none: {row}"
        out[person].append(row[column])
    return out


@pytest.fixture(scope="module")
def videos(tracking_clips, classifier):
    detector = make_detector()
    return {name: (analyse_video(path, classifier, detector).rows(), truths)
            for name, (path, truths) in tracking_clips.items()}


def test_sizes_crossing_over_swap_the_face_numbers_but_not_the_ids(videos):
    rows, truths = videos["crossing"]
    faces = ids_by_person(rows, truths, "face")
    assert all(set(numbers) == {1, 2} for numbers in faces.values())  # largest first: the numbers swap halfway
    people = ids_by_person(rows, truths)
    assert [len(v) for v in people.values()] == [36, 36]  # every face found, in every frame
    assert sorted(set(v) for v in people.values()) == [{1}, {2}]  # one ID each, from start to end


def test_a_face_gone_for_eight_frames_comes_back_with_its_id(videos):
    rows, truths = videos["gap"]
    people = ids_by_person(rows, truths)
    assert len(people[0]) == 36 - 8 and len(people[1]) == 36
    assert len(set(people[0])) == 1 and len(set(people[1])) == 1 and people[0][0] != people[1][0]
    frames = [r["frame"] for r in rows if r["person"] == people[0][0]]
    assert 11 in frames and 20 in frames and not set(range(12, 20)) & set(frames)  # before and after the gap


def test_two_faces_passing_close_keep_their_ids(videos):
    rows, truths = videos["passing"]
    people = ids_by_person(rows, truths)
    assert len(people[0]) + len(people[1]) >= 78  # at most two missed detections of 80
    assert sorted(set(v) for v in people.values()) == [{1}, {2}]


def test_live_ids_follow_each_person(live_classifier):
    analyzer = LiveAnalyzer(live_classifier, make_detector(LIVE_DETECTOR))
    seen: dict[int, list] = defaultdict(list)
    for rgb, truth in tracking_scene("crossing"):  # the live detector sees the small faces late or not at all
        _, result = analyzer.process(rgb)
        for face in result.faces:
            person = true_person(dict(zip("xywh", face.box.as_list())), truth)
            assert person is not None
            seen[person].append(face.person)
    first, later = seen[1], seen[0]  # the first face is large from the start; the second appears midway
    assert set(first) == {1} and len(first) > 20
    # a face appearing after the first frame gets its ID once confirmed, on its second frame
    assert later[0] is None and set(later[1:]) == {2} and len(later) > 15
    analyzer.reset()  # a new stream counts from P1 again
    _, result = analyzer.process(tracking_scene("gap")[20][0])
    assert sorted(f.person for f in result.faces) == [1, 2]


@pytest.fixture(scope="module")
def live_classifier():
    from fer_core.inference.classifier import Classifier
    from fer_core.catalog.model import live_model_dir

    return Classifier.load(live_model_dir())


def test_the_id_is_drawn_before_the_label(astronaut):
    face = Face(Box(180, 80, 120, 120), "Happy", {"Happy": 0.9, "Sad": 0.1}, person=3)
    drawn = annotate(astronaut, [face])
    unnamed = annotate(astronaut, [Face(face.box, face.label, face.scores)])
    label_band = (slice(0, 80), slice(180, 400))  # above the box, where the text goes
    assert not np.array_equal(drawn[label_band], unnamed[label_band])  # "P3 Happy 90%" is wider than "Happy 90%"


def test_tracker_inputs_are_checked_and_reset_starts_over():
    with pytest.raises(ValueError, match="frame_rate"):
        FaceTracker(frame_rate=0)
    tracker = FaceTracker(frame_rate=15)
    boxes = [Box(10, 10, 50, 50, 0.9), Box(200, 10, 50, 50, 0.9)]
    assert tracker.update(boxes) == [1, 2] and tracker.update(boxes[::-1]) == [2, 1]
    assert tracker.update([]) == []
    tracker.reset()
    assert tracker.update(boxes[1:]) == [1]


def test_per_person_timelines_and_summary(videos, classifier):
    from fer_core.reports import timeline
    rows, _ = videos["gap"]
    labels = classifier.labels
    assert timeline.people(rows) == [1, 2]
    summary = timeline.person_summary(rows, labels).set_index("person")
    assert summary.loc[2, "frames"] == 36 and summary.loc[1, "frames"] == 28  # person 1 is gone for 8 frames
    assert summary.loc[2, "seconds"] == pytest.approx(36 / 15, abs=0.01)
    assert summary.loc[1, "seconds"] == pytest.approx(28 / 15, abs=0.01)
    assert (summary["dominant"] == "Happy").all()  # the astronaut smiles
    assert summary[list(labels)].sum(axis=1).to_numpy() == pytest.approx([1, 1])
    gone = timeline.person_timeline(rows, labels, 1)
    assert len(gone) == 36 and gone["label"].tolist()[12:20] == [timeline.NO_FACE] * 8  # a gap in the chart
    assert gone["Happy"].isna().sum() == 8
