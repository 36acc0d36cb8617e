"""fer_core.data.explore on the real FER2013 CSV and on small hand-built cases with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_core.data import explore
from fer_core.data.fer2013 import USAGES
from fer_core.common.labels import LABELS


@pytest.fixture(scope="module")
def fer(fer_data):
    """The real FER2013 (conftest's session fixture: loaded once for all test modules)."""
    return fer_data


def _image(value: int, noise: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.full((48, 48), value, dtype=np.int64)
    if noise:
        base += rng.integers(-noise, noise + 1, size=(48, 48))
    return np.clip(base, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ class distribution
def test_class_distribution_of_fer2013(fer):
    table = explore.class_distribution(fer.labels, fer.usage)
    assert list(table.columns) == ["split", "label", "count", "percent"]
    assert list(pd.unique(table.split)) == list(USAGES)
    totals = table.groupby("split", sort=False)["count"].sum()
    assert totals.to_dict() == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert np.allclose(table.groupby("split")["percent"].sum(), 100.0)
    counts = fer.class_counts()
    for row in table.itertuples():
        assert row.count == counts[row.split][row.label]
    training = table[table.split == "Training"].set_index("label")
    assert training["count"].idxmin() == "Disgust" and training["count"].idxmax() == "Happy"
    assert training.loc["Happy", "percent"] == pytest.approx(100 * 7215 / 28709)


def test_distribution_from_counts_keeps_order_and_handles_empty_split():
    table = explore.distribution_from_counts({"B": {"Sad": 1, "Happy": 3}, "A": {"Sad": 0, "Happy": 0}})
    assert list(table.split) == ["B", "B", "A", "A"]
    assert list(table.label) == ["Sad", "Happy", "Sad", "Happy"]
    assert list(table.percent) == [25.0, 75.0, 0.0, 0.0]


def test_class_distribution_leaves_out_absent_splits():
    labels = np.array([0, 1, 1])
    usage = np.array(["Training", "Training", "Training"])
    table = explore.class_distribution(labels, usage)
    assert set(table.split) == {"Training"} and len(table) == len(LABELS)


# ------------------------------------------------------------------ samples
def test_sample_indices_respect_class_split_and_seed(fer):
    picks = explore.sample_indices(fer.labels, fer.usage, classes=[1, 3], splits=["PrivateTest"], per_class=6, seed=7)
    assert list(picks) == [1, 3]
    for code, idx in picks.items():
        assert len(idx) == 6 and len(set(idx.tolist())) == 6
        assert np.all(fer.labels[idx] == code) and np.all(fer.usage[idx] == "PrivateTest")
    again = explore.sample_indices(fer.labels, fer.usage, classes=[1, 3], splits=["PrivateTest"], per_class=6, seed=7)
    other = explore.sample_indices(fer.labels, fer.usage, classes=[1, 3], splits=["PrivateTest"], per_class=6, seed=8)
    assert all(np.array_equal(picks[c], again[c]) for c in picks)
    assert any(not np.array_equal(picks[c], other[c]) for c in picks)


def test_sample_indices_small_and_empty_classes():
    labels = np.array([0, 0, 1])
    usage = np.array(["Training", "PublicTest", "Training"])
    picks = explore.sample_indices(labels, usage, classes=[0, 1, 2], per_class=5)
    assert picks[0].tolist() == [0, 1] and picks[1].tolist() == [2] and picks[2].size == 0
    with pytest.raises(ValueError, match="per_class"):
        explore.sample_indices(labels, usage, per_class=0)


# ------------------------------------------------------------------ mean faces and intensities
def test_mean_faces(fer):
    means = explore.mean_faces(fer.images, fer.labels)
    assert list(means) == list(LABELS)
    happy = fer.images[fer.labels == LABELS.index("Happy")]
    assert means["Happy"].dtype == np.uint8 and means["Happy"].shape == (48, 48)
    assert np.abs(means["Happy"].astype(int) - happy.mean(axis=0)).max() <= 0.5
    assert not np.array_equal(means["Happy"], means["Surprise"])
    # a face, not noise: the mean image is smooth (neighbouring pixels differ little)
    assert np.abs(np.diff(means["Neutral"].astype(int), axis=1)).mean() < 6


def test_mean_faces_skip_absent_classes():
    images = np.stack([_image(10), _image(30)])
    means = explore.mean_faces(images, np.array([2, 2]))
    assert list(means) == ["Fear"] and int(means["Fear"][0, 0]) == 20


def test_intensity_histogram(fer):
    overall = explore.intensity_histogram(fer.images)
    assert list(overall.columns) == ["group", "intensity", "count", "fraction"]
    assert len(overall) == 256 and overall["count"].sum() == fer.images.size
    assert overall["fraction"].sum() == pytest.approx(1.0)
    per_split = explore.intensity_histogram(fer.images, fer.usage)
    assert list(pd.unique(per_split.group)) == ["Training", "PublicTest", "PrivateTest"]
    sums = per_split.groupby("group")["count"].sum()
    assert sums["PrivateTest"] == 3589 * 48 * 48


# ------------------------------------------------------------------ data quality
def test_near_blank():
    images = np.stack([_image(120), _image(120, noise=1), _image(120, noise=40), _image(0)])
    assert explore.near_blank(images).tolist() == [0, 1, 3]


def test_quality_report_known_case():
    a, b, c = _image(50, 30, seed=1), _image(90, 30, seed=2), _image(140, 30, seed=3)
    images = np.stack([a, a, a, b, b, c, _image(7)])
    labels = np.array([3, 3, 3, 4, 0, 5, 6])
    usage = np.array(["Training", "Training", "PrivateTest", "PublicTest", "PublicTest", "Training", "PrivateTest"])
    report = explore.quality_report(images, labels, usage)
    assert [g.tolist() for g in report.groups] == [[0, 1, 2], [3, 4]]
    assert report.within == {"Training": 1, "PublicTest": 1, "PrivateTest": 0}
    assert report.across == {("Training", "PublicTest"): 0, ("Training", "PrivateTest"): 1,
                             ("PublicTest", "PrivateTest"): 0}
    assert report.conflicting == 1 and report.duplicate_images == 3
    assert report.blank.tolist() == [6]
    summary = report.summary().set_index("finding")["count"]
    assert summary["shared by Training and PrivateTest"] == 1 and summary["redundant copies"] == 3

    table = explore.duplicate_groups_table(report, labels, usage)
    assert table.cross_split.tolist() == [True, False]
    assert table.conflicting.tolist() == [False, True]
    assert table.labels.tolist() == ["Happy", "Angry, Sad"]
    assert table.splits.tolist() == ["Training, PrivateTest", "PublicTest"]


def test_quality_report_on_fer2013(fer):
    report = explore.quality_report(fer.images, fer.labels, fer.usage)
    assert report.n == len(fer)
    # independent check of the hash-based count: distinct images by exact pixel comparison
    distinct = len(np.unique(fer.images.reshape(len(fer), -1), axis=0))
    assert report.duplicate_images == len(fer) - distinct > 0
    for group in report.groups[:50]:
        assert all(np.array_equal(fer.images[group[0]], fer.images[i]) for i in group[1:])
    assert sum(report.within.values()) > 0
    assert report.across[("Training", "PrivateTest")] > 0  # known FER2013 leakage
    stds = fer.images[report.blank].reshape(len(report.blank), -1).std(axis=1)
    assert len(report.blank) > 0 and np.all(stds < explore.BLANK_STD)


def test_seen_in_known_case():
    a, b, c = _image(50, 30, seed=1), _image(90, 30, seed=2), _image(140, 30, seed=3)
    assert explore.seen_in(np.stack([a, b, c, a]), np.stack([c, a])).tolist() == [True, False, True, True]
    assert explore.seen_in(np.stack([a]), np.stack([b])).tolist() == [False]


def test_seen_in_finds_privatetest_images_copied_from_training(fer):
    private, _ = fer.split("PrivateTest")
    training, _ = fer.split("Training")
    seen = explore.seen_in(private, training)
    # independent check: exact byte comparison against every Training image
    training_rows = {row.tobytes() for row in training.reshape(len(training), -1)}
    expected = np.array([row.tobytes() in training_rows for row in private.reshape(len(private), -1)])
    assert seen.tolist() == expected.tolist()
    print(f"PrivateTest images with an exact copy in Training: {seen.sum()} of {len(private)}")
    assert 0 < seen.sum() < len(private) // 5
