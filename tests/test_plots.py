"""fer_core.reports.plots: each builder puts the given numbers into the figure, in the right places and colours."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from skimage import data

from fer_core.data import explore

from fer_core.reports import plots
from fer_core.inference.draw import hex_color
from fer_core.evaluation.evaluate import classification_metrics
from fer_core.common.labels import LABELS
from fer_core.catalog.model import list_models, member_dirs, read_metadata


@pytest.fixture(scope="module")
def metadata():
    models = list_models()
    assert models, "a bundled model is needed (models/ or FER_MODELS_DIR)"
    return read_metadata(member_dirs(models[0])[0])  # a trained model (an ensemble's first member)


def test_class_distribution_from_a_models_dataset_card(metadata):
    table = explore.distribution_from_counts(metadata["data"]["class_counts"])
    fig = plots.class_distribution(table)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == list(metadata["data"]["class_counts"])
    training = next(t for t in fig.data if t.name == "Training")
    assert list(training.x) == list(LABELS)
    assert list(training.y) == [metadata["data"]["class_counts"]["Training"][k] for k in LABELS]
    pct = plots.class_distribution(table, "percent")
    assert sum(next(t for t in pct.data if t.name == "Training").y) == pytest.approx(100)
    with pytest.raises(ValueError, match="count"):
        plots.class_distribution(table, "share")


def test_probabilities_chart():
    probs = {"Angry": 0.1, "Happy": 0.7, "Sad": 0.2}
    fig = plots.probabilities(probs, title="Face 1")
    bar = fig.data[0]
    assert list(bar.y) == ["Angry", "Happy", "Sad"] and list(bar.x) == [0.1, 0.7, 0.2]
    assert list(bar.marker.color) == [hex_color(k) for k in probs]
    assert list(bar.text) == ["10%", "70%", "20%"]
    assert fig.layout.title.text == "Face 1"


def test_confusion_matrix_counts_and_normalised():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 7, 500)
    probs = rng.dirichlet(np.ones(7), 500)
    metrics = classification_metrics(y_true, probs, LABELS)
    counts = np.array(metrics["confusion_matrix"])
    fig = plots.confusion_matrix(counts, LABELS)
    assert np.array_equal(np.asarray(fig.data[0].z), counts)
    assert list(fig.data[0].x) == list(LABELS) and list(fig.data[0].y) == list(LABELS)
    norm = np.asarray(plots.confusion_matrix(counts, LABELS, normalise=True).data[0].z)
    assert np.allclose(norm.sum(axis=1), 1.0)
    assert np.allclose(np.diag(norm), [metrics["per_class"][k]["recall"] for k in LABELS])
    with pytest.raises(ValueError, match="7x7"):
        plots.confusion_matrix(counts[:3], LABELS)


def test_normalise_rows_keeps_empty_rows_zero():
    out = plots.normalise_rows(np.array([[0, 0], [1, 3]]))
    assert out.tolist() == [[0.0, 0.0], [0.25, 0.75]]


def test_training_curves_from_metadata(metadata):
    history = metadata["history"]
    fig = plots.training_curves(history)
    names = [t.name for t in fig.data]
    assert names == ["training loss", "validation loss", "training accuracy", "validation accuracy"]
    assert list(fig.data[0].x) == [h["epoch"] for h in history]
    assert list(fig.data[3].y) == [h["val_accuracy"] for h in history]
    assert len(plots.training_curves([]).data) == 0


def test_robustness_figure_from_a_real_report(classifier, fer_data):
    from fer_core.evaluation.corruptions import CORRUPTIONS, corruption_report

    images, labels = fer_data.split("PublicTest")
    report = corruption_report(classifier, images[:64], labels[:64], tta="none")
    fig = plots.robustness(report)
    assert [trace.name for trace in fig.data] == list(CORRUPTIONS)
    for trace in fig.data:
        assert list(trace.y) == [report["corruptions"][trace.name][str(s)] for s in trace.x]
    assert f"{report['mean']:.1%}" in fig.layout.title.text
    assert fig.layout.shapes[0].y0 == report["clean"]
    with pytest.raises(ValueError, match="no corruptions"):
        plots.robustness({"clean": 0.5, "mean": 0.4, "corruptions": {}})


def test_reliability_diagram():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 7, 300)
    probs = rng.dirichlet(np.ones(7) * 0.3, 300)
    calibration = classification_metrics(y_true, probs, LABELS)["calibration"]
    fig = plots.reliability_diagram(calibration)
    filled = [b for b in calibration["bins"] if b["count"]]
    assert list(fig.data[0].y) == [b["accuracy"] for b in filled]
    assert sum(row[0] for row in fig.data[0].customdata) == 300
    assert f"{calibration['ece']:.3f}" in fig.layout.title.text
    assert list(fig.data[2].x) == [0, 1]  # the diagonal


def test_emotion_timeline_and_share():
    frame = pd.DataFrame({"time_s": [0.0, 0.5, 1.0], "Happy": [0.9, np.nan, 0.8], "Sad": [0.1, np.nan, 0.2]})
    fig = plots.emotion_timeline(frame, LABELS)
    assert [t.name for t in fig.data] == ["Happy", "Sad"]  # only labels present in the frame
    assert np.isnan(fig.data[0].y[1])  # a frame without a face stays a gap
    assert fig.data[0].line.color == hex_color("Happy")
    share = plots.emotion_share({"Happy": 0.75, "Sad": 0.25})
    assert list(share.data[0].y) == [0.75, 0.25] and list(share.data[0].text) == ["75%", "25%"]


def test_intensity_histogram_figure_on_a_photo():
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    tiles = np.stack([grey[y : y + 48, x : x + 48] for y in range(0, 480, 48) for x in range(0, 480, 48)])
    groups = np.where(np.arange(len(tiles)) % 2, "Happy", "Sad")
    table = explore.intensity_histogram(tiles, groups)
    fig = plots.intensity_histogram(table)
    assert {t.name for t in fig.data} == {"Happy", "Sad"}
    happy = next(t for t in fig.data if t.name == "Happy")
    assert happy.line.color == hex_color("Happy")
    assert sum(happy.y) == pytest.approx(1.0)
    assert list(happy.y) == list(table[table.group == "Happy"].fraction)
