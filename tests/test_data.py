"""Loaders on the real CSV, on malformed CSVs and on an image-folder tree written from real rows."""
from __future__ import annotations

import gzip

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_core.data.fer2013 import DataError, load_csv, load_fer2013, load_image_folder
from fer_core.common.labels import LABELS

# From ../shared/data/README.md: rows per split and class.
EXPECTED = {
    "Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "PublicTest": [467, 56, 496, 895, 653, 415, 607],
    "PrivateTest": [491, 55, 528, 879, 594, 416, 626],
}


def test_real_csv_matches_published_counts(fer_data):
    assert len(fer_data) == 35_887
    assert fer_data.images.shape == (35_887, 48, 48) and fer_data.images.dtype == np.uint8
    counts = fer_data.class_counts()
    for usage, row in EXPECTED.items():
        assert [counts[usage][name] for name in LABELS] == row
    assert fer_data.skipped == 0


def test_splits_by_name(fer_data):
    x, y = fer_data.split("PrivateTest")
    assert x.shape == (3589, 48, 48) and len(y) == 3589
    x_rt, y_rt = fer_data.split("RandomTest")
    x_rtr, _ = fer_data.split("RandomTrain")
    assert len(y_rt) == 3589 and len(x_rtr) == 35_887 - 3589
    # stratified: class shares of the hold-out follow the whole set within 0.5 points
    whole = np.bincount(fer_data.labels, minlength=7) / len(fer_data)
    held = np.bincount(y_rt, minlength=7) / len(y_rt)
    assert np.abs(whole - held).max() < 0.005
    # deterministic (random_state 42)
    assert np.array_equal(fer_data.split("RandomTest")[1], y_rt)
    with pytest.raises(ValueError, match="unknown split"):
        fer_data.split("Validation")


@pytest.fixture(scope="module")
def sample_rows(data_path) -> pd.DataFrame:
    """A few hundred real rows, from every split."""
    frame = pd.read_csv(data_path, dtype=str, nrows=36_000)
    return frame.groupby("Usage").sample(60, random_state=0)


def _write(frame: pd.DataFrame, path, **kwargs) -> None:
    frame.to_csv(path, index=False, **kwargs)


def test_plain_gzip_quoted_and_unquoted_csv_agree(sample_rows, tmp_path):
    _write(sample_rows, tmp_path / "quoted.csv", quoting=1)
    _write(sample_rows, tmp_path / "plain.csv")
    with gzip.open(tmp_path / "plain.csv.gz", "wt") as handle:
        sample_rows.to_csv(handle, index=False)
    loaded = [load_csv(tmp_path / name) for name in ("quoted.csv", "plain.csv", "plain.csv.gz")]
    for data in loaded:
        assert len(data) == 180
        assert np.array_equal(data.images, loaded[0].images)
        assert np.array_equal(data.labels, sample_rows["emotion"].astype(int).to_numpy())


def _corrupt(rows: pd.DataFrame, row: int, column: str, value: str) -> pd.DataFrame:
    bad = rows.copy()
    bad.iloc[row, bad.columns.get_loc(column)] = value
    return bad


BAD_CASES = [
    ("pixels", lambda p: " ".join(p.split()[:-1]), "row 5: pixels has 2303 values, expected 2304"),
    ("pixels", lambda p: p + " 7", "row 5: pixels has 2305 values"),
    ("pixels", lambda p: p.replace(" ", " x ", 1).rsplit(" ", 1)[0], "row 5: pixels contains 'x'"),
    ("pixels", lambda p: "256 " + p.split(" ", 1)[1], "row 5: pixel value 256 is outside 0-255"),
    ("pixels", lambda p: "", "row 5: missing field pixels (empty or absent; each row needs emotion, pixels, Usage)"),
    ("emotion", lambda e: " ", "row 5: missing field emotion"),
    ("emotion", lambda e: "7", "row 5: unknown emotion code '7'"),
    ("emotion", lambda e: "happy", "row 5: unknown emotion code 'happy'"),
    ("Usage", lambda u: "Validation", "row 5: unknown Usage 'Validation'"),
    ("Usage", lambda u: "", "row 5: missing field Usage (empty or absent"),
]


@pytest.mark.parametrize("column, change, message", BAD_CASES)
def test_malformed_rows_are_named(sample_rows, tmp_path, column, change, message):
    rows = sample_rows.head(10)
    bad = _corrupt(rows, 3, column, change(rows.iloc[3][column]))
    path = tmp_path / "bad.csv"
    _write(bad, path)
    with pytest.raises(DataError, match="bad.csv, " + message.replace("(", r"\(").replace(")", r"\)")):
        load_csv(path)
    skipped = load_csv(path, skip_bad_rows=True)
    assert skipped.skipped == 1 and len(skipped) == 9
    assert skipped.problems[0].startswith("row 5:")


