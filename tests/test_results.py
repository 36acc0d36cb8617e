"""One face row, one CSV writer, the timelines and the evaluation helpers, on real inputs."""
import io

import numpy as np
import pandas as pd
import pytest

from fer_core.evaluation import bench
from fer_core.evaluation import evaluate
from fer_core.reports import timeline
from fer_core.inference.detect import make_detector
from fer_core.inference.infer import ImageResult, analyse_image
from fer_core.drivers.live import FrameResult
from fer_core.inference.rows import face_columns, no_face_row, rows_to_csv
from fer_core.drivers.video import VideoFrameResult, VideoResult

SPLIT = "PrivateTest"


@pytest.fixture(scope="module")
def faces(classifier, astronaut):
    found = analyse_image(astronaut, classifier, make_detector())
    assert len(found) == 1
    return found


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data))


def test_face_row_has_context_then_face_then_labels(faces, classifier):
    face = faces[0]
    row = face.to_row(file="astronaut.jpg", face=1)
    assert list(row) == face_columns(classifier.labels, ("file", "face"))
    assert row["label"] == face.label == "Happy"
    assert [row[k] for k in "xywh"] == face.box.as_list()
    assert row["confidence"] == round(face.confidence, 4) == row["Happy"]
    assert all(row[k] == round(v, 4) for k, v in face.scores.items())
    assert sum(row[k] for k in classifier.labels) == pytest.approx(1, abs=1e-3)


def test_photo_rows_and_csv_round_trip(faces, classifier):
    result = ImageResult("astronaut.jpg", faces)
    columns = face_columns(classifier.labels, ("file", "face"))
    table = read_csv(rows_to_csv(result.rows(), columns))
    assert list(table.columns) == columns
    assert table.loc[0, "file"] == "astronaut.jpg" and table.loc[0, "face"] == 1
    assert table.loc[0, "label"] == "Happy"
    np.testing.assert_allclose(table.loc[0, list(classifier.labels)].to_numpy(float),
                               [round(v, 4) for v in faces[0].scores.values()])
    # no face: the header alone, in the same order
    assert rows_to_csv(ImageResult("grey.png").rows(), columns).decode().strip() == ",".join(columns)
    # a table goes through unchanged
    assert rows_to_csv(table) == rows_to_csv(result.rows(), columns)


def test_video_and_live_rows_agree_and_make_one_timeline(faces, classifier):
    labels = tuple(classifier.labels)
    video = VideoResult("clip.mp4", 10.0, 3, 3, 512, 512, (
        VideoFrameResult(0, 0.0, faces), VideoFrameResult(1, 0.1, []), VideoFrameResult(2, 0.2, faces)))
    rows = video.rows()
    assert [r["label"] for r in rows] == ["Happy", timeline.NO_FACE, "Happy"]
    assert rows[0] == faces[0].to_row(frame=0, time_s=0.0, face=1)
    assert rows[0]["person"] == 1 and rows[1]["person"] is None  # a photo's faces are numbered: person 1
    assert rows[1] == no_face_row(frame=1, time_s=0.1, face=None)
    table = read_csv(rows_to_csv(rows))
    assert list(table.columns) == face_columns(labels, ("frame", "time_s", "face"))
    assert table["Happy"].isna().tolist() == [False, True, False]

    from ui import live

    history: list[dict] = []
    live.append_history(history, [FrameResult(100.0 + i / 10, r.faces, 10.0) for i, r in enumerate(video.results)],
                        100.0, labels)
    assert [r["label"] for r in history] == [r["label"] for r in rows]
    assert {k: history[0][k] for k in face_columns(labels)} == {k: rows[0][k] for k in face_columns(labels)}
    assert history[1]["confidence"] is None and all(history[1][k] is None for k in labels)
    assert list(read_csv(live.history_csv(history)).columns) == face_columns(
        labels, ("time_s", "timestamp", "faces", "fps", "face"))

    for source in (rows, history):
        frame = timeline.timeline(source, labels)
        assert list(frame.columns) == ["time_s", "label", "confidence", *labels] and len(frame) == 3
        share = timeline.shares(frame, labels)
        assert share["Happy"] == pytest.approx(2 / 3) and share[timeline.NO_FACE] == pytest.approx(1 / 3)
        assert sum(share.values()) == pytest.approx(1)
    assert list(read_csv(rows_to_csv(timeline.shares_table(share))).columns) == ["emotion", "share"]


@pytest.fixture(scope="module")
def split_predictions(classifier, fer_data):
    images, y_true = fer_data.split(SPLIT)
    images, y_true = images[:600], y_true[:600]
    return classifier.predict_proba(images, "none"), y_true


def test_evaluation_helpers_on_fer2013(split_predictions, classifier):
    probs, y_true = split_predictions
    y_pred = probs.argmax(axis=1)
    n = len(classifier.labels)
    metrics = evaluate.classification_metrics(y_true, probs, tuple(classifier.labels))
    matrix = evaluate.confusions(y_true, y_pred, n)
    assert matrix.shape == (n, n) and matrix.tolist() == metrics["confusion_matrix"]
    assert evaluate.accuracy(y_true, y_pred) == pytest.approx(metrics["accuracy"]) == pytest.approx(
        np.trace(matrix) / len(y_true))

    true, pred = evaluate.top_confusion(matrix)
    assert true != pred
    off_diagonal = matrix - np.diag(np.diag(matrix))
    assert matrix[true, pred] == off_diagonal.max() > 0

    picked = evaluate.most_confident_mistakes(probs, y_true, true, pred)
    assert len(picked) == matrix[true, pred]
    assert np.all(y_true[picked] == true) and np.all(y_pred[picked] == pred)
    confidence = probs[picked].max(axis=1)
    assert np.all(np.diff(confidence) <= 0)  # most confident first
    limited = evaluate.most_confident_mistakes(probs, y_true, true, pred, limit=3)
    assert limited.tolist() == picked[:3].tolist()
    correct = evaluate.most_confident_mistakes(probs, y_true, true, true)
    assert len(correct) == matrix[true, true]


def test_top_confusion_without_errors():
    assert evaluate.top_confusion(np.diag([3, 4, 5])) == (0, 1)
    assert evaluate.top_confusion([[1, 0, 2], [0, 1, 0], [5, 0, 1]]) == (2, 0)


def test_ms_per_face_times_the_model(classifier):
    ms = bench.ms_per_face(classifier, batch=8, repeats=2)
    assert np.isfinite(ms) and 0 < ms < 1000