def test_short_rows_name_the_missing_fields(sample_rows, tmp_path):
    """A row that stops early (no trailing fields, not even their commas) names what it lacks."""
    rows = sample_rows.head(4)
    path = tmp_path / "short.csv"
    _write(rows.iloc[:2], path)
    first = rows.iloc[2]
    with open(path, "a") as handle:
        handle.write(f"{first['emotion']},{first['pixels']}\n")  # no Usage
        handle.write(f"{rows.iloc[3]['emotion']}\n")  # no pixels, no Usage
    with pytest.raises(DataError, match=r"short.csv, row 4: missing field Usage \(empty or absent.*1 more bad row"):
        load_csv(path)
    skipped = load_csv(path, skip_bad_rows=True)
    assert len(skipped) == 2 and skipped.problems == (
        "row 4: missing field Usage (empty or absent; each row needs emotion, pixels, Usage)",
        "row 5: missing fields pixels, Usage (empty or absent; each row needs emotion, pixels, Usage)")


def test_missing_column_is_named(sample_rows, tmp_path):
    path = tmp_path / "nocol.csv"
    _write(sample_rows.drop(columns=["Usage"]).head(3), path)
    with pytest.raises(DataError, match="nocol.csv: missing column\\(s\\) Usage"):
        load_csv(path)


def test_not_a_csv(tmp_path):
    path = tmp_path / "photo.csv.gz"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="photo.csv.gz"):
        load_csv(path)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="FER_DATA"):
        load_fer2013(tmp_path / "nowhere.csv")


FOLDER_NAMES = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}


def _write_tree(rows: pd.DataFrame, root) -> None:
    for i, (_, row) in enumerate(rows.iterrows()):
        part = "train" if row["Usage"] == "Training" else "test"
        folder = root / part / FOLDER_NAMES[int(row["emotion"])]
        folder.mkdir(parents=True, exist_ok=True)
        image = np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48)
        cv2.imwrite(str(folder / f"{row['Usage']}_{i:05d}.png"), image)


def test_image_folder_edition_matches_csv(sample_rows, tmp_path):
    _write_tree(sample_rows, tmp_path / "fer")
    from_csv = load_csv(_csv(sample_rows, tmp_path))
    from_folder = load_fer2013(tmp_path / "fer")
    assert len(from_folder) == len(from_csv)
    # folder order differs from CSV order: compare as multisets of (usage, label, image hash)
    key = lambda d: sorted(zip(d.usage, d.labels.tolist(), [img.tobytes() for img in d.images]))
    assert key(from_folder) == key(from_csv)


def _csv(rows, tmp_path):
    path = tmp_path / "rows.csv"
    _write(rows, path)
    return path


def test_image_folder_maps_classes_by_name_not_position(sample_rows, tmp_path):
    # Only two classes present: alphabetical position would give 0 and 1; by name they are 3 and 6.
    rows = sample_rows[sample_rows["emotion"].isin(["3", "6"])]
    _write_tree(rows, tmp_path / "fer")
    data = load_image_folder(tmp_path / "fer")
    assert set(data.labels.tolist()) == {3, 6}


def test_image_folder_bad_names_are_reported(sample_rows, tmp_path):
    _write_tree(sample_rows.head(5), tmp_path / "fer")
    stray = tmp_path / "fer" / "train" / "contempt"
    stray.mkdir(parents=True)
    cv2.imwrite(str(stray / "Training_99999.png"), np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match="class folder 'contempt'"):
        load_image_folder(tmp_path / "fer")
    assert load_image_folder(tmp_path / "fer", skip_bad_rows=True).skipped == 1


def test_every_data_option_has_one_help_naming_the_default_file():
    """train, evaluate, select-tta, fit-temperature and export (its int8 representative set) describe --data alike, naming the default file (not its folder)."""
    from fer_core.cli import build_parser
    from fer_core.data.fer2013 import DATA_ENV, DATA_HELP, DEFAULT_DATA

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    helps = {name: next(a.help for a in sub._actions if "--data" in a.option_strings)
             for name, sub in commands.items() if any("--data" in a.option_strings for a in sub._actions)}
    assert set(helps) == {"train", "evaluate", "select-tta", "fit-temperature", "export"}
    assert set(helps.values()) == {DATA_HELP}
    assert f"${DATA_ENV}" in DATA_HELP and str(DEFAULT_DATA) in DATA_HELP and DEFAULT_DATA.name == "fer2013.csv.gz"
